"""What the wall shows, as a pure reducer of MQTT messages.

``apply`` folds one message into the state, after checking it against its topic's schema
(dashboard/payloads.py: anyone on the broker can publish, so a message that does not fit is
refused whole and the last good state stays); ``expire`` marks stations offline whose
heartbeats are too old (the embedded broker never fires last wills on a lost power
supply, so age matters as much as the will); ``snapshot`` is what a new wall page receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dashboard.payloads import PAYLOADS, reason
from dashboard.topics import Topics


class Rejected(ValueError):
    """A message that does not fit its topic's schema; the state is unchanged."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind = kind
        self.why = why


@dataclass
class StationView:
    state: dict[str, Any] | None = None
    last_seen: datetime | None = None  # the last heartbeat
    agent: str = "none"  # none | online | offline

    def as_dict(self, station_id: int) -> dict[str, Any]:
        return {
            "id": station_id,
            **(self.state or {}),
            "agent": self.agent,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


@dataclass
class WallState:
    topics: Topics
    max_heartbeat_age: float
    service: dict[str, Any] | None = None
    stations: dict[int, StationView] = field(default_factory=dict)
    current: dict[str, Any] | None = None
    rotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    printers: dict[int, dict[str, Any]] = field(default_factory=dict)

    def apply(self, topic: str, message: object, now: datetime) -> list[str]:
        """Fold one message in (``None``: a cleared topic); return the keys of the snapshot
        that changed. Raises ``Rejected`` for a message that does not fit its topic."""
        what, number = self.topics.parse(topic)
        if what not in PAYLOADS:
            return []  # not ours (the embedded broker may send foreign retained topics)
        payload = None if message is None else _checked(what, number, message)
        if what == "service_status":
            self.service = payload
            return ["service"]
        if what == "current_visit":
            self.current = payload
            return ["current"]
        if what == "rotation" and number is not None:
            if payload is None:
                self.rotations.pop(number, None)
            else:
                self.rotations[number] = payload
            return [f"rotation:{number}"]
        if what == "printer_state" and number is not None:
            if payload is None:
                self.printers.pop(number, None)
            else:
                self.printers[number] = payload
            return [f"printer:{number}"]
        if what == "station_state" and number is not None:
            if payload is None:  # a cleared retained state: the station is gone
                self.stations.pop(number, None)
            else:
                self.stations.setdefault(number, StationView()).state = payload
            return [f"station:{number}"]
        if what == "station_heartbeat" and number is not None:
            view = self.stations.setdefault(number, StationView())
            if payload is None or payload["state"] == "offline":
                view.agent = "offline"
            else:
                view.agent = "online"
                view.last_seen = _stamp(payload, now)
            return [f"station:{number}"]
        return []

    def expire(self, now: datetime) -> list[str]:
        """Mark stations offline whose last heartbeat is older than the limit."""
        changed = []
        for number, view in self.stations.items():
            age = (now - view.last_seen).total_seconds() if view.last_seen else 0.0
            if view.agent == "online" and age > self.max_heartbeat_age:
                view.agent = "offline"
                changed.append(f"station:{number}")
        return changed

    def part(self, key: str) -> Any:
        """One piece of the snapshot by its key (None when it is gone)."""
        kind, _, number = key.partition(":")
        if kind == "service":
            return self.service
        if kind == "current":
            return self.current
        if kind == "rotation":
            return self.rotations.get(int(number))
        if kind == "printer":
            return self.printers.get(int(number))
        if kind == "station":
            view = self.stations.get(int(number))
            return view.as_dict(int(number)) if view else None
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "current": self.current,
            "rotations": {str(k): v for k, v in self.rotations.items()},
            "stations": {str(k): v.as_dict(k) for k, v in self.stations.items()},
            "printers": {str(k): v for k, v in self.printers.items()},
        }


# The field that names the topic's own id, by topic kind.
_ID_FIELD = {"station_state": "id", "printer_state": "id", "rotation": "visit_id"}


def _checked(what: str, number: int | None, message: object) -> dict[str, Any]:
    """The message as its schema allows it (unknown fields dropped), or ``Rejected``."""
    try:
        payload = PAYLOADS[what].model_validate(message)
    except ValidationError as exc:
        raise Rejected(what, reason(exc)) from None
    field = _ID_FIELD.get(what)
    if field is not None and getattr(payload, field) != number:
        raise Rejected(what, f"{field} does not match the topic")
    return payload.model_dump()


def _stamp(payload: dict[str, Any], now: datetime) -> datetime:
    """When the sender says it sent the heartbeat (a retained one may be old).

    Without a UTC offset the time is read as UTC (docs/mqtt.md); a time ahead of ``now``
    counts as ``now``, so a wrong clock cannot keep a station online for ever.
    """
    if payload["ts"] is None:
        return now
    sent = datetime.fromisoformat(payload["ts"])
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return min(sent, now)
