"""An account with a one-time password may choose its own password and log out, nothing else,
whether it comes with the session cookie, a bearer token or a calendar link."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import Role, TokenScope
from tests.conftest import Lab, hashed
from tests.pages import csrf_token, login, submit

ONE_TIME = "one-time-pass-1"
STATION = {"name": "Xbox One", "kind": "gaming", "capacity": 4}
PRINTER = {"name": "Prusa", "url": "http://192.0.2.10", "api_key": "some-printer-key"}


@pytest.fixture
def newcomer(sqlite_lab: Lab) -> tuple[TestClient, str, str]:
    """A browser logged in with an admin's one-time password, and an API token and a
    calendar token of that admin (made on the CLI before the first login)."""
    with database.transaction(sqlite_lab.sessions) as session:
        user = accounts.create_user(
            session,
            "olga",
            ONE_TIME,
            Role.ADMIN,
            must_change_password=True,
            password_hash=hashed(ONE_TIME),
        )
        token = accounts.create_token(session, user).secret
        feed = accounts.create_token(session, user, scope=TokenScope.CALENDAR).secret
    client = sqlite_lab.client
    assert login(client, "olga", ONE_TIME).status_code == 303
    return client, token, feed


def assert_refused(answer: Response, what: str = "") -> None:
    """403 as a problem that says where to go."""
    assert answer.status_code == 403, what
    assert answer.headers["content-type"] == "application/problem+json", what
    assert "/account/password" in answer.json()["detail"], what


def test_the_one_time_password_opens_no_api_call(
    sqlite_lab: Lab, newcomer: tuple[TestClient, str, str]
) -> None:
    client, _token, _feed = newcomer
    station = client.post("/api/stations", json=STATION, headers=sqlite_lab.headers("admin"))
    assert station.status_code == 201
    header = {"x-csrftoken": csrf_token(client, "/account/password")}
    answers = {
        "read": client.get("/api/visits"),
        "delete": client.delete(f"/api/stations/{station.json()['id']}", headers=header),
        "printer": client.post("/api/printers", json=PRINTER, headers=header),
    }
    for what, answer in answers.items():
        assert_refused(answer, what)
    admin = sqlite_lab.headers("admin")
    assert client.get("/api/stations", headers=admin).json()[0]["name"] == "Xbox One"
    assert client.get("/api/printers", headers=admin).json() == []


def test_the_one_time_password_opens_neither_the_wall_nor_the_calendar(
    newcomer: tuple[TestClient, str, str],
) -> None:
    client, _token, feed = newcomer
    for path in ("/wall", "/api/visits.ics", "/wall/events"):  # before the fix: a stream
        assert_refused(client.get(path), path)
    client.cookies.clear()
    assert_refused(client.get(f"/api/visits.ics?token={feed}"))


def test_a_token_of_an_account_with_a_one_time_password_is_refused(
    newcomer: tuple[TestClient, str, str],
) -> None:
    client, token, _feed = newcomer
    client.cookies.clear()
    assert_refused(client.get("/api/visits", headers={"Authorization": f"Bearer {token}"}))


def test_choosing_a_password_opens_everything(newcomer: tuple[TestClient, str, str]) -> None:
    client, token, _feed = newcomer
    chosen = submit(
        client,
        "/account/password",
        "/account/password",
        {"new_password": "olgas-own-password", "repeat_password": "olgas-own-password"},
    )
    assert chosen.status_code == 303
    assert client.get("/api/visits").status_code == 200
    assert client.get("/wall").status_code == 200
    assert client.get("/api/visits.ics").status_code == 200
    assert (
        client.get("/api/visits", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def test_logging_out_stays_possible_and_ends_the_login(
    newcomer: tuple[TestClient, str, str],
) -> None:
    client, _token, _feed = newcomer
    token = csrf_token(client, "/account/password")
    out = client.post("/logout", data={"csrftoken": token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert client.get("/account/password", follow_redirects=False).headers["location"] == (
        "/login?next=%2Faccount%2Fpassword"
    )
