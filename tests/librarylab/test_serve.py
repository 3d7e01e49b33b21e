"""``librarylab serve`` as a newcomer starts it: first admin, migrations, quiet logs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.librarylab.test_cli import LIBRARYLAB, _env, run
from tests.librarylab.test_mqtt import wait_until
from tests.services import free_port, wait_for_port


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [LIBRARYLAB, "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_for_port(port, timeout=30)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    """A data folder with nothing in it: no database, no secret key."""
    env = _env(tmp_path, "")
    del env["LIBRARYLAB_DATABASE_URL"]
    env["LIBRARYLAB_MQTT_EMBEDDED_PORT"] = str(free_port())
    return env


def test_first_start_creates_an_admin_once_and_logs_no_secrets(
    tmp_path: Path, fresh_env: dict[str, str]
) -> None:
    log = tmp_path / "serve.log"
    with serving(fresh_env, log) as base:
        # Every part up, the embedded broker too, once the bus has connected.
        wait_until(lambda: httpx2.get(f"{base}/api/health").json()["status"] == "ok")
        match = re.search(r"one-time password\s+(\S+)", log.read_text())
        assert match, log.read_text()
        password = match.group(1)
        token = run(["token", "create", "admin", "--calendar"], fresh_env).stdout.splitlines()[-1]
        feed = httpx2.get(f"{base}/api/visits.ics", params={"token": token})
        assert feed.status_code == 403  # not before the one-time password is replaced

        with httpx2.Client(base_url=base, follow_redirects=True) as browser:
            page = browser.get("/login")
            csrf = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
            assert csrf
            answer = browser.post(
                "/login",
                data={"name": "admin", "password": password, "csrftoken": csrf.group(1)},
            )
            assert answer.url.path == "/account/password"  # must choose a new password

    first_log = log.read_text()
    assert (tmp_path / "data" / "librarylab.sqlite3").exists()
    assert (tmp_path / "data" / "secret_key").exists()
    assert token not in first_log
    assert "/api/visits.ics?token=***" in first_log
    assert first_log.count(password) == 1  # printed once, on the console only

    with serving(fresh_env, log):
        pass
    assert "one-time password" not in log.read_text()
