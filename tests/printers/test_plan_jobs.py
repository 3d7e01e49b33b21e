"""A visit's plan queues one demo print per group for its printing slot; re-plans move them."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from librarylab import database
from librarylab.demo import load_demo
from tests.conftest import Lab
from tests.printers.jobs import upload_file

BERLIN = ZoneInfo("Europe/Berlin")


def slicer_file(minutes: int) -> bytes:
    return f";FLAVOR:Marlin\n;TIME:{minutes * 60}\nG28\nG1 X10 Y10 F3000\n".encode()


@pytest.fixture
def demo(lab: Lab) -> Lab:
    with database.transaction(lab.sessions) as session:
        load_demo(session)
    return lab


def eschweiler(lab: Lab) -> dict[str, Any]:
    visits = lab.client.get("/api/visits", headers=lab.headers()).json()
    found: dict[str, Any] = next(v for v in visits if v["library"] == "Stadtbücherei Eschweiler")
    return found


def printing_stations(lab: Lab) -> set[int]:
    stations = lab.client.get("/api/stations", headers=lab.headers()).json()
    return {s["id"] for s in stations if s["kind"] == "printing"}


def wanted(plan: dict[str, Any], printing: set[int], day: date) -> set[tuple[Any, ...]]:
    """(group, station, slot, start) of each group's first printing slot in the plan."""
    first: dict[int, tuple[Any, ...]] = {}
    for slot in plan["slots"]:
        for a in slot["assignments"]:
            if a["station_id"] in printing and a["group_id"] not in first:
                start = datetime.combine(day, time.fromisoformat(slot["start"]), BERLIN)
                first[a["group_id"]] = (a["group_id"], a["station_id"], slot["index"], start)
    return set(first.values())


def queued(lab: Lab, visit_id: int) -> set[tuple[Any, ...]]:
    jobs = lab.client.get(
        "/api/print-jobs", params={"visit_id": visit_id, "state": "queued"}, headers=lab.headers()
    ).json()
    return {
        (j["group_id"], j["station_id"], j["slot_index"], datetime.fromisoformat(j["not_before"]))
        for j in jobs
    }


def test_a_plan_queues_one_fitting_demo_print_per_group_and_replans_move_them(
    demo: Lab,
) -> None:
    upload_file(demo.client, demo.headers(), slicer_file(12), "Boot")
    keychain = upload_file(demo.client, demo.headers(), slicer_file(18), "Schlüsselanhänger")
    upload_file(demo.client, demo.headers(), slicer_file(45), "Großes Boot")
    visit = eschweiler(demo)
    day = date.fromisoformat(visit["date"])
    printing = printing_stations(demo)

    plan = demo.client.post(f"/api/visits/{visit['id']}/plan", headers=demo.headers()).json()
    expected = wanted(plan, printing, day)
    assert len(expected) == len(plan["groups"])  # every group meets a printer
    assert queued(demo, visit["id"]) == expected
    jobs = demo.client.get(
        "/api/print-jobs", params={"visit_id": visit["id"]}, headers=demo.headers()
    ).json()
    # The longest demo that fits a 20-minute slot, and never past the slot's end.
    assert {j["file_id"] for j in jobs} == {keychain}
    assert all(
        datetime.fromisoformat(j["not_after"]) - datetime.fromisoformat(j["not_before"])
        == plan_slot_length(plan)
        for j in jobs
    )

    # Planning again does not add a second job per group.
    demo.client.post(f"/api/visits/{visit['id']}/plan", headers=demo.headers())
    again = demo.client.get(
        "/api/print-jobs", params={"visit_id": visit["id"]}, headers=demo.headers()
    ).json()
    assert len([j for j in again if j["state"] == "queued"]) == len(plan["groups"])

    # A printer breaks: the groups' prints move to the other printing station's slots.
    stations = demo.client.get("/api/stations", headers=demo.headers()).json()
    working = sorted(
        s["id"] for s in stations if s["id"] in printing and s["status"] == "available"
    )
    assert len(working) == 2
    for broken in working:
        replanned = demo.client.post(
            f"/api/visits/{visit['id']}/plan/replan",
            json={"at": "11:20", "station_out": broken},
            headers=demo.headers(),
        )
        assert replanned.status_code == 200, replanned.text
        assert queued(demo, visit["id"]) == wanted(replanned.json(), printing, day)
    # With both printers out after 11:20, only the groups printing at 11:00 keep their job.
    left = demo.client.get(
        "/api/print-jobs", params={"visit_id": visit["id"]}, headers=demo.headers()
    ).json()
    cancelled = [j for j in left if j["state"] == "cancelled"]
    assert cancelled
    assert all(j["reason"] == "the group has no printing slot anymore" for j in cancelled)
    assert all(j["slot_index"] == 0 for j in left if j["state"] == "queued")


