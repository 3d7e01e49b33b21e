"""The data folder and what the service keeps in it are for the service's own user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from librarylab.app import create_app
from librarylab.settings import Settings
from tests.librarylab.test_cli import run
from tests.services import free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_and_a_start_create_the_data_folder_and_its_files_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    env["LIBRARYLAB_DATA_DIR"] = str(data)  # the database in its default place, in there
    old = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless we say otherwise
    try:
        assert run(["demo"], env).returncode == 0
        port = free_port()
        app = create_app(Settings(data_dir=data, mqtt_embedded_port=port))
        with TestClient(app):
            pass
    finally:
        os.umask(old)
    assert mode(data) == 0o700
    kept = {p.name: mode(p) for p in data.iterdir() if p.is_file()}
    assert {"librarylab.sqlite3", "mqtt-retained.sqlite3", "secret_key"} <= kept.keys()
    assert {name: m for name, m in kept.items() if m != 0o600} == {}


def test_an_older_data_folder_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "librarylab.sqlite3"
    key = data / "secret_key"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBRARYLAB_")}
    env["LIBRARYLAB_DATA_DIR"] = str(data)
    assert run(["db", "upgrade"], env).returncode == 0
    key.write_text("k" * 48 + "\n")
    for path in (data, database, key):
        path.chmod(0o755 if path.is_dir() else 0o644)
    create_app(Settings(data_dir=data, mqtt_enabled=False))
    assert (mode(data), mode(database), mode(key)) == (0o700, 0o600, 0o600)
