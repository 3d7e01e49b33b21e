"""A printer URL may point anywhere: what the service sends there and shows of the answer."""

from __future__ import annotations

import time

import pytest

from printers.octoprint import OctoPrintClient, Rejected
from tests.conftest import Lab
from tests.printers.test_registry import state_of
from tests.services import OctoPrint, little_server

SECRET = b"internal-secret-4711 " * 20


def register(lab: Lab, url: str, api_key: str = "the-printer-key") -> int:
    created = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": url, "api_key": api_key},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def shown(lab: Lab, printer: int) -> str:
    """Everything staff and monitors see of the printer."""
    pages = [
        lab.client.get("/api/health").text,
        lab.client.get(f"/api/printers/{printer}", headers=lab.headers()).text,
        lab.client.get("/api/printers", headers=lab.headers()).text,
    ]
    return "\n".join(pages)


def test_a_redirect_is_refused_and_the_key_never_follows_it(sqlite_lab: Lab) -> None:
    with (
        little_server(200, b"{}") as elsewhere,
        little_server(302, headers={"Location": elsewhere.url + "/api/connection"}) as printer,
    ):
        printer_id = register(sqlite_lab, printer.url)
        seen = state_of(sqlite_lab.client, sqlite_lab.headers(), printer_id, "offline")
        assert printer.received  # asked, and never sent on
        assert printer.received[0]["X-Api-Key"] == "the-printer-key"
        assert [h.get("X-Api-Key") for h in elsewhere.received] == []
        assert seen["state"]["detail"] == (
            "OctoPrint answered with a redirect (302); use the address it redirects to"
        )


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (404, "not OctoPrint (404)"),
        (500, "OctoPrint answered 500"),
        (200, "not OctoPrint (its answer is not OctoPrint's)"),
    ],
)
def test_another_service_s_answer_is_never_shown(sqlite_lab: Lab, status: int, says: str) -> None:
    with little_server(status, SECRET, {"Content-Type": "text/plain"}) as internal:
        printer_id = register(sqlite_lab, internal.url)
        seen = state_of(sqlite_lab.client, sqlite_lab.headers(), printer_id, "offline")
        assert seen["state"]["detail"] == says
        health = sqlite_lab.client.get("/api/health").json()
        assert {"component": f"printer {printer_id}", "detail": f"Prusa: offline ({says})"} in (
            health["problems"]
        )
        assert b"internal-secret".decode() not in shown(sqlite_lab, printer_id)


def test_octoprint_s_refusals_are_told_by_status_without_their_body(octoprint: OctoPrint) -> None:
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    with pytest.raises(Rejected) as refused:
        client.start("librarylab-no-such-file.gcode")
    assert refused.value.status == 404
    assert str(refused.value) == "OctoPrint answered 404"


def test_a_new_address_needs_the_key_again(sqlite_lab: Lab) -> None:
    lab = sqlite_lab
    with little_server(404) as printer, little_server(404) as elsewhere:
        printer_id = register(lab, printer.url)
        moved = lab.client.patch(
            f"/api/printers/{printer_id}", headers=lab.headers("admin"), json={"url": elsewhere.url}
        )
        assert moved.status_code == 422, moved.text
        assert moved.json()["field"] == "api_key"
        assert "send api_key with the url" in moved.json()["detail"]
        kept = lab.client.get(f"/api/printers/{printer_id}", headers=lab.headers()).json()
        assert kept["url"] == printer.url
        renamed = lab.client.patch(
            f"/api/printers/{printer_id}",
            headers=lab.headers("admin"),
            json={"url": printer.url + "/", "name": "Prusa MK4"},
        )
        assert renamed.status_code == 200, renamed.text  # the same address keeps its key
        state_of(lab.client, lab.headers(), printer_id, "offline")
        assert all(h.get("X-Api-Key") != "the-printer-key" for h in elsewhere.received)
        with_key = lab.client.patch(
            f"/api/printers/{printer_id}",
            headers=lab.headers("admin"),
            json={"url": elsewhere.url, "api_key": "elsewhere-key"},
        )
        assert with_key.status_code == 200, with_key.text
        deadline = time.monotonic() + 10
        while not elsewhere.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {h.get("X-Api-Key") for h in elsewhere.received} == {"elsewhere-key"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://admin:secret@127.0.0.1:5000", "without user:password@"),
        ("http://admin@127.0.0.1:5000", "without user:password@"),
        ("http://127.0.0.1:5000/?apikey=x", "without ?query or #fragment"),
        ("http://127.0.0.1:5000?next=http://10.0.0.1", "without ?query or #fragment"),
        ("http://127.0.0.1:5000/#top", "without ?query or #fragment"),
        ("http://127.0.0.1:notaport", "http(s)://host[:port]"),
    ],
)
def test_addresses_with_credentials_or_a_query_are_refused(
    sqlite_lab: Lab, url: str, says: str
) -> None:
    lab = sqlite_lab
    refused = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": url, "api_key": "k"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "url"
    assert says in refused.json()["detail"]
    assert lab.client.get("/api/printers", headers=lab.headers()).json() == []
