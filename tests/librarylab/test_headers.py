"""Security headers on every answer: pages, the API, errors, pictures and static files."""

from __future__ import annotations

from bs4 import BeautifulSoup
from httpx2 import Response

from tests.conftest import Lab
from tests.printers.test_files import BOAT, photo

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def assert_protected(response: Response, *, cached: bool = False) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert headers.get("content-security-policy") == POLICY, where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    if cached:
        assert "no-store" not in headers.get("cache-control", ""), where
    else:
        assert headers.get("cache-control") == "no-store", where


def test_pages_api_and_errors_carry_the_security_headers(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    answers = [
        client.get("/login"),
        client.get("/visits", follow_redirects=False),
        client.get("/stations", headers=sqlite_lab.headers()),
        client.get("/api/health"),
        client.get("/api/stations", headers=sqlite_lab.headers()),
        client.get("/api/stations"),  # 401
        client.get("/api/stations/999", headers=sqlite_lab.headers()),  # 404
        client.post("/login", data={"name": "x", "password": "y"}),  # CSRF refusal
        client.get("/no-such-page"),
        client.get("/openapi.json"),
    ]
    assert {a.status_code for a in answers} >= {200, 303, 401, 403, 404}
    for answer in answers:
        assert_protected(answer)


def test_static_files_may_be_cached_and_are_never_sniffed(sqlite_lab: Lab) -> None:
    for path in ("/static/style.css", "/static/forms.js", "/static/dashboard/wall.js"):
        answer = sqlite_lab.client.get(path)
        assert answer.status_code == 200
        assert_protected(answer, cached=True)


def test_a_print_files_picture_is_never_sniffed(sqlite_lab: Lab) -> None:
    created = sqlite_lab.client.post(
        "/api/print-files",
        headers=sqlite_lab.headers(),
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": ("boot.png", photo("PNG"), "image/png"),
        },
    ).json()
    shown = sqlite_lab.client.get(created["picture"], headers=sqlite_lab.headers())
    assert shown.headers["content-type"] == "image/webp"
    assert_protected(shown)


def test_the_api_documentation_comes_from_the_service_itself(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    docs = client.get("/docs")
    assert docs.status_code == 200
    page = BeautifulSoup(docs.text, "html.parser")
    assets = [str(t["src"]) for t in page.select("script[src]")]
    assets += [str(t["href"]) for t in page.select("link[href]")]
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset
    assert "//" not in " ".join(str(s) for s in page.select("script"))
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
