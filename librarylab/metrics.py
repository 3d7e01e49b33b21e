"""Prometheus metrics of one app: its own registry (several apps in one process do not
clash), an ASGI middleware that counts requests by route template (never the raw path, so
the number of series stays bounded), and a collector that reads the current state of the
bus, the wall, the printers, the print queue and the outbox when Prometheus scrapes.

``GET /metrics`` answers only with ``LIBRARYLAB_METRICS_TOKEN`` as a bearer token (a
scrape-only secret: Prometheus's config then holds no admin token); without that setting
it is 404. ``LIBRARYLAB_METRICS_PORT`` serves the same text without a token on
127.0.0.1 only, for a Prometheus on the same machine.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mail import service as mail_service
from printers import model
from printers.jobs import JobState
from printers.orm import PrintJob
from scheduler.service import PLAN_OBSERVER

log = logging.getLogger(__name__)
UNMATCHED = "(unmatched)"  # every path no route knows: one label, whatever strangers send
PRINTER_STATES = (
    model.UNKNOWN,
    model.OPERATIONAL,
    model.PRINTING,
    model.PAUSED,
    model.ERROR,
    model.DISCONNECTED,
    model.OFFLINE,
    model.UNAUTHORIZED,
    model.KEY_SEALED,
    model.STALLED,
)


class Metrics:
    """The app's registry and the instruments the middleware and the planner feed."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "librarylab_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "librarylab_http_request_duration_seconds",
            "Time from request to the start of the answer, by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.planner = Histogram(
            "librarylab_planner_duration_seconds",
            "Time the planner took for a plan or re-plan, by the engine that made it.",
            ["engine"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.registry.register(_State(app))

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def planned(self, engine: str, seconds: float) -> None:
        self.planner.labels(engine).observe(seconds)


def install(app: FastAPI) -> Metrics:
    """Give ``app`` its metrics: the registry, the middleware, the planner hook, the route."""
    metrics = Metrics(app)
    app.state.metrics = metrics
    app.state.sessions.configure(info={PLAN_OBSERVER: metrics.planned})
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outside those added so far
    app.user_middleware.append(Middleware(RouteProbe))  # innermost: sees the routed scope
    app.include_router(router)
    return metrics


def serve_on_port(metrics: Metrics, port: int) -> Callable[[], None]:
    """Serve the metrics on 127.0.0.1:``port`` without a token; returns how to stop."""
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


_ROUTE = "librarylab.route"  # a one-item list in the scope: copies of the scope share it


class RouteProbe:
    """Notes the template of the route that took a request where ``MetricsMiddleware``
    finds it: the router writes it into its own scope, which middleware between may copy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = scope.get(_ROUTE)
        if found is None:
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                found[0] = _route_of(scope)
            await send(message)

        await self.app(scope, receive, sending)


class MetricsMiddleware:
    """Counts every HTTP answer under its route template, e.g. ``/api/visits/{visit_id}``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = [UNMATCHED]  # unless the router takes it
        scope[_ROUTE] = route

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                labels = (scope["method"], route[0], str(message["status"]))
                self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
                self.metrics.requests.labels(*labels).inc()
            await send(message)

        await self.app(scope, receive, sending)


def _route_of(scope: Scope) -> str:
    """The template of the route that took the request, ``/static/{path}`` for a file of a
    mount, or UNMATCHED."""
    path = getattr(scope.get("route"), "path_format", None)
    if isinstance(path, str) and path:
        return path
    mount = scope.get("root_path", "")
    if "endpoint" in scope and mount:  # a Mount matched and set its prefix as root_path
        return f"{mount}/{{path}}"
    return UNMATCHED


class _State(Collector):
    """What the service is doing now, read when Prometheus asks (nothing is kept between)."""

    def __init__(self, app: FastAPI) -> None:
        self.state = app.state

    def collect(self) -> Iterator[Metric]:
        yield from self._bus()
        hub = getattr(self.state, "hub", None)
        streams = GaugeMetricFamily(
            "librarylab_wall_streams_open", "Wall pages connected to /wall/events now."
        )
        streams.add_metric([], hub.pages if hub is not None else 0)
        yield streams
        yield self._printers()
        yield from self._database()

    def _bus(self) -> Iterator[Metric]:
        bus = self.state.bus
        connected = GaugeMetricFamily(
            "librarylab_mqtt_connected", "1 while the service is connected to its MQTT broker."
        )
        connected.add_metric([], 1 if bus is not None and bus.connected else 0)
        yield connected
        for name, what, value in (
            ("received", "MQTT messages received", bus.received if bus else 0),
            ("sent", "MQTT messages the service published", bus.sent if bus else 0),
            (
                "dropped",
                "MQTT messages dropped (too large, not a JSON object)",
                bus.dropped if bus else 0,
            ),
        ):
            counter = CounterMetricFamily(f"librarylab_mqtt_messages_{name}", what + ".")
            counter.add_metric([], value)
            yield counter

    def _printers(self) -> Metric:
        family = GaugeMetricFamily(
            "librarylab_printers", "Registered printers by their current state.", labels=["state"]
        )
        fleet = getattr(self.state, "fleet", None)
        found = dict.fromkeys(PRINTER_STATES, 0)
        for _target, snapshot in fleet.states() if fleet is not None else ():
            found[snapshot.state] = found.get(snapshot.state, 0) + 1
        for state, count in found.items():
            family.add_metric([state], count)
        return family

    def _database(self) -> Iterator[Metric]:
        try:
            with self.state.sessions() as session:
                rows = session.execute(
                    select(PrintJob.state, func.count()).group_by(PrintJob.state)
                )
                jobs = {JobState(state): int(count) for state, count in rows}
                oldest = session.scalar(
                    select(func.min(PrintJob.created_at)).where(PrintJob.state == JobState.QUEUED)
                )
                mail = mail_service.counts(session)
        except SQLAlchemyError as exc:  # the health check reports the database
            log.warning("metrics cannot read the database: %s", type(exc).__name__)
            return
        family = GaugeMetricFamily(
            "librarylab_print_jobs", "Print jobs by state.", labels=["state"]
        )
        for state in JobState:
            family.add_metric([state.value], jobs.get(state, 0))
        yield family
        age = GaugeMetricFamily(
            "librarylab_print_queue_oldest_age_seconds",
            "Age of the oldest queued print job; 0 when none waits.",
        )
        age.add_metric([], _age(oldest))
        yield age
        outbox = GaugeMetricFamily(
            "librarylab_mail_outbox", "Mails in the outbox by state.", labels=["state"]
        )
        for mail_state, count in mail.items():
            outbox.add_metric([mail_state.value], count)
        yield outbox


def _age(since: datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - since).total_seconds())


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def read_metrics(request: Request) -> Response:
    """Prometheus's text format, for a scraper holding ``LIBRARYLAB_METRICS_TOKEN``."""
    token = request.app.state.settings.metrics_token.get_secret_value()
    if not token:  # off: as if the route did not exist
        return Response("Not Found\n", status_code=404, media_type="text/plain")
    given = request.headers.get("authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        return Response(
            "Send the metrics token as 'Authorization: Bearer <token>'.\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            media_type="text/plain",
        )
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)
