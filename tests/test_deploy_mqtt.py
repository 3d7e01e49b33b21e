"""The Mosquitto of docs/deploy.md, run from ``deploy/mosquitto``'s own files: accounts,
the ACL and TLS only, with the real service and a real station agent connecting over
``mqtts://`` with ``LIBRARYLAB_MQTT_CA_FILE``.

The certificates come from ``deploy/tls/make-private-ca``, the script the docs give. What
the broker lets through is judged where it matters: on the service's wall.
"""

from __future__ import annotations

import gc
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from librarylab.mqtt import BrokerAddress, Bus
from tests.librarylab.test_cli import LIBRARYLAB, _env, run
from tests.librarylab.test_mqtt import wait_until
from tests.librarylab.test_serve import serving
from tests.services import Mosquitto, free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PREFIX = "librarylab/duesseldorf"  # the prefix deploy/mosquitto/librarylab.acl is written for
ACCOUNTS = ("librarylab", "station-1", "station-2")  # the accounts it names


def make_ca(folder: Path, *names: str) -> Path:
    """A private CA and a server certificate made by the documented script; the folder."""
    subprocess.run(
        [str(DEPLOY / "tls" / "make-private-ca"), str(folder), *names],
        check=True,
        capture_output=True,
    )
    return folder


def deployed_config(replace: dict[str, str]) -> str:
    """``deploy/mosquitto/librarylab.conf`` with its paths and port replaced; each must be
    there, so the test fails when the file changes under it."""
    text = (DEPLOY / "mosquitto" / "librarylab.conf").read_text()
    for old, new in replace.items():
        assert old in text, f"deploy/mosquitto/librarylab.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class TlsBroker:
    broker: Mosquitto
    ca_file: Path
    stranger_ca_file: Path  # a CA that did not sign the broker's certificate
    passwords: dict[str, str]

    def url(
        self, user: str | None = None, password: str | None = None, scheme: str = "mqtts"
    ) -> str:
        account = f"{user}:{password}@" if user else ""
        return f"{scheme}://{account}127.0.0.1:{self.broker.port}"

    def account_url(self, user: str) -> str:
        return self.url(user, self.passwords[user])


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    folder = tmp_path_factory.mktemp("deploy-mosquitto")
    certs = make_ca(folder / "certs", "localhost", "127.0.0.1")
    stranger = make_ca(folder / "stranger", "localhost", "127.0.0.1")
    passwords = {user: secrets.token_urlsafe(16) for user in ACCOUNTS}
    port = free_port()
    config = deployed_config(
        {
            "/etc/mosquitto/librarylab.passwd": str(folder / "broker" / "passwords"),
            "/etc/mosquitto/librarylab.acl": str(DEPLOY / "mosquitto" / "librarylab.acl"),
            "/etc/mosquitto/certs/": f"{certs}/",
            "listener 8883": f"listener {port} 127.0.0.1",
        }
    )
    broker = Mosquitto(folder / "broker", users=passwords, port=port, config=config)
    broker.start()
    try:
        yield TlsBroker(broker, certs / "ca.crt", stranger / "ca.crt", passwords)
    finally:
        broker.stop()


def client(url: str, ca_file: Path | None, status_topic: str | None = None) -> Bus:
    """A bus of ours, once it has connected or been refused."""
    bus = Bus(
        BrokerAddress.parse(url),
        client_id=f"deploy-{secrets.token_hex(4)}",
        status_topic=status_topic,
        ca_file=str(ca_file) if ca_file else None,
    )
    bus.start()
    wait_until(lambda: bus.connected or bus.last_error is not None)
    return bus


@dataclass
class Service:
    base: str
    env: dict[str, str]
    display: str  # a wall link's token


