"""GET /metrics: Prometheus's text, only for the holder of the metrics token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from librarylab import database
from librarylab.demo import load_demo
from tests.conftest import Lab, _lab
from tests.services import free_port, wait_for_port

TOKEN = "metrics-token-for-the-scraper-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metered(tmp_path: Path, database_url: str) -> Iterator[Lab]:
    yield from _lab(tmp_path, database_url, metrics_token=TOKEN)


def samples(lab: Lab) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = lab.client.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_refuse_a_scraper_without_the_token_or_with_another(metered: Lab) -> None:
    assert metered.client.get("/metrics").status_code == 401
    wrong = metered.client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "librarylab_" not in wrong.text
    # An admin's API token is no metrics token.
    assert metered.client.get("/metrics", headers=metered.headers("admin")).status_code == 401


def test_metrics_are_off_without_a_token_setting(sqlite_lab: Lab) -> None:
    assert sqlite_lab.client.get("/metrics", headers=SCRAPE).status_code == 404


def test_requests_are_counted_under_their_route_template(metered: Lab) -> None:
    with database.transaction(metered.sessions) as session:
        load_demo(session)
    visits = metered.client.get("/api/visits", headers=metered.headers()).json()
    before = samples(metered)
    for visit in visits[:3]:
        answer = metered.client.get(f"/api/visits/{visit['id']}", headers=metered.headers())
        assert answer.status_code == 200
    assert metered.client.get("/api/visits/999999", headers=metered.headers()).status_code == 404
    assert metered.client.get("/no/such/page/12345").status_code == 404
    assert metered.client.get("/static/forms.js").status_code == 200
    after = samples(metered)

    route = {"method": "GET", "route": "/api/visits/{visit_id}"}
    total = "librarylab_http_requests_total"
    assert (
        value(after, total, **route, status="200") - value(before, total, **route, status="200")
        == 3
    )
    assert (
        value(after, total, **route, status="404") - value(before, total, **route, status="404")
        == 1
    )
    unmatched = {"method": "GET", "route": "(unmatched)", "status": "404"}
    assert value(after, total, **unmatched) - value(before, total, **unmatched) == 1
    static = {"method": "GET", "route": "/static/{path}", "status": "200"}
    assert value(after, total, **static) - value(before, total, **static) == 1
    count = "librarylab_http_request_duration_seconds_count"
    assert (
        value(after, count, **route, status="200") - value(before, count, **route, status="200")
        == 3
    )
    # Never the raw path: ids and strangers' paths do not become series.
    assert not any(
        str(visits[0]["id"]) in dict(labels).get("route", "")
        or "12345" in dict(labels).get("route", "")
        for _name, labels in after
    )


def test_state_is_read_at_scrape_time(metered: Lab) -> None:
    with database.transaction(metered.sessions) as session:
        load_demo(session)
    found = samples(metered)
    assert value(found, "librarylab_mqtt_connected") == 0  # MQTT is off in these tests
    assert value(found, "librarylab_wall_streams_open") == 0
    assert ("librarylab_printers", frozenset({("state", "offline")})) in found
    assert ("librarylab_print_jobs", frozenset({("state", "queued")})) in found
    assert ("librarylab_mail_outbox", frozenset({("state", "queued")})) in found
    assert ("librarylab_print_queue_oldest_age_seconds", frozenset()) in found

    visits = metered.client.get("/api/visits", headers=metered.headers()).json()
    eschweiler = next(v["id"] for v in visits if v["library"] == "Stadtbücherei Eschweiler")
    planned = metered.client.post(f"/api/visits/{eschweiler}/plan", headers=metered.headers())
    assert planned.status_code == 200, planned.text
    after = samples(metered)
    plans = sum(
        v
        for (name, _labels), v in after.items()
        if name == "librarylab_planner_duration_seconds_count"
    )
    assert plans == 1
    engines = {
        dict(labels)["engine"]
        for (name, labels), _v in after.items()
        if name == "librarylab_planner_duration_seconds_count"
    }
    assert engines <= {"greedy", "cp-sat"}


def test_no_secret_reaches_the_metrics(metered: Lab) -> None:
    secret = "ll_secret-in-a-query-4711"
    metered.client.get(f"/api/visits.ics?token={secret}")
    metered.client.get(f"/request/confirm/{secret}")
    text = metered.client.get("/metrics", headers=SCRAPE).text
    assert "librarylab_http_requests_total" in text
    assert secret not in text
    assert TOKEN not in text
    assert metered.admin_token not in text


def test_the_metrics_port_serves_them_on_localhost_without_a_token(
    tmp_path: Path, sqlite_url: str
) -> None:
    port = free_port()
    for lab in _lab(tmp_path, sqlite_url, metrics_port=port):
        wait_for_port(port)
        lab.client.get("/api/stations", headers=lab.headers())
        text = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'route="/api/stations"' in text
        assert lab.client.get("/metrics").status_code == 404  # no token set: not on the app
