"""The bus against a real Mosquitto and the embedded broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from librarylab.app import create_app
from librarylab.mqtt import MAX_PAYLOAD_BYTES, BrokerAddress, Bus
from tests.conftest import admin_headers, make_settings
from tests.librarylab.test_cli import LIBRARYLAB, _env
from tests.mqtt import Recorder, embedded_url
from tests.services import Mosquitto, free_port


def wait_until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_broker_urls_carry_credentials_and_tls() -> None:
    plain = BrokerAddress.parse("mqtt://lab:s%40cret@broker.example:1884")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == (
        "broker.example",
        1884,
        "lab",
        "s@cret",
        False,
    )
    assert BrokerAddress.parse("mqtts://broker.example").port == 8883


def test_retained_state_is_replayed_to_a_late_subscriber(mosquitto: Mosquitto) -> None:
    bus = Bus(
        BrokerAddress.parse(mosquitto.url), client_id="publisher", status_topic="t1/service/status"
    )
    bus.start()
    wait_until(lambda: bus.connected)
    bus.publish("t1/stations/3/state", {"name": "Xbox One"}, retain=True)
    late = Recorder(mosquitto.url, "t1/#")
    try:
        state = late.wait_for("t1/stations/3/state")
        assert state is not None
        assert state["name"] == "Xbox One"
        assert state["v"] == 1
        assert "ts" in state
        status = late.wait_for("t1/service/status")
        assert status is not None
        assert status["state"] == "online"
    finally:
        late.close()
        bus.stop()


def test_wrong_credentials_show_in_health(tmp_path: Path, sqlite_url: str) -> None:
    guarded = Mosquitto(tmp_path / "guarded", users={"wall": "right-password"})
    guarded.start()
    try:
        url = f"mqtt://wall:wrong-password@127.0.0.1:{guarded.port}"
        settings = make_settings(tmp_path, sqlite_url, mqtt_enabled=True, mqtt_url=SecretStr(url))
        with TestClient(create_app(settings)) as client:
            wait_until(lambda: client.get("/api/health").json()["mqtt"]["last_error"])
            health = client.get("/api/health")
        mqtt = health.json()["mqtt"]
        assert mqtt["connected"] is False
        assert "not authorized" in mqtt["last_error"].lower()
        assert "wrong-password" not in health.text
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        [problem] = health.json()["problems"]
        assert problem["component"] == "mqtt"
        assert "not authorized" in problem["detail"].lower()
        assert "refused the account 'wall'" in problem["detail"]
    finally:
        guarded.stop()


def test_a_killed_station_agent_leaves_its_last_will(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    env = _env(tmp_path, sqlite_url) | {
        "LIBRARYLAB_MQTT_URL": mosquitto.url,
        "LIBRARYLAB_MQTT_PREFIX": "t2",
    }
    wall = Recorder(mosquitto.url, "t2/#")
    agent = subprocess.Popen(
        [LIBRARYLAB, "station-agent", "--station", "4", "--interval", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        alive = wall.wait_for("t2/stations/4/heartbeat", lambda p: p["state"] == "online")
        assert alive is not None
        os.kill(agent.pid, signal.SIGKILL)  # power cut: no goodbye
        agent.wait(timeout=10)
        will = wall.wait_for("t2/stations/4/heartbeat", lambda p: p["state"] == "offline")
        assert will is not None
    finally:
        agent.kill()
        wall.close()


def test_the_embedded_broker_carries_staff_changes(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, sqlite_url, mqtt_enabled=True, mqtt_embedded_port=port, mqtt_prefix="t3"
    )
    app = create_app(settings)
    with TestClient(app) as client:
        wait_until(lambda: client.get("/api/health").json()["mqtt"]["connected"])
        health = client.get("/api/health").json()
        assert (health["status"], health["mqtt"]["broker"]) == ("ok", "embedded")
        assert health["problems"] == []
        headers = admin_headers(app)
        listener = Recorder(embedded_url(settings.data_dir, port), "t3/#")
        try:
            created = client.post(
                "/api/stations",
                headers=headers,
                json={"name": "Wii U", "kind": "gaming", "capacity": 3},
            ).json()
            state = listener.wait_for(f"t3/stations/{created['id']}/state")
            assert state is not None
            assert (state["name"], state["status"]) == ("Wii U", "available")
            client.patch(
                f"/api/stations/{created['id']}",
                headers=headers,
                json={"status": "out_of_service", "status_reason": "Controller"},
            )
            listener.wait_for(
                f"t3/stations/{created['id']}/state",
                lambda p: p["status"] == "out_of_service",
                timeout=3,
            )
        finally:
            listener.close()


def test_an_anonymous_client_cannot_put_a_forged_printer_on_the_wall_of_the_embedded_broker(
    tmp_path: Path, sqlite_url: str
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, sqlite_url, mqtt_enabled=True, mqtt_embedded_port=port, mqtt_prefix="t8"
    )
    app = create_app(settings)
    forged = {"id": 5, "name": "<img src=x onerror=alert(1)>", "state": "printing"}
    real = {"id": 6, "name": "Prusa", "state": "operational"}
    with TestClient(app) as client:
        wait_until(lambda: client.get("/api/health").json()["mqtt"]["connected"])
        intruder = Bus(
            BrokerAddress.parse(f"mqtt://127.0.0.1:{port}"), client_id="x", status_topic=None
        )
        intruder.start()
        wait_until(lambda: intruder.connected or intruder.last_error is not None)
        intruder.publish("t8/printers/5/state", forged, retain=True)
        staff = Bus(
            BrokerAddress.parse(embedded_url(settings.data_dir, port)),
            client_id="y",
            status_topic=None,
        )
        staff.start()
        wait_until(lambda: staff.connected)
        staff.publish("t8/printers/6/state", real, retain=True)
        try:
            wait_until(lambda: 6 in app.state.hub.state.printers)
            assert 5 not in app.state.hub.state.printers
            assert not intruder.connected
            assert intruder.last_error == "Not authorized (the broker wants an account)"
        finally:
            intruder.stop()
            staff.stop()


def test_a_taken_embedded_port_leaves_the_service_up_and_says_why(
    tmp_path: Path, sqlite_url: str
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = make_settings(tmp_path, sqlite_url, mqtt_enabled=True, mqtt_embedded_port=port)
        with TestClient(create_app(settings)) as client:
            health = client.get("/api/health")
    assert health.status_code == 200
    assert health.json()["mqtt"]["connected"] is False
    assert f"127.0.0.1:{port}" in health.json()["mqtt"]["last_error"]
    assert health.json()["status"] == "degraded"
    assert f"127.0.0.1:{port}" in health.json()["problems"][0]["detail"]


@contextmanager
def on_mosquitto(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str, prefix: str
) -> Iterator[tuple[FastAPI, TestClient]]:
    """The service on ``mosquitto`` under ``prefix``, once its bus has connected."""
    settings = make_settings(
        tmp_path,
        sqlite_url,
        mqtt_enabled=True,
        mqtt_url=SecretStr(mosquitto.url),
        mqtt_prefix=prefix,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        wait_until(lambda: client.get("/api/health").json()["mqtt"]["connected"])
        yield app, client


def mosquitto_pub(broker: Mosquitto, topic: str, payload: bytes) -> None:
    """A retained message as anyone on the broker can send it, byte for byte."""
    command = ["mosquitto_pub", "-p", str(broker.port), "-t", topic, "-r", "-q", "1"]
    command.append("-s" if payload else "-n")  # -n: an empty message clears the topic
    subprocess.run(command, input=payload, check=True, timeout=30)


def test_oversized_and_undecodable_messages_are_dropped_at_the_bus_and_counted(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    prefix = f"t5{os.getpid()}"
    printer = {"id": 5, "name": "Prusa", "state": "operational", "bed_clear": True}
    topic = f"{prefix}/printers/5/state"
    with on_mosquitto(mosquitto, tmp_path, sqlite_url, prefix) as (app, client):
        mosquitto_pub(mosquitto, topic, json.dumps(printer).encode())
        wait_until(lambda: 5 in app.state.hub.state.printers)
        # A payload the schema would take, but padded past the limit (a 30 MB one was seen).
        padded = printer | {"padding": "x" * (1024 * 1024)}
        mosquitto_pub(mosquitto, topic, json.dumps(padded | {"name": "Too big"}).encode())
        mosquitto_pub(mosquitto, topic, b"<img src=x onerror=alert(1)> not JSON")
        mosquitto_pub(mosquitto, f"{prefix}/stations/3/state", b'["a list"]')
        mosquitto_pub(mosquitto, topic, json.dumps(printer | {"progress": "42"}).encode())
        wait_until(lambda: client.get("/api/health").json()["mqtt"]["dropped_messages"] == 4)
        assert app.state.bus.dropped == 3  # the other one reached the schema
        assert app.state.hub.state.printers[5]["name"] == "Prusa"  # the last good state stays
        assert app.state.hub.state.stations == {}
        mosquitto_pub(mosquitto, topic, json.dumps(printer | {"name": "Prusa MK4"}).encode())
        wait_until(lambda: app.state.hub.state.printers[5]["name"] == "Prusa MK4")
    assert len(json.dumps(padded)) > MAX_PAYLOAD_BYTES
    mosquitto_pub(mosquitto, topic, b"")  # clear the retained topic for other tests


def test_the_service_reasserts_its_own_retained_topics_when_someone_forges_or_clears_them(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    prefix = f"t6{os.getpid()}"
    with on_mosquitto(mosquitto, tmp_path, sqlite_url, prefix) as (app, client):
        body = {"name": "Wii U", "kind": "gaming", "capacity": 3}
        created = client.post("/api/stations", headers=admin_headers(app), json=body).json()
        number = created["id"]
        topic = f"{prefix}/stations/{number}/state"
        listener = Recorder(mosquitto.url, f"{prefix}/#")
        try:
            listener.wait_for(topic, lambda p: p is not None and p["name"] == "Wii U")

            def wall_shows(name: str | None) -> bool:
                view = app.state.hub.state.stations.get(number)
                return view is not None and view.state is not None and view.state["name"] == name

            wait_until(lambda: wall_shows("Wii U"))

            def on_topic() -> list[dict[str, Any] | None]:
                return [p for t, p in list(listener.messages) if t == topic]

            forged = created | {"name": "Kaputt", "status": "out_of_service"}
            for payload in (json.dumps(forged).encode(), b""):  # forged, then cleared
                before = len(on_topic())
                mosquitto_pub(mosquitto, topic, payload)
                # The forgery arrives, then the service's own state again.
                wait_until(lambda: len(on_topic()) >= before + 2, timeout=5)  # noqa: B023
                real = on_topic()[-1]
                assert real is not None
                assert (real["name"], real["status"]) == ("Wii U", "available")
                wait_until(lambda: wall_shows("Wii U"), timeout=5)
                # The broker keeps the real state again: a wall that connects now sees it.
                late = Recorder(mosquitto.url, topic)
                try:
                    state = late.wait_for(topic)
                    assert state is not None
                    assert (state["name"], state["status"]) == ("Wii U", "available")
                finally:
                    late.close()
            # No echo loop: the topic falls quiet once the real state is back.
            time.sleep(1.5)
            settled = len([t for t, _p in listener.messages if t == topic])
            time.sleep(2.5)
            assert len([t for t, _p in listener.messages if t == topic]) == settled
        finally:
            listener.close()


def test_a_forged_printer_state_is_replaced_by_the_coordinators_own(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    prefix = f"t7{os.getpid()}"
    with on_mosquitto(mosquitto, tmp_path, sqlite_url, prefix) as (app, client):
        listener = Recorder(mosquitto.url, f"{prefix}/printers/#")
        try:
            headers = admin_headers(app)
            body = {"name": "Prusa", "url": f"http://127.0.0.1:{free_port()}", "api_key": "k" * 32}
            created = client.post("/api/printers", headers=headers, json=body)
            assert created.status_code == 201, created.text
            topic = f"{prefix}/printers/{created.json()['id']}/state"
            listener.wait_for(topic)
            time.sleep(1.5)  # the coordinator's first reads are done

            def on_topic() -> list[dict[str, Any] | None]:
                return [p for t, p in list(listener.messages) if t == topic]

            real = on_topic()[-1]
            assert real is not None
            before = len(on_topic())
            forged = real | {"name": "<b>Gehackt</b>", "state": "printing", "progress": 99.0}
            mosquitto_pub(mosquitto, topic, json.dumps(forged).encode())
            wait_until(lambda: len(on_topic()) >= before + 2, timeout=5)
            again = on_topic()[-1]
            assert again is not None
            assert again["name"] == "Prusa"  # the coordinator's own (its state may move on)
            # A deleted printer is not re-asserted: its state is cleared (within a tick).
            number = created.json()["id"]
            deleted = client.delete(f"/api/printers/{number}", headers=headers)
            assert deleted.status_code < 300, deleted.text
            wait_until(lambda: on_topic()[-1] is None, timeout=15)
        finally:
            listener.close()
