"""The calendar feed's own token: calendar services store the feed's URL, so the token in
it opens the feed and nothing else, and no other token is taken in the URL."""

from __future__ import annotations

from bs4 import BeautifulSoup

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import TokenScope
from tests.conftest import STAFF_PASSWORD, Lab
from tests.pages import login, submit


def _calendar_token(lab: Lab, name: str = "sam") -> str:
    with database.transaction(lab.sessions) as session:
        user = accounts.get_user(session, name)
        return accounts.create_token(session, user, "Thunderbird", TokenScope.CALENDAR).secret


def test_an_api_token_in_the_feed_address_is_refused(lab: Lab) -> None:
    for token in (lab.admin_token, lab.staff_token):
        refused = lab.client.get(f"/api/visits.ics?token={token}")
        assert refused.status_code == 401
        assert "calendar token" in refused.json()["detail"]


def test_a_calendar_token_opens_the_feed(lab: Lab) -> None:
    token = _calendar_token(lab)
    assert token.startswith("cal_")
    feed = lab.client.get(f"/api/visits.ics?token={token}")
    assert feed.status_code == 200
    assert feed.text.startswith("BEGIN:VCALENDAR")


def test_a_calendar_token_opens_nothing_else(lab: Lab) -> None:
    token = _calendar_token(lab, "ada")  # even an admin's
    bearer = {"Authorization": f"Bearer {token}"}
    assert lab.client.get("/api/visits", headers=bearer).status_code == 401
    assert lab.client.get("/api/visits.ics", headers=bearer).status_code == 401
    assert lab.client.get(f"/api/visits?token={token}").status_code == 401
    assert lab.client.get(f"/api/stations?token={token}").status_code == 401
    assert lab.client.get(f"/visits?token={token}", follow_redirects=False).status_code == 303


def test_the_feed_still_takes_a_session_or_an_api_token_in_the_header(lab: Lab) -> None:
    assert lab.client.get("/api/visits.ics", headers=lab.headers()).status_code == 200
    login(lab.client, "sam", STAFF_PASSWORD)
    assert lab.client.get("/api/visits.ics").status_code == 200


def test_a_revoked_calendar_token_is_refused(lab: Lab) -> None:
    token = _calendar_token(lab)
    with database.transaction(lab.sessions) as session:
        (listed,) = [t for t in accounts.list_tokens(session, "sam") if t.scope == "calendar"]
        accounts.revoke_token(session, listed.id)
    assert lab.client.get(f"/api/visits.ics?token={token}").status_code == 401


def test_staff_create_a_calendar_link_on_a_page_and_revoke_it(sqlite_lab: Lab) -> None:
    lab = sqlite_lab
    login(lab.client, "sam", STAFF_PASSWORD)
    assert "/visits/feeds" in lab.client.get("/visits").text
    created = submit(lab.client, "/visits/feeds", "/visits/feeds", {"label": "Outlook"})
    assert created.status_code == 200
    link = BeautifulSoup(created.text, "html.parser").select_one("#new-link")
    assert link is not None
    url = str(link["href"])
    assert url.startswith("http://testserver/api/visits.ics?token=cal_")
    lab.client.cookies.clear()  # the calendar program has no session
    assert lab.client.get(url).status_code == 200

    login(lab.client, "sam", STAFF_PASSWORD)
    page = lab.client.get("/visits/feeds")
    assert url not in page.text  # shown once only
    assert "Outlook" in page.text
    with lab.sessions() as session:
        (token,) = accounts.calendar_tokens(session, accounts.get_user(session, "sam"))
    revoked = submit(lab.client, "/visits/feeds", f"/visits/feeds/{token.id}/revoke", {})
    assert revoked.status_code == 303
    lab.client.cookies.clear()
    assert lab.client.get(url).status_code == 401


def test_staff_cannot_revoke_someone_elses_token_on_the_page(sqlite_lab: Lab) -> None:
    lab = sqlite_lab
    _calendar_token(lab, "ada")
    with lab.sessions() as session:
        (token,) = accounts.calendar_tokens(session, accounts.get_user(session, "ada"))
    login(lab.client, "sam", STAFF_PASSWORD)
    refused = submit(lab.client, "/visits/feeds", f"/visits/feeds/{token.id}/revoke", {})
    assert refused.status_code == 404
    with lab.sessions() as session:
        assert session.get(type(token), token.id).revoked_at is None  # type: ignore[union-attr]
