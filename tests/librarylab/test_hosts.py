"""The Host header names no link, and a host not in LIBRARYLAB_ALLOWED_HOSTS is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from librarylab.app import create_app
from librarylab.settings import Settings
from tests.conftest import ADMIN_PASSWORD, admin_headers, make_settings
from tests.pages import login

EVIL = {"Host": "evil.example"}


def test_pages_link_to_the_service_itself_whatever_the_host_header_says(
    tmp_path: Path, sqlite_url: str
) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, allowed_hosts="testserver,evil.example"))
    admin_headers(app)
    with TestClient(app) as client:
        assert login(client, "ada", ADMIN_PASSWORD).status_code == 303
        for path in ("/login", "/visits", "/stations", "/printers", "/displays", "/wall"):
            page = client.get(path, headers=EVIL)
            assert page.status_code == 200, path
            assert "evil.example" not in page.text, path
            assert 'src="/static/' in page.text or 'href="/static/' in page.text, path


def test_a_host_that_is_not_allowed_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
        for path in ("/login", "/api/health", "/static/style.css", "/visits/"):
            refused = client.get(path, headers=EVIL, follow_redirects=False)
            assert refused.status_code == 400, path
            assert "evil.example" not in refused.text
            assert "location" not in refused.headers


def test_the_allowed_hosts_default_to_this_machine(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.allowed_host_list == ["127.0.0.1", "localhost"]
    assert Settings(allowed_hosts=" lab.example , *.lab.example").allowed_host_list == [
        "lab.example",
        "*.lab.example",
    ]


@pytest.mark.parametrize("value", ["", "lab.example:8000", "http://lab.example", "a,,b", "*lab"])
def test_allowed_hosts_are_plain_names(value: str) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        Settings(allowed_hosts=value)
