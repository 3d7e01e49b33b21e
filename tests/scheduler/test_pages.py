"""The plan page as staff use it: plan in one click, print, pin, re-plan when a station breaks."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from tests.pages import error_of, submit, text_of


def eschweiler(client: TestClient) -> int:
    visits = client.get("/api/visits").json()
    return int(next(v["id"] for v in visits if v["library"] == "Stadtbücherei Eschweiler"))


def stored_plan(client: TestClient, visit: int) -> dict[str, Any]:
    plan: dict[str, Any] = client.get(f"/api/visits/{visit}/plan").json()
    return plan


def test_plan_print_and_replan_through_the_pages(staff: TestClient) -> None:
    visit = eschweiler(staff)
    page = f"/visits/{visit}/plan"
    assert "Planen" in text_of(staff.get("/visits"))
    assert submit(staff, page, page, {}).status_code == 303  # the one click
    shown = text_of(staff.get(page))
    assert "Rotationsplan: Stadtbücherei Eschweiler" in shown
    assert "3 Durchgänge · Untergrenze 3 · bewiesen optimal" in shown
    assert "11:00–11:20" in shown
    assert "A (3)" in shown
    # Three people share a VR headset for two: each gets 20 min × 2 ÷ 3, rounded down.
    assert "3 Personen · je ~13 min" in shown

    printed = staff.get(f"{page}/print")
    assert printed.status_code == 200
    assert "/static/print.css" in printed.text
    assert "Gruppen" in text_of(printed)
    assert "3 Personen · je ~13 min" in text_of(printed)

    plan = stored_plan(staff, visit)
    vr = {s["id"] for s in staff.get("/api/stations").json() if s["kind"] == "vr"}
    broken = next(
        a["station_id"]
        for slot in plan["slots"][1:]
        for a in slot["assignments"]
        if a["station_id"] in vr
    )
    answer = submit(
        staff,
        page,
        f"{page}/replan",
        {"at": "11:45", "change": "station_out", "target": str(broken)},
    )
    assert answer.status_code == 303
    after = stored_plan(staff, visit)
    assert after["slots"][:2] == plan["slots"][:2]
    assert all(a["station_id"] != broken for s in after["slots"][2:] for a in s["assignments"])
    assert "ausgefallen ab 11:45" in text_of(staff.get(page))


def test_an_impossible_plan_shows_why_and_what_helps(staff: TestClient) -> None:
    visit = eschweiler(staff)
    staff.patch(
        f"/api/visits/{visit}",
        json={"hands_on_end": "12:00"},
        headers={"x-csrftoken": staff.cookies["csrftoken"]},
    )
    page = f"/visits/{visit}/plan"
    refused = submit(staff, page, page, {})
    assert refused.status_code == 422
    assert error_of(refused).startswith(
        "Kein Plan: 3 Stationsarten brauchen 3 Durchgänge à 20 Min. + 5 Min. Wechselzeit "
        "= 70 Min., der Praxisblock hat 60 Min."
    )
    assert "Den Praxisblock bis 12:10 verlängern." in error_of(refused)
    partial = submit(staff, page, page, {"accept_partial": "on"})
    assert partial.status_code == 303
    assert "Nicht jede Gruppe erlebt jede Station" in text_of(staff.get(page))


def test_clicking_a_group_pins_it_and_a_station_change_marks_the_plan_stale(
    staff: TestClient,
) -> None:
    visit = eschweiler(staff)
    page = f"/visits/{visit}/plan"
    submit(staff, page, page, {})
    first = stored_plan(staff, visit)["slots"][0]["assignments"][0]
    pin = {
        "group_id": str(first["group_id"]),
        "slot_index": "0",
        "station_id": str(first["station_id"]),
    }
    assert submit(staff, page, f"{page}/pin", pin).status_code == 303
    assert stored_plan(staff, visit)["options"]["pins"] == [
        [first["group_id"], 0, first["station_id"]]
    ]
    assert "📌" in staff.get(page).text

    station = staff.get(f"/api/stations/{first['station_id']}").json()
    staff.patch(
        f"/api/stations/{station['id']}",
        json={"status": "out_of_service", "status_reason": "Kabel"},
        headers={"x-csrftoken": staff.cookies["csrftoken"]},
    )
    shown = text_of(staff.get(page))
    assert f"Dieser Plan ist veraltet. {station['name']} ist jetzt außer Betrieb." in shown


def test_named_people_with_marks_from_the_form(staff: TestClient) -> None:
    visit = eschweiler(staff)
    page = f"/visits/{visit}/plan"
    people = "\n".join([f"Person {i}" for i in range(7)] + ["Mia (ohne VR)", "Ben (ohne VR)"])
    assert submit(staff, page, page, {"people": people}).status_code == 303
    plan = stored_plan(staff, visit)
    assert any(g["avoids"] == ["vr"] and "Mia" in g["members"] for g in plan["groups"])
    unknown = submit(staff, page, page, {"people": "Kim (ohne Sauna)"})
    assert unknown.status_code == 422
    assert "„ohne Sauna“ kennt die Planung nicht" in error_of(unknown)


def test_the_plan_page_and_print_show_the_staff_load(staff: TestClient) -> None:
    visit = eschweiler(staff)
    changed = staff.patch(
        f"/api/visits/{visit}",
        json={"staff_on_duty": 2, "staff_names": ["Anna", "Ben"]},
        headers={"x-csrftoken": staff.cookies["csrftoken"]},
    )
    assert changed.status_code == 200, changed.text
    page = f"/visits/{visit}/plan"
    assert submit(staff, page, page, {}).status_code == 303
    plan = stored_plan(staff, visit)
    loads = [s["staffed_stations"] for s in plan["slots"]]
    assert max(loads) <= 2
    shown = text_of(staff.get(page))
    for load in loads:
        assert f"Betreuung: {load} von 2" in shown
    assert "Betreuung im Dienst: 2 (Anna, Ben)" in shown
    printed = text_of(staff.get(f"{page}/print"))
    assert f"Betreuung: {loads[0]} von 2" in printed
    assert "Betreuung im Dienst: 2 (Anna, Ben)" in printed

    answer = submit(
        staff, page, f"{page}/replan", {"at": "11:45", "change": "staff_leaves", "target": "1"}
    )
    assert answer.status_code == 303
    after = stored_plan(staff, visit)
    assert after["staff_on_duty"] == 1
    assert all(s["staffed_stations"] <= 1 for s in after["slots"][2:])
    assert "von 1" in text_of(staff.get(page))


def test_the_plan_page_says_when_supervision_sets_the_length(staff: TestClient) -> None:
    headers = {"x-csrftoken": staff.cookies["csrftoken"]}
    body = {
        "date": "2018-04-20",
        "library": "Stadtbücherei Bochum",
        "participants": 12,
        "hands_on_start": "10:00",
        "hands_on_end": "13:00",
        "staff_on_duty": 1,
    }
    made = staff.post("/api/visits", json=body, headers=headers)
    assert made.status_code == 201, made.text
    page = f"/visits/{made.json()['id']}/plan"
    # Four groups of three: four visits to the printers, which need staff, one at a time.
    assert submit(staff, page, page, {"max_group_size": "3"}).status_code == 303
    plan = stored_plan(staff, made.json()["id"])
    assert (len(plan["slots"]), plan["supervised_visits"], plan["optimal"]) == (4, 4, True)
    shown = text_of(staff.get(page))
    assert (
        "Die Betreuung bestimmt die Länge dieses Plans: 4 Stationsbesuche brauchen Betreuung, "
        "das Personal kann 1 Station(en) zugleich betreuen." in shown
    )
    # A group's route lists its visits only: a slot it waits out leaves no empty step.
    groups = BeautifulSoup(staff.get(page).text, "html.parser").select("table.groups tbody tr")
    routes = [" ".join(row.select("td")[2].get_text(" ").split()) for row in groups]
    assert len(routes) == 4
    assert all("· ·" not in route and not route.endswith("·") for route in routes), routes
    staff.cookies.set("lang", "en")
    assert "Supervision sets the length of this plan: 4 station visits" in text_of(staff.get(page))
