"""Publishes the lab's live state to MQTT: stations, the visit on now, today's rotations.

Everything is a retained topic, so a wall that connects later sees the present at once.
A change made by staff triggers a publish within a moment (``changed``); a ten-second tick
catches what changes with the clock alone (the next slot, the next visit).

The service owns the topics it published. Anyone on the broker could overwrite or clear
one of them, and the retained forgery would stay; so the publisher hears its own topics
(``heard``), and when one carries anything but what it last sent there, it sends its own
payload again. The printers' coordinators publish through it (``relay``), so their topics
are re-asserted the same way. Its own echo matches and ends it there; re-assertions come at
most once per ``REASSERT_PAUSE`` seconds, so a flood of forgeries cannot make it flood the
broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time as clock
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.topics import Topics
from librarylab.mqtt import ENVELOPE, Bus
from printers.orm import Printer
from scheduler.orm import StoredPlan
from stations.orm import Station
from visits.model import VisitStatus
from visits.orm import Visit

log = logging.getLogger(__name__)
TICK_SECONDS = 10
REASSERT_PAUSE = 1.0  # seconds between two re-assertions of forged or cleared topics


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), tzinfo=zone)


def visit_summary(visit: Visit) -> dict[str, Any]:
    return {
        "id": visit.id,
        "library": visit.library,
        "town": visit.town,
        "topic": visit.topic,
        "participants": visit.participants,
        "date": visit.date.isoformat(),
        "start": visit.start.strftime("%H:%M"),
        "end": visit.end.strftime("%H:%M"),
        "hands_on_start": visit.hands_on_start.strftime("%H:%M") if visit.hands_on_start else None,
        "hands_on_end": visit.hands_on_end.strftime("%H:%M") if visit.hands_on_end else None,
    }


def rotation_payload(
    visit: Visit,
    document: dict[str, Any],
    stations: dict[int, Station],
    zone: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    """A plan with absolute times, and where each group is now and next.

    ``now`` may carry any UTC offset: slots are found by comparing moments, never text.
    """
    groups = {g["id"]: g for g in document["groups"]}
    slots = []
    moments: list[tuple[datetime, datetime]] = []
    for slot in document["slots"]:
        start, end = _at(visit.date, slot["start"], zone), _at(visit.date, slot["end"], zone)
        moments.append((start, end))
        slots.append(
            {
                "index": slot["index"],
                "start": start.isoformat(),
                "end": end.isoformat(),
                "assignments": [
                    {
                        "group_id": a["group_id"],
                        "group": groups[a["group_id"]]["name"],
                        "size": groups[a["group_id"]]["size"],
                        "station_id": a["station_id"],
                        "station": stations[a["station_id"]].name
                        if a["station_id"] in stations
                        else "",
                        "kind": stations[a["station_id"]].kind.value
                        if a["station_id"] in stations
                        else "",
                        # The wall marks where staff are needed now.
                        "needs_staff": a["station_id"] in stations
                        and bool(stations[a["station_id"]].needs_staff),
                    }
                    for a in slot["assignments"]
                ],
            }
        )
    timed = list(zip(slots, moments, strict=True))
    current = next((s for s, (start, end) in timed if start <= now < end), None)
    upcoming = [s for s, (start, _end) in timed if start > now]
    following = upcoming[0] if upcoming else None

    def where(slot: dict[str, Any] | None, group_id: int) -> str | None:
        if slot is None:
            return None
        return next((a["station"] for a in slot["assignments"] if a["group_id"] == group_id), None)

    return {
        "visit_id": visit.id,
        "library": visit.library,
        "groups": [{"id": g["id"], "name": g["name"], "size": g["size"]} for g in groups.values()],
        "slots": slots,
        "now": {
            "slot": current["index"] if current else None,
            "next_change": (
                current["end"] if current else following["start"] if following else None
            ),
            "groups": [
                {
                    "group": g["name"],
                    "current": where(current, g["id"]),
                    "next": where(following, g["id"]),
                }
                for g in groups.values()
            ],
        },
    }


class LivePublisher:
    """Reads the database and publishes what changed since the last time."""

    def __init__(
        self, bus: Bus, topics: Topics, sessions: sessionmaker[Session], timezone: str
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.sessions = sessions
        self.zone = ZoneInfo(timezone)
        self._sent: dict[str, Any] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._relayed: dict[str, dict[str, Any]] = {}  # printers' topics, as JSON values
        self._doubted: set[str] = set()  # own topics that now carry something else
        self._reasserted = 0.0  # monotonic time of the last re-assertion
        self._reassert_pending = False

    def messages(self, now: datetime) -> dict[str, dict[str, Any] | None]:
        """Every retained topic of the present, by topic (None clears a topic)."""
        local = now.astimezone(self.zone)
        out: dict[str, dict[str, Any] | None] = {}
        with self.sessions() as session:
            stations = {s.id: s for s in session.scalars(select(Station))}
            today = [
                v
                for v in session.scalars(
                    select(Visit).where(Visit.date == local.date()).order_by(Visit.start)
                ).unique()
                if v.status is not VisitStatus.CANCELLED
            ]
            plans = {
                p.visit_id: p.document
                for p in session.scalars(
                    select(StoredPlan).where(StoredPlan.visit_id.in_([v.id for v in today]))
                )
            }
            rotations = {
                v.id: rotation_payload(v, plans[v.id], stations, self.zone, local)
                for v in today
                if v.id in plans
            }
            in_use: dict[int, tuple[str, int]] = {}
            for rotation in rotations.values():
                slot = rotation["now"]["slot"]
                if slot is None:
                    continue
                for a in rotation["slots"][slot]["assignments"]:
                    in_use[a["station_id"]] = (a["group"], rotation["visit_id"])
            for station in stations.values():
                group, visit_id = in_use.get(station.id, (None, None))
                out[self.topics.station_state(station.id)] = {
                    "id": station.id,
                    "name": station.name,
                    "kind": station.kind.value,
                    "capacity": station.capacity,
                    "max_group": station.max_group,
                    "status": station.status.value,
                    "status_reason": station.status_reason,
                    "current_group": group,
                    "visit_id": visit_id,
                }
            clock = local.time().replace(second=0, microsecond=0)
            running = next((v for v in today if v.start <= clock < v.end), None)
            upcoming = next((v for v in today if v.start > clock), None)
            if upcoming is None:
                later = session.scalars(
                    select(Visit)
                    .where(
                        Visit.date > local.date(),
                        Visit.status.in_([VisitStatus.CONFIRMED, VisitStatus.REQUESTED]),
                    )
                    .order_by(Visit.date, Visit.start)
                    .limit(1)
                ).first()
                upcoming = later
            out[self.topics.current_visit] = {
                "current": visit_summary(running) if running else None,
                "next": visit_summary(upcoming) if upcoming else None,
                "today": [visit_summary(v) for v in today],
            }
            for visit_id, payload in rotations.items():
                out[self.topics.rotation(visit_id)] = payload
            printers = {self.topics.printer_state(n) for n in session.scalars(select(Printer.id))}
        # A deleted printer's state goes too (its coordinator has stopped).
        for topic in list(self._relayed):
            if topic not in printers:
                out[topic] = None
        # Clear what is no longer there: removed stations, rotations not of today.
        for topic in self._sent:
            if topic not in out:
                out[topic] = None
        return out

    def publish(self, now: datetime, doubted: frozenset[str] = frozenset()) -> int:
        """Publish the topics whose payload changed, and the ``doubted`` ones (someone else
        wrote there) even if not; returns how many were sent."""
        sent = 0
        for topic, payload in self.messages(now).items():
            if topic in self._sent and self._sent[topic] == payload and topic not in doubted:
                continue
            # Noted before sending, so the echo that comes back matches at once.
            if payload is None:
                self._relayed.pop(topic, None)
            before = self._sent.pop(topic, None)
            if payload is not None:
                self._sent[topic] = payload
            if self.bus.publish(topic, payload, retain=True):
                sent += 1
            elif before is None:
                self._sent.pop(topic, None)
            else:
                self._sent[topic] = before
        for topic in doubted:
            payload = self._relayed.get(topic)
            if payload is not None and self.bus.publish(topic, payload, retain=True):
                sent += 1
        return sent

    def relay(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish a retained payload for another part of the service (a printer's
        coordinator) and re-assert it like the publisher's own."""
        self._relayed[topic] = json.loads(json.dumps(payload))  # tuples become lists
        self.bus.publish(topic, payload, retain=True)

    def heard(self, topic: str, payload: dict[str, Any] | None) -> None:
        """A message on the broker (paho's thread): one of our topics carrying something
        other than what we sent there is sent again."""
        ours = self._sent.get(topic) or self._relayed.get(topic)
        if ours is None:
            return  # not ours, or cleared by us
        if payload is not None and {k: v for k, v in payload.items() if k not in ENVELOPE} == ours:
            return  # our own, or the same
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._doubt, topic)

    def _doubt(self, topic: str) -> None:
        self._doubted.add(topic)
        if self._reassert_pending or self._loop is None or self._wake is None:
            return
        wait = self._reasserted + REASSERT_PAUSE - clock.monotonic()
        if wait <= 0:
            self._wake.set()
        else:
            self._reassert_pending = True
            self._loop.call_later(wait, self._wake_for_doubts)

    def _wake_for_doubts(self) -> None:
        self._reassert_pending = False
        if self._wake is not None:
            self._wake.set()

    # -- running in the app -------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def alive(self) -> bool:
        """The publishing task runs."""
        return self._task is not None and not self._task.done()

    def changed(self) -> None:
        """Something staff did changed the lab: publish now (callable from any thread)."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        was_connected = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS if was_connected else 1)
            self._wake.clear()
            connected = self.bus.connected
            if connected and not was_connected:
                self._sent.clear()  # a new connection: the broker may have lost retained state
            was_connected = connected
            doubted, self._doubted = frozenset(self._doubted), set()
            if doubted:
                self._reasserted = clock.monotonic()
                log.warning(
                    "re-asserting %d retained topic(s) someone else overwrote", len(doubted)
                )
            if connected:
                try:
                    await asyncio.to_thread(self.publish, datetime.now(self.zone), doubted)
                except Exception:
                    log.exception("publishing the live state failed")
