"""Login throttling: the pure rule as a table, and password guessing against the app on
SQLite and PostgreSQL with a clock the test moves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from httpx2 import Response
from sqlalchemy import select

from librarylab.accounts.orm import LoginThrottle
from librarylab.accounts.throttle import (
    ACCOUNT,
    ADDRESS,
    Count,
    Policy,
    Throttle,
    after_failure,
    retry_after,
)
from librarylab.deps import PASSWORD_PAGE
from tests.conftest import STAFF_PASSWORD, Lab
from tests.pages import error_of, login, submit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
FIVE = Policy(free_failures=5)


@pytest.mark.parametrize(
    ("failures", "last", "now", "expected"),
    [
        (0, None, T0, Count(1, None)),
        (3, T0, T0 + S, Count(4, None)),
        (4, T0, T0 + S, Count(5, T0 + 3 * S)),  # the 5th failure locks for 2 s
        (5, T0, T0 + 10 * S, Count(6, T0 + 14 * S)),  # then 4 s, 8 s, ...
        (8, T0, T0 + S, Count(9, T0 + 33 * S)),
        (13, T0, T0, Count(14, T0 + timedelta(minutes=15))),  # 1024 s, capped at 15 min
        (10_000, T0, T0, Count(10_001, T0 + timedelta(minutes=15))),
        (9, T0, T0 + timedelta(hours=12, seconds=1), Count(1, None)),  # a quiet day forgets
        (9, T0, T0 + timedelta(hours=12), Count(10, T0 + timedelta(hours=12, seconds=64))),
    ],
)
def test_failures_lock_for_a_doubling_time_up_to_a_cap(
    failures: int, last: datetime | None, now: datetime, expected: Count
) -> None:
    assert after_failure(FIVE, failures, last, now) == expected


@pytest.mark.parametrize(
    ("blocked_until", "now", "expected"),
    [
        (None, T0, None),
        (T0, T0, None),
        (T0 - S, T0, None),
        (T0 + timedelta(milliseconds=10), T0, 1),
        (T0 + 2.5 * S, T0, 3),
        (T0 + timedelta(minutes=15), T0, 900),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(
    blocked_until: datetime | None, now: datetime, expected: int | None
) -> None:
    assert retry_after(blocked_until, now) == expected


def test_an_address_may_fail_more_often_than_an_account() -> None:
    assert ACCOUNT.free_failures == 5
    assert ADDRESS.free_failures == 20
    assert after_failure(ADDRESS, 18, T0, T0).blocked_until is None
    assert after_failure(ADDRESS, 19, T0, T0).blocked_until == T0 + 2 * S


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(lab: Lab) -> Clock:
    clock = Clock()
    lab.client.app.state.login_throttle = Throttle(lab.sessions, clock=clock)  # type: ignore[attr-defined]
    return clock


def _rows(lab: Lab) -> dict[str, int]:
    with lab.sessions() as session:
        return {row.subject: row.failures for row in session.scalars(select(LoginThrottle))}


def test_the_sixth_wrong_guess_is_refused_and_the_right_password_waits_for_the_lock(
    lab: Lab, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="librarylab.audit")
    for _ in range(5):
        assert login(lab.client, "sam", "wrong-guess-1").status_code == 401
    sixth = login(lab.client, "sam", "wrong-guess-1")
    assert sixth.status_code == 429
    assert sixth.headers["Retry-After"] == "2"
    assert "Zu viele fehlgeschlagene Anmeldungen" in error_of(sixth)
    assert "2 s" in error_of(sixth)

    right = login(lab.client, "sam", STAFF_PASSWORD)
    assert right.status_code == 429  # not even checked while the account is locked
    assert lab.client.get("/api/stations").status_code == 401
    assert _rows(lab)["account:sam"] == 5  # refused attempts are not counted

    clock.advance(2)
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303
    assert lab.client.get("/api/stations").status_code == 200
    assert "account:sam" not in _rows(lab)  # a success clears the account's count

    lines = [r.getMessage() for r in caplog.records if r.name == "librarylab.audit"]
    assert lines.count("login failed: account 'sam' from testclient") == 5
    assert "login locked: 'account:sam' until" in lines[5]
    assert any(line.startswith("login refused while locked: account 'sam'") for line in lines)
    assert lines[-1] == "login succeeded: account 'sam' from testclient"
    assert not any("wrong-guess" in line or STAFF_PASSWORD in line for line in lines)


def test_the_lock_grows_with_every_further_failure(lab: Lab, clock: Clock) -> None:
    waits = []
    for _ in range(5):
        login(lab.client, "sam", "wrong-guess-1")
    for _ in range(7):
        refused = login(lab.client, "sam", "wrong-guess-1")
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1])
        assert login(lab.client, "sam", "wrong-guess-1").status_code == 401
    assert waits == [2, 4, 8, 16, 32, 64, 128]
    refused = login(lab.client, "sam", STAFF_PASSWORD)
    assert refused.headers["Retry-After"] == "256"
    assert "5 Min." in error_of(refused)  # long waits in minutes, rounded up


def test_unknown_names_are_locked_like_real_ones(lab: Lab, clock: Clock) -> None:
    for name in ("sam", "nobody"):
        answers = [login(lab.client, name, "wrong-guess-1").status_code for _ in range(6)]
        assert answers == [401] * 5 + [429], name


def test_one_address_is_locked_after_twenty_failures_across_names(lab: Lab, clock: Clock) -> None:
    for i in range(20):
        assert login(lab.client, f"name-{i}", "wrong-guess-1").status_code == 401
    assert _rows(lab)["address:testclient"] == 20
    refused = login(lab.client, "sam", STAFF_PASSWORD)  # a fresh name, the right password
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    clock.advance(2)
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303


def test_successful_logins_do_not_count_against_the_address(lab: Lab, clock: Clock) -> None:
    for _ in range(30):
        assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303
    assert _rows(lab).get("address:testclient", 0) == 0


def test_the_current_password_on_the_password_page_is_throttled_too(lab: Lab, clock: Clock) -> None:
    """A session left open on a shared computer must not become a password oracle."""
    assert login(lab.client, "sam", STAFF_PASSWORD).status_code == 303

    def change(current: str) -> Response:
        fields = {"current_password": current, "new_password": "new-password-12"}
        return submit(
            lab.client,
            PASSWORD_PAGE,
            PASSWORD_PAGE,
            fields | {"repeat_password": "new-password-12"},
        )

    assert [change("wrong-guess-1").status_code for _ in range(5)] == [422] * 5
    refused = change(STAFF_PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    clock.advance(2)
    assert change(STAFF_PASSWORD).status_code == 303


def test_counts_are_forgotten_after_a_quiet_half_day(lab: Lab, clock: Clock) -> None:
    for _ in range(4):
        login(lab.client, "sam", "wrong-guess-1")
    clock.advance(12 * 3600 + 1)
    login(lab.client, "nobody", "wrong-guess-1")  # any attempt sweeps the quiet counts
    assert _rows(lab) == {"account:nobody": 1, "address:testclient": 1}


def test_counts_are_shared_by_instances_on_one_database(lab: Lab, clock: Clock) -> None:
    """A second instance (its own Throttle on the same database) sees the first one's lock."""
    for _ in range(5):
        login(lab.client, "sam", "wrong-guess-1")
    other = Throttle(lab.sessions, clock=clock)
    attempt = other.admit("sam", "192.0.2.7")
    assert attempt.refused
    assert attempt.retry_after == 2


def test_parallel_guesses_cannot_pass_the_count_together(lab: Lab, clock: Clock) -> None:
    """Attempts are counted before the password check, in a locked row: of many parallel
    attempts on one account, exactly the free ones are admitted."""
    from concurrent.futures import ThreadPoolExecutor

    throttle = Throttle(lab.sessions, clock=clock)
    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda i: throttle.admit("sam", f"192.0.2.{i}"), range(24)))
    assert sum(not a.refused for a in attempts) == 5
    assert _rows(lab)["account:sam"] == 5
