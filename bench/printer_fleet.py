"""A print corner at fleet size: what following 3, 10 and 20 real OctoPrint servers costs
the service, and whether it still notices a dead printer and starts a queued job in time.

One real service (``librarylab serve`` in a subprocess, SQLite by default, PostgreSQL with
``--database postgresql``) follows OctoPrint servers with their Virtual Printers, all on this
machine. At each step half the printers print short jobs back to back (the bench confirms the
bed clear and queues the next job as soon as one ends), the rest stand idle, and five walls
hold their event streams (``/wall/events``) open. Per step it reports:

- service CPU (% of one core) and RSS, read from /proc;
- offline detection: an idle printer's OctoPrint is killed (SIGKILL), and the time until the
  API says ``offline`` (asked every 0.2 s) and until a wall's stream says so is taken
  (target ≤ 5 s); the server is started again;
- queued → printing, from the service's own job history (target < 1 s);
- the age of each printer's last good read (how late the polls run);
- database connections checked out of the service's pool (counted inside the service
  process by SQLAlchemy pool events), apart from those of the embedded MQTT broker's store
  of retained messages, and on PostgreSQL the server's own count (``pg_stat_activity``);
- the printer messages per second a wall receives.

The baseline is the first step of the same run (3 printers): the ratios show how each figure
grows with the fleet. The OctoPrint servers start in parallel once and serve every step.

    .venv/bin/python bench/printer_fleet.py                  # 3, 10, 20 printers, SQLite
    .venv/bin/python bench/printer_fleet.py --database postgresql
    .venv/bin/python bench/printer_fleet.py --quick          # 2 and 4 printers, short samples
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.print_dispatch import usage

WALLS = 5
FINAL = ("awaiting_bed_clear", "failed", "unknown", "cancelled", "done")


# -- the service process ---------------------------------------------------------------------
def child(stats: str, port: str) -> None:
    """Runs in the service's subprocess: ``librarylab serve``, plus a count of the database
    connections checked out of every pool, written to ``stats`` four times a second."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    from librarylab.cli import main as librarylab

    lock = threading.Lock()
    # "service": the service's own engine; "broker": the embedded MQTT broker's store of
    # retained messages (amqtt's SQLAlchemy plugin, aiosqlite), counted apart.
    now = {"service": 0, "broker": 0}
    peak = dict(now)
    kinds: dict[int, str] = {}

    def out(dbapi: Any, record: Any, _proxy: Any) -> None:
        kind = "broker" if type(dbapi).__module__.startswith("sqlalchemy") else "service"
        with lock:
            kinds[id(record)] = kind
            now[kind] += 1
            peak[kind] = max(peak[kind], now[kind])

    def back(_dbapi: Any, record: Any) -> None:
        with lock:
            now[kinds.pop(id(record), "service")] -= 1

    event.listen(Pool, "checkout", out)
    event.listen(Pool, "checkin", back)

    def write() -> None:
        with open(stats, "a", buffering=1) as handle:
            while True:
                time.sleep(0.25)
                with lock:
                    line = f"{time.time():.3f} {now['service']} {peak['service']} {peak['broker']}"
                    peak.update(now)
                handle.write(line + "\n")

    threading.Thread(target=write, daemon=True).start()
    sys.exit(librarylab(["serve", "--port", port]))


