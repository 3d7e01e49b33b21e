"""Password guessing against a real `librarylab serve`: how fast one client may guess, and
what guessing clients do to everyone else's requests.

    .venv/bin/python bench/login_guessing.py [--seconds 60] [--clients 4] [--load-seconds 20]

1. One client posts wrong passwords for the admin ``ada`` for ``--seconds``: requests/s,
   and how many wrong guesses got a password check (401) rather than a refusal (429).
2. Right after, the right password: does it get in while the account is locked?
3. ``/api/visits`` latency (median of sequential requests) idle, then while ``--clients``
   clients guess, each from an address of its own (127.0.0.2, 127.0.0.3, ...) on an
   account name of its own; the ratio is against the idle median of the same run. For
   comparison, the same number of clients loading the login page (no password check).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.served import PASSWORD, Served

CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')


class Guesser:
    """A browser-like client on the login form, from ``address``."""

    def __init__(self, base: str, address: str = "127.0.0.1") -> None:
        transport = httpx2.HTTPTransport(local_address=address)
        self.client = httpx2.Client(base_url=base, transport=transport, timeout=60)
        self.token = ""

    def attempt(self, name: str, password: str) -> int:
        if not self.token:
            match = CSRF_FIELD.search(self.client.get("/login").text)
            assert match, "no CSRF field on /login"
            self.token = match.group(1)
        data = {"name": name, "password": password, "csrftoken": self.token, "next": "/"}
        return self.client.post("/login", data=data, follow_redirects=False).status_code


def guess_for(seconds: float, guesser: Guesser, name: str) -> dict[int, int]:
    """Wrong guesses for ``seconds``; answers by status code."""
    answers: dict[int, int] = {}
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        status = guesser.attempt(name, f"wrong-guess-{n}")
        answers[status] = answers.get(status, 0) + 1
    return answers


def median_latency(served: Served, seconds: float) -> tuple[float, int]:
    """Median of sequential ``GET /api/visits`` in ms, and how many were sent."""
    times = []
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx2.Client(base_url=served.base, headers=headers, timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            assert client.get("/api/visits").status_code == 200
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(times)


def under_load(
    served: Served,
    args: argparse.Namespace,
    client: Callable[[int], None],
    stop: threading.Event,
) -> tuple[float, int]:
    """``median_latency`` while ``--clients`` threads run ``client`` until it returns."""
    stop.clear()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # let them get going
    try:
        return median_latency(served, args.load_seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--load-seconds", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        served = Served(Path(folder), mqtt_enabled="false")
        served.start()
        try:
            one = Guesser(served.base)
            started = time.monotonic()
            answers = guess_for(args.seconds, one, "ada")
            took = time.monotonic() - started
            total = sum(answers.values())
            checked = answers.get(401, 0)
            print(f"one client, {took:.0f} s of wrong guesses for 'ada': {answers}")
            print(f"  requests/s: {total / took:.1f}")
            print(f"  wrong guesses that got a password check: {checked} ({checked / took:.2f}/s)")
            right = one.attempt("ada", PASSWORD)
            print(
                f"right password right after: {right} ({'got in' if right == 303 else 'refused'})"
            )

            idle, idle_n = median_latency(served, args.load_seconds)
            stop = threading.Event()
            counts: list[dict[int, int]] = []

            def guess(i: int) -> None:
                guesser = Guesser(served.base, f"127.0.0.{i + 2}")
                answers: dict[int, int] = {}
                n = 0
                while not stop.is_set():
                    n += 1
                    status = guesser.attempt(f"user-{i}", f"wrong-guess-{n}")
                    answers[status] = answers.get(status, 0) + 1
                counts.append(answers)

            def browse(i: int) -> None:
                with httpx2.Client(base_url=served.base, timeout=60) as client:
                    while not stop.is_set():
                        client.get("/login")

            loaded, loaded_n = under_load(served, args, guess, stop)
            control, control_n = under_load(served, args, browse, stop)
            print(f"/api/visits median, idle: {idle:.1f} ms ({idle_n} requests)")
            print(
                f"/api/visits median, {args.clients} guessing clients: {loaded:.1f} ms "
                f"({loaded_n} requests), {loaded / idle:.1f}x idle"
            )
            print(f"  the guessing clients' answers: {counts}")
            print(
                f"/api/visits median, {args.clients} clients loading /login (no password "
                f"check, for comparison): {control:.1f} ms ({control_n} requests), "
                f"{control / idle:.1f}x idle"
            )
        finally:
            served.stop()


if __name__ == "__main__":
    main()
