"""The broker accounts' rules as tables (the brokers' own tests: test_broker_access.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from librarylab.mqtt_access import BrokerAccounts, may_publish, may_read, mosquitto_acl

P = "lab/d"


@pytest.mark.parametrize(
    ("user", "topic", "allowed"),
    [
        ("librarylab", "lab/d/printers/1/state", True),
        ("librarylab", "lab/d/service/status", True),
        ("librarylab", "lab/dx/printers/1/state", False),  # another prefix that starts alike
        ("librarylab", "other/thing", False),
        ("station-7", "lab/d/stations/7/heartbeat", True),
        ("station-7", "lab/d/stations/8/heartbeat", False),
        ("station-7", "lab/d/stations/70/heartbeat", False),
        ("station-7", "lab/d/stations/7/heartbeat/more", False),
        ("station-7", "lab/d/stations/7/state", False),
        ("station-7", "lab/d/visits/current", False),
        ("station-07", "lab/d/stations/7/heartbeat", False),  # not an agent's name
        ("station-0", "lab/d/stations/0/heartbeat", False),
        ("wall", "lab/d/stations/7/heartbeat", False),
        (None, "lab/d/stations/7/heartbeat", False),
    ],
)
def test_who_may_publish_where(user: str | None, topic: str, allowed: bool) -> None:
    assert may_publish(user, topic, P, "librarylab") is allowed


@pytest.mark.parametrize(
    ("user", "topic_filter", "allowed"),
    [
        ("librarylab", "lab/d/#", True),
        ("librarylab", "lab/d/stations/+/state", True),
        ("librarylab", "#", False),
        ("librarylab", "+/d/#", False),
        ("station-7", "lab/d/stations/7/heartbeat", False),
        ("station-7", "lab/d/#", False),
        (None, "lab/d/#", False),
    ],
)
def test_only_the_service_reads(user: str | None, topic_filter: str, allowed: bool) -> None:
    assert may_read(user, topic_filter, P, "librarylab") is allowed


def test_the_mosquitto_acl_gives_each_account_its_rules_and_strangers_none() -> None:
    acl = mosquitto_acl(P, "svc", ["station-12", "svc", "wall", "station-3"])
    rules = [line for line in acl.splitlines() if line and not line.startswith("#")]
    assert rules == [
        "user svc",
        "topic readwrite lab/d/#",
        "user station-3",
        "topic write lab/d/stations/3/heartbeat",
        "user station-12",
        "topic write lab/d/stations/12/heartbeat",
    ]


def test_accounts_keep_hashes_only_in_private_files(tmp_path: Path) -> None:
    accounts = BrokerAccounts(tmp_path / "data")
    service = accounts.service_password()
    assert accounts.service_password() == service  # kept across starts
    agent = accounts.add_agent(4)
    stored = accounts.password_file.read_text()
    assert (service not in stored, agent not in stored) == (True, True)
    assert stored.startswith("librarylab:$argon2")
    assert accounts.agents() == [4]
    files = sorted((tmp_path / "data").iterdir())
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {
        "mqtt-passwords": 0o600,
        "mqtt-service-password": 0o600,
    }