@dataclass
class Wall:
    """What the walls' streams said: the latest payload of every printer, and every state
    change with the time it arrived."""

    printers: dict[int, dict[str, Any]] = field(default_factory=dict)
    changes: list[tuple[float, int, str]] = field(default_factory=list)
    printer_messages: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def heard(self, value: dict[str, Any]) -> None:
        with self.changed:
            before = self.printers.get(int(value["id"]), {}).get("state")
            self.printers[int(value["id"])] = value
            if value.get("state") != before:
                self.changes.append((time.monotonic(), int(value["id"]), str(value["state"])))
            self.changed.notify_all()

    def wait(self, test: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return bool(self.changed.wait_for(test, timeout))


def follow_wall(base: str, token: str, wall: Wall | None, stop: threading.Event) -> None:
    """One wall's event stream; only the first one records what it hears."""
    import httpx2

    while not stop.is_set():
        try:
            with httpx2.stream(
                "GET", f"{base}/wall/events", params={"token": token}, timeout=None
            ) as response:
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if wall is None or not line.startswith("data:"):
                        continue
                    data = json.loads(line[5:])
                    if str(data.get("key", "")).startswith("printer:") and data.get("value"):
                        wall.printer_messages += 1
                        wall.heard(data["value"])
                    for value in (data.get("printers") or {}).values():
                        wall.heard(value)
        except Exception:  # the service restarts or ends: open it again
            time.sleep(0.5)


# -- measuring -------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def at(job: dict[str, Any], state: str) -> datetime | None:
    for entry in job["history"]:
        if entry["to"] == state:
            return datetime.fromisoformat(entry["at"])
    return None


class Cycler:
    """One printing printer: confirm the bed, queue a short job, wait for its end, again."""

    def __init__(self, service: Any, wall: Wall, printer: int, file_id: int) -> None:
        self.service, self.wall, self.printer, self.file_id = service, wall, printer, file_id
        self.latencies: list[tuple[float, float]] = []  # (monotonic queued, seconds)
        self.stuck = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def ended(self, job_id: int) -> bool:
        shown = (self.wall.printers.get(self.printer) or {}).get("job") or {}
        return bool(shown.get("id") == job_id and shown.get("state") in FINAL)

    def run(self) -> None:
        while not self.stop.is_set():
            self.service.api("POST", f"/api/printers/{self.printer}/bed-cleared")
            queued = time.monotonic()
            body = {"file_id": self.file_id, "printer_id": self.printer}
            job = self.service.api("POST", "/api/print-jobs", json=body)
            if not self.wall.wait(functools.partial(self.ended, job["id"]), 90):
                self.stuck += 1
            detail = self.service.api("GET", f"/api/print-jobs/{job['id']}")
            start, sent = at(detail, "printing"), at(detail, "queued")
            if start and sent:
                self.latencies.append((queued, (start - sent).total_seconds()))


@dataclass
class Step:
    printers: int
    printing: int
    cpu: float = 0.0
    rss: float = 0.0
    offline: list[float] = field(default_factory=list)
    missed_offline: int = 0
    dispatch: list[float] = field(default_factory=list)
    stuck: int = 0
    read_age: list[float] = field(default_factory=list)
    pool_peak: int = 0
    pool_median: float = 0.0
    broker_peak: int = 0
    wall_rate: float = 0.0
    offline_api: list[float] = field(default_factory=list)
    pg_peak: int = 0
    pg_busy_peak: int = 0


def pool_figures(stats: Path, since: float) -> tuple[int, float, int]:
    """The service's peak and median of connections checked out, and the broker store's peak."""
    rows = [line.split() for line in stats.read_text().splitlines() if line.strip()]
    rows = [row for row in rows if float(row[0]) >= since]
    return (
        max((int(r[2]) for r in rows), default=0),
        median([float(r[1]) for r in rows]),
        max((int(r[3]) for r in rows), default=0),
    )


@contextlib.contextmanager
def pg_sampler(url: str | None, step: Step) -> Iterator[None]:
    """Peak connections of the service's database user, and of those in a query or an open
    transaction, as PostgreSQL itself counts them."""
    if url is None:
        yield
        return
    import psycopg

    stop = threading.Event()
    plain = url.replace("postgresql+psycopg://", "postgresql://")

    def sample() -> None:
        with psycopg.connect(plain, autocommit=True) as connection:
            me = connection.info.backend_pid
            while not stop.is_set():
                row = connection.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') "
                    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s",
                    (me,),
                ).fetchone()
                assert row is not None
                step.pg_peak = max(step.pg_peak, int(row[0]))
                step.pg_busy_peak = max(step.pg_busy_peak, int(row[1]))
                time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def read_ages(service: Any, stop: threading.Event, ages: list[float]) -> None:
    """Once a second: how old each answering printer's last good read is."""
    while not stop.wait(1):
        now = datetime.now(UTC)
        for printer in service.api("GET", "/api/printers"):
            state = printer.get("state") or {}
            if state.get("last_read") and state.get("state") not in ("offline", "unknown"):
                ages.append((now - datetime.fromisoformat(state["last_read"])).total_seconds())


def wait_states(wall: Wall, ids: list[int], states: tuple[str, ...], timeout: float) -> bool:
    return wall.wait(
        lambda: all((wall.printers.get(i) or {}).get("state") in states for i in ids), timeout
    )


def measure_offline(
    service: Any, wall: Wall, server: Any, printer: int, timeout: float = 40
) -> tuple[float | None, float | None]:
    """Seconds from SIGKILL of the printer's OctoPrint until the service says "offline"
    (its API, asked every 0.2 s) and until a wall's stream says so."""
    killed = time.monotonic()
    server.kill()
    api = None
    while api is None and time.monotonic() - killed < timeout:
        state = service.api("GET", f"/api/printers/{printer}")["state"]["state"]
        if state == "offline":
            api = time.monotonic() - killed
        else:
            time.sleep(0.2)

    def seen() -> float | None:
        return next(
            (t for t, p, s in wall.changes if p == printer and s == "offline" and t >= killed),
            None,
        )

    wall.wait(lambda: seen() is not None, max(0, killed + timeout - time.monotonic()))
    at_wall = seen()
    return api, None if at_wall is None else at_wall - killed


