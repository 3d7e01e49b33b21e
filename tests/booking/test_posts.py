"""The personal post link: the library opens it from its follow-up mail, enters its post's
address, and the post no longer shows as outstanding; anything but the real link is 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from booking.correspondence import post_token, renew_post_link
from librarylab import database
from librarylab.logs import redact
from tests.booking.test_correspondence import (
    LINK,
    VISIT_DAY,
    at,
    body_of,
    book,
    delivered,
    due,
    posts_of,
    settings_of,
)
from tests.conftest import Lab
from tests.mail.smtp_server import SmtpServer
from tests.pages import csrf_token, error_of, submit, text_of
from visits.orm import Visit


def follow_up_link(lab: Lab, smtp_server: SmtpServer, to: str = "hanna@hilden.example") -> str:
    """The path of the post link in the follow-up mail to ``to``, as delivered."""
    queued = due(lab, at(VISIT_DAY + timedelta(days=1)))
    [message] = [m for m in delivered(lab, smtp_server, queued) if m["To"] == to]
    [link] = set(LINK.findall(body_of(message)[0]))
    return str(link).removeprefix("http://localhost:8000")


def visit_json(lab: Lab, visit: int) -> dict[str, object]:
    answer = lab.client.get(f"/api/visits/{visit}", headers=lab.headers())
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()
    return result


def test_the_link_in_the_follow_up_opens_a_page_where_the_post_is_entered(
    mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    visit = book(
        mail_lab,
        contact_language="en",
        posts=[{"kind": "blog"}, {"kind": "instagram"}],
    )
    path = follow_up_link(mail_lab, smtp_server)
    listed = mail_lab.client.get("/api/visits", headers=mail_lab.headers()).json()
    assert [v["post_outstanding"] for v in listed if v["id"] == visit] == [True]

    browser = TestClient(mail_lab.client.app)  # the library's own browser: no login, no cookies
    page = browser.get(path)
    assert page.status_code == 200
    assert page.url.params["lang"] == "en"  # the language its mail was in
    shown = text_of(page)
    assert "Visit of Stadtbibliothek Hilden on Thursday, March 20, 2031" in shown
    assert "hanna@hilden.example" not in page.text
    assert "Hanna Hilden" not in page.text
    fields = [
        str(f["name"]) for f in BeautifulSoup(page.text, "html.parser").select("input[type=url]")
    ]
    blog, instagram = (f"post_{p['id']}" for p in posts_of(mail_lab, visit))
    assert fields == [blog, instagram]

    saved = submit(browser, path, path, {blog: "https://hilden.example/blog/librarylab"})
    assert saved.status_code == 303
    thanks = browser.get(saved.headers["location"])
    assert "Thank you! We have noted your post." in text_of(thanks)
    after = visit_json(mail_lab, visit)
    assert after["posts"] == [
        {"kind": "blog", "url": "https://hilden.example/blog/librarylab", "published": True},
        {"kind": "instagram", "url": "", "published": False},
    ]
    assert after["post_outstanding"] is True  # Instagram still to come

    saved = submit(browser, path, path, {instagram: "HTTPS://instagram.example/p/abc"})
    assert saved.status_code == 303
    after = visit_json(mail_lab, visit)
    assert after["post_outstanding"] is False
    assert after["posts"][1] == {  # type: ignore[index]
        "kind": "instagram",
        "url": "https://instagram.example/p/abc",
        "published": True,
    }
    listed = mail_lab.client.get("/api/visits", headers=mail_lab.headers()).json()
    assert [v["post_outstanding"] for v in listed if v["id"] == visit] == [False]


def test_forged_altered_or_renewed_tokens_are_not_found(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer
) -> None:
    lab = sqlite_mail_lab
    visit = book(lab)
    other = book(lab, contact_email="other@example.org")
    path = follow_up_link(lab, smtp_server)
    client = lab.client
    assert client.get(path).status_code == 200
    number, mac = path.removeprefix("/posts/").split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged = [
        f"/posts/{number}.{flipped}",  # one character altered
        f"/posts/{other}.{mac}",  # another visit's id with this visit's code
        f"/posts/{number}.{mac[:-2]}",  # cut short
        f"/posts/{number}.{mac}x",
        f"/posts/{number}",
        "/posts/9999." + mac,
        "/posts/" + "1" * 60,
        f"/posts/{number}.{'ä' * 43}",
    ]
    answers = [client.get(p, params={"lang": "de"}) for p in forged]
    assert [a.status_code for a in answers] == [404] * len(forged)
    assert len({a.text for a in answers}) == 1  # the same answer, whatever was wrong
    token = csrf_token(client, path)
    for p in forged[:2]:
        posted = client.post(p, data={"csrftoken": token, "post_1": "https://evil.example"})
        assert posted.status_code == 404

    with database.transaction(lab.sessions) as session:
        stored = session.get(Visit, visit)
        assert stored is not None
        renew_post_link(stored)
        new_path = f"/posts/{post_token(stored, settings_of(lab))}"
    assert client.get(path).status_code == 404  # the old link is dead
    assert client.get(new_path, params={"lang": "de"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(document.cookie)", "beginnend mit https://"),
        ("data:text/html,<script>alert(1)</script>", "beginnend mit https://"),
        ("https://", "beginnend mit https://"),
        ("https://example.org/" + "a" * 500, "höchstens 500 Zeichen"),
        ("https://example.org/a b", "keine Leerzeichen oder Steuerzeichen"),
        ("https://example.org/\u202eevil", "keine Leerzeichen oder Steuerzeichen"),
    ],
)
def test_a_hostile_post_address_is_refused_and_nothing_is_stored(
    sqlite_mail_lab: Lab, smtp_server: SmtpServer, url: str, message: str
) -> None:
    lab = sqlite_mail_lab
    visit = book(lab, posts=[{"kind": "blog"}, {"kind": "facebook"}])
    path = follow_up_link(lab, smtp_server)
    blog, facebook = (f"post_{p['id']}" for p in posts_of(lab, visit))
    before = visit_json(lab, visit)
    client = lab.client
    client.cookies.set("lang", "de")
    answer = submit(client, path, path, {blog: "https://hilden.example/ok", facebook: url})
    assert answer.status_code == 422
    assert message in error_of(answer)
    assert visit_json(lab, visit) == before  # not even the good one


def test_the_post_form_needs_its_csrf_token(sqlite_mail_lab: Lab, smtp_server: SmtpServer) -> None:
    lab = sqlite_mail_lab
    visit = book(lab)
    path = follow_up_link(lab, smtp_server)
    [field] = (f"post_{p['id']}" for p in posts_of(lab, visit))
    before = visit_json(lab, visit)
    stranger = TestClient(lab.client.app)  # a page elsewhere posting into the library's browser
    no_cookie = stranger.post(path, data={field: "https://evil.example/"}, follow_redirects=False)
    assert no_cookie.status_code == 403
    stranger.get(path)  # has the csrftoken cookie now, but posts without the field
    wrong = stranger.post(
        path, data={field: "https://evil.example/", "csrftoken": "x"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert visit_json(lab, visit) == before


def test_a_post_link_never_reaches_a_log_line() -> None:
    line = '127.0.0.1 - "GET /posts/12.AbC-_xyz?lang=en HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1 - "GET /posts/***?lang=en HTTP/1.1" 200'
    assert redact("POST /posts/7.secret HTTP/1.1") == "POST /posts/*** HTTP/1.1"
