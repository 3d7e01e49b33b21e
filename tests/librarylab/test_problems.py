"""Every error of the JSON API is one shape: an RFC 9457 problem that says what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, IntegrityError

from librarylab.app import create_app
from librarylab.problems import MEDIA_TYPE, field_name
from tests.conftest import Lab, make_settings

VIVE = {"name": "VR-Brille HTC Vive", "kind": "vr", "capacity": 2}
MEMBERS = {"type", "title", "status", "detail", "field", "fixes", "errors"}


def problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    """The problem in ``response``, checked for the members every problem has."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert set(body) == MEMBERS
    assert body["status"] == status
    assert body["title"]
    assert body["detail"].endswith(".")
    return body


def test_invalid_request_lists_every_invalid_value(sqlite_lab: Lab) -> None:
    response = sqlite_lab.client.post(
        "/api/stations",
        json={"kind": "laser", "capacity": 0, "colour": "red"},
        headers=sqlite_lab.headers(),
    )
    body = problem(response, 422)
    assert body["type"] == "/problems/invalid-request"
    assert {e["field"]: e["message"] for e in body["errors"]} == {
        "name": "Field required",
        "kind": "Input should be 'vr', 'gaming' or 'printing'",
        "capacity": "Input should be greater than or equal to 1",
        "colour": "Extra inputs are not permitted",
    }
    assert body["field"] is None  # four values are at fault, not one
    assert body["detail"].startswith("Fix these 4 values: name: Field required; kind:")


def test_one_invalid_value_is_named_in_field(sqlite_lab: Lab) -> None:
    sent = {"date": "2018-02-15", "posts": [{"kind": "tiktok"}]}
    response = sqlite_lab.client.post("/api/visits", json=sent, headers=sqlite_lab.headers())
    body = problem(response, 422)
    assert body["field"] == "posts[0].kind"
    assert body["errors"] == [
        {
            "field": "posts[0].kind",
            "message": "Input should be 'blog', 'facebook', 'instagram' or 'other'",
        }
    ]
    assert (
        body["detail"]
        == "Fix posts[0].kind: Input should be 'blog', 'facebook', 'instagram' or 'other'."
    )


def test_broken_json_is_named_as_the_body(sqlite_lab: Lab) -> None:
    response = sqlite_lab.client.post(
        "/api/stations",
        content=b'{"name": ',
        headers=sqlite_lab.headers() | {"content-type": "application/json"},
    )
    body = problem(response, 422)
    assert body["field"] == "body"
    assert body["errors"][0]["message"].startswith("JSON decode error")


@pytest.mark.parametrize("day", ["0", "20180215", "2018-02-30", "15.02.2018"])
def test_visits_filter_takes_only_calendar_days(sqlite_lab: Lab, day: str) -> None:
    response = sqlite_lab.client.get(f"/api/visits?to={day}", headers=sqlite_lab.headers())
    body = problem(response, 422)
    assert body["field"] == "to"
    assert "YYYY-MM-DD" in body["detail"]
    ok = sqlite_lab.client.get("/api/visits?to=2018-02-15", headers=sqlite_lab.headers())
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"capacity": "2"}, {"capacity": 2.5}, {"capacity": True}, {"needs_staff": 0}],
)
def test_values_of_the_wrong_json_type_are_refused(sqlite_lab: Lab, change: dict[str, Any]) -> None:
    response = sqlite_lab.client.post(
        "/api/stations", json=VIVE | change, headers=sqlite_lab.headers()
    )
    assert problem(response, 422)["field"] == next(iter(change))


def test_broken_rule_names_its_field(sqlite_lab: Lab) -> None:
    visit = {"date": "2018-02-15", "library": "Bochum", "participants": 9}
    early = {"hands_on_start": "08:00", "hands_on_end": "10:00"}  # before the visit starts
    response = sqlite_lab.client.post(
        "/api/visits", json=visit | early, headers=sqlite_lab.headers()
    )
    body = problem(response, 422)
    assert body["type"] == "/problems/rule-broken"
    assert body["field"] == "hands_on_start"
    assert body["errors"] == [{"field": "hands_on_start", "message": body["detail"]}]


def test_missing_records_and_clashes_are_problems_of_their_own_kind(sqlite_lab: Lab) -> None:
    headers = sqlite_lab.headers()
    missing = problem(sqlite_lab.client.get("/api/stations/99", headers=headers), 404)
    assert missing["type"] == "/problems/not-found"
    assert "GET /api/stations" in missing["detail"]
    sqlite_lab.client.post("/api/stations", json=VIVE, headers=headers)
    taken = problem(sqlite_lab.client.post("/api/stations", json=VIVE, headers=headers), 409)
    assert taken["type"] == "/problems/conflict"
    assert taken["field"] == "name"


