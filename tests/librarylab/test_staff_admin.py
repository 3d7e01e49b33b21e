"""Staff administration over the JSON API, on SQLite and PostgreSQL: admins add people, who
choose their password through a one-time link; roles, deactivation, password resets; and
everybody's own API tokens. No answer carries a password hash, a digest or a secret twice."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.invitations import INVITATION_MAIL
from librarylab.accounts.orm import ApiToken, Invitation, Role, User
from librarylab.accounts.sessions import secret_digest
from librarylab.audit.orm import AuditRecord
from librarylab.errors import Conflict
from librarylab.i18n import Formatter
from librarylab.logs import RedactSecrets, redact
from librarylab.settings import Language
from mail import service as mail
from tests.conftest import STAFF_PASSWORD, Lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import csrf_token, login, text_of

NEW_PASSWORD = "nina-password-1"


def add(lab: Lab, name: str = "nina", **fields: Any) -> dict[str, Any]:
    answer = lab.client.post(
        "/api/users", json={"name": name, **fields}, headers=lab.headers("admin")
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def secret_of(created: dict[str, Any]) -> str:
    link: str = created["invitation"]["link"]
    assert "/invite/" in link
    return link.rsplit("/invite/", 1)[1]


def accept(client: TestClient, secret: str, password: str = NEW_PASSWORD) -> Any:
    path = f"/invite/{secret}"
    fields = {"new_password": password, "repeat_password": password}
    page = client.get(path)
    token = csrf_token(client, path) if page.status_code == 200 else csrf_token(client, "/login")
    return client.post(path, data={"csrftoken": token, **fields}, follow_redirects=False)


def count(lab: Lab, model: type[Any]) -> int:
    with lab.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_new_person_sets_a_password_through_the_link_once(lab: Lab) -> None:
    created = add(lab, email="Nina@Example.org", role="staff")
    user = created["user"]
    assert user["name"] == "nina"
    assert user["email"] == "Nina@example.org"
    assert user["password_set"] is False
    assert user["invitation"]["expired"] is False
    assert created["invitation"]["mailed_to"] is None  # no SMTP server set
    secret = secret_of(created)
    # Only the digest is stored; the answer never carries hashes or digests.
    with lab.sessions() as session:
        stored = session.scalars(select(Invitation)).one()
        assert stored.digest == secret_digest(secret)
        assert stored.created_by == "ada"
        assert stored.expires_at - stored.created_at == timedelta(hours=72)
        hashed = session.scalars(select(User.password_hash).where(User.name == "nina")).one()
    for text in (str(created), lab.client.get("/api/users", headers=lab.headers("admin")).text):
        assert stored.digest not in text
        assert hashed not in text
    # Until the link is used, no password opens the account.
    assert login(lab.client, "nina", "").status_code == 401
    assert login(lab.client, "nina", hashed).status_code == 401

    page = lab.client.get(f"/invite/{secret}")
    assert page.status_code == 200
    assert "nina" in text_of(page)
    done = accept(lab.client, secret)
    assert done.status_code == 200
    assert 'id="password-set"' in done.text
    assert login(lab.client, "nina", NEW_PASSWORD).status_code == 303
    answer = lab.client.get("/api/users/nina", headers=lab.headers("admin")).json()
    assert answer["password_set"] is True
    assert answer["invitation"] is None

    # Used up: the same link is now unknown, and cannot set another password.
    assert lab.client.get(f"/invite/{secret}").status_code == 404
    again = accept(lab.client, secret, "someone-elses-1")
    assert again.status_code == 404
    assert 'id="invalid-link"' in again.text
    assert login(lab.client, "nina", "someone-elses-1").status_code == 401


def test_choosing_a_password_through_the_link_is_in_the_audit_trail(lab: Lab) -> None:
    """Nobody is logged in on the invitation page: the trail names the invited person."""
    secret = secret_of(add(lab, role="staff"))
    assert accept(lab.client, secret).status_code == 200
    with lab.sessions() as session:
        records = session.scalars(
            select(AuditRecord).where(
                AuditRecord.object_type == "user", AuditRecord.object_label == "nina"
            )
        ).all()
    chosen = [r for r in records if "password_hash" in r.changes]
    assert [(r.actor, r.source, r.changes["password_hash"]) for r in chosen][-1] == (
        "nina",
        "page",
        "changed",
    )
    assert all(NEW_PASSWORD not in str(r.changes) for r in records)
    created = next(r for r in records if r.action == "created")
    assert created.changes["password_hash"] == "changed"
    assert created.changes["must_change_password"] == [None, False]  # a flag, not a secret


def test_an_invitation_link_expires(lab: Lab) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=72, seconds=1)
    with database.transaction(lab.sessions) as session:
        _user, new = accounts.add_staff(session, "otto", Role.STAFF, None, by="ada", now=long_ago)
    assert lab.client.get(f"/invite/{new.secret}").status_code == 404
    assert accept(lab.client, new.secret).status_code == 404
    listed = lab.client.get("/api/users/otto", headers=lab.headers("admin")).json()
    assert listed["invitation"]["expired"] is True
    assert login(lab.client, "otto", NEW_PASSWORD).status_code == 401


def test_a_forged_or_altered_link_is_answered_like_an_unknown_one(lab: Lab) -> None:
    secret = secret_of(add(lab))
    unknown = lab.client.get("/invite/not-a-link")
    altered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for forged in (altered, secret.upper(), secret + "x", "x" * 201, secret_digest(secret)):
        answer = lab.client.get(f"/invite/{forged}")
        assert answer.status_code == 404
        assert text_of(answer) == text_of(unknown)
        assert accept(lab.client, forged).status_code == 404
    # The real link still works after all that.
    assert accept(lab.client, secret).status_code == 200


def test_a_second_link_replaces_the_first(lab: Lab) -> None:
    first = secret_of(add(lab))
    reset = lab.client.post("/api/users/nina/reset-password", headers=lab.headers("admin"))
    assert reset.status_code == 200
    second = secret_of(reset.json())
    assert lab.client.get(f"/invite/{first}").status_code == 404
    assert lab.client.get(f"/invite/{second}").status_code == 200


def test_the_link_of_a_deactivated_account_does_not_work(lab: Lab) -> None:
    secret = secret_of(add(lab))
    off = lab.client.patch("/api/users/nina", json={"active": False}, headers=lab.headers("admin"))
    assert off.status_code == 200
    assert accept(lab.client, secret).status_code == 404


def test_a_password_breaking_the_rules_leaves_the_link_open(lab: Lab) -> None:
    secret = secret_of(add(lab))
    short = accept(lab.client, secret, "short")
    assert short.status_code == 422
    assert "10" in text_of(short)
    assert accept(lab.client, secret).status_code == 200


def test_the_invitation_secret_never_reaches_a_log_line(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    secret = secret_of(add(lab))
    with caplog.at_level(logging.DEBUG):
        assert accept(lab.client, secret).status_code == 200
    # The service's lines, not those of the test's HTTP client.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx2")
    assert secret not in logged
    assert redact(f"/invite/{secret}?lang=en") == "/invite/***?lang=en"
    caplog.clear()
    access = logging.getLogger("test.invite.access")
    access.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.invite.access"):
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", f"/invite/{secret}", "1.1", 200
        )
    assert secret not in caplog.text
    assert '"POST /invite/*** HTTP/1.1" 200' in caplog.text


def test_staff_members_get_403_on_the_administration(lab: Lab) -> None:
    before = count(lab, User)
    for method, path, body in (
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"name": "mallory", "role": "admin"}),
        ("GET", "/api/users/ada", None),
        ("PATCH", "/api/users/sam", {"role": "admin"}),
        ("POST", "/api/users/ada/reset-password", None),
        ("POST", "/api/users/ada/logout", None),
    ):
        answer = lab.client.request(method, path, json=body, headers=lab.headers("staff"))
        assert answer.status_code == 403, (method, path)
        assert "admin" in answer.json()["detail"]
    assert count(lab, User) == before
    with lab.sessions() as session:
        assert accounts.get_user(session, "sam").role is Role.STAFF
    assert lab.client.get("/api/users/ada", headers=lab.headers("admin")).json()["password_set"]


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(lab: Lab) -> None:
    admin = lab.headers("admin")
    for change in ({"role": "staff"}, {"active": False}):
        answer = lab.client.patch("/api/users/ada", json=change, headers=admin)
        assert answer.status_code == 409, answer.text
        assert "last active admin" in answer.json()["detail"]
    # The rule holds for whoever asks (e.g. two admins demoting each other at once).
    with lab.sessions() as session:
        ada, sam = accounts.get_user(session, "ada"), accounts.get_user(session, "sam")
        with pytest.raises(Conflict, match="last active admin"):
            accounts.update_staff(session, ada, {"active": False}, by=sam)
    # With a second admin, ada still cannot demote herself, but the other admin can.
    add(lab, "olga", role="admin")
    self_demoted = lab.client.patch("/api/users/ada", json={"role": "staff"}, headers=admin)
    assert self_demoted.status_code == 409
    assert "another admin" in self_demoted.json()["detail"]
    assert lab.client.get("/api/users/ada", headers=admin).json()["role"] == "admin"
    olga_demoted = lab.client.patch("/api/users/olga", json={"role": "staff"}, headers=admin)
    assert olga_demoted.status_code == 200
    assert olga_demoted.json()["role"] == "staff"


def test_deactivation_stops_a_live_login_and_a_token_at_once(lab: Lab) -> None:
    sam = TestClient(lab.client.app)
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 303
    assert sam.get("/visits", follow_redirects=False).status_code == 200
    assert lab.client.get("/api/visits", headers=lab.headers("staff")).status_code == 200

    off = lab.client.patch("/api/users/sam", json={"active": False}, headers=lab.headers("admin"))
    assert off.status_code == 200
    assert off.json()["active"] is False
    assert off.json()["logins"] == 0
    assert sam.get("/visits", follow_redirects=False).headers["location"].startswith("/login")
    assert lab.client.get("/api/visits", headers=lab.headers("staff")).status_code == 401
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 401

    on = lab.client.patch("/api/users/sam", json={"active": True}, headers=lab.headers("admin"))
    assert on.status_code == 200
    assert lab.client.get("/api/visits", headers=lab.headers("staff")).status_code == 200


def test_a_reset_makes_the_person_choose_a_new_password(lab: Lab) -> None:
    sam = TestClient(lab.client.app)
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 303
    reset = lab.client.post("/api/users/sam/reset-password", headers=lab.headers("admin"))
    assert reset.status_code == 200, reset.text
    assert reset.json()["logins_ended"] == 1
    assert reset.json()["user"]["password_set"] is False
    assert sam.get("/visits", follow_redirects=False).status_code == 303  # logged out
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 401  # the old password is gone
    # Its tokens stay (deactivating is what stops them).
    assert lab.client.get("/api/visits", headers=lab.headers("staff")).status_code == 200
    assert accept(sam, secret_of(reset.json())).status_code == 200
    assert login(sam, "sam", STAFF_PASSWORD).status_code == 401
    assert login(sam, "sam", NEW_PASSWORD).status_code == 303


def test_an_admin_cannot_reset_the_own_password(lab: Lab) -> None:
    answer = lab.client.post("/api/users/ada/reset-password", headers=lab.headers("admin"))
    assert answer.status_code == 409
    assert "/account/password" in answer.json()["detail"]
    assert login(lab.client, "ada", "admin-password-1").status_code == 303


def test_unknown_accounts_are_404_with_the_way_out(lab: Lab) -> None:
    answer = lab.client.patch(
        "/api/users/nobody", json={"role": "staff"}, headers=lab.headers("admin")
    )
    assert answer.status_code == 404
    assert "nobody" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n" * 81}, "name"),
        ({"name": "nina", "email": "e" * 250 + "@x.org"}, "email"),
        ({"name": "nina", "email": "not an address"}, "email"),
        ({"name": "nina/../ada"}, "name"),
        ({"name": "nina", "role": "owner"}, "role"),
        ({"name": "nina", "password_hash": "x"}, "password_hash"),
    ],
)
def test_bad_or_oversized_fields_are_422_and_nothing_is_stored(
    lab: Lab, body: dict[str, Any], field: str
) -> None:
    users, invitations = count(lab, User), count(lab, Invitation)
    answer = lab.client.post("/api/users", json=body, headers=lab.headers("admin"))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert field in str(problem.get("errors") or problem.get("field")), problem
    assert (count(lab, User), count(lab, Invitation)) == (users, invitations)


def test_oversized_patches_and_labels_are_422_and_change_nothing(lab: Lab) -> None:
    admin = lab.headers("admin")
    before = lab.client.get("/api/users/sam", headers=admin).json()
    for change in ({"email": "e" * 255}, {"email": "two@a.org, three@b.org"}, {"name": "x"}):
        answer = lab.client.patch("/api/users/sam", json=change, headers=admin)
        assert answer.status_code == 422, change
    assert lab.client.get("/api/users/sam", headers=admin).json() == before
    tokens = count(lab, ApiToken)
    label = lab.client.post("/api/tokens", json={"label": "l" * 121}, headers=admin)
    assert label.status_code == 422
    assert count(lab, ApiToken) == tokens


def test_own_tokens_never_show_others_tokens_or_any_secret(lab: Lab) -> None:
    made = lab.client.post("/api/tokens", json={"label": "backup"}, headers=lab.headers("staff"))
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert made.json()["token"]["user"] == "sam"
    assert (
        lab.client.get("/api/visits", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )

    listed = lab.client.get("/api/tokens", headers=lab.headers("staff"))
    assert listed.status_code == 200
    assert {t["user"] for t in listed.json()} == {"sam"}
    assert len(listed.json()) == 2
    with lab.sessions() as session:
        every = session.scalars(select(ApiToken)).all()
        digests = [t.digest for t in every]
        ada_ids = {t.id for t in every if t.user.name == "ada"}
    for text in (listed.text, made.text):
        for digest in digests:
            assert digest not in text
        assert lab.staff_token not in text
        assert lab.admin_token not in text
    assert secret not in listed.text
    assert not ada_ids & {t["id"] for t in listed.json()}
    assert set(listed.json()[0]) == {"id", "user", "label", "scope", "created_at", "revoked_at"}

    # Others' tokens: not listed, not revocable, answered like unknown ones.
    others = lab.client.get("/api/tokens?user=ada", headers=lab.headers("staff"))
    assert others.status_code == 403
    for token_id in ada_ids:
        gone = lab.client.delete(f"/api/tokens/{token_id}", headers=lab.headers("staff"))
        assert gone.status_code == 404
        assert gone.json()["detail"] == f"You have no token with id {token_id}."
    assert lab.client.get("/api/visits", headers=lab.headers("admin")).status_code == 200

    # An admin sees anyone's and may revoke anyone's.
    by_admin = lab.client.get("/api/tokens?user=sam", headers=lab.headers("admin"))
    assert [t["id"] for t in by_admin.json()] == [t["id"] for t in listed.json()]
    new_id = made.json()["token"]["id"]
    revoked = lab.client.delete(f"/api/tokens/{new_id}", headers=lab.headers("admin"))
    assert revoked.status_code == 204
    assert (
        lab.client.get("/api/visits", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    assert (
        lab.client.delete(f"/api/tokens/{new_id}", headers=lab.headers("staff")).status_code == 204
    )


def test_a_token_cannot_revoke_itself(lab: Lab) -> None:
    mine = lab.client.get("/api/tokens", headers=lab.headers("staff")).json()
    answer = lab.client.delete(f"/api/tokens/{mine[0]['id']}", headers=lab.headers("staff"))
    assert answer.status_code == 409
    assert "cannot revoke itself" in answer.json()["detail"]
    assert lab.client.get("/api/visits", headers=lab.headers("staff")).status_code == 200


def test_the_invitation_is_mailed_when_mail_is_set(mail_lab: Lab, smtp_server: SmtpServer) -> None:
    created = add(mail_lab, email="nina@example.org")
    assert created["invitation"]["mailed_to"] == "nina@example.org"
    no_address = add(mail_lab, "otto")
    assert no_address["invitation"]["mailed_to"] is None
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "nina@example.org"
    body = message.get_body(("plain",))
    assert body is not None
    assert created["invitation"]["link"] in body.get_content()
    assert "nina" in body.get_content()


@pytest.mark.parametrize(
    ("language", "reset", "words"),
    [
        ("de", False, ("Ihr Konto bei", "hat ein Konto 'nina' für Sie angelegt")),
        ("de", True, ("Neues Passwort", "zurückgesetzt")),
        ("en", False, ("Your account at", "has made an account 'nina' for you")),
        ("en", True, ("Choose a new password", "has reset the password")),
    ],
)
def test_the_invitation_mail_reads_in_both_languages(
    language: Language, reset: bool, words: tuple[str, str]
) -> None:
    link = "https://lab.example.org/invite/abc"
    expires = datetime(2030, 5, 6, 7, 8, tzinfo=UTC)
    rendered = mail.render(
        INVITATION_MAIL,
        language,
        lang=language,
        fmt=Formatter(language),
        name="nina",
        link=link,
        expires_at=expires,
        zone=ZoneInfo("Europe/Berlin"),
        reset=reset,
        lab_name="LibraryLab <Köln>",
    )
    subject_word, body_words = words
    assert subject_word in rendered.subject
    assert body_words in rendered.text
    assert link in rendered.text
    assert f'href="{link}"' in rendered.html
    assert "09:08" in rendered.text  # the lab's time
    assert "LibraryLab &lt;Köln&gt;" in rendered.html


def test_two_admins_demoting_each_other_at_once_leave_one_admin(lab: Lab) -> None:
    add(lab, "olga", role="admin")
    outcome: list[str] = []

    def demote_ada() -> None:
        with lab.sessions() as session:
            ada, olga = accounts.get_user(session, "ada"), accounts.get_user(session, "olga")
            try:
                accounts.update_staff(session, ada, {"role": Role.STAFF}, by=olga)
                session.commit()
                outcome.append("demoted")
            except Conflict:
                outcome.append("refused")

    with lab.sessions() as first:
        ada, olga = accounts.get_user(first, "ada"), accounts.get_user(first, "olga")
        accounts.update_staff(first, olga, {"role": Role.STAFF}, by=ada)
        first.flush()
        other = threading.Thread(target=demote_ada)
        other.start()
        other.join(0.5)
        assert other.is_alive()  # it waits for the first change to end
        first.commit()
    other.join(10)
    assert outcome == ["refused"]
    with lab.sessions() as session:
        admins = session.scalars(select(User.name).where(User.role == Role.ADMIN)).all()
    assert admins == ["ada"]


def test_a_link_used_twice_at_once_sets_one_password(lab: Lab) -> None:
    secret = secret_of(add(lab))
    results: dict[str, bool] = {}

    def use(password: str) -> None:
        with lab.sessions() as session:
            user = accounts.accept_invitation(session, secret, password, datetime.now(UTC))
            session.commit()
            results[password] = user is not None

    racers = [
        threading.Thread(target=use, args=(p,)) for p in ("first-password-1", "other-password-2")
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(20)
    assert sorted(results.values()) == [False, True]
    [winner] = [p for p, won in results.items() if won]
    [loser] = [p for p, won in results.items() if not won]
    assert login(lab.client, "nina", winner).status_code == 303
    assert login(lab.client, "nina", loser).status_code == 401
