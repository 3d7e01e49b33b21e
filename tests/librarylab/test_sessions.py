"""Logins live on the server: a copied session cookie dies with the login it belongs to."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select, update

from librarylab import database
from librarylab.accounts.orm import LoginSession, User
from librarylab.app import SESSION_COOKIE, create_app
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab, make_settings
from tests.librarylab.test_cli import _env, run
from tests.pages import csrf_token, login, submit, text_of


def copy_cookie(client: TestClient) -> str:
    """What a thief copies out of the browser (or a shared computer's profile)."""
    return client.cookies[SESSION_COOKIE]


def replay(client: TestClient, cookie: str) -> Response:
    """An API read from a browser that holds only ``cookie``."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    return client.get("/api/stations")


def logged_in(lab: Lab, name: str, password: str) -> TestClient:
    """Another browser on the same service."""
    client = TestClient(lab.client.app)
    assert login(client, name, password).status_code == 303
    return client


def test_a_cookie_copied_before_logout_is_refused_after_it(lab: Lab) -> None:
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303
    copied = copy_cookie(lab.client)
    assert replay(lab.client, copied).status_code == 200
    token = csrf_token(lab.client, "/stations")
    assert lab.client.post("/logout", data={"csrftoken": token}).status_code == 200
    assert replay(lab.client, copied).status_code == 401
    page = lab.client.get("/stations", follow_redirects=False)
    assert page.headers["location"] == "/login?next=%2Fstations"


def test_a_new_password_ends_every_login_but_keeps_the_browser_that_set_it(lab: Lab) -> None:
    elsewhere = logged_in(lab, "sam", STAFF_PASSWORD)
    copied = copy_cookie(elsewhere)
    login(lab.client, "sam", STAFF_PASSWORD)
    before_change = copy_cookie(lab.client)
    changed = submit(
        lab.client,
        "/account/password",
        "/account/password",
        {
            "current_password": STAFF_PASSWORD,
            "new_password": "a-new-password-2",
            "repeat_password": "a-new-password-2",
        },
    )
    assert changed.status_code == 303
    assert lab.client.get("/api/stations").status_code == 200  # a fresh login secret
    assert copy_cookie(lab.client) != before_change
    assert elsewhere.get("/api/stations").status_code == 401
    assert replay(lab.client, copied).status_code == 401
    assert replay(lab.client, before_change).status_code == 401


def test_librarylab_user_password_ends_the_accounts_logins(
    lab: Lab, tmp_path: Path, database_url: str
) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    assert lab.client.get("/api/stations").status_code == 200
    done = run(["user", "password", "sam"], _env(tmp_path, database_url), "a-new-password-3\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "password of 'sam' changed",
        "1 browser login(s) of 'sam' ended",
    ]
    assert lab.client.get("/api/stations").status_code == 401


def test_a_deactivated_account_loses_its_logins_and_tokens_until_activated(
    lab: Lab, tmp_path: Path, database_url: str
) -> None:
    env = _env(tmp_path, database_url)
    login(lab.client, "sam", STAFF_PASSWORD)
    copied = copy_cookie(lab.client)
    stopped = run(["user", "deactivate", "sam"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert "1 browser login(s) of 'sam' ended" in stopped.stdout
    assert replay(lab.client, copied).status_code == 401
    assert lab.client.get("/api/stations", headers=lab.headers()).status_code == 401
    lab.client.cookies.clear()
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 401

    assert run(["user", "activate", "sam"], env).returncode == 0
    assert lab.client.get("/api/stations", headers=lab.headers()).status_code == 200
    assert replay(lab.client, copied).status_code == 401  # an ended login stays ended
    lab.client.cookies.clear()
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303


def test_librarylab_user_logout_ends_every_login_and_keeps_the_tokens(
    lab: Lab, tmp_path: Path, database_url: str
) -> None:
    first = logged_in(lab, "sam", STAFF_PASSWORD)
    second = logged_in(lab, "sam", STAFF_PASSWORD)
    ada = logged_in(lab, "ada", ADMIN_PASSWORD)
    done = run(["user", "logout", "sam"], _env(tmp_path, database_url))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 browser login(s) of 'sam' ended"
    assert first.get("/api/stations").status_code == 401
    assert second.get("/api/stations").status_code == 401
    assert ada.get("/api/stations").status_code == 200
    assert lab.client.get("/api/stations", headers=lab.headers()).status_code == 200
    unknown = run(["user", "logout", "nobody"], _env(tmp_path, database_url))
    assert unknown.returncode == 2
    assert "There is no account named 'nobody'" in unknown.stderr


def test_an_admin_logs_an_account_out_everywhere_over_the_api(lab: Lab) -> None:
    sam = logged_in(lab, "sam", STAFF_PASSWORD)
    refused = lab.client.post("/api/users/ada/logout", headers=lab.headers("staff"))
    assert refused.status_code == 403
    ended = lab.client.post("/api/users/sam/logout", headers=lab.headers("admin"))
    assert ended.status_code == 200
    assert ended.json() == {"name": "sam", "ended": 1}
    assert sam.get("/api/stations").status_code == 401
    missing = lab.client.post("/api/users/nobody/logout", headers=lab.headers("admin"))
    assert missing.status_code == 404


def test_log_out_everywhere_else_keeps_only_this_browser(lab: Lab) -> None:
    phone = logged_in(lab, "sam", STAFF_PASSWORD)
    login(lab.client, "sam", STAFF_PASSWORD)
    assert "Weitere Browser mit diesem Konto angemeldet: 1." in text_of(
        lab.client.get("/account/password")
    )
    done = submit(lab.client, "/account/password", "/account/logout-others", {})
    assert done.status_code == 303
    page = text_of(lab.client.get(done.headers["location"]))
    assert "Andere Anmeldungen beendet: 1." in page
    assert "Weitere Browser mit diesem Konto angemeldet: 0." in page
    assert phone.get("/api/stations").status_code == 401
    assert lab.client.get("/api/stations").status_code == 200


def test_a_new_login_in_a_browser_ends_its_previous_one(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    copied = copy_cookie(lab.client)
    login(lab.client, "ada", ADMIN_PASSWORD)
    assert lab.client.get("/api/stations").status_code == 200
    assert replay(lab.client, copied).status_code == 401


def test_a_login_expires_on_the_server_however_fresh_its_cookie(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    with database.transaction(lab.sessions) as session:
        session.execute(update(LoginSession).values(expires_at=datetime.now(UTC)))
    assert lab.client.get("/api/stations").status_code == 401


def test_a_login_stores_only_its_digest_and_clears_long_expired_rows(lab: Lab) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    with database.transaction(lab.sessions) as session:
        session.execute(update(LoginSession).values(created_at=long_ago, expires_at=long_ago))
    login(lab.client, "sam", STAFF_PASSWORD)
    with database.transaction(lab.sessions) as session:
        rows = session.scalars(select(LoginSession)).all()
        sam = session.scalars(select(User).where(User.name == "sam")).one()
        assert [(row.user_id, row.ended_at) for row in rows] == [(sam.id, None)]
        secret = json.loads(base64.b64decode(copy_cookie(lab.client).split(".")[0]))["login"]
        assert rows[0].digest == hashlib.sha256(secret.encode()).hexdigest() != secret


def test_two_instances_on_one_database_share_the_logins(
    lab: Lab, tmp_path: Path, database_url: str
) -> None:
    login(lab.client, "sam", STAFF_PASSWORD)
    copied = copy_cookie(lab.client)
    with TestClient(create_app(make_settings(tmp_path, database_url))) as other:
        other.cookies.set(SESSION_COOKIE, copied)
        assert other.get("/api/stations").status_code == 200
        token = csrf_token(lab.client, "/stations")
        lab.client.post("/logout", data={"csrftoken": token})
        assert other.get("/api/stations").status_code == 401