def test_http_errors_keep_their_headers(sqlite_lab: Lab) -> None:
    response = sqlite_lab.client.get("/api/stations")
    body = problem(response, 401)
    assert (body["type"], body["title"]) == ("about:blank", "Unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    refused = sqlite_lab.client.delete("/api/stations/1", headers=sqlite_lab.headers("staff"))
    assert "admin" in problem(refused, 403)["detail"]
    nowhere = problem(sqlite_lab.client.get("/api/nowhere", headers=sqlite_lab.headers()), 404)
    assert nowhere["detail"] == "There is nothing at /api/nowhere; /docs lists the API's paths."


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/stations", "GET, POST"),
        ("DELETE", "/api/visits", "GET, POST"),
        ("PUT", "/api/visits/1", "DELETE, GET, PATCH"),
        ("DELETE", "/api/visits/1/plan", "GET, POST"),  # GET and POST in separate routes
        ("PUT", "/api/print-jobs", "GET, POST"),
        ("GET", "/api/print-jobs/1/cancel", "POST"),
    ],
)
def test_method_not_allowed_lists_every_method_of_the_path(
    sqlite_lab: Lab, method: str, path: str, allowed: str
) -> None:
    response = sqlite_lab.client.request(method, path, headers=sqlite_lab.headers())
    body = problem(response, 405)
    assert response.headers["allow"] == allowed
    assert body["detail"] == f"{method} is not allowed here; use {allowed}."


def test_a_failure_answers_without_its_trace(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))

    def explode() -> None:
        raise RuntimeError("internal secret: /srv/librarylab/app.py line 42")

    app.add_api_route("/api/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/explode")
    body = problem(response, 500)
    assert body["type"] == "about:blank"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (IntegrityError("INSERT …", {}, Exception("UNIQUE")), 409, "/problems/conflict"),
        (DataError("INSERT …", {}, Exception("NUL")), 422, "/problems/rule-broken"),
    ],
)
def test_what_the_database_refuses_is_a_problem_too(
    tmp_path: Path, sqlite_url: str, error: Exception, status: int, kind: str
) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))

    def store() -> None:
        raise error

    app.add_api_route("/api/store", store, methods=["POST"])
    with TestClient(app) as client:
        body = problem(client.post("/api/store"), status)
    assert body["type"] == kind
    assert "INSERT" not in body["detail"]


def test_pages_answer_browsers_in_html(sqlite_lab: Lab) -> None:
    browser = {"accept": "text/html,application/xhtml+xml"}
    missing = sqlite_lab.client.get("/stations/99", headers=browser | sqlite_lab.headers())
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Es gibt keine Station mit der Nummer 99" in missing.text
    away = sqlite_lab.client.get("/stations/99", headers=browser, follow_redirects=False)
    assert away.status_code == 303  # not logged in: to the login page, as before
    assert away.headers["location"].startswith("/login")
    api = sqlite_lab.client.get("/api/stations/99", headers=browser | sqlite_lab.headers())
    assert api.headers["content-type"] == MEDIA_TYPE  # the API stays JSON for browsers too


# Open without a login: the health check, and what libraries use to ask for a visit.
PUBLIC_PATHS = {"/api/health", "/api/free-dates", "/api/visit-requests"}


def test_the_document_states_every_error_as_a_problem(sqlite_lab: Lab) -> None:
    document = sqlite_lab.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
            if path not in PUBLIC_PATHS:
                assert operation["security"] == [{"bearer": []}], where
                assert 401 in errors, where
            if "{" in path:
                assert {404, 422} <= set(errors), where
            if method in {"post", "patch", "delete"}:
                assert {403, 409} <= set(errors), where
            for status, response in errors.items():
                if status != 503:  # the health report, in its own shape
                    assert list(response["content"]) == [MEDIA_TYPE], where


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "capacity"), "capacity"),
        (("body", "posts", 0, "kind"), "posts[0].kind"),
        (("body",), "body"),
        (("query", "to"), "to"),
        (("path", "visit_id"), "visit_id"),
    ],
)
def test_field_names_read_as_in_the_json(loc: tuple[str | int, ...], name: str) -> None:
    assert field_name(loc) == name
