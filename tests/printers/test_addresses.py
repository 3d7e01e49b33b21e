"""A printer URL may point anywhere: what the service sends there and shows of the answer."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from librarylab.app import create_app
from printers.octoprint import OctoPrintClient, OutsideNetworks, Rejected
from tests.conftest import STAFF_PASSWORD, Lab, _lab, admin_headers, make_settings
from tests.mqtt import Recorder, embedded_url
from tests.pages import login, text_of
from tests.printers.test_registry import state_of
from tests.services import OctoPrint, free_port, little_server

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
    """Everything staff and monitors see of the printer: the API, health, the staff page."""
    pages = [
        lab.client.get("/api/health").text,
        lab.client.get(f"/api/printers/{printer}", headers=lab.headers()).text,
        lab.client.get("/api/printers", headers=lab.headers()).text,
    ]
    login(lab.client, "sam", STAFF_PASSWORD)
    pages.append(text_of(lab.client.get("/printers?lang=en")))
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
        everything = shown(sqlite_lab, printer_id)
        assert says in everything.rsplit("\n", 1)[-1]  # the staff page says it too
        assert "internal-secret" not in everything


def test_the_wall_gets_no_answer_of_another_service(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, sqlite_url, mqtt_enabled=True, mqtt_embedded_port=port, mqtt_prefix="p1"
    )
    app = create_app(settings)
    with little_server(500, SECRET) as internal, TestClient(app) as client:
        listener = Recorder(embedded_url(settings.data_dir, port), "p1/printers/#")
        try:
            created = client.post(
                "/api/printers",
                headers=admin_headers(app),
                json={"name": "Prusa", "url": internal.url, "api_key": "k"},
            ).json()
            topic = f"p1/printers/{created['id']}/state"
            payload = listener.wait_for(topic, lambda p: p["state"] == "offline", timeout=15)
            assert payload is not None
            assert payload["detail"] == "OctoPrint answered 500"
            assert "internal-secret" not in str(listener.messages)
        finally:
            listener.close()


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


@contextmanager
def lab_in(tmp_path: Path, sqlite_url: str, networks: str) -> Iterator[Lab]:
    """The service on SQLite with ``LIBRARYLAB_PRINTER_NETWORKS`` set to ``networks``."""
    yield from _lab(tmp_path, sqlite_url, printer_networks=networks)


def test_a_printer_outside_the_printer_networks_is_refused(
    tmp_path: Path, sqlite_url: str, octoprint: OctoPrint
) -> None:
    with lab_in(tmp_path, sqlite_url, "10.99.0.0/16, fd00::/8") as lab:
        for url in (octoprint.url, octoprint.url.replace("127.0.0.1", "localhost")):
            refused = lab.client.post(
                "/api/printers",
                headers=lab.headers("admin"),
                json={"name": "Prusa", "url": url, "api_key": octoprint.api_key},
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == "url"
            assert "LIBRARYLAB_PRINTER_NETWORKS" in refused.json()["detail"]
        assert lab.client.get("/api/printers", headers=lab.headers()).json() == []


def test_a_printer_inside_the_printer_networks_works(
    tmp_path: Path, sqlite_url: str, octoprint: OctoPrint
) -> None:
    with lab_in(tmp_path, sqlite_url, "10.99.0.0/16, 127.0.0.0/8") as lab:
        printer_id = register(lab, octoprint.url, octoprint.api_key)
        seen = state_of(lab.client, lab.headers(), printer_id, "operational")
        assert seen["state"]["state"] == "operational"
        with little_server(404) as elsewhere:
            moved = lab.client.patch(
                f"/api/printers/{printer_id}",
                headers=lab.headers("admin"),
                json={"url": "http://10.98.0.1:5000", "api_key": "k"},
            )
            assert moved.status_code == 422, moved.text
            assert "outside LIBRARYLAB_PRINTER_NETWORKS" in moved.json()["detail"]
            assert elsewhere.received == []


def test_every_connection_is_checked_against_the_printer_networks(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A printer that was allowed when it was registered (here: before the setting) is
    checked again on each connection: what its name resolves to may have changed since."""
    with little_server(200, b"{}") as internal:
        with lab_in(tmp_path, sqlite_url, "") as lab:
            printer_id = register(lab, internal.url)
            headers = lab.headers()
        internal.received.clear()
        app = create_app(make_settings(tmp_path, sqlite_url, printer_networks="10.99.0.0/16"))
        with TestClient(app) as client:
            seen = state_of(client, headers, printer_id, "offline")
            assert seen["state"]["detail"] == (
                "refused: the printer's address is outside LIBRARYLAB_PRINTER_NETWORKS"
            )
            assert internal.received == []  # closed before the key (or anything) was sent


def test_the_adapter_checks_the_address_it_connected_to(octoprint: OctoPrint) -> None:
    outside = OctoPrintClient(
        octoprint.url, octoprint.api_key, networks=(ipaddress.ip_network("10.99.0.0/16"),)
    )
    with pytest.raises(OutsideNetworks):
        outside.status()
    inside = OctoPrintClient(
        octoprint.url, octoprint.api_key, networks=(ipaddress.ip_network("127.0.0.1/32"),)
    )
    assert inside.status().connection


def test_a_missing_file_is_told_by_its_status_alone(octoprint: OctoPrint) -> None:
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    assert client.has_file("librarylab-no-such-file.gcode") is False
