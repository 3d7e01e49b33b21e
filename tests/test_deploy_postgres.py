"""The PostgreSQL set-up and the restore drill of docs/deploy.md, command by command: a role
that owns its database (no superuser), ``librarylab db upgrade`` as that role, a backup, a
restore into a second empty database of the same owner, and the comparison the drill uses."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from librarylab import database
from tests.librarylab.test_cli import _env, run
from tests.services import _postgres_bin

pytestmark = pytest.mark.postgres


def _admin(tool: str, server: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL client program as the cluster's superuser (``sudo -u postgres`` in the
    docs)."""
    url = make_url(server)
    return subprocess.run(
        [
            _postgres_bin(tool),
            "-h",
            str(url.host),
            "-p",
            str(url.port),
            "-U",
            str(url.username),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _data_only(server: str, database_name: str) -> list[str]:
    """The drill's comparison: ``pg_dump --data-only`` without its ``\\`` meta-commands (a
    per-dump random key in newer versions)."""
    dumped = _admin("pg_dump", server, "--data-only", "--no-owner", "-d", database_name)
    assert dumped.returncode == 0, dumped.stderr
    return [line for line in dumped.stdout.splitlines() if not line.startswith("\\")]


def test_a_role_owning_its_database_migrates_backs_up_and_restores(
    postgres_url: str, tmp_path: Path
) -> None:
    role = f"librarylab_{secrets.token_hex(3)}"
    live, drill = f"{role}_live", f"{role}_drill"
    assert _admin("createuser", postgres_url, role).returncode == 0
    for name in (live, drill):
        made = _admin("createdb", postgres_url, f"--owner={role}", name)
        assert made.returncode == 0, made.stderr
    base = make_url(postgres_url).set(username=role)

    env = _env(tmp_path / "live", base.set(database=live).render_as_string(hide_password=False))
    env["LIBRARYLAB_SECRET_KEY"] = secrets.token_urlsafe(48)  # kept apart from the archive
    upgraded = run(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database schema is up to date" in upgraded.stdout
    assert run(["demo"], env).returncode == 0

    archive = tmp_path / "drill.tar.gz"
    backed = run(["backup", str(archive)], env)
    assert backed.returncode == 0, backed.stderr

    drill_env = _env(
        tmp_path / "drill", base.set(database=drill).render_as_string(hide_password=False)
    )
    drill_env["LIBRARYLAB_SECRET_KEY"] = env["LIBRARYLAB_SECRET_KEY"]
    restored = run(["restore", str(archive)], drill_env)
    assert restored.returncode == 0, restored.stderr
    assert "sealed under another secret key" not in restored.stdout

    before, after = _data_only(postgres_url, live), _data_only(postgres_url, drill)
    assert sum(line.startswith("COPY public.stations") for line in before) == 1
    assert after == before

    # Everything the service made belongs to the role, so it alone can migrate it later.
    engine = database.make_engine(base.set(database=drill).render_as_string(hide_password=False))
    with engine.connect() as connection:
        owners = set(
            connection.scalars(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            )
        )
    engine.dispose()
    assert owners == {role}
