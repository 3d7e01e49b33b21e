"""The ``librarylab`` command: serve, migrate, demo data, backup and restore, accounts, tokens,
MQTT accounts and personal data.

Every expected failure ends with one ``error:`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from librarylab import database, logs
from librarylab.accounts import service as accounts
from librarylab.accounts import sessions as logins
from librarylab.accounts.orm import Role, TokenScope
from librarylab.audit import audited
from librarylab.audit.trail import Actor
from librarylab.errors import DomainError
from librarylab.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from librarylab.mqtt_access import BrokerAccounts


CLI_ACTOR = "cli"  # the log's actor for actions from the command line


class CommandError(Exception):
    """A failure the user can fix; printed without a traceback."""


def _prepared(settings: Settings) -> sessionmaker[Session]:
    """Open the database and bring its schema up to date."""
    engine = database.make_engine(settings.effective_database_url)
    try:
        database.upgrade(engine)
    except Exception as exc:
        raise CommandError(
            f"cannot prepare the database: {type(exc).__name__}: {exc}. "
            "Check LIBRARYLAB_DATABASE_URL."
        ) from None
    sessions = database.make_session_factory(engine)
    audited.install(sessions, Actor(_os_user(), "cli"))
    return sessions


def _os_user() -> str:
    """Who runs the command, for the audit trail."""
    try:
        return getpass.getuser() or CLI_ACTOR
    except (OSError, KeyError):  # no name for this user id
        return CLI_ACTOR


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from librarylab.accounts.throttle import show_audit_lines
    from librarylab.app import create_app

    settings = settings.with_secret_key()
    sessions = _prepared(settings)
    with database.transaction(sessions) as session:
        password = accounts.ensure_initial_admin(session)
    if password:
        # Shown once on the console, never logged: the admin must change it at first login.
        print(
            f"\nFirst start: created the account '{accounts.INITIAL_ADMIN}' "
            f"with the one-time password\n\n    {password}\n\n"
            f"Log in at http://{args.host}:{args.port}/login and choose a new password.\n",
            flush=True,
        )
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=logs.uvicorn_log_config(settings.log_format) or LOGGING_CONFIG,
    )
    logs.install("uvicorn.access", "uvicorn.error")  # after uvicorn set up its logging
    show_audit_lines()
    uvicorn.Server(config).run()


def cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> None:
    _prepared(settings)
    print("database schema is up to date")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from librarylab.demo import is_empty, load_demo

    sessions = _prepared(settings)
    with database.transaction(sessions) as session:
        if not is_empty(session):
            if args.if_empty:
                print("the database already holds data; demo data not loaded")
                return
            raise CommandError(
                "the database already holds stations or visits; demo data goes into an empty "
                "database only (use --if-empty to skip quietly)"
            )
        now = datetime.now(ZoneInfo(settings.timezone)).replace(tzinfo=None)
        stations, visits = load_demo(session, now, settings.data_dir)
    print(f"loaded demo data: {stations} stations, {visits} visits")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> None:
    import time

    from librarylab.backup import BackupError, write_backup

    started = time.monotonic()
    try:
        manifest = write_backup(settings, args.file)
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {args.file}: {exc.strerror}") from None
    files = sum(1 for name in manifest.checksums if name.startswith("data/"))
    print(
        f"backup written to {args.file}: {manifest.database} database at schema "
        f"{manifest.schema_revision}, {files} file(s), {time.monotonic() - started:.1f} s"
    )
    print("the secret key is not in it: keep LIBRARYLAB_SECRET_KEY separately (docs/backup.md)")


def cmd_restore(args: argparse.Namespace, settings: Settings) -> None:
    import time

    from librarylab.backup import BackupError, restore_backup

    started = time.monotonic()
    if not args.file.is_file():
        raise CommandError(f"there is no file {args.file}")
    try:
        restored = restore_backup(settings, args.file, report=print)
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot restore into {settings.data_dir}: {exc.strerror}") from None
    print(
        f"restored the backup of {restored.manifest.created_at}: {restored.files} file(s), "
        f"{time.monotonic() - started:.1f} s"
    )
    if restored.upgraded_from:
        print(f"schema upgraded from {restored.upgraded_from}")
    for job in restored.jobs_marked_unknown:
        print(f"print job {job} was being printed at backup time: now unknown, check the printer")
    for printer_id, name in restored.unreadable_printer_keys:
        print(
            f"printer {printer_id} '{name}': its API key was sealed under another secret key; "
            "set LIBRARYLAB_SECRET_KEY to the old key, or enter the API key again"
        )


def _read_password(prompt: bool) -> str:
    if prompt and sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise CommandError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> None:
    password = _read_password(prompt=True)
    with database.transaction(_prepared(settings)) as session:
        user = accounts.create_user(session, args.name, password, Role(args.role))
        print(f"created {user.role.value} account '{user.name}'")


def cmd_user_password(args: argparse.Namespace, settings: Settings) -> None:
    password = _read_password(prompt=True)
    with database.transaction(_prepared(settings)) as session:
        ended = accounts.set_password(session, accounts.get_user(session, args.name), password)
    print(f"password of '{args.name}' changed")
    print(f"{ended} browser login(s) of '{args.name}' ended")


def cmd_user_deactivate(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        ended = accounts.set_active(session, args.name, active=False)
    print(f"account '{args.name}' deactivated: it cannot log in and its tokens stop working")
    print(f"{ended} browser login(s) of '{args.name}' ended")


def cmd_user_activate(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        accounts.set_active(session, args.name, active=True)
    print(f"account '{args.name}' activated")


def cmd_user_logout(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        user = accounts.get_user(session, args.name)
        ended = logins.end_logins(session, user, datetime.now(UTC))
    print(f"{ended} browser login(s) of '{args.name}' ended")


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        user = accounts.get_user(session, args.name)
        scope = TokenScope.CALENDAR if args.calendar else TokenScope.API
        token = accounts.create_token(session, user, label=args.label, scope=scope)
    kind = "calendar token" if args.calendar else "token"
    print(f"{kind} {token.id} for '{args.name}' (shown only now; store it safely):")
    print(token.secret)


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        tokens = accounts.list_tokens(session, args.name)
        for token in tokens:
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            print(
                f"{token.id}\t{token.user.name}\t{token.created_at:%Y-%m-%d}\t{state}"
                f"\t{token.label}\t{token.scope}"
            )


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        accounts.revoke_token(session, args.id)
    print(f"token {args.id} revoked")


def cmd_display_create(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        token = accounts.create_display_token(session, args.name)
    print(f"display link {token.id} '{args.name}': open /wall?token=<token> (shown only now):")
    print(token.secret)


def cmd_display_list(_args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        for token in accounts.list_display_tokens(session):
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            print(f"{token.id}\t{token.created_at:%Y-%m-%d}\t{state}\t{token.name}")


def cmd_display_revoke(args: argparse.Namespace, settings: Settings) -> None:
    with database.transaction(_prepared(settings)) as session:
        accounts.revoke_display_token(session, args.id)
    print(f"display link {args.id} revoked")


def cmd_personal_data_export(args: argparse.Namespace, settings: Settings) -> None:
    """Print everything stored about one address as JSON (logged, as on the staff page)."""
    import json

    from booking import privacy

    settings = settings.with_secret_key()  # the log's digest is keyed with it
    with database.transaction(_prepared(settings)) as session:
        data = privacy.export(
            session, args.email, actor=CLI_ACTOR, settings=settings, now=datetime.now(UTC)
        )
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cmd_personal_data_erase(args: argparse.Namespace, settings: Settings) -> None:
    from booking import privacy

    settings = settings.with_secret_key()
    with database.transaction(_prepared(settings)) as session:
        erased = privacy.erase(
            session, args.email, actor=CLI_ACTOR, settings=settings, now=datetime.now(UTC)
        )
    print(
        f"erased: {erased.visits} visit(s), {erased.requests} request(s), "
        f"{erased.mails_deleted} unsent mail(s) deleted, {erased.mails_blanked} sent mail(s) "
        "blanked"
    )


def _agent_password(args: argparse.Namespace) -> str | None:
    """The agent's password from a file or ``LIBRARYLAB_AGENT_PASSWORD``: never an
    argument, which every user of the PC could read in the process list."""
    if args.password_file is not None:
        try:
            password: str = args.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"cannot read the password file: {exc.strerror}") from None
        if not password:
            raise CommandError(f"the password file {args.password_file} is empty")
        return password
    return os.environ.get("LIBRARYLAB_AGENT_PASSWORD") or None


def cmd_station_agent(args: argparse.Namespace, settings: Settings) -> None:
    """Heartbeats of a station PC or console, with a retained ``offline`` last will."""
    import time as clock

    from dashboard.topics import Topics
    from librarylab.mqtt import BrokerAddress, Bus
    from librarylab.mqtt_access import agent_user, local_url

    url = settings.mqtt_url.get_secret_value()
    address = BrokerAddress.parse(url or local_url(settings.mqtt_embedded_port))
    password = _agent_password(args)
    if password is not None:
        account = agent_user(args.station)
        address = dataclasses.replace(address, username=account, password=password)
    elif not url:
        raise CommandError(
            f"the embedded broker lets no one in without an account: create the agent's with "
            f"'librarylab mqtt agent add {args.station}' and give its password in "
            "LIBRARYLAB_AGENT_PASSWORD or a file named by --password-file"
        )
    topic = Topics(settings.mqtt_prefix).station_heartbeat(args.station)
    bus = Bus(
        address,
        client_id=f"station-{args.station}",
        status_topic=topic,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
    )
    bus.start()
    print(f"station {args.station}: heartbeats every {args.interval} s on {topic}", flush=True)
    try:
        while True:
            if bus.connected:
                bus.publish(topic, {"state": "online"}, retain=True)
            elif bus.last_error:
                print(f"waiting for the broker: {bus.last_error}", file=sys.stderr, flush=True)
            clock.sleep(args.interval)
    finally:
        bus.stop()


def _embedded_accounts(settings: Settings) -> BrokerAccounts:
    from librarylab.mqtt_access import BrokerAccounts

    if settings.mqtt_url.get_secret_value():
        raise CommandError(
            "LIBRARYLAB_MQTT_URL is set, so the embedded broker does not run: add the account "
            "to Mosquitto with mosquitto_passwd and write its ACL with "
            "'librarylab mqtt mosquitto-acl' (see docs/mqtt.md)"
        )
    return BrokerAccounts(settings.data_dir)


def cmd_mqtt_agent_add(args: argparse.Namespace, settings: Settings) -> None:
    from librarylab.mqtt_access import agent_user

    if args.station < 1:
        raise CommandError("station ids start at 1")
    password = _embedded_accounts(settings).add_agent(args.station)
    print(
        f"MQTT account '{agent_user(args.station)}' for the agent of station {args.station} "
        "(any older password of it no longer works; shown only now, store it safely):"
    )
    print(password)


def cmd_mqtt_agent_remove(args: argparse.Namespace, settings: Settings) -> None:
    if not _embedded_accounts(settings).remove_agent(args.station):
        raise CommandError(f"station {args.station} has no agent account")
    print(f"the agent account of station {args.station} is removed")


def cmd_mqtt_agent_list(_args: argparse.Namespace, settings: Settings) -> None:
    from librarylab.mqtt_access import agent_user

    for station in _embedded_accounts(settings).agents():
        print(f"{station}\t{agent_user(station)}")


def cmd_mqtt_mosquitto_acl(args: argparse.Namespace, settings: Settings) -> None:
    from librarylab.mqtt import BrokerAddress
    from librarylab.mqtt_access import SERVICE_USER, mosquitto_acl, users_in

    service = args.service_user
    if service is None:
        url = settings.mqtt_url.get_secret_value()
        service = (BrokerAddress.parse(url).username if url else None) or SERVICE_USER
    try:
        users = users_in(args.password_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the password file {args.password_file}: {exc}") from None
    print(mosquitto_acl(settings.mqtt_prefix, service, users), end="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="librarylab",
        description="LibraryLab station manager. Configure with LIBRARYLAB_* variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web service (applies migrations first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)

    demo = commands.add_parser("demo", help="fill an empty database with demo data")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    demo.set_defaults(func=cmd_demo)

    backup = commands.add_parser(
        "backup", help="write the database and print files into one archive (while serving)"
    )
    backup.add_argument("file", type=Path, help="the archive to write, e.g. lab.tar.gz")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser(
        "restore", help="restore an archive into an empty database and data folder"
    )
    restore.add_argument("file", type=Path, help="an archive written by 'librarylab backup'")
    restore.set_defaults(func=cmd_restore)

    user = commands.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create an account (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.STAFF.value)
    add.set_defaults(func=cmd_user_add)
    password = user.add_parser("password", help="set a new password (prompt or stdin)")
    password.add_argument("name")
    password.set_defaults(func=cmd_user_password)
    for name, func, what in (
        ("deactivate", cmd_user_deactivate, "stop an account: logins end, tokens stop working"),
        ("activate", cmd_user_activate, "let a deactivated account log in again"),
        ("logout", cmd_user_logout, "end every browser login of an account"),
    ):
        command = user.add_parser(name, help=what)
        command.add_argument("name")
        command.set_defaults(func=func)

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token; it is printed alone on the last line")
    create.add_argument("name", help="the account the token acts for")
    create.add_argument("--label", default="", help="what the token is for")
    create.add_argument(
        "--calendar",
        action="store_true",
        help="a read-only token for /api/visits.ics?token=... alone (for calendar programs)",
    )
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser(
        "list", help="list tokens (id, account, created, state, label, scope)"
    )
    listing.add_argument("name", nargs="?", help="only the tokens of this account")
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)
    agent = commands.add_parser("station-agent", help="send a station's heartbeats to the wall")
    agent.add_argument("--station", type=int, required=True, help="the station's id")
    agent.add_argument("--interval", type=float, default=5.0, help="seconds between heartbeats")
    agent.add_argument(
        "--password-file",
        type=Path,
        help="a file holding the password of the account station-ID (or set "
        "LIBRARYLAB_AGENT_PASSWORD); without either, the credentials of LIBRARYLAB_MQTT_URL",
    )
    agent.set_defaults(func=cmd_station_agent)

    mqtt = commands.add_parser("mqtt", help="accounts of the MQTT broker").add_subparsers(
        dest="mqtt_command", required=True
    )
    agents = mqtt.add_parser("agent", help="station agents' accounts on the embedded broker")
    agent_commands = agents.add_subparsers(dest="agent_command", required=True)
    agent_add = agent_commands.add_parser(
        "add", help="create (or renew) the account station-ID; its password is the last line"
    )
    agent_add.add_argument("station", type=int, help="the station's id")
    agent_add.set_defaults(func=cmd_mqtt_agent_add)
    agent_remove = agent_commands.add_parser("remove", help="remove a station agent's account")
    agent_remove.add_argument("station", type=int, help="the station's id")
    agent_remove.set_defaults(func=cmd_mqtt_agent_remove)
    agent_commands.add_parser(
        "list", help="list the agents' accounts (station, account)"
    ).set_defaults(func=cmd_mqtt_agent_list)
    acl = mqtt.add_parser(
        "mosquitto-acl", help="print a Mosquitto acl_file for the accounts of a password file"
    )
    acl.add_argument("--password-file", type=Path, required=True, help="Mosquitto's password_file")
    acl.add_argument(
        "--service-user",
        help="the service's account (default: the user of LIBRARYLAB_MQTT_URL, else librarylab)",
    )
    acl.set_defaults(func=cmd_mqtt_mosquitto_acl)

    display = commands.add_parser("display-token", help="read-only wall links").add_subparsers(
        dest="display_command", required=True
    )
    make = display.add_parser("create", help="create a wall link; the token is the last line")
    make.add_argument("name", help="which screen, e.g. Foyer")
    make.set_defaults(func=cmd_display_create)
    display.add_parser("list", help="list wall links").set_defaults(func=cmd_display_list)
    drop = display.add_parser("revoke", help="revoke a wall link by its id")
    drop.add_argument("id", type=int)
    drop.set_defaults(func=cmd_display_revoke)

    personal = commands.add_parser(
        "personal-data", help="a contact's personal data, by mail address"
    ).add_subparsers(dest="personal_data_command", required=True)
    for name, func, what in (
        ("export", cmd_personal_data_export, "print everything stored about an address as JSON"),
        ("erase", cmd_personal_data_erase, "erase an address's contact data (cannot be undone)"),
    ):
        command = personal.add_parser(name, help=what)
        command.add_argument("email", help="the contact's mail address")
        command.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], None] = args.func
    try:
        func(args, load_settings())
    except (SettingsError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
