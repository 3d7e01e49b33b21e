"""MQTT publish → wall DOM updated in headless Chromium: p50/p99 latency.

    .venv/bin/python bench/wall_latency.py [--messages 1000] [--rate 50] [--pages 20] [--streams 20]

Runs a real `librarylab serve` against Mosquitto and against the embedded broker, opens
the wall in Chromium, publishes station states at a steady rate and records, inside each
page, when the change reached the DOM. The baseline, measured in the same run, is a plain
MQTT subscriber on the same broker: the ratio shows what the service and the page add.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from librarylab.mqtt import BrokerAddress, Bus
from tests.mqtt import embedded_url
from tests.services import CHROMIUM, CHROMIUM_ARGS, Mosquitto, free_port, wait_for_port

LIBRARYLAB = str(Path(sys.executable).parent / "librarylab")
PREFIX = "bench"
STATION = 999_999
OBSERVE = """() => {
  window.__lat = [];
  new MutationObserver(() => {
    const card = document.querySelector('[data-station="STATION"]');
    if (!card) return;
    const m = card.innerText.match(/seq(\\d+)at(\\d+)/);
    if (m && m[1] !== window.__last) {
      window.__last = m[1];
      window.__lat.push(performance.timeOrigin + performance.now() - Number(m[2]));
    }
  }).observe(document.getElementById('stations'),
             {subtree: true, childList: true, characterData: true});
}""".replace("STATION", str(STATION))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def publish_series(url: str, count: int, rate: float) -> None:
    bus = Bus(BrokerAddress.parse(url), client_id="bench-publisher", status_topic=None)
    bus.start()
    while not bus.connected:
        time.sleep(0.05)
    topic = f"{PREFIX}/stations/{STATION}/state"
    for seq in range(count):
        sent = time.time() * 1000
        bus.publish(
            topic,
            {
                "id": STATION,
                "name": "Bench",
                "kind": "vr",
                "status": "out_of_service",
                "status_reason": f"seq{seq}at{sent:.3f}",
            },
        )
        time.sleep(1 / rate)
    bus.stop()


def mqtt_baseline(url: str, count: int, rate: float) -> list[float]:
    """Plain publish → subscribe latency on the same broker."""
    seen: list[float] = []
    done = threading.Event()

    def keep(_topic: str, payload: dict[str, Any] | None) -> None:
        if payload and "at" in payload.get("status_reason", ""):
            sent = float(payload["status_reason"].split("at")[1])
            seen.append(time.time() * 1000 - sent)
            if len(seen) >= count:
                done.set()

    listener = Bus(BrokerAddress.parse(url), client_id="bench-listener", status_topic=None)
    listener.subscribe(f"{PREFIX}/stations/{STATION}/state", keep)
    listener.start()
    while not listener.connected:
        time.sleep(0.05)
    publish_series(url, count, rate)
    done.wait(10)
    listener.stop()
    return seen


# A browser keeps at most 6 connections per host, and each wall holds one for its stream.
PAGES_PER_BROWSER = 5


def wall_run(
    browsers: list[Browser],
    base: str,
    token: str,
    url: str,
    count: int,
    rate: float,
    pages: int,
) -> list[float]:
    tabs = []
    for n in range(pages):
        page = browsers[n // PAGES_PER_BROWSER].new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{base}/wall?token={token}", wait_until="domcontentloaded")
        page.locator(".station").first.wait_for(timeout=15_000)
        page.evaluate(OBSERVE)
        tabs.append(page)
    publish_series(url, count, rate)
    time.sleep(1.5)
    latencies: list[float] = []
    for page in tabs:
        latencies += page.evaluate("window.__lat")
        page.close()
    return latencies


def stream_run(
    base: str, token: str, url: str, count: int, rate: float, clients: int
) -> list[float]:
    """The service alone: ``clients`` event streams read by plain HTTP clients."""
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    stop = threading.Event()

    def follow() -> None:
        seen = 0
        with httpx2.stream(
            "GET", f"{base}/wall/events", params={"token": token}, timeout=None
        ) as response:
            ready.wait()
            for line in response.iter_lines():
                if line.startswith("data:") and "seq" in line and "at" in line:
                    arrived = time.time() * 1000
                    part = json.loads(line[5:])
                    reason = (part.get("value") or {}).get("status_reason", "")
                    if reason.startswith("seq"):
                        with lock:
                            latencies.append(arrived - float(reason.split("at")[1]))
                        seen += 1
                if seen >= count or stop.is_set():
                    return

    threads = [threading.Thread(target=follow, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    publish_series(url, count, rate)
    time.sleep(1.5)
    stop.set()
    return latencies


def serve(env: dict[str, str], data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    def run(*a: str) -> str:
        return subprocess.run(
            [LIBRARYLAB, *a],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    run("demo")
    token = run("display-token", "create", "bench").splitlines()[-1]
    port = free_port()
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(
        [LIBRARYLAB, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    wait_for_port(port, timeout=30)
    return server, f"http://127.0.0.1:{port}", token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--pages", type=int, default=20, help="wall pages in Chromium")
    parser.add_argument("--streams", type=int, default=20, help="event streams read by HTTP")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="wallbench-") as tmp, sync_playwright() as playwright:
        browsers = [
            playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(-(-args.pages // PAGES_PER_BROWSER))
        ]
        mosquitto = Mosquitto(Path(tmp) / "mosquitto")
        mosquitto.start()
        try:
            embedded_port = free_port()
            for name, url, extra in (
                ("Mosquitto", mosquitto.url, {"LIBRARYLAB_MQTT_URL": mosquitto.url}),
                (
                    "embedded amqtt",
                    embedded_url(Path(tmp) / "embedded", embedded_port),
                    {"LIBRARYLAB_MQTT_EMBEDDED_PORT": str(embedded_port)},
                ),
            ):
                data = Path(tmp) / name.split()[0]
                env = {
                    "PATH": "/usr/bin:/bin:/usr/sbin",
                    "LIBRARYLAB_DATA_DIR": str(data),
                    "LIBRARYLAB_MQTT_PREFIX": PREFIX,
                    **extra,
                }
                server, base, token = serve(env, data)
                try:
                    baseline = mqtt_baseline(url, args.messages, args.rate)
                    one = wall_run(browsers, base, token, url, args.messages, args.rate, 1)
                    rows.append((name, "MQTT subscriber (baseline)", 1, baseline, baseline))
                    rows.append((name, "wall page", 1, one, baseline))
                    if name == "Mosquitto":
                        many = wall_run(
                            browsers, base, token, url, args.messages, args.rate, args.pages
                        )
                        rows.append((name, "wall pages (fan-out)", args.pages, many, baseline))
                        streams = stream_run(
                            base, token, url, args.messages, args.rate, args.streams
                        )
                        rows.append(
                            (name, "event streams (fan-out)", args.streams, streams, baseline)
                        )
                finally:
                    server.terminate()
                    server.wait(timeout=15)
        finally:
            mosquitto.stop()
            for browser in browsers:
                browser.close()
    print(f"{args.messages} messages at {args.rate:.0f}/s\n")
    print(
        f"{'broker':15} {'receiver':28} {'pages':>5} {'received':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'p50 vs baseline':>16}"
    )
    for broker, receiver, pages, values, base in rows:
        p50 = statistics.median(values)
        print(
            f"{broker:15} {receiver:28} {pages:5d} {len(values):9d} {p50:7.2f} "
            f"{percentile(values, 0.99):7.2f} {p50 / statistics.median(base):15.1f}x"
        )


if __name__ == "__main__":
    main()