@pytest.fixture(scope="module")
def service(tls_broker: TlsBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``librarylab serve`` with the broker's service account over mqtts://."""
    folder = tmp_path_factory.mktemp("deploy-service")
    env = _env(folder, f"sqlite:///{folder / 'lab.sqlite3'}") | {
        "LIBRARYLAB_MQTT_URL": tls_broker.account_url("librarylab"),
        "LIBRARYLAB_MQTT_CA_FILE": str(tls_broker.ca_file),
        "LIBRARYLAB_MQTT_PREFIX": PREFIX,
    }
    display = run(["display-token", "create", "Foyer"], env)
    assert display.returncode == 0, display.stderr
    with serving(env, folder / "serve.log") as base:
        yield Service(base, env, display.stdout.splitlines()[-1])


def wall(service: Service) -> dict[str, Any]:
    """What a wall that opens now is shown first: the snapshot of its event stream."""
    with httpx2.stream(
        "GET", f"{service.base}/wall/events", params={"token": service.display}, timeout=10
    ) as answer:
        assert answer.status_code == 200
        lines = answer.iter_lines()
        for line in lines:
            if line == "event: snapshot":
                data = next(lines)
                snapshot: dict[str, Any] = json.loads(data.removeprefix("data: "))
                return snapshot
    raise AssertionError("the wall's stream ended without a snapshot")


def health(service: Service) -> dict[str, Any]:
    body: dict[str, Any] = httpx2.get(f"{service.base}/api/health", timeout=10).json()
    return body


def agent_of(station: str, snapshot: dict[str, Any]) -> str | None:
    view = snapshot["stations"].get(station)
    return None if view is None else str(view["agent"])


def test_the_service_and_a_station_agent_reach_the_wall_over_tls(
    service: Service, tls_broker: TlsBroker, tmp_path: Path
) -> None:
    wait_until(lambda: health(service)["status"] == "ok", timeout=20)
    mqtt = health(service)["mqtt"]
    assert mqtt["connected"] is True
    assert mqtt["broker"] == "external"
    assert mqtt["last_error"] is None
    wait_until(lambda: (wall(service)["service"] or {}).get("state") == "online")

    password_file = tmp_path / "agent-password"
    password_file.write_text(tls_broker.passwords["station-2"] + "\n")
    agent_env = {k: v for k, v in service.env.items() if k != "LIBRARYLAB_MQTT_URL"}
    agent_env["LIBRARYLAB_MQTT_URL"] = tls_broker.url()  # no account: the agent brings its own
    agent = subprocess.Popen(
        [
            LIBRARYLAB,
            "station-agent",
            "--station",
            "2",
            "--interval",
            "0.5",
            "--password-file",
            str(password_file),
        ],
        env=agent_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: agent_of("2", wall(service)) == "online", timeout=15)
    finally:
        agent.terminate()
        _, errors = agent.communicate(timeout=10)
    assert b"waiting for the broker" not in errors, errors
    # SIGTERM ends it without a goodbye: the broker publishes its last will, which its ACL allows.
    wait_until(lambda: agent_of("2", wall(service)) == "offline")


def test_anonymous_clients_and_wrong_passwords_are_refused(tls_broker: TlsBroker) -> None:
    wrong = [
        tls_broker.url(),
        tls_broker.url("librarylab", "not-the-password"),
        tls_broker.url("station-1", tls_broker.passwords["station-2"]),
        tls_broker.url("nobody", tls_broker.passwords["librarylab"]),
    ]
    for url in wrong:
        bus = client(url, tls_broker.ca_file)
        try:
            assert not bus.connected, url
            assert str(bus.last_error).startswith(("Not authorized", "Bad user name or password"))
        finally:
            bus.stop()


def test_an_agent_publishes_nothing_but_its_own_heartbeat(
    service: Service, tls_broker: TlsBroker
) -> None:
    wait_until(lambda: health(service)["mqtt"]["connected"], timeout=20)
    state = {
        "id": 5,
        "name": "Forged station",
        "kind": "vr",
        "capacity": 4,
        "status": "available",
        "status_reason": "",
        "current_group": None,
        "visit_id": None,
    }
    agent = client(tls_broker.account_url("station-1"), tls_broker.ca_file)
    try:
        assert agent.connected, agent.last_error
        assert agent.publish(f"{PREFIX}/stations/5/heartbeat", {"state": "online"}, retain=True)
        assert agent.publish(f"{PREFIX}/stations/5/state", state, retain=True)
        assert agent.publish(f"{PREFIX}/service/status", {"state": "offline"}, retain=True)
        # Allowed, and after the others: once it shows, the forbidden ones had their chance.
        assert agent.publish(f"{PREFIX}/stations/1/heartbeat", {"state": "online"}, retain=True)
        wait_until(lambda: agent_of("1", wall(service)) == "online")
    finally:
        agent.stop()
    shown = wall(service)
    assert "5" not in shown["stations"], shown["stations"]
    assert shown["service"]["state"] == "online"

    # The same messages from the service's account do show: the refusal above was the ACL's.
    own = client(tls_broker.account_url("librarylab"), tls_broker.ca_file)
    try:
        assert own.publish(f"{PREFIX}/stations/6/state", {**state, "id": 6}, retain=True)
        wait_until(lambda: wall(service)["stations"].get("6", {}).get("name") == state["name"])
    finally:
        own.publish(f"{PREFIX}/stations/6/state", None, retain=True)
        own.stop()


# paho leaves the socket of a refused TLS handshake for the garbage collector to close.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_tls_port_takes_neither_plain_mqtt_nor_a_certificate_of_another_ca(
    tls_broker: TlsBroker,
) -> None:
    plain = Bus(
        BrokerAddress.parse(
            tls_broker.url("librarylab", tls_broker.passwords["librarylab"], "mqtt")
        ),
        client_id="deploy-plain",
        status_topic=None,
    )
    plain.start()
    try:
        time.sleep(3)  # several reconnect attempts
        assert not plain.connected
    finally:
        plain.stop()

    stranger = client(tls_broker.account_url("librarylab"), tls_broker.stranger_ca_file)
    try:
        time.sleep(1)
        assert not stranger.connected  # the same account with the right CA connects above
        # What /api/health shows: the reason, not just "unreachable".
        assert stranger.last_error == (
            "broker unreachable: its TLS certificate is not trusted "
            "(unable to get local issuer certificate)"
        )
    finally:
        stranger.stop()
        gc.collect()  # the leaked socket's warning, here under the filter


def test_the_deployed_acl_is_what_the_command_writes(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    passwords.write_text("".join(f"{user}:hash\n" for user in ACCOUNTS))
    env = _env(tmp_path, "") | {"LIBRARYLAB_MQTT_PREFIX": PREFIX}
    written = run(["mqtt", "mosquitto-acl", "--password-file", str(passwords)], env)
    assert written.returncode == 0, written.stderr
    assert written.stdout == (DEPLOY / "mosquitto" / "librarylab.acl").read_text()
