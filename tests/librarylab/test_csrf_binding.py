"""The CSRF token belongs to the login: a token and cookie planted from another browser
do not pass, and a multipart write with a wrong header gets a clear 403."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import csrf_token, login

STATION = {"name": "Wii U", "kind": "gaming", "capacity": "3"}
GCODE = ("boot.gcode", b"G28\nG1 X10\n", "application/octet-stream")


def plant(victim: TestClient, pair: tuple[str, str]) -> str:
    """Put the attacker's csrftoken cookie into the victim's browser; the form token."""
    cookie, token = pair
    victim.cookies.set("csrftoken", cookie, domain="testserver.local")  # replaces the own
    assert victim.cookies["csrftoken"] == cookie
    return token


def anonymous_pair(lab: Lab) -> tuple[str, str]:
    """The cookie and form token anyone gets by opening the login page."""
    attacker = TestClient(lab.client.app)
    token = csrf_token(attacker, "/login")
    return attacker.cookies["csrftoken"], token


def logged_in_pair(lab: Lab) -> tuple[str, str]:
    """The cookie and form token of the attacker's own login."""
    attacker = TestClient(lab.client.app)
    login(attacker, "ada", ADMIN_PASSWORD)
    token = csrf_token(attacker, "/stations")
    return attacker.cookies["csrftoken"], token


def test_a_planted_token_pair_does_not_pass_for_a_logged_in_victim(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    for pair in anonymous_pair(lab), logged_in_pair(lab):
        token = plant(lab.client, pair)
        form = lab.client.post("/stations/new", data={"csrftoken": token, **STATION})
        assert form.status_code == 403
        assert "neu laden" in form.text
        script = lab.client.post(
            "/api/stations", json={**STATION, "capacity": 3}, headers={"x-csrftoken": token}
        )
        assert script.status_code == 403
        assert "CSRF" in script.json()["detail"]
    assert lab.client.get("/api/stations").json() == []


def test_the_pages_token_passes_and_the_cookie_follows_the_login(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    token = csrf_token(lab.client, "/stations")
    assert lab.client.cookies["csrftoken"] == token  # scripts may read it from the cookie
    plant(lab.client, anonymous_pair(lab))
    assert csrf_token(lab.client, "/stations") == token
    assert lab.client.cookies["csrftoken"] == token  # the planted one is overwritten
    created = lab.client.post(
        "/api/stations", json={**STATION, "capacity": 3}, headers={"x-csrftoken": token}
    )
    assert created.status_code == 201
    login(lab.client, "sam", STAFF_PASSWORD)
    assert csrf_token(lab.client, "/stations") != token  # a new login, a new token


def test_a_multipart_write_with_a_wrong_header_is_refused_clearly(lab: Lab) -> None:
    client = TestClient(lab.client.app, raise_server_exceptions=False)
    login(client, "sam", STAFF_PASSWORD)
    planted = anonymous_pair(lab)[1]
    for header in "wrong", planted:
        api = client.post(
            "/api/print-files", headers={"x-csrftoken": header}, files={"file": GCODE}
        )
        assert api.status_code == 403
        assert api.headers["content-type"] == "application/problem+json"
        assert "x-csrftoken" in api.json()["detail"]
        page = client.post(
            "/printers/files/new",
            headers={"x-csrftoken": header},
            data={"name": "Boot"},
            files={"file": GCODE},
        )
        assert page.status_code == 403
        assert "neu laden" in page.text
    assert client.get("/api/print-files").json() == []
    uploaded = client.post(
        "/api/print-files",
        headers={"x-csrftoken": csrf_token(client, "/printers")},
        files={"file": GCODE},
    )
    assert uploaded.status_code == 201


def test_bearer_requests_need_no_token_even_with_cookies(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    created = lab.client.post(
        "/api/stations", json={**STATION, "capacity": 3}, headers=lab.headers()
    )
    assert created.status_code == 201
    upload = lab.client.post("/api/print-files", headers=lab.headers(), files={"file": GCODE})
    assert upload.status_code == 201


def test_a_token_that_cannot_be_read_is_refused_not_a_server_error(lab: Lab) -> None:
    client = TestClient(lab.client.app, raise_server_exceptions=False)
    login(client, "sam", STAFF_PASSWORD)
    not_ascii = {b"x-csrftoken": "é".encode("latin-1")}
    answers = {
        "header": client.post("/api/stations", json={**STATION, "capacity": 3}, headers=not_ascii),
        "multipart": client.post("/api/print-files", headers=not_ascii, files={"file": GCODE}),
        "field": client.post("/stations/new", data={"csrftoken": "é", **STATION}),
        "not utf-8": client.post(
            "/stations/new",
            content=b"csrftoken=%FF%FE&name=Wii",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    }
    for what, answer in answers.items():
        assert answer.status_code == 403, what
    assert client.get("/api/stations").json() == []
