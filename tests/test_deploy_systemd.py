"""The systemd units and settings files of ``deploy/`` as the docs install them: every
command line parses with the real CLI, systemd itself finds nothing wrong in the units, and
every settings file is a valid configuration."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from librarylab.cli import build_parser, cmd_serve, cmd_station_agent
from librarylab.settings import load_settings
from tests.librarylab.test_cli import LIBRARYLAB

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/librarylab/venv/bin/librarylab"  # where docs/deploy.md installs the command
COMMANDS = {"librarylab.service": cmd_serve, "librarylab-agent@.service": cmd_station_agent}


def exec_start(unit: Path) -> list[str]:
    """The unit's ExecStart= lines, as systemd would run them for instance 7."""
    lines = re.findall(r"^ExecStart=(.+)$", unit.read_text(), flags=re.MULTILINE)
    # %i: the instance; %d: the folder of the credentials systemd hands the service
    return [line.replace("%i", "7").replace("%d", "/run/credentials/x") for line in lines]


def test_the_units_are_the_ones_the_docs_name() -> None:
    assert sorted(unit.name for unit in UNITS) == sorted(COMMANDS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_command_line_parses_with_the_real_cli(unit: Path) -> None:
    lines = exec_start(unit)
    assert len(lines) == 1, lines
    program, *argv = shlex.split(lines[0])
    assert program == INSTALLED
    args = build_parser().parse_args(argv)
    assert args.func is COMMANDS[unit.name]
    if args.func is cmd_serve:
        assert args.host == "127.0.0.1"  # only the proxy on the same machine reaches it
    else:
        assert args.station == 7
        assert args.password_file == Path("/run/credentials/x/agent-password")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_finds_nothing_to_complain_about(unit: Path, tmp_path: Path) -> None:
    # verify checks that the program exists: point the unit at this checkout's command.
    copy = tmp_path / unit.name
    text = unit.read_text()
    assert INSTALLED in text
    copy.write_text(text.replace(INSTALLED, LIBRARYLAB))
    target = copy.with_name(unit.name.replace("@.", "@7."))  # a template verifies as an instance
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # It exits 0 on unknown keys and bad values too, and only says so: any word is a failure.
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.mark.parametrize("name", ["librarylab.env", "agent.env"])
def test_the_settings_files_are_valid_configurations(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = read_env_file(DEPLOY / name)
    assert values
    assert all(key.startswith("LIBRARYLAB_") for key in values)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    # docs/deploy.md loads the same file into a root shell with `set -a; . FILE`.
    sourced = subprocess.run(
        ["bash", "-c", f"set -a; . {shlex.quote(str(DEPLOY / name))}; env -0"],
        capture_output=True,
        text=True,
        env={},
        check=True,
    ).stdout
    in_shell = dict(line.split("=", 1) for line in sourced.split("\0") if "=" in line)
    assert {key: in_shell.get(key) for key in values} == values
    assert settings.mqtt_url.get_secret_value().startswith("mqtts://")
    if name == "librarylab.env":
        assert settings.cookie_secure
        assert settings.allowed_host_list == ["lab.example.org"]
        assert settings.public_url.startswith("https://")
        assert settings.effective_database_url.startswith("postgresql+psycopg://")
