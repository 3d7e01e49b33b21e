"""One validated settings object, read from ``LIBRARYLAB_*`` environment variables.

The app, the CLI and the tests build a :class:`Settings` and pass it down; nothing
else reads the environment.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from librarylab.private import private_file, private_folder

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = ("de", "en")

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_KEY_LENGTH = 32
# A host name or IPv4 address, "*.domain" for its subdomains, or "*" for any host.
_HOST = re.compile(r"\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


class SettingsError(Exception):
    """The configuration cannot be used; the message says which variable to fix."""


class Settings(BaseSettings):
    """Everything the service can be configured with."""

    model_config = SettingsConfigDict(env_prefix="LIBRARYLAB_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where local files live.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means a SQLite file in the data folder."
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs session cookies; generated into the data folder when empty.",
    )
    default_language: Language = "de"
    timezone: str = Field(default="Europe/Berlin", description="The lab's local time zone.")
    lab_name: str = "LibraryLab Düsseldorf"
    allowed_hosts: str = Field(
        default="127.0.0.1,localhost",
        description="Comma-separated host names the service answers to (the Host header); "
        "*.example.org for every subdomain, * for any host.",
    )
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    session_max_age_hours: int = Field(default=12, ge=1, le=24 * 30)
    slot_minutes: int = Field(default=20, ge=1, le=240, description="Default slot length.")
    changeover_minutes: int = Field(default=5, ge=0, le=60, description="Default changeover.")
    stations_per_staff: int = Field(
        default=1, ge=1, le=20, description="Stations needing staff one person supervises at once."
    )
    plan_time_limit_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="The exact solver's budget per plan, in seconds of one core; counted in "
        "CP-SAT's deterministic time, so the same request gives the same plan under any load. "
        "0: the first valid plan at once, without searching for fewer slots.",
    )

    mqtt_enabled: bool = Field(default=True, description="Run the live wall over MQTT.")
    mqtt_url: SecretStr = Field(
        default=SecretStr(""),
        description="mqtt://user:password@host:1883 (mqtts:// for TLS); empty starts an "
        "embedded broker on 127.0.0.1.",
    )
    mqtt_embedded_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_prefix: str = Field(default="librarylab/duesseldorf", min_length=1)
    mqtt_ca_file: Path | None = Field(default=None, description="CA bundle for mqtts://")
    heartbeat_max_age_seconds: int = Field(default=30, ge=2, le=3600)
    printer_offline_after_seconds: float = Field(default=5, gt=0, le=300)
    printer_stall_after_seconds: float = Field(default=60, gt=0, le=3600)
    printer_timeout_seconds: float = Field(default=3, gt=0, le=60)
    print_file_max_mb: float = Field(default=20, gt=0, le=1024)
    printer_networks: str = Field(
        default="",
        description="Comma-separated CIDRs printers must be in (e.g. 192.168.1.0/24); "
        "empty allows any address.",
    )

    smtp_url: SecretStr = Field(
        default=SecretStr(""),
        description="smtp://user:password@host:587 (STARTTLS) or smtps://…:465; empty keeps "
        "mail in the outbox.",
    )
    mail_from: str = Field(default="", description="The From address of the lab's mail.")
    smtp_timeout_seconds: float = Field(default=10, gt=0, le=120)
    public_url: str = Field(
        default="http://localhost:8000",
        description="The address libraries reach the service at, for the links in mail "
        "(e.g. https://lab.example.org).",
    )
    reminder_days_before: int = Field(
        default=7, ge=1, le=60, description="Days before a visit its contact gets a reminder."
    )
    personal_data_months: int = Field(
        default=12,
        ge=1,
        le=120,
        description="Months after a visit its contact's name and address are erased.",
    )
    request_min_fill_seconds: float = Field(
        default=3,
        ge=0,
        le=600,
        description="A request form sent back sooner than this counts as a robot's.",
    )

    audit_retention_days: int = Field(
        default=365,
        ge=0,
        le=36500,
        description="Days the audit trail keeps a change; 0 keeps every change forever. "
        "Older records are deleted by the periodic jobs. See docs/audit.md.",
    )
    periodic_jobs: bool = Field(
        default=True,
        description="Run the visit programme's minute jobs in this instance: expiring "
        "unconfirmed requests, reminders and follow-ups, erasing old contacts. Safe on "
        "every instance; switch off where one instance should do it alone.",
    )

    backup_dir: str = Field(
        default="",
        description="A folder where serve writes a backup archive once a day (UTC); "
        "empty: no scheduled backups. See docs/backup.md.",
    )
    backup_keep: int = Field(
        default=7, ge=1, le=3650, description="How many daily backups to keep in backup_dir."
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="The bearer token Prometheus sends to GET /metrics; empty: /metrics is 404.",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Also serve the metrics without a token on 127.0.0.1 at this port; 0: off.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, with the request id."
    )

    @field_validator("public_url")
    @classmethod
    def _plain_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("use http(s)://host[:port][/path], e.g. https://lab.example.org")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url:
            parts = urlsplit(url)
            try:
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                raise ValueError("the SMTP port must be a number from 1 to 65535") from None
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                # Never echo the URL: it may hold the password.
                raise ValueError("use smtp://[user:password@]host[:port] or smtps://…")
        return value

    @model_validator(mode="after")
    def _mail_needs_sender(self) -> Settings:
        if self.smtp_url.get_secret_value() and "@" not in self.mail_from:
            raise ValueError("LIBRARYLAB_MAIL_FROM: set the From address when SMTP is set")
        if any(c in self.mail_from for c in "\r\n"):
            raise ValueError("LIBRARYLAB_MAIL_FROM: one line, e.g. LibraryLab <lab@example.org>")
        return self

    @property
    def mail_enabled(self) -> bool:
        return bool(self.smtp_url.get_secret_value())

    @field_validator("printer_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in (p.strip() for p in value.split(",")):
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError:
                    raise ValueError(
                        f"{part!r} is not a network; use CIDRs such as 192.168.1.0/24, fd00::/8"
                    ) from None
        return value

    @property
    def printer_network_list(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of ``printer_networks``; empty: printers may be anywhere."""
        parts = (p.strip() for p in self.printer_networks.split(","))
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts if p)

    @field_validator("allowed_hosts")
    @classmethod
    def _plain_hosts(cls, value: str) -> str:
        for host in value.split(","):
            if not _HOST.fullmatch(host.strip()):
                raise ValueError(
                    f"{host.strip()!r} is not a host name: use names or IP addresses without "
                    "scheme or port, comma-separated, e.g. 127.0.0.1,localhost,lab.example.org"
                )
        return value

    @property
    def allowed_host_list(self) -> list[str]:
        return [host.strip() for host in self.allowed_hosts.split(",")]

    @field_validator("mqtt_url")
    @classmethod
    def _known_broker(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not url.startswith(("mqtt://", "mqtts://")):
            raise ValueError("use mqtt://[user:password@]host[:port] or mqtts://…")
        return value

    @field_validator("mqtt_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError(
                "a topic prefix without wildcards or outer slashes, e.g. librarylab/duesseldorf"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "use a sqlite:/// or postgresql+psycopg:// URL "
                "(e.g. postgresql+psycopg://user:password@host:5432/librarylab)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}, e.g. Europe/Berlin") from exc
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'librarylab.sqlite3').resolve()}"

    def with_secret_key(self) -> Settings:
        """Return settings whose secret key is set, generating and storing one if needed.

        The key persists in the data folder so sessions survive a restart.
        """
        key = self.secret_key.get_secret_value()
        if key:
            if len(key) < MIN_SECRET_KEY_LENGTH:
                raise SettingsError(
                    f"LIBRARYLAB_SECRET_KEY is too short: use at least "
                    f"{MIN_SECRET_KEY_LENGTH} random characters"
                )
            return self
        path = private_file(private_folder(self.data_dir) / SECRET_KEY_FILE)
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            key = secrets.token_urlsafe(48)
            path.write_text(key + "\n", encoding="utf-8")
        return self.model_copy(update={"secret_key": SecretStr(key)})


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"LIBRARYLAB_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
