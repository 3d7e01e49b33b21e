"""The visits JSON contract and the iCalendar feed, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from icalendar import Calendar

from librarylab import database
from librarylab.accounts import service as accounts
from librarylab.accounts.orm import TokenScope
from tests.conftest import Lab

CONTRACT_FIELDS = {
    "id",
    "library",
    "town",
    "date",
    "start",
    "end",
    "hands_on_start",
    "hands_on_end",
    "participants",
    "topic",
    "contact_name",
    "contact_email",
    "status",
    "round",
    "posts",
}
BOCHUM: dict[str, Any] = {
    "library": "Stadtbücherei Bochum",
    "town": "Bochum",
    "date": "2018-02-15",
    "start": "10:00",
    "end": "14:00",
    "hands_on_start": "11:00",
    "hands_on_end": "12:30",
    "participants": 9,
    "topic": "Gaming in der Bibliothek",
    "contact_name": "Eva Muster",
    "contact_email": "eva.muster@bochum.de",
    "status": "confirmed",
    "round": "Coworking-Runde 1",
    "posts": [],
}


def _create(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    response = lab.client.post("/api/visits", json=body, headers=lab.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _all(lab: Lab, query: str = "") -> list[dict[str, Any]]:
    response = lab.client.get(f"/api/visits{query}", headers=lab.headers())
    assert response.status_code == 200, response.text
    visits: list[dict[str, Any]] = response.json()
    return visits


def test_created_visit_round_trips_in_contract_shape(lab: Lab) -> None:
    created = _create(lab, BOCHUM)
    assert created.keys() >= CONTRACT_FIELDS
    assert {k: created[k] for k in BOCHUM} == BOCHUM
    assert created["post_outstanding"] is False
    assert _all(lab) == [created]


def test_a_free_date_needs_no_library(lab: Lab) -> None:
    free = _create(lab, {"date": "2018-05-23", "status": "free", "round": "Coworking-Runde 2"})
    assert (free["library"], free["participants"], free["status"]) == ("", 0, "free")
    assert (free["start"], free["end"], free["hands_on_start"]) == ("10:00", "14:00", None)


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"end": "09:00"}, 422, "must end after it starts"),
        ({"hands_on_start": "09:00"}, 422, "must lie within the visit (10:00–14:00)"),
        ({"hands_on_end": "15:00"}, 422, "must lie within the visit"),
        ({"hands_on_end": None}, 422, "start and end of the hands-on block, or neither"),
        ({"contact_email": "eva.muster(at)bochum.de"}, 422, "not a valid e-mail address"),
        ({"library": ""}, 422, "Name the visiting library"),
        ({"participants": -2}, 422, "greater than or equal to 0"),
        ({"participants": 0}, 422, "at least one participant"),
        ({"date": "15.02.2018"}, 422, "valid date"),
        ({"start": "25:00"}, 422, "HH:MM"),
        ({"start": 0}, 422, "HH:MM"),
        ({"start": "10:00+02:00"}, 422, "HH:MM"),
        ({"status": "maybe"}, 422, "'free', 'requested', 'confirmed', 'done' or 'cancelled'"),
        ({"posts": [{"kind": "blog", "url": "blog.example", "published": True}]}, 422, "https://"),
        ({"posts": [{"kind": "tiktok"}]}, 422, "'blog', 'facebook', 'instagram' or 'other'"),
        ({"date": None}, 422, "cannot be null: date"),
        ({"weather": "sunny"}, 422, "Extra inputs are not permitted"),
    ],
)
def test_bad_change_is_refused_and_the_visit_stays(
    lab: Lab, change: dict[str, Any], status: int, says: str
) -> None:
    visit = _create(lab, BOCHUM)
    response = lab.client.patch(f"/api/visits/{visit['id']}", json=change, headers=lab.headers())
    assert response.status_code == status, response.text
    assert says in response.text
    assert _all(lab) == [visit]


def test_bad_new_visit_is_refused_and_nothing_is_stored(lab: Lab) -> None:
    response = lab.client.post(
        "/api/visits", json={**BOCHUM, "hands_on_start": "08:00"}, headers=lab.headers()
    )
    assert response.status_code == 422
    assert response.json()["field"] == "hands_on_start"
    missing_date = lab.client.post(
        "/api/visits",
        json={k: v for k, v in BOCHUM.items() if k != "date"},
        headers=lab.headers(),
    )
    assert missing_date.status_code == 422
    assert _all(lab) == []


def test_posts_follow_up_marks_outstanding_promises(lab: Lab) -> None:
    visit = _create(lab, {**BOCHUM, "status": "done"})
    promised = [
        {
            "kind": "facebook",
            "url": "https://facebook.com/stadtbuecherei/posts/1",
            "published": True,
        },
        {"kind": "blog", "url": "", "published": False},
    ]
    url = f"/api/visits/{visit['id']}"
    after = lab.client.patch(url, json={"posts": promised}, headers=lab.headers()).json()
    assert after["posts"] == promised
    assert after["post_outstanding"] is True

    published = [promised[0], {"kind": "blog", "url": "https://blog.example/ll", "published": True}]
    done = lab.client.patch(url, json={"posts": published}, headers=lab.headers()).json()
    assert done["posts"] == published
    assert done["post_outstanding"] is False


def test_visits_are_listed_by_date_and_filtered_by_round_and_dates(lab: Lab) -> None:
    later = _create(
        lab,
        {
            **BOCHUM,
            "date": "2018-06-05",
            "library": "Stadtbibliothek Solingen",
            "round": "Coworking-Runde 2",
        },
    )
    earlier = _create(lab, BOCHUM)
    assert [v["id"] for v in _all(lab)] == [earlier["id"], later["id"]]
    assert _all(lab, "?round=Coworking-Runde 2") == [later]
    assert _all(lab, "?from=2018-03-01") == [later]
    assert _all(lab, "?to=2018-03-01") == [earlier]
    rounds = lab.client.get("/api/rounds", headers=lab.headers()).json()
    assert rounds == [
        {"name": "Coworking-Runde 1", "visits": 1},
        {"name": "Coworking-Runde 2", "visits": 1},
    ]


def test_moving_a_visit_to_another_round_and_out_of_any(lab: Lab) -> None:
    visit = _create(lab, BOCHUM)
    url = f"/api/visits/{visit['id']}"
    moved = lab.client.patch(url, json={"round": "Coworking-Runde 2"}, headers=lab.headers())
    assert moved.json()["round"] == "Coworking-Runde 2"
    loose = lab.client.patch(url, json={"round": None}, headers=lab.headers())
    assert loose.json()["round"] is None


def test_only_admins_delete_visits(lab: Lab) -> None:
    visit = _create(lab, BOCHUM)
    url = f"/api/visits/{visit['id']}"
    assert lab.client.delete(url, headers=lab.headers("staff")).status_code == 403
    assert lab.client.delete(url, headers=lab.headers("admin")).status_code == 204
    assert lab.client.get(url, headers=lab.headers()).status_code == 404
    assert _all(lab) == []


def test_calendar_feed_has_one_event_per_visit_in_local_time(lab: Lab) -> None:
    _create(lab, BOCHUM)
    _create(lab, {"date": "2018-05-23", "status": "free", "round": "Coworking-Runde 2"})
    with database.transaction(lab.sessions) as session:
        sam = accounts.get_user(session, "sam")
        feed_token = accounts.create_token(session, sam, scope=TokenScope.CALENDAR).secret
    response = lab.client.get(f"/api/visits.ics?token={feed_token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == [
        "LibraryLab: Stadtbücherei Bochum",
        "LibraryLab: free date",
    ]
    start = events[0].decoded("dtstart")
    assert (start.isoformat(), str(start.tzinfo)) == ("2018-02-15T10:00:00+01:00", "Europe/Berlin")
    assert str(events[0]["status"]) == "CONFIRMED"
    assert "Gaming in der Bibliothek" in str(events[0]["description"])
    only_round_2 = lab.client.get("/api/visits.ics?round=Coworking-Runde 2", headers=lab.headers())
    assert len(Calendar.from_ical(only_round_2.content).walk("VEVENT")) == 1


def test_calendar_feed_refuses_strangers(lab: Lab) -> None:
    assert lab.client.get("/api/visits.ics").status_code == 401
    assert lab.client.get("/api/visits.ics?token=ll_guess").status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/visits"),
        ("POST", "/api/visits"),
        ("GET", "/api/visits/1"),
        ("PATCH", "/api/visits/1"),
        ("DELETE", "/api/visits/1"),
        ("GET", "/api/rounds"),
    ],
)
def test_visits_need_a_login_or_token(lab: Lab, method: str, path: str) -> None:
    assert lab.client.request(method, path, json=BOCHUM).status_code == 401
