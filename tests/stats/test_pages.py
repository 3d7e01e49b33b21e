"""The statistics page as staff read it, in German and English: charts drawn on the server
beside tables of the same numbers, a date range, and a refusal that says what to fix."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from tests.pages import error_of, page_links, text_of


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "de",
            ("Statistik", "Besuche pro Jahr", "Stationsnutzung", "Demo-Drucke", "Besuchsanfragen"),
        ),
        ("en", ("Statistics", "Visits per year", "Station use", "Demo prints", "Visit requests")),
    ],
)
def test_the_page_shows_the_figures_in_either_language(
    staff: TestClient, language: str, words: tuple[str, ...]
) -> None:
    page = staff.get("/stats", params={"lang": language})
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    shown = text_of(page)
    for word in words:
        assert word in shown
    assert "/stats" in page_links(staff.get("/visits").text)  # in the navigation


def test_each_chart_is_an_svg_with_a_text_alternative_and_nothing_the_csp_refuses(
    staff: TestClient,
) -> None:
    figures = staff.get("/api/stats").json()
    html = staff.get("/stats", params={"lang": "en"}).text
    soup = BeautifulSoup(html, "html.parser")
    charts = soup.select("svg.chart")
    assert len(charts) >= 6
    for chart in charts:
        assert chart["role"] == "img"
        title = soup.find(id=chart["aria-labelledby"])
        assert title is not None
        assert title.get_text().strip()
    assert not soup.select("[style]")
    assert not soup.select("style")
    assert all(script.get("src") for script in soup.select("script"))
    years = soup.select_one("svg.chart title").get_text()  # type: ignore[union-attr]
    for year in figures["per_year"]:
        assert f"{year['name']} {year['visits']}" in years
    # The longest bar fills the bar space; the others are in proportion.
    rects = [float(str(r["width"])) for r in charts[0].select("rect")]
    top = max(y["visits"] for y in figures["per_year"])
    assert rects == [round(360 * y["visits"] / top, 1) for y in figures["per_year"]]


def test_a_range_narrows_the_figures_and_the_csv_link_keeps_it(staff: TestClient) -> None:
    everything = text_of(staff.get("/stats", params={"lang": "en"}))
    assert "8 visits" in everything  # the demo's eight past visits and today's, done or confirmed
    page = staff.get("/stats", params={"from": "2018-01-01", "to": "2018-12-31", "lang": "en"})
    assert page.status_code == 200
    chosen = staff.get("/api/stats", params={"from": "2018-01-01", "to": "2018-12-31"}).json()
    assert f"{chosen['visits']} visits" in text_of(page)
    assert chosen["visits"] < 8
    assert 'href="/api/stats.csv?from=2018-01-01&amp;to=2018-12-31"' in page.text


def test_a_backwards_range_is_refused_on_the_page_with_what_to_fix(staff: TestClient) -> None:
    page = staff.get("/stats", params={"from": "2018-02-01", "to": "2018-01-01"})
    assert page.status_code == 422
    assert "2018-02-01" in error_of(page)
    assert "nach" in error_of(page)
    field = BeautifulSoup(page.text, "html.parser").select_one("input[name=from]")
    assert field is not None
    assert field.get("aria-invalid") == "true"
    bad = staff.get("/stats", params={"to": "gestern", "lang": "en"})
    assert bad.status_code == 422
    assert "'gestern' is not a date" in error_of(bad)


def test_switching_the_language_keeps_the_range(staff: TestClient) -> None:
    page = staff.get("/stats", params={"from": "2018-01-01", "to": "2018-12-31", "lang": "de"})
    switch = BeautifulSoup(page.text, "html.parser").select_one('a[hreflang="en"]')
    assert switch is not None
    english = staff.get("/stats" + str(switch["href"]))
    assert '<html lang="en">' in english.text
    assert 'value="2018-01-01"' in english.text
    assert 'value="2018-12-31"' in english.text
