"""Helpers for tests that use the staff pages as a person would."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from httpx2 import Response


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