def plan_slot_length(plan: dict[str, Any]) -> Any:
    slot = plan["slots"][0]
    return datetime.combine(date.min, time.fromisoformat(slot["end"])) - datetime.combine(
        date.min, time.fromisoformat(slot["start"])
    )


def test_no_fitting_file_means_no_job(demo: Lab) -> None:
    upload_file(demo.client, demo.headers(), slicer_file(45), "Großes Boot")
    visit = eschweiler(demo)
    demo.client.post(f"/api/visits/{visit['id']}/plan", headers=demo.headers())
    jobs = demo.client.get(
        "/api/print-jobs", params={"visit_id": visit["id"]}, headers=demo.headers()
    ).json()
    assert jobs == []


def group_jobs(lab: Lab, visit_id: int) -> dict[int, list[dict[str, Any]]]:
    jobs = lab.client.get(
        "/api/print-jobs", params={"visit_id": visit_id}, headers=lab.headers()
    ).json()
    by_group: dict[int, list[dict[str, Any]]] = {}
    for job in jobs:
        by_group.setdefault(job["group_id"], []).append(job)
    return by_group


def test_a_print_staff_cancelled_stays_cancelled_but_a_slot_given_back_gets_a_new_one(
    demo: Lab,
) -> None:
    upload_file(demo.client, demo.headers(), slicer_file(18), "Schlüsselanhänger")
    visit = eschweiler(demo)
    plan = demo.client.post(f"/api/visits/{visit['id']}/plan", headers=demo.headers()).json()
    first = group_jobs(demo, visit["id"])
    # Staff cancel the print of a group that prints in the first slot (a re-plan keeps it).
    staff_group = next(
        a["group_id"]
        for a in plan["slots"][0]["assignments"]
        if a["station_id"] in printing_stations(demo)
    )
    (cancelled,) = first[staff_group]
    answer = demo.client.post(f"/api/print-jobs/{cancelled['id']}/cancel", headers=demo.headers())
    assert answer.json()["reason"] == "cancelled by staff"

    demo.client.post(f"/api/visits/{visit['id']}/plan", headers=demo.headers())
    assert [j["id"] for j in group_jobs(demo, visit["id"])[staff_group]] == [cancelled["id"]]

    # Both printers break at 11:20: later groups lose their printing slot, the system cancels
    # their jobs; when the printers are back, those groups get a new job. Staff's cancel stays.
    stations = demo.client.get("/api/stations", headers=demo.headers()).json()
    working = sorted(
        s["id"]
        for s in stations
        if s["id"] in printing_stations(demo) and s["status"] == "available"
    )
    for change in ("station_out", "station_in"):
        for station in working:
            replanned = demo.client.post(
                f"/api/visits/{visit['id']}/plan/replan",
                json={"at": "11:20", change: station},
                headers=demo.headers(),
            )
            assert replanned.status_code == 200, replanned.text
        if change == "station_out":
            lost = {
                group
                for group, jobs in group_jobs(demo, visit["id"]).items()
                if jobs[-1]["reason"] == "the group has no printing slot anymore"
            }
            assert lost
    after = group_jobs(demo, visit["id"])
    assert [j["id"] for j in after[staff_group]] == [cancelled["id"]]
    for group in lost:
        assert [j["state"] for j in after[group]] == ["cancelled", "queued"]
