"""The application factory: wires settings, database, routers and middleware together."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from booking import correspondence, privacy_pages, privacy_routes
from booking import pages as booking_pages
from booking import posts as booking_posts
from booking import public as booking_public
from booking import routes as booking_routes
from booking.jobs import TASKS as JOB_TASKS
from booking.jobs import Jobs
from dashboard import pages as wall_pages
from dashboard import routes as wall_routes
from dashboard.hub import Hub
from dashboard.topics import Topics
from librarylab import __version__, health, metrics
from librarylab.accounts import pages as account_pages
from librarylab.accounts import routes as account_routes
from librarylab.audit import audited
from librarylab.audit import pages as audit_pages
from librarylab.audit import routes as audit_routes
from librarylab.audit import service as audit_service
from librarylab.backup import DailyBackup
from librarylab.bodies import BodyLimitMiddleware
from librarylab.broker import EmbeddedBroker, EmbeddedBrokerError
from librarylab.crypto import SecretBox
from librarylab.csrf import CSRFMiddleware
from librarylab.database import make_engine, make_session_factory
from librarylab.deps import RedirectTo
from librarylab.docs import add_api_docs
from librarylab.headers import SecurityHeadersMiddleware
from librarylab.live import LivePublisher
from librarylab.logs import RequestIdMiddleware
from librarylab.mqtt import BrokerAddress, Bus
from librarylab.mqtt_access import SERVICE_USER, BrokerAccounts, local_url
from librarylab.private import private_folder
from librarylab.problems import add_problem_handlers, describe_problems
from librarylab.settings import Settings
from librarylab.templating import make_templates
from mail import pages as mail_pages
from mail import routes as mail_routes
from mail.sender import Sender, wake_on_commit
from mail.smtp import SmtpAddress
from printers import file_routes as print_file_routes
from printers import files as print_files
from printers import job_routes as print_job_routes
from printers import pages as printer_pages
from printers import queue as print_queue
from printers import routes as printer_routes
from printers import service as printer_service
from printers.coordinator import Fleet, Target, Timing
from printers.dispatcher import Dispatcher
from printers.model import Duty, Snapshot
from scheduler import pages as plan_pages
from scheduler import routes as plan_routes
from stations import pages as station_pages
from stations import routes as station_routes
from stats import pages as stats_pages
from stats import routes as stats_routes
from visits import pages as visit_pages
from visits import routes as visit_routes

log = logging.getLogger(__name__)
SESSION_COOKIE = "librarylab_session"
TEMPLATE_PACKAGES = (
    "librarylab",
    "stations",
    "visits",
    "scheduler",
    "printers",
    "dashboard",
    "stats",
    "mail",
    "booking",
)
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database is unreachable (the same report as 200).",
        "content": {"application/json": {"schema": {}}},
    }
}


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings``; the caller has applied migrations."""
    private_folder(settings.data_dir)
    settings = settings.with_secret_key()
    engine = make_engine(settings.effective_database_url)
    topics = Topics(settings.mqtt_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start the broker (if embedded), the bus, the wall hub and the publisher; stop
        them in reverse order."""
        broker: EmbeddedBroker | None = None
        bus: Bus | None = None
        hub = Hub(topics, settings.heartbeat_max_age_seconds, lambda: bool(bus and bus.connected))
        app.state.hub = hub
        await hub.start()
        stop_metrics = (
            metrics.serve_on_port(app.state.metrics, settings.metrics_port)
            if settings.metrics_port
            else None
        )
        if settings.mqtt_enabled:
            broker, bus, app.state.broker_problem = _start_bus(settings, topics)
            app.state.live = live = LivePublisher(
                bus, topics, app.state.sessions, settings.timezone
            )

            def receive(topic: str, payload: dict[str, Any] | None) -> None:
                hub.receive(topic, payload)
                live.heard(topic, payload)  # re-asserts its own topics if someone forged one

            bus.subscribe(topics.everything, receive)
            app.state.bus = bus
            await live.start()

        def printers() -> list[Target] | None:
            try:
                with app.state.sessions() as session:
                    return printer_service.targets(session, app.state.secret_box)
            except SQLAlchemyError as exc:  # the health check reports the database
                log.warning("cannot read the printers: %s", type(exc).__name__)
                return None

        app.state.fleet = fleet = Fleet(
            Timing(
                offline_after=settings.printer_offline_after_seconds,
                stall_after=settings.printer_stall_after_seconds,
                request_timeout=settings.printer_timeout_seconds,
            ),
            publish=lambda target, snapshot, duty: _publish_printer(
                app.state.live, topics, target, snapshot, duty
            ),
            targets=printers,
            after_poll=app.state.dispatcher.step,
            networks=settings.printer_network_list,
        )
        loop = asyncio.get_running_loop()
        app.state.jobs_changed = lambda printer_id=None: loop.call_soon_threadsafe(
            fleet.wake, printer_id
        )
        app.state.printers_changed = lambda: loop.call_soon_threadsafe(fleet.changed)
        app.state.display_links_changed = lambda: loop.call_soon_threadsafe(hub.recheck_viewers)
        await fleet.sync()
        if settings.mail_enabled:
            app.state.mail_sender = Sender(
                app.state.sessions,
                SmtpAddress.parse(settings.smtp_url.get_secret_value()),
                settings.mail_from,
                timeout=settings.smtp_timeout_seconds,
            )
            await app.state.mail_sender.start()
        app.state.periodic_jobs = Jobs(
            app.state.sessions, settings, (*JOB_TASKS, audit_service.purge_expired)
        )
        if settings.periodic_jobs:
            await app.state.periodic_jobs.start()
        backups = None
        if settings.backup_dir:
            backups = DailyBackup(settings, Path(settings.backup_dir), settings.backup_keep)
            await backups.start()
        try:
            yield
        finally:
            if backups is not None:
                await backups.stop()
            await app.state.periodic_jobs.stop()
            if app.state.mail_sender is not None:
                await app.state.mail_sender.stop()
                app.state.mail_sender = None
            await fleet.stop()
            if app.state.live is not None:
                await app.state.live.stop()
            await hub.stop()
            if stop_metrics is not None:
                stop_metrics()
            if bus is not None:
                bus.stop()
            if broker is not None:
                broker.stop()
            engine.dispose()

    app = FastAPI(
        title="LibraryLab station manager",
        version=__version__,
        lifespan=lifespan,
        description="Stations, visits and rotation planning for the LibraryLab.",
        docs_url=None,  # add_api_docs serves it without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.bus = None
    app.state.live = None
    app.state.broker_problem = None
    app.state.secret_box = SecretBox(settings.secret_key.get_secret_value())
    app.state.sessions = make_session_factory(engine)
    audited.install(app.state.sessions)  # sessions with an actor (staff requests) record
    app.state.mail_sender = None

    def wake_mail_sender() -> None:
        if app.state.mail_sender is not None:
            app.state.mail_sender.wake()

    wake_on_commit(app.state.sessions, wake_mail_sender)
    app.state.printers_changed = lambda: None
    app.state.jobs_changed = lambda printer_id=None: None
    app.state.display_links_changed = lambda: None
    app.state.dispatcher = Dispatcher(
        engine, app.state.sessions, print_files.store_dir(settings.data_dir)
    )
    app.state.before_station_deleted = print_queue.before_station_deleted
    app.state.after_visit_update = lambda session, before, visit: (
        correspondence.notify_visit_change(session, before, visit, settings)
    )
    app.state.templates = make_templates(TEMPLATE_PACKAGES)

    app.include_router(health.router, responses=HEALTH_RESPONSES)
    for router in (
        station_routes.router,
        visit_routes.router,
        plan_routes.router,
        printer_routes.router,
        print_file_routes.router,
        print_job_routes.router,
        stats_routes.router,
        account_routes.router,
        account_pages.router,
        station_pages.router,
        visit_pages.router,
        plan_pages.router,
        printer_pages.router,
        stats_pages.router,
        wall_routes.router,
        wall_pages.router,
        mail_routes.router,
        mail_pages.router,
        privacy_routes.router,
        privacy_pages.router,
        booking_routes.router,
        booking_pages.router,
        booking_public.router,
        booking_posts.router,
        audit_routes.router,
        audit_pages.router,
    ):
        app.include_router(router)
    # The more specific mount first: /static would swallow /static/dashboard.
    app.mount(
        "/static/dashboard",
        StaticFiles(directory=str(resources.files("dashboard") / "static")),
        name="dashboard-static",
    )
    add_api_docs(app)
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("librarylab") / "static")),
        name="static",
    )
    _add_error_handlers(app)
    describe_problems(app)

    secret = settings.secret_key.get_secret_value()
    # Inside SessionMiddleware: the CSRF token is derived from the login in the session.
    app.add_middleware(CSRFMiddleware, signing_secret=secret, cookie_secure=settings.cookie_secure)
    # Outside the CSRF check, which reads a whole urlencoded body to find its token.
    app.add_middleware(
        BodyLimitMiddleware, routes=print_file_routes.body_limits(settings.print_file_max_mb)
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_hours * 3600,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # Links are relative, but Starlette's redirects and the display links name the host.
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=settings.allowed_host_list, www_redirect=False
    )
    app.add_middleware(SecurityHeadersMiddleware)  # refusals carry them too
    metrics.install(app)  # counts the refusals of the middleware inside it
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line of a request has it

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/visits", status_code=status.HTTP_303_SEE_OTHER)

    return app


def _publish_printer(
    live: LivePublisher | None,
    topics: Topics,
    target: Target,
    snapshot: Snapshot,
    duty: Duty | None,
) -> None:
    """A printer's state for the wall: name, snapshot and job, never its address or key."""
    if live is not None:
        payload = {
            "id": target.id,
            "name": target.name,
            **snapshot.as_dict(),
            **(duty.as_dict() if duty else {}),
        }
        live.relay(topics.printer_state(target.id), payload)


def _start_bus(settings: Settings, topics: Topics) -> tuple[EmbeddedBroker | None, Bus, str | None]:
    """Start the embedded broker (unless a broker URL is set) and connect the bus."""
    url = settings.mqtt_url.get_secret_value()
    broker: EmbeddedBroker | None = None
    problem = None
    if not url:
        accounts = BrokerAccounts(settings.data_dir)
        password = accounts.service_password()  # generated at first start
        broker = EmbeddedBroker(
            settings.mqtt_embedded_port,
            settings.data_dir,
            settings.mqtt_prefix,
            accounts.password_file,
        )
        try:
            broker.start()
        except EmbeddedBrokerError as exc:
            # The staff pages work without it; the health check and the wall say why.
            log.error("%s", exc)
            problem = str(exc)
            broker = None
        url = local_url(settings.mqtt_embedded_port, SERVICE_USER, password)
    bus = Bus(
        BrokerAddress.parse(url),
        # amqtt 0.12.1 drops the subscriptions of a client id before it checks the password of
        # whoever connects with it: the service's must be unguessable.
        client_id=f"librarylab-{uuid.uuid4().hex[:16]}",
        status_topic=topics.service_status,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
    )
    bus.start()
    return broker, bus, problem


def _add_error_handlers(app: FastAPI) -> None:
    add_problem_handlers(app)

    @app.exception_handler(RedirectTo)
    async def redirect(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RedirectTo)
        return RedirectResponse(exc.location, status_code=status.HTTP_303_SEE_OTHER)
