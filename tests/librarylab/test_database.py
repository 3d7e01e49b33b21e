"""Migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from librarylab import __version__, database
from librarylab.app import create_app
from librarylab.models import metadata
from tests.conftest import Lab, make_settings
from tests.services import free_port


def test_migrations_match_the_models(lab: Lab) -> None:
    with lab.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    engine = database.make_engine(database_url)
    head = database.current_revision(engine)
    assert head is not None
    database.upgrade(engine, "head")  # nothing pending: a no-op
    command.downgrade(database.alembic_config(engine), "base")
    assert database.current_revision(engine) is None
    database.upgrade(engine)
    assert database.current_revision(engine) == head
    engine.dispose()


def test_health_reports_the_database(lab: Lab) -> None:
    response = lab.client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_health_says_when_the_database_is_gone(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://lab@127.0.0.1:{free_port()}/none"
    with TestClient(create_app(make_settings(tmp_path, url))) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["version"], body["database"]) == (
        "error",
        __version__,
        "unreachable",
    )
    assert body["mqtt"] == {"enabled": False}
