"""Staff pages as a person sees them: German by default, English on request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from librarylab import database
from librarylab.demo import load_demo
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD, Lab
from tests.pages import error_of, login, submit, text_of


def test_pages_ask_for_a_login_first(sqlite_lab: Lab) -> None:
    page = sqlite_lab.client.get("/visits?round=x")
    assert page.url.path == "/login"
    assert "Anmelden" in text_of(page)


def test_visit_list_shows_the_program_in_german(staff: TestClient) -> None:
    page = text_of(staff.get("/visits"))
    for expected in (
        "Besuche",
        "Coworking-Runde 1",
        "Coworking-Runde 2",
        "Mittwoch, 31. Januar 2018",
        "Stadtbibliothek Euskirchen",
        "bestätigt",
        "Mittwoch, 23. Mai 2018",
        "noch frei",
        "freier Termin",
        "Mediothek Krefeld",
        "Blog: ausstehend",
    ):
        assert expected in page, expected


def test_a_round_filter_shows_only_its_visits(staff: TestClient) -> None:
    page = text_of(staff.get("/visits?round=Coworking-Runde 2"))
    assert "Stadtbücherei Eschweiler" in page
    assert "Stadtbibliothek Euskirchen" not in page


def test_english_is_one_click_away_and_remembered(staff: TestClient) -> None:
    english = text_of(staff.get("/visits?lang=en"))
    assert "Visits" in english
    assert "Wednesday, January 31, 2018" in english
    assert "Stations" in text_of(staff.get("/stations"))
    assert "Stationen" in text_of(staff.get("/stations?lang=de"))


def test_calendar_shows_a_month_with_its_visits(staff: TestClient) -> None:
    page = text_of(staff.get("/visits/calendar?month=2018-01&round=Coworking-Runde 1"))
    assert "Januar 2018" in page
    assert "Stadtbibliothek Euskirchen" in page
    assert "Stadtbücherei Bochum" not in page  # that one is in February
    february = staff.get("/visits/calendar?month=2018-02")
    assert "Stadtbücherei Bochum" in text_of(february)
    assert 'href="/visits/new?on=2018-02-14"' in february.text
    form = staff.get("/visits/new?on=2018-02-14")
    assert 'name="date" type="date" value="2018-02-14"' in form.text


def test_station_list_shows_state_and_reason(staff: TestClient) -> None:
    page = text_of(staff.get("/stations"))
    assert "VR-Brille HTC Vive" in page
    assert "außer Betrieb Düse verstopft" in page
    assert "3D-Druck" in page


def test_station_form_shows_what_to_fix_and_stores_nothing(staff: TestClient) -> None:
    before = text_of(staff.get("/stations"))
    fields = {"name": "Wii U", "kind": "gaming", "capacity": "0"}
    refused = submit(staff, "/stations/new", "/stations/new", fields)
    assert refused.status_code == 422
    assert error_of(refused) == "Die Plätze müssen zwischen 1 und 100 Personen liegen."
    assert 'value="Wii U"' in refused.text  # the person's input is kept
    duplicate = submit(
        staff, "/stations/new", "/stations/new", {**fields, "capacity": "3", "name": "xbox one"}
    )
    assert "Eine Station namens „xbox one“ gibt es schon" in error_of(duplicate)
    assert text_of(staff.get("/stations")) == before

    created = submit(staff, "/stations/new", "/stations/new", {**fields, "capacity": "3"})
    assert created.status_code == 303
    assert "Wii U" in text_of(staff.get("/stations"))


def test_station_form_takes_a_max_group_at_least_the_capacity(staff: TestClient) -> None:
    form = staff.get("/stations/new")
    assert 'name="max_group"' in form.text
    assert "Max. Gruppe (im Wechsel)" in text_of(form)
    assert "die anderen schauen auf dem gespiegelten Bildschirm zu" in text_of(form)
    fields = {"name": "Valve Index", "kind": "vr", "capacity": "2", "max_group": "1"}
    refused = submit(staff, "/stations/new", "/stations/new", fields)
    assert refused.status_code == 422
    assert error_of(refused).startswith("max_group (Personen gemeinsam an der Station")
    assert "Valve Index" not in text_of(staff.get("/stations"))
    created = submit(staff, "/stations/new", "/stations/new", {**fields, "max_group": "3"})
    assert created.status_code == 303
    index = next(s for s in staff.get("/api/stations").json() if s["name"] == "Valve Index")
    assert index["max_group"] == 3
    assert "bis 3 im Wechsel" in text_of(staff.get("/stations"))
    assert (
        'name="max_group" type="number" min="1" max="100" value="3"'
        in staff.get(f"/stations/{index['id']}").text
    )


def test_taking_a_station_out_of_service_from_its_page(staff: TestClient) -> None:
    fields = {
        "name": "Xbox One",
        "kind": "gaming",
        "capacity": "4",
        "out_of_service": "on",
        "status_reason": "",
    }
    xbox = next(s for s in staff.get("/api/stations").json() if s["name"] == "Xbox One")
    page = f"/stations/{xbox['id']}"
    refused = submit(staff, page, page, fields)
    assert "Bitte angeben, warum die Station außer Betrieb ist" in error_of(refused)
    done = submit(staff, page, page, {**fields, "status_reason": "Controller leer"})
    assert done.status_code == 303
    assert "außer Betrieb Controller leer" in text_of(staff.get("/stations"))


def test_visit_form_explains_bad_times_and_email_in_german(staff: TestClient) -> None:
    fields = {
        "library": "Stadtbibliothek Neuss",
        "town": "Neuss",
        "participants": "9",
        "status": "requested",
        "date": "2018-07-04",
        "start": "10:00",
        "end": "14:00",
        "hands_on_start": "09:00",
        "hands_on_end": "12:30",
        "contact_email": "",
    }
    outside = submit(staff, "/visits/new", "/visits/new", fields)
    assert outside.status_code == 422
    assert error_of(outside) == (
        "Der Praxisblock (09:00–12:30) muss innerhalb des Besuchs (10:00–14:00) liegen."
    )
    bad_mail = submit(
        staff,
        "/visits/new",
        "/visits/new",
        {**fields, "hands_on_start": "11:00", "contact_email": "neuss@"},
    )
    assert "keine gültige E-Mail-Adresse" in error_of(bad_mail)
    bad_date = submit(staff, "/visits/new", "/visits/new", {**fields, "date": "4.7.2018"})
    assert "ist kein Datum" in error_of(bad_date)
    assert "Stadtbibliothek Neuss" not in text_of(staff.get("/visits"))

    saved = submit(
        staff,
        "/visits/new",
        "/visits/new",
        {**fields, "hands_on_start": "11:00", "post_blog_promised": "on"},
    )
    assert saved.status_code == 303
    listing = text_of(staff.get("/visits"))
    assert "Stadtbibliothek Neuss" in listing
    assert "Mittwoch, 4. Juli 2018" in listing


# The demo's Krefeld visit as its edit form sends it (fields every edit must carry).
KREFELD_FORM = {
    "library": "Mediothek Krefeld",
    "participants": "9",
    "status": "done",
    "date": "2017-12-07",
    "start": "10:00",
    "end": "14:00",
    "hands_on_start": "11:00",
    "hands_on_end": "12:30",
}


def test_editing_a_visit_keeps_what_the_form_does_not_show(staff: TestClient) -> None:
    krefeld = staff.get("/api/visits").json()[2]
    assert krefeld["library"] == "Mediothek Krefeld"
    page = staff.get(f"/visits/{krefeld['id']}")
    assert 'value="Mediothek Krefeld"' in page.text
    fields = {
        **KREFELD_FORM,
        "town": "Krefeld",
        "topic": krefeld["topic"],
        "round": "Coworking-Runde 1",
        "post_facebook_promised": "on",
        "post_facebook_published": "on",
        "post_blog_promised": "on",
        "post_blog_published": "on",
        "post_blog_url": "https://blog.example/krefeld-im-librarylab",
    }
    assert submit(staff, page.url.path, page.url.path, fields).status_code == 303
    after = staff.get(f"/api/visits/{krefeld['id']}").json()
    assert after["post_outstanding"] is False
    assert after["topic"] == krefeld["topic"]
    assert {p["kind"] for p in after["posts"]} == {"blog", "facebook"}


def test_only_admins_see_and_use_the_delete_buttons(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    with database.transaction(sqlite_lab.sessions) as session:
        load_demo(session)
    login(client, "sam", STAFF_PASSWORD)
    assert "Löschen" not in text_of(client.get("/stations"))
    refused = submit(client, "/stations", "/stations/1/delete", {})
    assert refused.status_code == 403
    client.cookies.clear()
    login(client, "ada", ADMIN_PASSWORD)
    assert "Löschen" in text_of(client.get("/stations"))
    assert submit(client, "/stations", "/stations/1/delete", {}).status_code == 303
    assert "VR-Brille HTC Vive" not in text_of(client.get("/stations"))


def test_the_visit_form_takes_staff_on_duty_and_their_names(staff: TestClient) -> None:
    krefeld = staff.get("/api/visits").json()[2]
    path = f"/visits/{krefeld['id']}"
    fields = {
        **KREFELD_FORM,
        "staff_on_duty": "2",
        "staff_names": "Anna, Ben ,",
    }
    assert submit(staff, path, path, fields).status_code == 303
    after = staff.get(f"/api/visits/{krefeld['id']}").json()
    assert after["staff_on_duty"] == 2
    assert after["staff_names"] == ["Anna", "Ben"]
    page = staff.get(path)
    assert 'name="staff_on_duty" type="number" min="0" max="50" value="2"' in page.text
    assert 'value="Anna, Ben"' in page.text

    negative = submit(staff, path, path, {**fields, "staff_on_duty": "-1"})
    assert negative.status_code == 422
    assert "Betreuung im Dienst: eine ganze Zahl von 0 bis 50" in error_of(negative)
    assert submit(staff, path, path, {**fields, "staff_on_duty": ""}).status_code == 303
    assert staff.get(f"/api/visits/{krefeld['id']}").json()["staff_on_duty"] is None
