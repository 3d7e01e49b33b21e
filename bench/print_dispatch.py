"""Demo prints: time from a job queued to printing on an idle printer, and what following
three real OctoPrint servers costs the service in CPU and memory.

Runs a real ``librarylab serve`` (SQLite, embedded MQTT broker) and three OctoPrint servers
with their Virtual Printers, all on this machine.

Baseline (same run): the same upload + select-and-print sent straight to OctoPrint through the
adapter, without the service — the least any dispatcher needs. Anchors from the field: FDM
Monster polls OctoPrint's REST API every 10 s as a safety net, Home Assistant every 30 s.

    .venv/bin/python bench/print_dispatch.py --jobs 21 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from printers.octoprint import OctoPrintClient
from tests.printers.jobs import gcode
from tests.served import Served
from tests.services import OctoPrint, free_port

TICKS = os.sysconf("SC_CLK_TCK")


def usage(pid: int) -> tuple[float, float]:
    """CPU seconds a process used so far, and its resident memory in MB."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = next(
        int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss


def wait_state(service: Served, job_id: int, state: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = service.api("GET", f"/api/print-jobs/{job_id}")
        if job["state"] == state:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} stayed {job['state']}")
        time.sleep(0.02)


def at(job: dict[str, Any], state: str) -> datetime:
    return datetime.fromisoformat(next(e["at"] for e in job["history"] if e["to"] == state))


def measure_dispatch(service: Served, printer: int, file_id: int, jobs: int) -> list[float]:
    """Seconds from queued to printing (the service's own timestamps), one job at a time."""
    seconds = []
    for _ in range(jobs):
        service.api("POST", f"/api/printers/{printer}/bed-cleared")
        job = service.api(
            "POST", "/api/print-jobs", json={"file_id": file_id, "printer_id": printer}
        )
        done = wait_state(service, job["id"], "awaiting_bed_clear")
        seconds.append((at(done, "printing") - at(done, "queued")).total_seconds())
    return seconds


def measure_direct(server: OctoPrint, local: Path, jobs: int) -> list[float]:
    """The baseline: upload, then select and print, straight through the adapter."""
    client = OctoPrintClient(server.url, server.api_key)
    seconds = []
    for number in range(jobs):
        while not client.status().idle:
            time.sleep(0.05)
        started = time.perf_counter()
        client.upload(local, f"direct-{number}.gcode")
        client.start(f"direct-{number}.gcode")
        seconds.append(time.perf_counter() - started)
    while not client.status().idle:
        time.sleep(0.05)
    return seconds


def sample(service: Served, seconds: float) -> tuple[float, float]:
    """CPU % of one core and peak RSS (MB) over ``seconds``."""
    assert service.process is not None
    pid = service.process.pid
    cpu_before, _ = usage(pid)
    peak = 0.0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        peak = max(peak, usage(pid)[1])
        time.sleep(0.5)
    cpu_after, rss = usage(pid)
    return 100 * (cpu_after - cpu_before) / (time.monotonic() - started), max(peak, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=21, help="jobs per measurement (≥ 20)")
    parser.add_argument("--seconds", type=float, default=30, help="length of each CPU sample")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-prints-"))
    servers = [OctoPrint(folder / f"octoprint-{i}", api_key=f"bench-key-{i}") for i in range(3)]
    threads = [threading.Thread(target=server.start) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service = Served(folder, mqtt_embedded_port=str(free_port()))
    service.start()
    try:
        short = folder / "short.gcode"
        short.write_bytes(gcode(0.25))
        file_id = service.add_file(short.read_bytes(), "short.gcode")
        idle_cpu, idle_rss = sample(service, args.seconds)
        printers = [service.add_printer(s, f"P{i}") for i, s in enumerate(servers)]
        time.sleep(3)
        follow_cpu, follow_rss = sample(service, args.seconds)

        direct = measure_direct(servers[1], short, args.jobs)
        dispatched = measure_dispatch(service, printers[0], file_id, args.jobs)

        long_print = folder / "long.gcode"
        long_print.write_bytes(gcode(args.seconds + 20))
        long_id = service.add_file(long_print.read_bytes(), "long.gcode")
        for printer in printers:
            service.api("POST", f"/api/printers/{printer}/bed-cleared")
            service.api("POST", "/api/print-jobs", json={"file_id": long_id, "printer_id": printer})
        time.sleep(3)
        print_cpu, print_rss = sample(service, args.seconds)
    finally:
        service.stop()
        for server in servers:
            server.stop()

    def row(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return (
            f"{name:44} {1000 * statistics.median(values):9.0f} {1000 * p90:9.0f} {len(values):5d}"
        )

    print(f"{'queued → printing on an idle printer':44} {'p50 ms':>9} {'p90 ms':>9} {'jobs':>5}")
    print(row("through the service (its own timestamps)", dispatched))
    print(row("baseline: upload + start straight to OctoPrint", direct))
    print(
        f"ratio service / baseline (medians): "
        f"{statistics.median(dispatched) / statistics.median(direct):.1f}x; "
        f"target < 2000 ms; anchors 10 000 ms (FDM Monster), 30 000 ms (Home Assistant)\n"
    )
    print(f"{'service process':44} {'CPU %':>9} {'RSS MB':>9}")
    print(f"{'no printers registered':44} {idle_cpu:9.1f} {idle_rss:9.0f}")
    print(f"{'following 3 idle OctoPrints':44} {follow_cpu:9.1f} {follow_rss:9.0f}")
    print(f"{'following 3 OctoPrints while they print':44} {print_cpu:9.1f} {print_rss:9.0f}")


if __name__ == "__main__":
    main()
