"""Free text and lists have limits: notes of stations and visits, the people named for a
plan. A refused change leaves the stored record as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from librarylab import database
from librarylab.demo import load_demo
from tests.conftest import STAFF_PASSWORD, Lab
from tests.pages import error_of, login, submit

TOO_LONG = "n" * 4001
SAYS = "This text is longer than 4000 characters."


@pytest.fixture
def demo(sqlite_lab: Lab) -> Lab:
    with database.transaction(sqlite_lab.sessions) as session:
        load_demo(session)
    return sqlite_lab


def first(lab: Lab, path: str) -> dict[str, Any]:
    found: dict[str, Any] = lab.client.get(path, headers=lab.headers()).json()[0]
    return found


def eschweiler(lab: Lab) -> int:
    visits = lab.client.get("/api/visits", headers=lab.headers()).json()
    return int(next(v["id"] for v in visits if v["library"] == "Stadtbücherei Eschweiler"))


@pytest.mark.parametrize("resource", ["stations", "visits"])
def test_notes_over_the_limit_are_refused_and_nothing_changes(demo: Lab, resource: str) -> None:
    stored = first(demo, f"/api/{resource}")
    path = f"/api/{resource}/{stored['id']}"
    answer = demo.client.patch(path, json={"notes": TOO_LONG}, headers=demo.headers())
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "notes", "message": "String should have at most 4000 characters"}
    ]
    assert demo.client.get(path, headers=demo.headers()).json() == stored
    at_the_limit = demo.client.patch(path, json={"notes": "n" * 4000}, headers=demo.headers())
    assert at_the_limit.status_code == 200
    assert at_the_limit.json()["notes"] == "n" * 4000


def test_new_records_with_too_long_notes_are_refused(demo: Lab) -> None:
    station = {"name": "VR 9", "kind": "vr", "capacity": 2, "notes": TOO_LONG}
    visit = {"date": "2031-06-14", "notes": TOO_LONG}
    for path, body in (("/api/stations", station), ("/api/visits", visit)):
        before = demo.client.get(path, headers=demo.headers()).json()
        answer = demo.client.post(path, json=body, headers=demo.headers())
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "notes"
        assert demo.client.get(path, headers=demo.headers()).json() == before


def test_the_forms_refuse_too_long_notes(demo: Lab) -> None:
    client = demo.client
    login(client, "sam", STAFF_PASSWORD)
    client.cookies.set("lang", "en")
    station = submit(
        client,
        "/stations/new",
        "/stations/new",
        {"name": "VR 9", "kind": "vr", "capacity": "2", "notes": TOO_LONG},
    )
    visit = submit(
        client,
        "/visits/new",
        "/visits/new",
        {"date": "2031-06-14", "start": "10:00", "end": "14:00", "status": "free"}
        | {"notes": TOO_LONG},
    )
    for answer in (station, visit):
        assert answer.status_code == 422
        assert error_of(answer) in (SAYS, "Dieser Text ist länger als 4000 Zeichen.")
    names = {s["name"] for s in client.get("/api/stations", headers=demo.headers()).json()}
    assert "VR 9" not in names


def test_a_plan_names_at_most_200_people(demo: Lab) -> None:
    visit = eschweiler(demo)
    path = f"/api/visits/{visit}/plan"
    assert demo.client.post(path, json={}, headers=demo.headers()).status_code == 200
    stored = demo.client.get(path, headers=demo.headers()).json()
    people = [{"name": f"Person {i}"} for i in range(201)]
    answer = demo.client.post(path, json={"people": people}, headers=demo.headers())
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "people"
    assert error["message"].startswith("List should have at most 200 items")
    long_name = demo.client.post(
        path, json={"people": [{"name": "x" * 121}]}, headers=demo.headers()
    )
    assert long_name.status_code == 422
    assert long_name.json()["errors"][0]["field"] == "people[0].name"
    assert demo.client.get(path, headers=demo.headers()).json() == stored


def staff_on_the_plan_page(lab: Lab) -> tuple[TestClient, str]:
    login(lab.client, "sam", STAFF_PASSWORD)
    lab.client.cookies.set("lang", "en")
    return lab.client, f"/visits/{eschweiler(lab)}/plan"


@pytest.mark.parametrize(
    ("people", "says"),
    [
        ("\n".join(f"Person {i}" for i in range(300)), "Name at most 200 people (300 given)."),
        ("Anna\n" + "x" * 121, "The name of person 2 is longer than 120 characters."),
    ],
)
def test_the_plan_page_refuses_too_many_or_too_long_names(
    demo: Lab, people: str, says: str
) -> None:
    client, page = staff_on_the_plan_page(demo)
    assert submit(client, page, page, {}).status_code == 303
    stored = client.get(f"/api/visits/{eschweiler(demo)}/plan").json()
    answer = submit(client, page, page, {"people": people})
    assert answer.status_code == 422
    assert says in error_of(answer)
    assert client.get(f"/api/visits/{eschweiler(demo)}/plan").json() == stored
