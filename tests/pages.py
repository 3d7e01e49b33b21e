"""Helpers for tests that use the staff pages as a person would."""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from httpx2 import Response
from playwright.sync_api import Page
from playwright.sync_api import Response as PageAnswer


def csrf_token(client: TestClient, path: str) -> str:
    """The hidden CSRF field of the first form on ``path``."""
    page = client.get(path)
    field = BeautifulSoup(page.text, "html.parser").select_one("input[name=csrftoken]")
    assert field is not None, f"no form with a CSRF field on {path}"
    return str(field["value"])


def login(client: TestClient, name: str, password: str) -> Response:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrftoken": token, "next": "/"},
        follow_redirects=False,
    )


def submit(client: TestClient, form_page: str, action: str, fields: dict[str, str]) -> Response:
    """Post ``fields`` to ``action`` with the CSRF token taken from ``form_page``."""
    data = {"csrftoken": csrf_token(client, form_page), **fields}
    return client.post(action, data=data, follow_redirects=False)


def text_of(response: Response) -> str:
    """What a person reads on the page (no markup)."""
    return " ".join(BeautifulSoup(response.text, "html.parser").get_text(" ").split())


def error_of(response: Response) -> str:
    alert = BeautifulSoup(response.text, "html.parser").select_one("[role=alert]")
    return " ".join(alert.get_text(" ").split()) if alert else ""


# Not pages: files, streams, and actions behind links.
NOT_PAGES = ("/static/", "/logout", "/api/", "/wall/events", "/docs", "/openapi.json")
NOT_PAGE_ENDINGS = (".csv", ".ics")


def page_links(html: str) -> list[str]:
    """The site's own page links on ``html`` (path and query, without ``lang=``)."""
    out = []
    for anchor in BeautifulSoup(html, "html.parser").select("a[href]"):
        parts = urlsplit(str(anchor["href"]))
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if parts.path.startswith(NOT_PAGES) or parts.path.endswith(NOT_PAGE_ENDINGS):
            continue
        query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("lang="))
        out.append(parts.path + (f"?{query}" if query else ""))
    return out


def crawl(get: Callable[[str], Response], start: list[str], language: str) -> dict[str, Response]:
    """Every page reachable by links from ``start``, read in ``language`` (the caller has set
    the language cookie); path → answer.

    Pages that differ only in numbers (visit 3, visit 4; month after month) are read a few
    times each, so the calendar's "next month" does not lead on forever. Every page must
    answer below 500 and be written in ``language``.
    """
    seen: dict[str, Response] = {}
    shapes: Counter[str] = Counter()
    todo = deque(start)
    while todo:
        path = todo.popleft()
        shape = re.sub(r"\d+", "N", path)
        if path in seen or shapes[shape] >= 3:
            continue
        shapes[shape] += 1
        page = get(path)
        assert page.status_code < 500, f"{path} ({language}): {page.status_code} {page.text}"
        seen[path] = page
        if "text/html" in page.headers.get("content-type", ""):
            assert f'<html lang="{language}">' in page.text, path
            todo.extend(link for link in page_links(page.text) if link not in seen)
    return seen


def browse(
    page: Page, base: str, start: list[str], per_shape: int
) -> Iterator[tuple[str, PageAnswer]]:
    """Open in the browser every page reachable by links from ``start``, at most
    ``per_shape`` of those that differ only in numbers; yields each path and its answer once
    its page has loaded (below 400), before its links are followed."""
    seen: set[str] = set()
    shapes: Counter[str] = Counter()
    todo = deque(start)
    while todo:
        path = todo.popleft()
        shape = re.sub(r"\d+", "N", path)
        if path in seen or shapes[shape] >= per_shape:
            continue
        seen.add(path)
        shapes[shape] += 1
        answer = page.goto(base + path)
        assert answer is not None, path
        assert answer.status < 400, f"{path}: {answer.status}"
        page.wait_for_load_state("load")
        yield path, answer
        todo.extend(page_links(page.content()))
