"""The mail settings refuse what cannot work, without echoing the password."""

from __future__ import annotations

import pytest

from librarylab.settings import Settings, SettingsError, load_settings
from mail.smtp import SmtpAddress


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://lab:geheim-42@mail.example.org", "use smtp://"),
        ("smtp://lab:geheim-42@:587", "use smtp://"),
        ("smtp://lab:geheim-42@mail.example.org:port", "port must be a number"),
    ],
)
def test_an_unusable_smtp_url_stops_the_service_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.setenv("LIBRARYLAB_SMTP_URL", url)
    monkeypatch.setenv("LIBRARYLAB_MAIL_FROM", "lab@example.org")
    with pytest.raises(SettingsError, match=why) as refused:
        load_settings()
    assert "geheim-42" not in str(refused.value)


def test_smtp_needs_a_from_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBRARYLAB_SMTP_URL", "smtp://mail.example.org")
    with pytest.raises(SettingsError, match="LIBRARYLAB_MAIL_FROM"):
        load_settings()


def test_mail_is_off_without_an_smtp_url() -> None:
    assert not Settings().mail_enabled


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("smtp://mail.example.org", SmtpAddress("mail.example.org", 587, implicit_tls=False)),
        ("smtps://mail.example.org", SmtpAddress("mail.example.org", 465, implicit_tls=True)),
        ("smtp://relay:2525", SmtpAddress("relay", 2525, implicit_tls=False)),
    ],
)
def test_ports_default_by_scheme(url: str, address: SmtpAddress) -> None:
    assert SmtpAddress.parse(url) == address


def test_credentials_are_read_from_the_url_and_kept_secret() -> None:
    address = SmtpAddress.parse("smtps://lab%40example.org:p%3Ass@mail.example.org")
    assert address.username == "lab@example.org"
    assert address.password is not None
    assert address.password.get_secret_value() == "p:ss"
    assert "p:ss" not in repr(address)
