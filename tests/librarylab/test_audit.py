"""The audit trail: who changed what, when, from where, before and after."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from librarylab import database
from librarylab.accounts.orm import User
from librarylab.audit import service
from librarylab.audit.orm import AuditRecord
from librarylab.audit.trail import Actor, act_as
from librarylab.demo import load_demo
from stations.model import Kind
from stations.orm import Station
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab, make_settings
from tests.librarylab.test_cli import run
from tests.pages import login, submit, text_of
from tests.printers.jobs import gcode, upload_file


def records(lab: Lab, **where: Any) -> list[AuditRecord]:
    with lab.sessions() as session:
        query = select(AuditRecord).order_by(AuditRecord.id)
        for name, value in where.items():
            query = query.where(getattr(AuditRecord, name) == value)
        return list(session.scalars(query))


def station(lab: Lab, name: str = "Quest 3", kind: str = "vr") -> int:
    created = lab.client.post(
        "/api/stations", headers=lab.headers(), json={"name": name, "kind": kind, "capacity": 2}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def everything_stored(lab: Lab) -> str:
    """Every audit row as one JSON text, to search for what must never be there."""
    return json.dumps(
        [[r.actor, r.source, r.address, r.object_label, r.action, r.changes] for r in records(lab)],
        default=str,
    )


def test_a_station_changed_through_the_api_is_recorded_with_who_and_from_where(
    lab: Lab,
) -> None:
    station_id = station(lab)
    changed = lab.client.patch(
        f"/api/stations/{station_id}", headers=lab.headers(), json={"capacity": 3, "notes": "x"}
    )
    assert changed.status_code == 200, changed.text
    created, edited = records(lab, object_type="station")
    assert (created.action, created.actor, created.source) == ("created", "sam", "api")
    assert created.changes["name"] == [None, "Quest 3"]
    assert created.object_id == str(station_id)
    assert (edited.action, edited.actor, edited.source) == ("changed", "sam", "api")
    assert edited.address == "testclient"
    assert edited.object_label == "Quest 3"
    assert edited.changes == {"capacity": [2, 3], "notes": ["", "x"]}

    gone = lab.client.delete(f"/api/stations/{station_id}", headers=lab.headers("admin"))
    assert gone.status_code == 204
    deleted = records(lab, object_type="station")[-1]
    assert (deleted.action, deleted.actor) == ("deleted", "ada")
    assert deleted.changes["capacity"] == [3, None]  # its last values


def test_a_station_changed_on_its_page_is_recorded_as_from_the_page(sqlite_lab: Lab) -> None:
    station_id = station(sqlite_lab)
    assert login(sqlite_lab.client, "sam", STAFF_PASSWORD).status_code == 303
    page = f"/stations/{station_id}"
    form = {"name": "Quest 3", "kind": "vr", "capacity": "4", "notes": ""}
    assert submit(sqlite_lab.client, page, page, form).status_code == 303
    edited = records(sqlite_lab, object_type="station", action="changed")
    assert [(r.source, r.actor, r.changes.get("capacity")) for r in edited] == [
        ("page", "sam", [2, 4])
    ]


def test_changes_without_an_actor_are_not_recorded_and_a_rollback_leaves_no_record(
    lab: Lab,
) -> None:
    now = datetime.now(UTC)
    with database.transaction(lab.sessions) as session:  # as the poller or a periodic job
        session.add(Station(name="Switch", kind=Kind.GAMING, capacity=2, status_since=now))
    assert records(lab, object_type="station") == []

    with lab.sessions() as session:
        act_as(session, Actor("ada", "api", "192.0.2.1"))
        session.add(Station(name="Switch 2", kind=Kind.GAMING, capacity=2, status_since=now))
        session.flush()
        assert session.scalars(select(AuditRecord)).all()  # recorded in the transaction
        session.rollback()
    assert records(lab) == []


def test_the_command_line_records_a_password_change_without_any_hash(
    tmp_path: Path, database_url: str
) -> None:
    from tests.librarylab.test_cli import _env

    env = _env(tmp_path, database_url)
    added = run(["user", "add", "greta", "--role", "staff"], env, stdin="a-good-password\n")
    assert added.returncode == 0, added.stderr
    changed = run(["user", "password", "greta"], env, stdin="another-good-password\n")
    assert changed.returncode == 0, changed.stderr
    engine = database.make_engine(database_url)
    try:
        sessions = database.make_session_factory(engine)
        with sessions() as session:
            rows = session.scalars(
                select(AuditRecord).where(AuditRecord.object_type == "user")
            ).all()
            user = session.scalars(select(User).where(User.name == "greta")).one()
            stored_hash = user.password_hash
            text = json.dumps([[r.object_label, r.changes] for r in rows])
    finally:
        engine.dispose()
    assert [(r.action, r.source) for r in rows] == [("created", "cli"), ("changed", "cli")]
    assert rows[1].changes["password_hash"] == "changed"
    assert rows[0].changes["password_hash"] == "changed"
    assert stored_hash not in text
    assert "argon2" not in text
    assert "$" not in text
    assert rows[1].actor  # the system user who ran the command


def test_a_password_changed_on_the_page_keeps_no_hash(sqlite_lab: Lab) -> None:
    assert login(sqlite_lab.client, "sam", STAFF_PASSWORD).status_code == 303
    fields = {
        "current_password": STAFF_PASSWORD,
        "new_password": "a-new-good-password",
        "repeat_password": "a-new-good-password",
    }
    page = "/account/password"
    answer = submit(sqlite_lab.client, page, page, fields)
    assert answer.status_code == 303, answer.text
    rows = records(sqlite_lab, object_type="user", action="changed")
    assert rows
    assert rows[-1].changes["password_hash"] == "changed"
    with sqlite_lab.sessions() as session:
        stored = session.scalars(select(User.password_hash).where(User.name == "sam")).one()
    assert stored not in everything_stored(sqlite_lab)


def test_a_printer_key_change_records_that_it_changed_never_the_key(lab: Lab) -> None:
    created = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "FIRST-KEY-1234"},
    )
    assert created.status_code == 201, created.text
    printer = created.json()["id"]
    changed = lab.client.patch(
        f"/api/printers/{printer}",
        headers=lab.headers("admin"),
        json={"api_key": "SECOND-KEY-5678", "name": "Prusa MK4"},
    )
    assert changed.status_code == 200, changed.text
    edited = records(lab, object_type="printer", action="changed")[-1]
    assert edited.changes == {"api_key_sealed": "changed", "name": ["Prusa", "Prusa MK4"]}
    stored = everything_stored(lab)
    assert "FIRST-KEY" not in stored
    assert "SECOND-KEY" not in stored
    with lab.sessions() as session:
        from printers.orm import Printer

        sealed = session.get(Printer, printer)
        assert sealed is not None
        assert sealed.api_key_sealed not in stored


def test_print_job_cancel_retry_and_bed_confirmation_are_recorded(lab: Lab) -> None:
    printer = lab.client.post(
        "/api/printers",
        headers=lab.headers("admin"),
        json={"name": "Prusa", "url": "http://127.0.0.1:9", "api_key": "k"},
    ).json()["id"]
    file_id = upload_file(lab.client, lab.headers(), gcode(1), "boat")
    job = lab.client.post(
        "/api/print-jobs", headers=lab.headers(), json={"file_id": file_id, "printer_id": printer}
    ).json()["id"]
    assert lab.client.post(f"/api/print-jobs/{job}/cancel", headers=lab.headers()).is_success
    assert lab.client.post(f"/api/print-jobs/{job}/retry", headers=lab.headers()).is_success
    bed = lab.client.post(f"/api/printers/{printer}/bed-cleared", headers=lab.headers())
    assert bed.status_code == 200, bed.text

    jobs = records(lab, object_type="print_job", object_id=str(job))
    assert [(r.action, r.actor, r.source) for r in jobs] == [
        ("created", "sam", "api"),
        ("cancelled", "sam", "api"),
        ("retried", "sam", "api"),
    ]
    assert jobs[1].changes["state"] == ["queued", "cancelled"]
    assert jobs[2].changes["state"] == ["cancelled", "queued"]
    confirmed = records(lab, object_type="printer", action="bed_confirmed")
    assert [(r.object_id, r.changes) for r in confirmed] == [
        (str(printer), {"bed_clear": [False, True]})
    ]

    gone = lab.client.delete(f"/api/printers/{printer}", headers=lab.headers("admin"))
    assert gone.status_code == 204, gone.text
    deleted = records(lab, object_type="printer", action="deleted")
    assert [(r.actor, r.changes["name"]) for r in deleted] == [("ada", ["Prusa", None])]
    assert deleted[0].changes["api_key_sealed"] == "changed"


def test_a_plan_and_its_replan_are_recorded_without_the_names_of_people(lab: Lab) -> None:
    with database.transaction(lab.sessions) as session:
        load_demo(session)
    visits = lab.client.get("/api/visits", headers=lab.headers()).json()
    visit = next(v["id"] for v in visits if v["library"] == "Stadtbücherei Eschweiler")
    planned = lab.client.post(f"/api/visits/{visit}/plan", headers=lab.headers())
    assert planned.status_code == 200, planned.text
    slot = planned.json()["slots"][1]["assignments"][0]["station_id"]
    replanned = lab.client.post(
        f"/api/visits/{visit}/plan/replan",
        headers=lab.headers(),
        json={"at": "11:45", "station_out": slot},
    )
    assert replanned.status_code == 200, replanned.text
    plans = records(lab, object_type="plan")
    assert [r.action for r in plans] == ["created", "changed"]
    assert plans[1].changes["revision"] == [1, 2]
    assert plans[1].object_label == f"visit {visit}, revision 2"
    assert plans[0].changes["inputs"] == "changed"
    summary = plans[0].changes["document"][1]
    assert summary["groups"] == len(planned.json()["groups"])
    members = [m for g in planned.json()["groups"] for m in g["members"]]
    stored = everything_stored(lab)
    assert not [m for m in members if m and f'"{m}"' in stored]


def _trail(lab: Lab, role: str = "admin", **params: Any) -> Any:
    return lab.client.get("/api/audit", headers=lab.headers(role), params=params)


def test_admins_filter_the_trail_by_object_person_and_time(lab: Lab) -> None:
    first = station(lab, "Quest 3")
    second = station(lab, "Switch", "gaming")
    renamed = lab.client.patch(
        f"/api/stations/{second}", headers=lab.headers("admin"), json={"name": "Switch 2"}
    )
    assert renamed.status_code == 200

    everything = _trail(lab)
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["total"] == len(body["records"]) >= 3
    assert body["records"][0]["action"] == "changed"  # newest first

    by_object = _trail(lab, object_type="station", object_id=str(second)).json()
    assert [r["action"] for r in by_object["records"]] == ["changed", "created"]
    assert by_object["records"][0]["changes"] == {"name": ["Switch", "Switch 2"]}
    by_person = _trail(lab, actor="ada", object_type="station").json()
    assert [r["object_id"] for r in by_person["records"]] == [str(second)]
    assert {r["object_id"] for r in _trail(lab, actor="sam").json()["records"]} >= {
        str(first),
        str(second),
    }

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert _trail(lab, **{"from": later}).json()["records"] == []
    assert _trail(lab, **{"to": earlier}).json()["records"] == []
    assert _trail(lab, **{"from": earlier, "to": later}).json()["total"] == body["total"]

    paged = _trail(lab, limit=1, offset=1).json()
    assert [r["id"] for r in paged["records"]] == [body["records"][1]["id"]]
    assert paged["next_offset"] == 2


def test_only_admins_read_the_trail(lab: Lab) -> None:
    assert _trail(lab, "staff").status_code == 403
    assert lab.client.get("/api/audit").status_code == 401


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "yesterday"}, "datetime"),
        ({"to": "0.5"}, "UTC offset"),
        ({"from": "2026-01-01T10:00:00"}, "timezone"),
        ({"limit": "100000"}, "500"),
        ({"limit": "0"}, "1"),
        ({"offset": "-1"}, "0"),
        ({"object_type": "nonsense"}, "station"),
        ({"object_id": "1 OR 1=1"}, "pattern"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "later"),
    ],
)
def test_hostile_filters_are_refused_with_a_message(
    sqlite_lab: Lab, params: dict[str, str], says: str
) -> None:
    refused = _trail(sqlite_lab, **params)
    assert refused.status_code == 422, refused.text
    assert says in refused.text


def test_retention_deletes_old_records_and_keeps_newer_ones(lab: Lab, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with database.transaction(lab.sessions) as session:
        for days in (400, 366, 364, 1):
            session.add(
                AuditRecord(
                    at=now - timedelta(days=days),
                    actor="ada",
                    source="api",
                    object_type="station",
                    object_id=str(days),
                    action="changed",
                    changes={},
                )
            )
    settings = make_settings(tmp_path, "sqlite://", audit_retention_days=365)
    with database.transaction(lab.sessions) as session:
        assert service.purge_expired(session, now, settings) == 2
    assert sorted(int(r.object_id) for r in records(lab)) == [1, 364]
    forever = make_settings(tmp_path, "sqlite://", audit_retention_days=0)
    with database.transaction(lab.sessions) as session:
        assert service.purge_expired(session, now + timedelta(days=9999), forever) == 0
    assert len(records(lab)) == 2
    jobs = lab.client.app.state.periodic_jobs  # type: ignore[attr-defined]
    assert service.purge_expired in jobs.tasks  # run with the minute jobs


def test_the_audit_page_shows_changes_to_admins_only(sqlite_lab: Lab) -> None:
    station_id = station(sqlite_lab)
    lab = sqlite_lab
    lab.client.patch(f"/api/stations/{station_id}", headers=lab.headers(), json={"capacity": 5})
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303
    assert lab.client.get("/audit").status_code == 403
    lab.client.cookies.clear()
    assert login(lab.client, "ada", ADMIN_PASSWORD).status_code == 303
    page = lab.client.get("/audit", params={"type": "station", "lang": "en"})
    assert page.status_code == 200
    shown = text_of(page)
    assert "capacity : 2 → 5" in shown or "capacity: 2 → 5" in shown
    assert "Quest 3" in shown
    assert "sam" in shown
    assert "API" in shown
    german = text_of(lab.client.get("/audit", params={"lang": "de"}))
    assert "Änderungsprotokoll" in german
    empty = text_of(lab.client.get("/audit", params={"actor": "nobody", "lang": "en"}))
    assert "No changes match these filters." in empty
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    empty = text_of(lab.client.get("/audit", params={"from": tomorrow, "lang": "en"}))
    assert "No changes match these filters." in empty
    today = text_of(lab.client.get("/audit", params={"to": tomorrow, "type": "station"}))
    assert "Quest 3" in today
    assert "No changes match these filters." in empty
    bad = lab.client.get("/audit", params={"from": "31.12.2026", "lang": "en"})
    assert bad.status_code == 422
    assert "is not a date" in text_of(bad)


def test_an_accepted_request_records_the_date_taken_without_the_contact(lab: Lab) -> None:
    from tests.booking.test_inbox import confirmed_request, free_date

    visit = free_date(lab)
    request = confirmed_request(lab)
    accepted = lab.client.post(
        f"/api/visit-requests/{request}/accept", headers=lab.headers(), json={"visit_id": visit}
    )
    assert accepted.status_code == 200, accepted.text
    changes: dict[str, Any] = {}
    for row in records(lab, object_type="visit", object_id=str(visit)):
        assert (row.actor, row.source) == ("sam", "api")
        changes |= row.changes
    assert changes["status"] == ["free", "confirmed"]
    assert changes["contact_name"] == "changed"
    assert changes["contact_email"] == "changed"
    assert changes["wishes"] == "changed"
    stored = everything_stored(lab)
    assert "Kim Berger" not in stored
    assert "kim@stadtbibliothek-neuss.de" not in stored
