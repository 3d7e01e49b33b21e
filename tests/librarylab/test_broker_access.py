"""Who may use the broker and for what, on the embedded broker and on a Mosquitto
configured with the password file and the ACL the docs describe.

Brokers drop a forbidden message silently (the publisher still gets its PUBACK), so every
check is made where a wall would see it: a recorder with the service's account. A later
allowed message that does arrive shows the forbidden one had its chance.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from librarylab.broker import EmbeddedBroker
from librarylab.mqtt import BrokerAddress, Bus
from librarylab.mqtt_access import SERVICE_USER, BrokerAccounts, local_url
from tests.librarylab.test_cli import LIBRARYLAB, run
from tests.mqtt import Recorder
from tests.services import Mosquitto, free_port

PREFIX = "acl"
HEARTBEAT_7 = f"{PREFIX}/stations/7/heartbeat"


@dataclass
class Guarded:
    """A broker that lets in the service and the agents of stations 7 and 8."""

    kind: str
    port: int
    service_password: str
    agent_passwords: dict[int, str] = field(default_factory=dict)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        return local_url(self.port, user, password)

    @property
    def service_url(self) -> str:
        return self.url(SERVICE_USER, self.service_password)

    def agent_url(self, station: int) -> str:
        return self.url(f"station-{station}", self.agent_passwords[station])


def cli_env(data: Path) -> dict[str, str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    return clean | {"LIBRARYLAB_DATA_DIR": str(data), "LIBRARYLAB_MQTT_PREFIX": PREFIX}


def add_agent(data: Path, station: int) -> str:
    """``librarylab mqtt agent add``: the password is its last line."""
    added = run(["mqtt", "agent", "add", str(station)], cli_env(data))
    assert added.returncode == 0, added.stderr
    return added.stdout.splitlines()[-1]


@pytest.fixture(params=["embedded", "mosquitto"])
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guarded]:
    if request.param == "embedded":
        data = tmp_path / "data"
        accounts = BrokerAccounts(data)
        agents = {7: add_agent(data, 7), 8: accounts.add_agent(8)}  # by the command, or not
        broker = EmbeddedBroker(free_port(), data, PREFIX, accounts.password_file)
        broker.start()
        try:
            yield Guarded("embedded", broker.port, accounts.service_password(), agents)
        finally:
            broker.stop()
        return
    agents = {station: secrets.token_hex(12) for station in (7, 8)}
    service = secrets.token_hex(12)
    users = {SERVICE_USER: service, "wall-tool": "x"} | {
        f"station-{s}": p for s, p in agents.items()
    }
    mosquitto = Mosquitto(tmp_path / "mosquitto", users=users)
    acl = run(
        ["mqtt", "mosquitto-acl", "--password-file", str(mosquitto.password_file)],
        cli_env(tmp_path / "data"),
    )
    assert acl.returncode == 0, acl.stderr
    mosquitto.use_acl(acl.stdout)
    mosquitto.start()
    try:
        yield Guarded("mosquitto", mosquitto.port, service, agents)
    finally:
        mosquitto.stop()


def connected(url: str, status_topic: str | None = None, client_id: str = "") -> Bus:
    bus = Bus(
        BrokerAddress.parse(url),
        client_id=client_id or f"c-{secrets.token_hex(4)}",
        status_topic=status_topic,
    )
    bus.start()
    wait_until(lambda: bus.connected or bus.last_error is not None)
    return bus


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_anonymous_clients_and_wrong_passwords_are_refused(guarded: Guarded) -> None:
    wrong = [
        guarded.url(),  # anonymous
        guarded.url(SERVICE_USER, "not-the-password"),
        guarded.url("station-7", guarded.agent_passwords[8]),  # another agent's password
        guarded.url("nobody", guarded.service_password),
    ]
    for url in wrong:
        bus = connected(url)
        try:
            assert not bus.connected, url
            assert bus.last_error is not None
            assert bus.last_error.startswith(("Not authorized", "Bad user name or password"))
        finally:
            bus.stop()
    service = connected(guarded.service_url)
    try:
        assert service.connected
    finally:
        service.stop()


def test_an_agent_publishes_its_own_heartbeat_and_nothing_else(guarded: Guarded) -> None:
    wall = Recorder(guarded.service_url, f"{PREFIX}/#")
    service = connected(guarded.service_url, f"{PREFIX}/service/status")
    heard: list[str] = []
    agent = Bus(
        BrokerAddress.parse(guarded.agent_url(7)), client_id="station-7", status_topic=HEARTBEAT_7
    )
    agent.subscribe(f"{PREFIX}/#", lambda topic, _payload: heard.append(topic))
    try:
        assert service.publish(f"{PREFIX}/visits/current", {"today": []}, retain=True)
        wall.wait_for(f"{PREFIX}/visits/current")
        agent.start()
        wait_until(lambda: agent.connected)
        forged = {"state": "online", "id": 8, "name": "<b>forged</b>", "forged": True}
        forbidden = [
            f"{PREFIX}/stations/8/heartbeat",
            f"{PREFIX}/stations/7/state",
            f"{PREFIX}/printers/1/state",
            f"{PREFIX}/visits/current",
            f"{PREFIX}/service/status",
        ]
        for topic in forbidden:
            assert agent.publish(topic, forged, retain=True)  # accepted, then dropped
        assert agent.publish(HEARTBEAT_7, {"state": "online", "n": 1}, retain=True)
        wall.wait_for(HEARTBEAT_7, lambda p: p is not None and p.get("n") == 1)
        assert [t for t, p in wall.messages if p is not None and p.get("forged")] == []
        # The agent reads nothing: not the retained state, not what the service sends now.
        assert service.publish(f"{PREFIX}/stations/7/state", {"name": "later"}, retain=True)
        wall.wait_for(f"{PREFIX}/stations/7/state")
        assert agent.publish(HEARTBEAT_7, {"state": "online", "n": 2}, retain=True)
        wall.wait_for(HEARTBEAT_7, lambda p: p is not None and p.get("n") == 2)
        assert heard == []
        # A wall that connects now gets no forged retained message either.
        late = Recorder(guarded.service_url, f"{PREFIX}/#")
        try:
            late.wait_for(HEARTBEAT_7)
            late.wait_for(f"{PREFIX}/stations/7/state")
            assert [t for t, p in late.messages if p is not None and p.get("forged")] == []
        finally:
            late.close()
    finally:
        agent.stop()
        service.stop()
        wall.close()


def power_cut_with_a_will(guarded: Guarded, topic: str, payload: str) -> str:
    """Connect as station 7's agent with a last will on ``topic``, then drop the connection
    without a goodbye (the broker owes the will now); the broker's answer to the connect."""
    answers: list[str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sneaky-7")
    client.username_pw_set("station-7", guarded.agent_passwords[7])
    client.will_set(topic, payload, qos=1, retain=True)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(str(reason))
    client.connect("127.0.0.1", guarded.port)
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    sock = client.socket()
    if sock is not None:
        sock.close()
    assert answers, "no answer to CONNECT"
    return answers[0]


def test_an_agent_cannot_leave_a_last_will_on_another_topic(guarded: Guarded) -> None:
    wall = Recorder(guarded.service_url, f"{PREFIX}/#")
    forged = json.dumps({"id": 1, "name": "forged", "state": "printing", "forged": True})
    try:
        answer = power_cut_with_a_will(guarded, f"{PREFIX}/printers/1/state", forged)
        agent = connected(guarded.agent_url(7), HEARTBEAT_7, client_id="station-7")
        try:
            agent.publish(HEARTBEAT_7, {"state": "online", "n": 3}, retain=True)
            wall.wait_for(HEARTBEAT_7, lambda p: p is not None and p.get("n") == 3)
        finally:
            agent.stop()
        assert [t for t, p in wall.messages if p is not None and p.get("forged")] == []
        # The embedded broker refuses such a connection; Mosquitto takes the will and drops
        # it when due.
        assert answer == ("Not authorized" if guarded.kind == "embedded" else "Success")
    finally:
        wall.close()


def test_an_agent_added_or_removed_while_the_embedded_broker_runs_counts_at_once(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    accounts = BrokerAccounts(data)
    accounts.service_password()
    broker = EmbeddedBroker(free_port(), data, PREFIX, accounts.password_file)
    broker.start()
    try:
        password = add_agent(data, 9)
        assert password not in accounts.password_file.read_text()  # only its hash
        url = local_url(broker.port, "station-9", password)
        agent = connected(url)
        assert agent.connected
        agent.stop()
        removed = run(["mqtt", "agent", "remove", "9"], cli_env(data))
        assert removed.returncode == 0, removed.stderr
        again = connected(url)
        assert not again.connected
        again.stop()
        assert add_agent(data, 9) != password  # a new one: the old password stays out
        old = connected(url)
        assert not old.connected
        old.stop()
    finally:
        broker.stop()


def test_the_station_agent_sends_heartbeats_and_its_will_with_its_own_account(
    guarded: Guarded, tmp_path: Path
) -> None:
    secret = tmp_path / "agent-password"
    secret.write_text(guarded.agent_passwords[7] + "\n")
    env = cli_env(tmp_path / "agent-data")
    if guarded.kind == "embedded":
        env["LIBRARYLAB_MQTT_EMBEDDED_PORT"] = str(guarded.port)
    else:
        env["LIBRARYLAB_MQTT_URL"] = guarded.url()  # no credentials in the address
    wall = Recorder(guarded.service_url, f"{PREFIX}/#")
    command = ["station-agent", "--station", "7", "--interval", "0.2", "--password-file"]
    agent = subprocess.Popen(
        [LIBRARYLAB, *command, str(secret)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wall.wait_for(HEARTBEAT_7, lambda p: p is not None and p["state"] == "online")
        agent.send_signal(signal.SIGKILL)  # a power cut: its own last will is allowed
        agent.wait(timeout=10)
        wall.wait_for(HEARTBEAT_7, lambda p: p is not None and p["state"] == "offline")
    finally:
        agent.kill()
        wall.close()


def test_the_agent_commands_explain_what_is_missing(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    bare = run(["station-agent", "--station", "7"], env)
    assert bare.returncode == 2
    assert "librarylab mqtt agent add 7" in bare.stderr
    assert "LIBRARYLAB_AGENT_PASSWORD" in bare.stderr
    elsewhere = run(["mqtt", "agent", "add", "7"], env | {"LIBRARYLAB_MQTT_URL": "mqtt://h"})
    assert elsewhere.returncode == 2
    assert "mosquitto_passwd" in elsewhere.stderr
    assert not (tmp_path / "data" / "mqtt-passwords").exists()
