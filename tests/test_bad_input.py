"""Whatever arrives, the API answers 2xx or 4xx, never 5xx, and a refusal is a problem that
changes nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stations import service as station_service
from tests.conftest import Lab
from visits import service as visit_service

# Values of every JSON type, with awkward ones: huge numbers, control characters, long text.
awkward = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=600),
    st.sampled_from(["", "\x00", "25:00", "2018-02-30", "vr", "out_of_service", "10:00"]),
    st.lists(st.dictionaries(st.sampled_from(["kind", "url", "published"]), st.text()), max_size=3),
)
STATION_FIELDS = list(station_service.EDITABLE)
VISIT_FIELDS = list(visit_service.EDITABLE)


VALID_STATION = {"name": "Station", "kind": "vr", "capacity": 2}
VALID_VISIT = {"date": "2018-02-15", "library": "Stadtbücherei Bochum", "participants": 9}


def _bodies(fields: list[str], valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Random bodies, and valid ones with a few awkward fields (to reach the database)."""
    changes = st.dictionaries(st.sampled_from([*fields, "id", "extra"]), awkward, max_size=4)
    return st.one_of(changes, changes.map(lambda c: valid | c))


def _snapshot(lab: Lab) -> tuple[Any, Any]:
    headers = lab.headers()
    return (
        lab.client.get("/api/stations", headers=headers).json(),
        lab.client.get("/api/visits", headers=headers).json(),
    )


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    station=_bodies(STATION_FIELDS, VALID_STATION),
    visit=_bodies(VISIT_FIELDS, VALID_VISIT),
    target=st.one_of(st.sampled_from([1, 2]), st.integers()),
)
def test_random_writes_never_fail_the_server(
    lab: Lab, station: dict[str, Any], visit: dict[str, Any], target: int
) -> None:
    headers = lab.headers()
    for method, path, body in [
        ("POST", "/api/stations", station),
        ("PATCH", f"/api/stations/{target}", station),
        ("POST", "/api/visits", visit),
        ("PATCH", f"/api/visits/{target}", visit),
    ]:
        before = _snapshot(lab)
        response = lab.client.request(method, path, json=body, headers=headers)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
            refusal = response.json()
            assert refusal["status"] == response.status_code
            assert refusal["detail"]
            assert _snapshot(lab) == before
