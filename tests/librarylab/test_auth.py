"""Who may do what: tokens, sessions, roles and CSRF."""

from __future__ import annotations

from sqlalchemy import delete

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import ApiToken
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import csrf_token, login

STATION = {"name": "Xbox One", "kind": "gaming", "capacity": 4}


def test_a_token_of_a_known_user_opens_the_api(lab: Lab) -> None:
    assert lab.client.get("/api/stations", headers=lab.headers()).status_code == 200


def test_revoked_or_malformed_tokens_are_refused(lab: Lab) -> None:
    with database.transaction(lab.sessions) as session:
        user = accounts.get_user(session, "sam")
        token = accounts.create_token(session, user, label="calendar")
    headers = {"Authorization": f"Bearer {token.secret}"}
    assert lab.client.get("/api/stations", headers=headers).status_code == 200
    with database.transaction(lab.sessions) as session:
        accounts.revoke_token(session, token.id)
    refused = lab.client.get("/api/stations", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    basic = lab.client.get("/api/stations", headers={"Authorization": "Basic c2FtOnB3"})
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["detail"]


def test_a_wrong_token_is_not_rescued_by_a_session_cookie(lab: Lab) -> None:
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303
    assert lab.client.get("/api/stations").status_code == 200
    wrong = lab.client.get("/api/stations", headers={"Authorization": "Bearer ll_wrong"})
    assert wrong.status_code == 401


def test_session_cookie_is_httponly_and_samesite(lab: Lab) -> None:
    response = login(lab.client, "sam", STAFF_PASSWORD)
    cookie = response.headers["set-cookie"]
    assert "librarylab_session=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(lab: Lab) -> None:
    for name in ("sam", "nobody"):
        response = login(lab.client, name, "not-the-password")
        assert response.status_code == 401
        assert "Unbekannter Name oder falsches Passwort." in response.text
    assert lab.client.get("/api/stations").status_code == 401


def test_json_writes_with_a_session_need_the_csrf_header(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    forged = lab.client.post("/api/stations", json=STATION)
    assert forged.status_code == 403
    assert forged.headers["content-type"] == "application/problem+json"
    assert "CSRF" in forged.json()["detail"]
    token = csrf_token(lab.client, "/stations")
    allowed = lab.client.post("/api/stations", json=STATION, headers={"x-csrftoken": token})
    assert allowed.status_code == 201


def test_form_posts_without_the_csrf_field_are_refused_and_change_nothing(lab: Lab) -> None:
    login(lab.client, "ada", ADMIN_PASSWORD)
    refused = lab.client.post(
        "/stations/new", data={"name": "Wii U", "kind": "gaming", "capacity": "3"}
    )
    assert refused.status_code == 403
    assert "neu laden" in refused.text
    assert lab.client.get("/api/stations").json() == []


def test_logout_ends_the_session(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    token = csrf_token(lab.client, "/stations")
    response = lab.client.post("/logout", data={"csrftoken": token}, follow_redirects=False)
    assert response.status_code == 303
    assert lab.client.get("/api/stations").status_code == 401
    page = lab.client.get("/stations", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fstations"


def test_login_only_redirects_within_the_site(lab: Lab) -> None:
    token = csrf_token(lab.client, "/login")
    response = lab.client.post(
        "/login",
        data={
            "name": "sam",
            "password": STAFF_PASSWORD,
            "csrftoken": token,
            "next": "//evil.example/steal",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_first_admin_must_replace_the_one_time_password(lab: Lab) -> None:
    with database.transaction(lab.sessions) as session:
        session.execute(delete(ApiToken))
        for user in accounts.find_user(session, "ada"), accounts.find_user(session, "sam"):
            session.delete(user)
    with database.transaction(lab.sessions) as session:
        password = accounts.ensure_initial_admin(session)
    with database.transaction(lab.sessions) as session:
        assert accounts.ensure_initial_admin(session) is None  # only on an empty database
    assert password
    assert login(lab.client, "admin", password).status_code == 303
    forced = lab.client.get("/visits", follow_redirects=False)
    assert forced.headers["location"] == "/account/password"
    token = csrf_token(lab.client, "/account/password")
    too_short = lab.client.post(
        "/account/password",
        data={"csrftoken": token, "new_password": "short", "repeat_password": "short"},
    )
    assert too_short.status_code == 422
    assert "mindestens 10 Zeichen" in too_short.text
    changed = lab.client.post(
        "/account/password",
        data={
            "csrftoken": token,
            "new_password": "a-long-new-one",
            "repeat_password": "a-long-new-one",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert lab.client.get("/visits").status_code == 200
    lab.client.cookies.clear()
    assert login(lab.client, "admin", password).status_code == 401
    assert login(lab.client, "admin", "a-long-new-one").status_code == 303
