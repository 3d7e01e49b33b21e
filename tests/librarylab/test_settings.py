"""Settings: explicit values, safe defaults, a secret key that survives restarts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from librarylab.settings import Settings, SettingsError, load_settings


def test_default_database_is_a_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'librarylab.sqlite3'}"
    assert settings.default_language == "de"


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).with_secret_key()
    second = Settings(data_dir=tmp_path).with_secret_key()
    key = first.secret_key.get_secret_value()
    assert len(key) >= 32
    assert second.secret_key.get_secret_value() == key
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert key not in repr(first)


def test_a_given_secret_key_must_be_long_enough(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        Settings(data_dir=tmp_path, secret_key=SecretStr("abc")).with_secret_key()
    assert not (tmp_path / "secret_key").exists()


def test_printer_networks_are_cidrs_and_a_bad_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIBRARYLAB_PRINTER_NETWORKS", "192.168.1.0/24, fd00::/8,")
    assert [str(n) for n in load_settings().printer_network_list] == [
        "192.168.1.0/24",
        "fd00::/8",
    ]
    monkeypatch.setenv("LIBRARYLAB_PRINTER_NETWORKS", "192.168.1.0/24,printers")
    with pytest.raises(SettingsError, match=r"LIBRARYLAB_PRINTER_NETWORKS: .*'printers'"):
        load_settings()
    monkeypatch.delenv("LIBRARYLAB_PRINTER_NETWORKS")
    assert load_settings().printer_network_list == ()