def run_step(
    args: argparse.Namespace,
    service: Any,
    wall: Wall,
    servers: list[Any],
    ids: list[int],
    file_id: int,
    stats: Path,
    pg_url: str | None,
) -> Step:
    count = len(ids)
    printing = max(1, count // 2)
    step = Step(count, printing)
    wait_states(wall, ids, ("operational",), 120)
    cyclers = [Cycler(service, wall, ids[i], file_id) for i in range(printing)]
    for cycler in cyclers:
        cycler.thread.start()
    time.sleep(args.warmup)
    began = time.monotonic()
    messages = wall.printer_messages
    stop_ages = threading.Event()
    ages = threading.Thread(target=read_ages, args=(service, stop_ages, step.read_age))
    ages.start()
    pid = service.process.pid
    since = time.time()
    with pg_sampler(pg_url, step):
        cpu_before, _ = usage(pid)
        sampled = time.monotonic()
        peak = 0.0
        while time.monotonic() - sampled < args.seconds:
            peak = max(peak, usage(pid)[1])
            time.sleep(0.5)
        cpu_after, rss = usage(pid)
        step.cpu = 100 * (cpu_after - cpu_before) / (time.monotonic() - sampled)
        step.rss = max(peak, rss)
        # Kill idle printers' OctoPrints one at a time, under the same load.
        for number in range(args.kills):
            index = printing + number % (count - printing)
            api, at_wall = measure_offline(service, wall, servers[index], ids[index])
            if api is None or at_wall is None:
                step.missed_offline += 1
            if api is not None:
                step.offline_api.append(api)
            if at_wall is not None:
                step.offline.append(at_wall)
            servers[index].start()
            wait_states(wall, [ids[index]], ("operational",), 60)
    step.pool_peak, step.pool_median, step.broker_peak = pool_figures(stats, since)
    step.wall_rate = (wall.printer_messages - messages) / (time.monotonic() - began)
    stop_ages.set()
    ages.join()
    for cycler in cyclers:
        cycler.stop.set()
    for cycler in cyclers:
        cycler.thread.join(120)
        step.dispatch += [seconds for queued, seconds in cycler.latencies if queued >= began]
        step.stuck += cycler.stuck
    return step


def start_servers(folder: Path, count: int, parallel: int) -> list[Any]:
    from tests.services import OctoPrint

    servers = [OctoPrint(folder / f"octoprint-{i}", api_key=f"fleet-key-{i}") for i in range(count)]
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda server: server.start(120), servers))
    return servers


def make_service(folder: Path, database_url: str, stats: Path) -> Any:
    from tests.librarylab.test_cli import _env, run
    from tests.served import PASSWORD, Served
    from tests.services import free_port, wait_for_port

    class Service(Served):
        def __init__(self) -> None:
            self.env = _env(folder, database_url) | {
                "LIBRARYLAB_MQTT_EMBEDDED_PORT": str(free_port()),
                "LIBRARYLAB_PERIODIC_JOBS": "false",
            }
            added = run(["user", "add", "ada", "--role", "admin"], self.env, PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
            self.token = run(["token", "create", "ada"], self.env).stdout.splitlines()[-1]
            self.wall_token = run(["display-token", "create", "bench"], self.env).stdout
            self.wall_token = self.wall_token.strip().splitlines()[-1]
            self.process = None
            self.port = free_port()
            self.base = f"http://127.0.0.1:{self.port}"

        def start(self) -> None:
            log = (folder / "service.log").open("ab")
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--child", str(stats), str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
            )
            wait_for_port(self.port, timeout=60)

    return Service()


