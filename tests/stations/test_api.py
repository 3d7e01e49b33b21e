"""The stations JSON contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Lab

CONTRACT_FIELDS = {
    "id",
    "name",
    "kind",
    "capacity",
    "max_group",
    "needs_staff",
    "status",
    "status_reason",
}
VIVE = {"name": "VR-Brille HTC Vive", "kind": "vr", "capacity": 2, "needs_staff": True}


def _create(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    response = lab.client.post("/api/stations", json=body, headers=lab.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _all(lab: Lab) -> list[dict[str, Any]]:
    response = lab.client.get("/api/stations", headers=lab.headers())
    assert response.status_code == 200
    stations: list[dict[str, Any]] = response.json()
    return stations


def test_created_station_is_listed_with_contract_fields(lab: Lab) -> None:
    created = _create(lab, VIVE)
    assert created.keys() >= CONTRACT_FIELDS
    assert created | VIVE == created
    assert created["status"] == "available"
    assert created["status_reason"] == ""
    assert created["max_group"] is None  # only as many as the capacity
    assert _all(lab) == [created]
    one = lab.client.get(f"/api/stations/{created['id']}", headers=lab.headers())
    assert one.json() == created


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({**VIVE, "kind": "laser"}, 422, "'vr', 'gaming' or 'printing'"),
        ({**VIVE, "capacity": 0}, 422, "greater than or equal to 1"),
        ({**VIVE, "capacity": "many"}, 422, "valid integer"),
        ({**VIVE, "max_group": 1}, 422, "max_group (people at the station together"),
        ({**VIVE, "max_group": 0}, 422, "greater than or equal to 1"),
        ({**VIVE, "max_group": 101}, 422, "less than or equal to 100"),
        ({**VIVE, "name": ""}, 422, "at least 1 character"),
        ({**VIVE, "name": "   "}, 422, "needs a name"),
        ({**VIVE, "status": "out_of_service"}, 422, "why the station is out of service"),
        ({**VIVE, "colour": "red"}, 422, "Extra inputs are not permitted"),
        ({**VIVE, "name": "VR\x00 1"}, 422, "control characters"),
        ({"kind": "vr", "capacity": 2}, 422, "Field required"),
        ({**VIVE, "name": "vr-brille htc vive"}, 409, "already exists"),
    ],
)
def test_bad_station_is_refused_with_a_reason_and_nothing_changes(
    lab: Lab, body: dict[str, Any], status: int, says: str
) -> None:
    stored = _create(lab, VIVE)
    response = lab.client.post("/api/stations", json=body, headers=lab.headers())
    assert response.status_code == status
    assert says in response.text
    assert _all(lab) == [stored]


def test_taking_a_station_out_of_service_and_back(lab: Lab) -> None:
    station = _create(lab, VIVE)
    url = f"/api/stations/{station['id']}"
    broken = lab.client.patch(
        url,
        json={"status": "out_of_service", "status_reason": "Kabel defekt"},
        headers=lab.headers(),
    ).json()
    assert (broken["status"], broken["status_reason"]) == ("out_of_service", "Kabel defekt")
    assert broken["status_since"] >= station["status_since"]
    assert broken["name"] == station["name"]

    repaired = lab.client.patch(url, json={"status": "available"}, headers=lab.headers()).json()
    assert (repaired["status"], repaired["status_reason"]) == ("available", "")


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"capacity": -3}, 422, "greater than or equal to 1"),
        ({"max_group": 1}, 422, "must be between the capacity (2) and 100"),
        ({"name": None}, 422, "cannot be null: name"),
        ({"name": "Nintendo Switch"}, 409, "already exists"),
        ({"status": "out_of_service"}, 422, "why the station is out of service"),
        ({"id": 99}, 422, "Extra inputs are not permitted"),
    ],
)
def test_rejected_change_leaves_the_station_as_it_was(
    lab: Lab, change: dict[str, Any], status: int, says: str
) -> None:
    _create(lab, {"name": "Nintendo Switch", "kind": "gaming", "capacity": 4})
    station = _create(lab, VIVE)
    response = lab.client.patch(
        f"/api/stations/{station['id']}", json=change, headers=lab.headers()
    )
    assert response.status_code == status
    assert says in response.text
    again = lab.client.get(f"/api/stations/{station['id']}", headers=lab.headers()).json()
    assert again == station


def test_only_admins_delete_stations(lab: Lab) -> None:
    station = _create(lab, VIVE)
    url = f"/api/stations/{station['id']}"
    refused = lab.client.delete(url, headers=lab.headers("staff"))
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    assert lab.client.delete(url, headers=lab.headers("admin")).status_code == 204
    missing = lab.client.get(url, headers=lab.headers())
    assert missing.status_code == 404
    assert "GET /api/stations" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/stations"),
        ("POST", "/api/stations"),
        ("GET", "/api/stations/1"),
        ("PATCH", "/api/stations/1"),
        ("DELETE", "/api/stations/1"),
    ],
)
def test_stations_need_a_login_or_token(lab: Lab, method: str, path: str) -> None:
    response = lab.client.request(method, path, json=VIVE)
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_max_group_lets_people_take_turns_and_can_be_cleared(lab: Lab) -> None:
    station = _create(lab, {**VIVE, "max_group": 3})
    assert (station["capacity"], station["max_group"]) == (2, 3)
    url = f"/api/stations/{station['id']}"
    larger = lab.client.patch(url, json={"capacity": 4}, headers=lab.headers())
    assert larger.status_code == 422
    assert "max_group" in larger.json()["detail"]
    assert lab.client.get(url, headers=lab.headers()).json() == station
    both = lab.client.patch(url, json={"capacity": 3, "max_group": 5}, headers=lab.headers())
    assert (both.json()["capacity"], both.json()["max_group"]) == (3, 5)
    cleared = lab.client.patch(url, json={"max_group": None}, headers=lab.headers())
    assert cleared.status_code == 200
    assert cleared.json()["max_group"] is None
