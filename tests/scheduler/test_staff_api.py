"""Staff on duty through the visits and planning API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from librarylab import database
from librarylab.demo import load_demo
from tests.conftest import Lab
from tests.scheduler.test_api import PLAN_FIELDS, post, stations, visit_id

ESCHWEILER = "Stadtbücherei Eschweiler"


@pytest.fixture
def demo(lab: Lab) -> Lab:
    with database.transaction(lab.sessions) as session:
        load_demo(session)
    return lab


def patch_visit(lab: Lab, visit: int, body: dict[str, Any]) -> Any:
    return lab.client.patch(f"/api/visits/{visit}", json=body, headers=lab.headers())


def test_staff_on_duty_round_trips_and_null_means_not_limited(lab: Lab) -> None:
    body = {"date": "2018-02-15", "library": "Stadtbücherei Bochum", "participants": 9}
    created = post(
        lab, "/api/visits", body | {"staff_on_duty": 2, "staff_names": [" Anna ", "Ben"]}
    )
    assert created.status_code == 201, created.text
    visit = created.json()
    assert visit["staff_on_duty"] == 2
    assert visit["staff_names"] == ["Anna", "Ben"]
    changed = patch_visit(lab, visit["id"], {"staff_on_duty": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["staff_on_duty"] is None
    assert changed.json()["staff_names"] == ["Anna", "Ben"]
    plain = post(lab, "/api/visits", body).json()
    assert plain["staff_on_duty"] is None
    assert plain["staff_names"] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"staff_on_duty": -1}, "greater than or equal to 0"),
        ({"staff_on_duty": "2"}, "valid integer"),
        ({"staff_names": ["x" * 81]}, "at most 80 characters"),
        ({"staff_names": [""]}, "at least 1 character"),
    ],
)
def test_bad_staff_is_refused_and_the_visit_stays(
    lab: Lab, body: dict[str, Any], says: str
) -> None:
    body_in = {"date": "2018-02-15", "library": "Bochum", "participants": 9, "staff_on_duty": 1}
    response = post(lab, "/api/visits", body_in)
    assert response.status_code == 201, response.text
    created = response.json()
    response = patch_visit(lab, created["id"], body)
    assert response.status_code == 422
    assert says in response.text
    stored = lab.client.get(f"/api/visits/{created['id']}", headers=lab.headers()).json()
    assert stored["staff_on_duty"] == 1
    assert stored["staff_names"] == []


def test_a_plan_keeps_supervised_stations_within_the_staff(demo: Lab) -> None:
    visit = visit_id(demo, ESCHWEILER)
    unlimited = post(demo, f"/api/visits/{visit}/plan").json()
    assert unlimited["staff_on_duty"] is None
    assert all(s["staffed_stations"] is None for s in unlimited["slots"])
    assert patch_visit(demo, visit, {"staff_on_duty": 1}).status_code == 200
    stale = demo.client.get(f"/api/visits/{visit}/plan", headers=demo.headers()).json()
    assert stale["stale_reasons"] == ["The staff on duty changed."]
    response = post(demo, f"/api/visits/{visit}/plan")
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan.keys() >= PLAN_FIELDS
    assert plan["staff_on_duty"] == 1
    assert plan["stations_per_staff"] == 1
    # Three groups each print once (every printer needs staff): one printer per slot.
    assert [s["staffed_stations"] for s in plan["slots"]] == [1, 1, 1]
    assert {s["staff_capacity"] for s in plan["slots"]} == {1}
    assert plan["missing"] == []


def test_a_changed_needs_staff_marks_a_plan_for_counted_staff_stale(demo: Lab) -> None:
    visit = visit_id(demo, ESCHWEILER)
    plan_url = f"/api/visits/{visit}/plan"
    printer, name = next((i, s["name"]) for i, s in stations(demo).items() if s["needs_staff"])

    def needs_staff(value: bool) -> None:
        response = demo.client.patch(
            f"/api/stations/{printer}", json={"needs_staff": value}, headers=demo.headers()
        )
        assert response.status_code == 200, response.text

    def stale() -> list[str]:
        reasons: list[str] = demo.client.get(plan_url, headers=demo.headers()).json()[
            "stale_reasons"
        ]
        return reasons

    # Without a count of staff on duty, supervision does not shape the plan.
    post(demo, plan_url)
    needs_staff(False)
    assert stale() == []
    needs_staff(True)
    patch_visit(demo, visit, {"staff_on_duty": 1})
    assert post(demo, plan_url).status_code == 200
    needs_staff(False)
    assert stale() == [f"{name} no longer needs staff."]
    needs_staff(True)
    assert stale() == []


def test_no_staff_on_duty_is_explained_with_the_staff_fix(demo: Lab) -> None:
    visit = visit_id(demo, ESCHWEILER)
    patch_visit(demo, visit, {"staff_on_duty": 0})
    response = post(demo, f"/api/visits/{visit}/plan")
    assert response.status_code == 422
    body = response.json()
    assert "no staff are on duty" in body["detail"]
    assert "Put one more person on duty." in body["fixes"]


def test_replan_when_a_staff_member_leaves(demo: Lab) -> None:
    visit = visit_id(demo, ESCHWEILER)
    patch_visit(demo, visit, {"staff_on_duty": 2})
    before = post(demo, f"/api/visits/{visit}/plan").json()
    response = post(demo, f"/api/visits/{visit}/plan/replan", {"at": "11:25", "staff_leaves": 1})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["slots"][:1] == before["slots"][:1]
    assert after["staff_on_duty"] == 1
    assert all(s["staffed_stations"] <= 1 for s in after["slots"][1:])
    assert after["slots"][1]["staff_capacity"] == 1
    # The one who left stays gone; nobody is left to leave after the second.
    second = post(demo, f"/api/visits/{visit}/plan/replan", {"at": "11:50", "staff_leaves": 1})
    assert second.status_code == 200, second.text
    assert second.json()["staff_on_duty"] == 0
    assert all(s["staffed_stations"] == 0 for s in second.json()["slots"][2:])
    third = post(demo, f"/api/visits/{visit}/plan/replan", {"at": "11:50", "staff_leaves": 1})
    assert third.status_code == 422
    assert "Only 0 staff are on duty." in third.text


def test_staff_cannot_leave_a_visit_without_a_count(demo: Lab) -> None:
    visit = visit_id(demo, ESCHWEILER)
    post(demo, f"/api/visits/{visit}/plan")
    response = post(demo, f"/api/visits/{visit}/plan/replan", {"at": "11:25", "staff_leaves": 1})
    assert response.status_code == 422
    assert "no count of staff on duty" in response.text
