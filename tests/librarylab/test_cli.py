"""The ``librarylab`` command as scripts and staff use it (a real process each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings

LIBRARYLAB = str(Path(sys.executable).parent / "librarylab")


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIBRARYLAB, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    return clean | {"LIBRARYLAB_DATA_DIR": str(tmp_path / "data"), "LIBRARYLAB_DATABASE_URL": url}


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The command's environment, on SQLite and on PostgreSQL."""
    return _env(tmp_path, database_url)


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    return _env(tmp_path, sqlite_url)


def test_user_and_token_commands_give_a_working_token(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    added = run(["user", "add", "greta", "--role", "admin"], env, stdin="a-good-password\n")
    assert added.returncode == 0, added.stderr
    created = run(["token", "create", "greta", "--label", "backup script"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ll_")

    from librarylab.app import create_app

    with TestClient(create_app(make_settings(tmp_path, database_url))) as client:
        response = client.delete("/api/stations/1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404  # authorised as admin; there is just no station 1


def test_a_calendar_token_from_the_cli_opens_the_feed_alone(
    sqlite_env: dict[str, str], tmp_path: Path, sqlite_url: str
) -> None:
    added = run(["user", "add", "greta", "--role", "admin"], sqlite_env, "a-good-password\n")
    assert added.returncode == 0, added.stderr
    created = run(["token", "create", "greta", "--calendar", "--label", "Outlook"], sqlite_env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("cal_")
    listed = run(["token", "list", "greta"], sqlite_env).stdout.strip().split("\t")
    assert listed[1:] == ["greta", listed[2], "active", "Outlook", "calendar"]

    from librarylab.app import create_app

    with TestClient(create_app(make_settings(tmp_path, sqlite_url))) as client:
        assert client.get(f"/api/visits.ics?token={token}").status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/stations", headers=bearer).status_code == 401


def test_demo_fills_an_empty_database_once(env: dict[str, str]) -> None:
    first = run(["demo"], env)
    assert first.returncode == 0, first.stderr
    assert "9 stations, 13 visits" in first.stdout  # the program, a visit today, 3 free dates
    again = run(["demo"], env)
    assert again.returncode == 2
    assert again.stderr.startswith("error: the database already holds")
    assert "Traceback" not in again.stderr
    quiet = run(["demo", "--if-empty"], env)
    assert quiet.returncode == 0


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["token", "create", "nobody"], "", "There is no account named 'nobody'"),
        (["user", "add", "kim"], "short\n", "too short"),
        (["token", "revoke", "999"], "", "There is no token with id 999"),
    ],
)
def test_cli_errors_are_one_clear_line(
    sqlite_env: dict[str, str], args: list[str], stdin: str, says: str
) -> None:
    result = run(args, sqlite_env, stdin)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert says in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LIBRARYLAB_DATABASE_URL", "mysql://x", "LIBRARYLAB_DATABASE_URL"),
        ("LIBRARYLAB_DEFAULT_LANGUAGE", "fr", "LIBRARYLAB_DEFAULT_LANGUAGE"),
        ("LIBRARYLAB_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("LIBRARYLAB_SECRET_KEY", "short", "too short"),
        (
            "LIBRARYLAB_DATABASE_URL",
            "postgresql+psycopg://lab@127.0.0.1:1/none",
            "cannot prepare the database",
        ),
    ],
)
def test_bad_settings_stop_with_a_clear_message(
    sqlite_env: dict[str, str], variable: str, value: str, says: str
) -> None:
    command = ["serve"] if variable == "LIBRARYLAB_SECRET_KEY" else ["db", "upgrade"]
    result = run(command, sqlite_env | {variable: value})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert says in result.stderr
