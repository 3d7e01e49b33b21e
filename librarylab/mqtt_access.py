"""Who may use the broker, and for what.

Two kinds of account: the service's own (``librarylab``), which may publish and read
everything under the prefix, and one per station agent (``station-<id>``), which may
publish only that station's heartbeat and read nothing. The same rules drive the embedded
broker's plugins (``librarylab/broker.py``) and the ACL file written for Mosquitto.

For the embedded broker the accounts live in the data folder, readable only by the
service's user: ``mqtt-passwords`` holds ``name:argon2-hash`` lines (the format of amqtt's
FileAuthPlugin), ``mqtt-service-password`` the service's own password, generated at first
start. An agent's password is shown once when it is made and never stored.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard.topics import Topics
from librarylab.private import private_file, private_folder

SERVICE_USER = "librarylab"
PASSWORDS_FILE = "mqtt-passwords"
SERVICE_PASSWORD_FILE = "mqtt-service-password"  # noqa: S105 - a file name
_AGENT = re.compile(r"station-([1-9][0-9]{0,17})")


def agent_user(station_id: int) -> str:
    """The account name of station ``station_id``'s agent."""
    return f"station-{station_id}"


def station_of(username: str | None) -> int | None:
    """The station an agent's account stands for; None for any other name."""
    found = _AGENT.fullmatch(username or "")
    return int(found.group(1)) if found else None


def local_url(port: int, username: str | None = None, password: str | None = None) -> str:
    """The embedded broker's address, with an account when one is given."""
    account = f"{quote(username, safe='')}:{quote(password or '', safe='')}@" if username else ""
    return f"mqtt://{account}127.0.0.1:{port}"


def may_publish(username: str | None, topic: str, prefix: str, service_user: str) -> bool:
    """Whether ``username`` may publish on ``topic`` (its will included)."""
    if username is not None and username == service_user:
        return topic.startswith(prefix + "/")
    station = station_of(username)
    return station is not None and topic == Topics(prefix).station_heartbeat(station)


def may_read(username: str | None, topic_filter: str, prefix: str, service_user: str) -> bool:
    """Whether ``username`` may subscribe to ``topic_filter`` or receive on that topic:
    only the service reads, and only under the prefix."""
    return (
        username is not None and username == service_user and topic_filter.startswith(prefix + "/")
    )


def mosquitto_acl(prefix: str, service_user: str, users: list[str]) -> str:
    """An ``acl_file`` for Mosquitto with the same rules for the accounts ``users``."""
    lines = [
        "# Written by `librarylab mqtt mosquitto-acl`: the service reads and writes",
        f"# {prefix}/#, each station agent writes only its own heartbeat. Anyone else",
        "# (anonymous included) gets nothing.",
        "",
        f"user {service_user}",
        f"topic readwrite {prefix}/#",
    ]
    for user in sorted(set(users) - {service_user}, key=lambda u: (station_of(u) or 0, u)):
        station = station_of(user)
        if station is None:
            lines += ["", f"# {user}: not an account of ours, no rights here"]
        else:
            lines += [
                "",
                f"user {user}",
                f"topic write {Topics(prefix).station_heartbeat(station)}",
            ]
    return "\n".join(lines) + "\n"


def users_in(password_file: Path) -> list[str]:
    """The account names of a password file (Mosquitto's or ours: ``name:hash`` lines)."""
    return list(_entries(password_file))


def _entries(password_file: Path) -> dict[str, str]:
    """Name → hash of each ``name:hash`` line; comments and malformed lines are skipped."""
    entries = {}
    for line in password_file.read_text(encoding="utf-8").splitlines():
        name, colon, stored = line.strip().partition(":")
        if colon and name and not name.startswith("#"):
            entries[name] = stored
    return entries


class BrokerAccounts:
    """The embedded broker's accounts in the data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.password_file = data_dir / PASSWORDS_FILE
        self._service_file = data_dir / SERVICE_PASSWORD_FILE
        self._hasher = PasswordHasher()

    def service_password(self) -> str:
        """The service's own password, generated (and its hash stored) at first use."""
        private_folder(self.data_dir)
        path = private_file(self._service_file)
        password = path.read_text(encoding="utf-8").strip()
        if not password:
            password = secrets.token_urlsafe(32)
            _write_private(path, password + "\n")
        hashes = self._hashes()
        if not self._matches(hashes.get(SERVICE_USER), password):
            hashes[SERVICE_USER] = self._hasher.hash(password)
            self._save(hashes)
        return password

    def add_agent(self, station_id: int) -> str:
        """A new password for station ``station_id``'s agent (replacing an older one)."""
        password = secrets.token_urlsafe(24)
        hashes = self._hashes()
        hashes[agent_user(station_id)] = self._hasher.hash(password)
        self._save(hashes)
        return password

    def remove_agent(self, station_id: int) -> bool:
        hashes = self._hashes()
        if hashes.pop(agent_user(station_id), None) is None:
            return False
        self._save(hashes)
        return True

    def agents(self) -> list[int]:
        return sorted(s for u in self._hashes() if (s := station_of(u)) is not None)

    def _matches(self, stored: str | None, password: str) -> bool:
        if stored is None:
            return False
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _hashes(self) -> dict[str, str]:
        return _entries(self.password_file) if self.password_file.exists() else {}

    def _save(self, hashes: dict[str, str]) -> None:
        _write_private(self.password_file, "".join(f"{n}:{h}\n" for n, h in hashes.items()))


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` in one step (the broker may read it at any moment), mode 0600."""
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)