def report(steps: list[Step], args: argparse.Namespace, started: float) -> None:
    base = steps[0]

    def ratio(value: float, baseline: float) -> str:
        return f"{value / baseline:5.1f}x" if baseline else "    -"

    print(
        f"\n{args.database}, {WALLS} walls open, OctoPrint servers on the same 2 cores; "
        f"{args.seconds:g} s CPU samples, {args.kills} kills per step; "
        f"load average {os.getloadavg()[0]:.1f} at the end; "
        f"run took {time.monotonic() - started:.0f} s\n"
    )
    header = f"{'printers (printing)':22}" + "".join(
        f"{f'{s.printers} ({s.printing})':>16}" for s in steps
    )
    print(header)
    rows: list[tuple[str, list[float], str]] = [
        ("service CPU % of a core", [s.cpu for s in steps], "{:.1f}"),
        ("service RSS MB", [s.rss for s in steps], "{:.0f}"),
        ("offline (API) p50 s", [median(s.offline_api) for s in steps], "{:.2f}"),
        ("offline (API) max s", [max(s.offline_api, default=0) for s in steps], "{:.2f}"),
        ("offline (wall) p50 s", [median(s.offline) for s in steps], "{:.2f}"),
        ("offline (wall) max s", [max(s.offline, default=0) for s in steps], "{:.2f}"),
        ("queued→printing p50 ms", [1000 * median(s.dispatch) for s in steps], "{:.0f}"),
        ("queued→printing p90 ms", [1000 * percentile(s.dispatch, 0.9) for s in steps], "{:.0f}"),
        ("last good read age p50 s", [median(s.read_age) for s in steps], "{:.2f}"),
        ("last good read age p90 s", [percentile(s.read_age, 0.9) for s in steps], "{:.2f}"),
        ("DB conns checked out, peak", [float(s.pool_peak) for s in steps], "{:.0f}"),
        ("DB conns checked out, p50", [s.pool_median for s in steps], "{:.1f}"),
        ("broker store conns, peak", [float(s.broker_peak) for s in steps], "{:.0f}"),
        ("printer messages/s (wall)", [s.wall_rate for s in steps], "{:.1f}"),
    ]
    if args.database == "postgresql":
        rows += [
            ("pg_stat_activity peak", [float(s.pg_peak) for s in steps], "{:.0f}"),
            ("pg_stat_activity busy peak", [float(s.pg_busy_peak) for s in steps], "{:.0f}"),
        ]
    for name, values, shape in rows:
        cells = "".join(
            f"{shape.format(v):>9} {ratio(v, values[0]) if i else '  (1x)':>6}"
            for i, v in enumerate(values)
        )
        print(f"{name:27}{cells}")
    print(
        "\nsamples: "
        + "; ".join(
            f"{s.printers} printers: {len(s.dispatch)} jobs, {len(s.offline)} kills"
            + (f", {s.missed_offline} kills not seen offline in 40 s" if s.missed_offline else "")
            + (f", {s.stuck} jobs that did not end in 90 s" if s.stuck else "")
            for s in steps
        )
    )
    print(
        f"ratios against the {base.printers}-printer step of this run; targets: offline ≤ 5 s, "
        "queued→printing < 1000 ms"
    )


def terminated(number: int, _frame: Any) -> None:
    print(f"ended by signal {number}; stopping the servers", file=sys.stderr, flush=True)
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", default="3,10,20", help="fleet sizes, comma-separated")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=30, help="length of each CPU sample")
    parser.add_argument("--warmup", type=float, default=8, help="seconds before sampling")
    parser.add_argument("--kills", type=int, default=3, help="OctoPrints killed per step")
    parser.add_argument("--print-seconds", type=float, default=4, help="length of each job")
    parser.add_argument("--parallel", type=int, default=5, help="OctoPrints started at once")
    parser.add_argument("--quick", action="store_true", help="2 and 4 printers, short samples")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, terminated)  # so that the servers are stopped
    if args.quick:
        args.printers, args.seconds, args.warmup, args.kills = "2,4", 8, 4, 1
    sizes = sorted({int(n) for n in args.printers.split(",")})
    if sizes[0] < 2:
        parser.error("--printers: each step needs at least 2 printers (one prints, one is killed)")
    started = time.monotonic()
    from tests.printers.jobs import gcode
    from tests.services import postgres_server

    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    stats = folder / "pool.txt"
    stats.touch()
    with contextlib.ExitStack() as stack:
        pg_url = None
        database_url = f"sqlite:///{folder / 'lab.sqlite3'}"
        if args.database == "postgresql":
            pg_url = database_url = stack.enter_context(postgres_server())
        print(f"starting {sizes[-1]} OctoPrint servers, {args.parallel} at a time …", flush=True)
        servers = start_servers(folder, sizes[-1], args.parallel)
        for server in servers:
            stack.callback(server.stop)
        service = make_service(folder, database_url, stats)
        service.start()
        stack.callback(service.stop)
        wall = Wall()
        stop = threading.Event()
        stack.callback(stop.set)
        for number in range(WALLS):
            threading.Thread(
                target=follow_wall,
                args=(service.base, service.wall_token, wall if number == 0 else None, stop),
                daemon=True,
            ).start()
        file_id = service.add_file(gcode(args.print_seconds), "fleet.gcode")
        ids: list[int] = []
        steps = []
        for size in sizes:
            for index in range(len(ids), size):
                ids.append(service.add_printer(servers[index], f"P{index:02d}"))
            print(f"step: {size} printers …", flush=True)
            steps.append(run_step(args, service, wall, servers, ids, file_id, stats, pg_url))
    report(steps, args, started)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
