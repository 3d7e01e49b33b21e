"""The staff administration and the own account as a person uses them: admins add people on
/users, change roles, deactivate and reset; everybody manages their tokens on /account."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from librarylab.accounts.orm import ApiToken, User
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import csrf_token, error_of, login, submit, text_of

NEW_PASSWORD = "nina-password-1"


def browser(lab: Lab) -> TestClient:
    """Another browser on the same service, reading English (German is the default)."""
    client = TestClient(lab.client.app)
    client.cookies.set("lang", "en")
    return client


def as_admin(lab: Lab) -> TestClient:
    lab.client.cookies.set("lang", "en")
    assert login(lab.client, "ada", ADMIN_PASSWORD).status_code == 303
    return lab.client


def as_sam(lab: Lab) -> TestClient:
    sam = browser(lab)
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 303
    return sam


def users(lab: Lab) -> int:
    with lab.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def shown_link(html: str) -> str:
    found = re.search(r'<code id="invitation-link">([^<]+)</code>', html)
    assert found, html
    return found[1]


def test_an_admin_adds_a_person_who_then_logs_in(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    fields = {"name": "nina", "role": "staff", "email": "nina@example.org"}
    made = submit(admin, "/users/new", "/users/new", fields)
    assert made.status_code == 200, made.text
    link = shown_link(made.text)
    assert "/invite/" in link
    assert link not in admin.get("/users/nina").text  # shown once
    listed = text_of(admin.get("/users"))
    assert "nina@example.org" in listed
    assert "invited until" in listed

    newcomer = browser(sqlite_lab)
    path = link.split("testserver", 1)[-1].removeprefix("http://localhost:8000")
    assert newcomer.get(path).status_code == 200
    fields = {"new_password": NEW_PASSWORD, "repeat_password": "something-else"}
    differ = submit(newcomer, path, path, fields)
    assert differ.status_code == 422
    assert "differ" in error_of(differ)
    fields["repeat_password"] = NEW_PASSWORD
    assert submit(newcomer, path, path, fields).status_code == 200
    assert login(newcomer, "nina", NEW_PASSWORD).status_code == 303
    assert newcomer.get("/account").status_code == 200


def test_a_new_person_with_a_bad_name_is_refused_and_nothing_stored(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    before = users(sqlite_lab)
    for name in ("n" * 81, "nina smith", "", "ada"):
        fields = {"name": name, "role": "staff", "email": ""}
        answer = submit(admin, "/users/new", "/users/new", fields)
        assert answer.status_code in (409, 422), name
        assert error_of(answer), name
    huge = submit(
        admin, "/users/new", "/users/new", {"name": "nina", "role": "staff", "email": "e" * 300}
    )
    assert huge.status_code == 422
    assert "254" in error_of(huge)
    assert users(sqlite_lab) == before


def test_the_admin_page_changes_role_and_address_and_deactivates(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    sam = as_sam(sqlite_lab)
    saved = submit(admin, "/users/sam", "/users/sam", {"role": "admin", "email": "sam@x.org"})
    assert saved.status_code == 303
    assert "sam@x.org" in admin.get("/users").text
    off = submit(admin, "/users/sam", "/users/sam/active", {"active": "0"})
    assert off.status_code == 303
    assert "deactivated" in text_of(admin.get(off.headers["location"]))
    assert sam.get("/visits", follow_redirects=False).headers["location"].startswith("/login")
    on = submit(admin, "/users/sam", "/users/sam/active", {"active": "1"})
    assert on.status_code == 303
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 303


def test_the_admin_page_refuses_to_demote_the_last_admin(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    answer = submit(admin, "/users/ada", "/users/ada", {"role": "staff", "email": ""})
    assert answer.status_code == 409
    assert "last active admin" in error_of(answer)
    off = submit(admin, "/users/ada", "/users/ada/active", {"active": "0"})
    assert off.status_code == 409
    assert admin.get("/users").status_code == 200  # still an admin, still logged in


def test_a_reset_on_the_page_logs_the_person_out_and_shows_a_link(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    sam = as_sam(sqlite_lab)
    reset = submit(admin, "/users/sam", "/users/sam/reset-password", {})
    assert reset.status_code == 200
    link = shown_link(reset.text)
    assert sam.get("/visits", follow_redirects=False).status_code == 303
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 401
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    fields = {"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    assert submit(sam, path, path, fields).status_code == 200
    assert login(sam, "sam", NEW_PASSWORD).status_code == 303


def test_staff_members_get_403_on_the_staff_pages(sqlite_lab: Lab) -> None:
    sam = as_sam(sqlite_lab)
    for path in ("/users", "/users/new", "/users/ada"):
        assert sam.get(path).status_code == 403, path
    token = csrf_token(sam, "/account")
    before = users(sqlite_lab)
    made = sam.post(
        "/users/new",
        data={"csrftoken": token, "name": "mallory", "role": "admin"},
        follow_redirects=False,
    )
    assert made.status_code == 403
    assert users(sqlite_lab) == before
    assert 'href="/users"' not in sam.get("/visits").text  # no "Staff" in the navigation
    assert 'href="/users"' in as_admin(sqlite_lab).get("/visits").text


def test_the_account_page_makes_and_revokes_own_tokens(sqlite_lab: Lab) -> None:
    sam = as_sam(sqlite_lab)
    page = sam.get("/account")
    assert page.status_code == 200
    made = submit(sam, "/account", "/account/tokens", {"label": "backup", "scope": "api"})
    assert made.status_code == 200
    found = re.search(r'<code id="new-token">([^<]+)</code>', made.text)
    assert found
    secret = found[1]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert sqlite_lab.client.get("/api/visits", headers=bearer).status_code == 200
    again = sam.get("/account").text
    assert secret not in again
    assert "backup" in again
    assert sqlite_lab.admin_token not in again
    with sqlite_lab.sessions() as session:
        tokens = session.scalars(select(ApiToken)).all()
        mine = max(t.id for t in tokens if t.user.name == "sam")
        others = [t.id for t in tokens if t.user.name != "sam"]
        digests = [t.digest for t in tokens]
    for digest in digests:
        assert digest not in again
    for other in others:
        assert f"token-{other}" not in again
        refused = submit(sam, "/account", f"/account/tokens/{other}/revoke", {})
        assert refused.status_code == 404
    assert (
        sqlite_lab.client.get("/api/visits", headers=sqlite_lab.headers("admin")).status_code == 200
    )
    revoked = submit(sam, "/account", f"/account/tokens/{mine}/revoke", {})
    assert revoked.status_code == 303
    assert sqlite_lab.client.get("/api/visits", headers=bearer).status_code == 401
    too_long = submit(sam, "/account", "/account/tokens", {"label": "l" * 121, "scope": "api"})
    assert too_long.status_code == 422
    assert "120" in error_of(too_long)


def test_logging_out_everywhere_ends_this_browser_too(sqlite_lab: Lab) -> None:
    sam = as_sam(sqlite_lab)
    other = as_sam(sqlite_lab)
    answer = submit(sam, "/account", "/account/logout-everywhere", {})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    for browser in (sam, other):
        assert browser.get("/visits", follow_redirects=False).status_code == 303
    assert sqlite_lab.client.get("/api/visits", headers=sqlite_lab.headers()).status_code == 200


def test_the_invitation_form_needs_its_csrf_token(sqlite_lab: Lab) -> None:
    admin = as_admin(sqlite_lab)
    link = shown_link(
        submit(admin, "/users/new", "/users/new", {"name": "nina", "role": "staff"}).text
    )
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    stranger = browser(sqlite_lab)
    fields = {"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    assert stranger.post(path, data=fields, follow_redirects=False).status_code == 403
    assert stranger.get(path).status_code == 200  # still open
