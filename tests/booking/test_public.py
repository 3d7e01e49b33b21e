"""The public request page without a login: what it shows in German and English, and how the
form answers a person, a robot that is too fast, oversized text, a taken date and too many
requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from booking.model import MAX_LENGTHS
from tests.booking.test_intake import add_date, mails_queued, requests_stored
from tests.conftest import Lab, _lab
from tests.pages import error_of, text_of
from visits.model import TOPIC_SUGGESTIONS


def form_of(lab: Lab, path: str = "/request") -> dict[str, str]:
    """The hidden fields of the request form (CSRF token and start mark)."""
    page = BeautifulSoup(lab.client.get(path).text, "html.parser")
    return {
        str(field["name"]): str(field.get("value", ""))
        for field in page.select("form[action='/request'] input[type=hidden]")
    }


def fields(**changes: Any) -> dict[str, Any]:
    return {
        "library": "Stadtbibliothek Neuss",
        "town": "Neuss",
        "contact_name": "Nora Neu",
        "contact_email": "nora@example.org",
        "participants": "9",
        "topics": [TOPIC_SUGGESTIONS[0]],
        "other_topic": "Makerspace für Kinder",
        "wishes": "",
        "channels": ["facebook"],
        "language": "de",
        "visit_id": "",
        "consent": "on",
        "website": "",
    } | changes


def post_form(lab: Lab, **changes: Any) -> Any:
    data = form_of(lab) | fields(**changes)
    return lab.client.post("/request", data=data, follow_redirects=False)


def test_the_page_shows_dates_what_a_visit_includes_and_the_form_in_german(
    sqlite_mail_lab: Lab,
) -> None:
    free = add_date(sqlite_mail_lab, 9, round="Coworking-Runde 4")
    taken = add_date(sqlite_mail_lab, 16, status="requested", round="Coworking-Runde 4")
    add_date(sqlite_mail_lab, 30, status="requested", round="Alte Runde")  # no free date: closed
    page = sqlite_mail_lab.client.get("/request")
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    text = text_of(page)
    for words in ("Führung", "VR, Gaming und 3D-Druck", "Zukunftsthema", "#librarylab"):
        assert words in text
    assert "Coworking-Runde 4" in text
    assert "Alte Runde" not in text
    assert "11:00–12:30" in text  # the hands-on block
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one(f"#date-{taken}") is not None
    assert "angefragt" in soup.select_one(f"#date-{taken}").get_text()  # type: ignore[union-attr]
    offered = [i["value"] for i in soup.select("input[name=visit_id]")]
    assert offered == [str(free), ""]
    assert {i["value"] for i in soup.select("input[name=topics]")} == set(TOPIC_SUGGESTIONS)
    assert soup.select_one("a[href='/privacy']") is not None
    english = sqlite_mail_lab.client.get("/request", params={"lang": "en"})
    assert "What a visit includes" in text_of(english)
    assert "Datenschutz" in text_of(sqlite_mail_lab.client.get("/privacy", params={"lang": "de"}))
    login = sqlite_mail_lab.client.get("/login")
    assert BeautifulSoup(login.text, "html.parser").select_one("a[href='/request']") is not None


def test_a_sent_form_asks_for_confirmation_by_mail(sqlite_mail_lab: Lab) -> None:
    day = add_date(sqlite_mail_lab, 9)
    sent = post_form(sqlite_mail_lab, visit_id=str(day))
    assert (sent.status_code, sent.headers["location"]) == (303, "/request/sent")
    assert "Bestätigungslink" in text_of(sqlite_mail_lab.client.get("/request/sent"))
    [stored] = requests_stored(sqlite_mail_lab)
    assert stored.visit_id == day
    assert stored.topics == [TOPIC_SUGGESTIONS[0], "Makerspace für Kinder"]
    assert stored.channels == ["facebook"]
    assert mails_queued(sqlite_mail_lab) == 1


def test_the_form_names_what_to_fix_and_keeps_the_entries(sqlite_mail_lab: Lab) -> None:
    for field, value in (
        ("library", "x" * (MAX_LENGTHS["library"] + 1)),
        ("town", "x" * (MAX_LENGTHS["town"] + 1)),
        ("contact_name", "x" * (MAX_LENGTHS["contact_name"] + 1)),
        ("contact_email", "x" * MAX_LENGTHS["contact_email"] + "@example.org"),
        ("wishes", "x" * (MAX_LENGTHS["wishes"] + 1)),
        ("other_topic", "x" * (MAX_LENGTHS["topic"] + 1)),
        ("participants", "201"),
        ("consent", ""),
        ("visit_id", "morgen"),
        ("library", "Stadt\x00bibliothek"),
    ):
        answer = post_form(sqlite_mail_lab, **{field: value})
        assert answer.status_code == 422, field
        marked = BeautifulSoup(answer.text, "html.parser").select("[aria-invalid=true]")
        named = "topics" if field == "other_topic" else field
        assert named in {str(m["name"]) for m in marked}, (field, marked)
        assert "Stadtbibliothek Neuss" in answer.text or field == "library"
    assert "Zeichen" in error_of(post_form(sqlite_mail_lab, town="x" * 500))
    assert requests_stored(sqlite_mail_lab) == []
    assert mails_queued(sqlite_mail_lab) == 0


def test_a_taken_date_is_refused_with_the_other_free_dates(sqlite_mail_lab: Lab) -> None:
    taken = add_date(sqlite_mail_lab, 9, status="requested")
    free = add_date(sqlite_mail_lab, 12)
    answer = post_form(sqlite_mail_lab, visit_id=str(taken))
    assert answer.status_code == 409
    assert "nicht mehr frei" in error_of(answer)
    offered = BeautifulSoup(answer.text, "html.parser").select("input[name=visit_id]")
    assert [i["value"] for i in offered] == [str(free), ""]
    assert requests_stored(sqlite_mail_lab) == []


def test_the_sixth_form_within_an_hour_is_refused(sqlite_mail_lab: Lab) -> None:
    for n in range(5):
        assert post_form(sqlite_mail_lab, contact_email=f"n{n}@example.org").status_code == 303
    refused = post_form(sqlite_mail_lab, contact_email="n5@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 3000
    assert "Zu viele Anfragen" in error_of(refused)
    assert len(requests_stored(sqlite_mail_lab)) == 5


def test_a_honeypot_form_is_answered_like_a_real_one_and_dropped(sqlite_mail_lab: Lab) -> None:
    robot = post_form(sqlite_mail_lab, website="https://cheap-pills.example")
    assert (robot.status_code, robot.headers["location"]) == (303, "/request/sent")
    assert requests_stored(sqlite_mail_lab) == []
    assert mails_queued(sqlite_mail_lab) == 0


@pytest.fixture
def slow_lab(tmp_path: Path, sqlite_url: str) -> Iterator[Lab]:
    """A lab that wants a person to take a minute over the form."""
    yield from _lab(tmp_path, sqlite_url, request_min_fill_seconds=60)


def test_a_form_sent_too_fast_or_with_a_forged_start_is_refused(slow_lab: Lab) -> None:
    fast = post_form(slow_lab)
    assert fast.status_code == 422
    assert "sehr schnell" in error_of(fast)
    assert 'value="Stadtbibliothek Neuss"' in fast.text  # the entries stay
    data = form_of(slow_lab) | fields()
    _shown, _, signature = data["started"].rpartition(".")
    data["started"] = "request.AAAAAA." + signature  # an older moment, with a stale signature
    forged = slow_lab.client.post("/request", data=data, follow_redirects=False)
    assert forged.status_code == 422
    assert "abgelaufen" in error_of(forged)
    assert requests_stored(slow_lab) == []


def test_a_request_posted_from_another_site_is_refused(sqlite_mail_lab: Lab) -> None:
    """A page elsewhere cannot send requests through a visitor's browser, which would spend
    the visitor's address allowance and put mail in a stranger's inbox under their name."""
    stranger = TestClient(sqlite_mail_lab.client.app)
    no_cookie = stranger.post("/request", data=fields(), follow_redirects=False)
    assert no_cookie.status_code == 403
    stranger.get("/request")  # holds the csrftoken cookie now, but posts a wrong field
    wrong = stranger.post("/request", data=fields() | {"csrftoken": "x"}, follow_redirects=False)
    assert wrong.status_code == 403
    confirm = stranger.post("/request/confirm/any-secret", data={}, follow_redirects=False)
    assert confirm.status_code == 403
    assert requests_stored(sqlite_mail_lab) == []
    assert mails_queued(sqlite_mail_lab) == 0
    assert post_form(sqlite_mail_lab).status_code == 303  # the page's own form still works
