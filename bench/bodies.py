"""What an oversized request costs the service: disk, memory and CPU.

    .venv/bin/python bench/bodies.py [--upload-mb 200] [--form-mb 100] [--repeats 3]

Each scenario runs against a fresh ``librarylab serve`` (SQLite, no MQTT) whose TMPDIR is a
folder of its own, where python-multipart spools uploads. Figures per scenario, medians of
``--repeats`` runs:

- the status and the seconds until the answer came;
- MB sent before the answer came (the client stops sending once it has an answer);
- MB the server process wrote (``wchar`` of /proc/PID/io: files and sockets), and the
  largest growth of the space used on its TMPDIR's file system (where uploads spool);
- its CPU seconds and the growth of its peak RSS (VmHWM) during the request.

Scenarios: (a) a multipart POST of ``--upload-mb`` to /api/print-files without a token;
(b) the same body sent chunked (no Content-Length); (c) ``--form-mb`` of urlencoded form
to /login; (d) a picture bomb: a G-code file with a 50-megapixel PNG of 200 KB, with a
token; (e) a 12-megapixel phone-sized JPEG, with a token (what a real picture costs); (f) a
16-megapixel PNG, the most a picture may have, decoded in full (a JPEG is decoded smaller).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.printers.jobs import gcode
from tests.served import Served

CHUNK = 1 << 20
BOUNDARY = "benchboundary0123456789"


@dataclass
class Outcome:
    status: int
    seconds: float
    sent_mb: float
    wrote_mb: float
    spool_mb: float
    cpu_seconds: float
    rss_growth_mb: float


def _proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def _field(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise KeyError(key)


def _cpu(pid: int) -> float:
    fields = _proc(pid, "stat").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


class SpoolWatch:
    """Polls the space used on the file system of a folder; keeps the largest growth.

    python-multipart's spool files have no name (O_TMPFILE), so the folder itself looks
    empty: its file system's use shows them (other writers on it add noise).
    """

    def __init__(self, folder: Path) -> None:
        self.folder, self.stop = folder, threading.Event()
        self.start = self.largest = self._used()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _used(self) -> int:
        stat = os.statvfs(self.folder)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def _run(self) -> None:
        while not self.stop.is_set():
            self.largest = max(self.largest, self._used())
            time.sleep(0.01)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        return max(0, self.largest - self.start)


def multipart(total_mb: int) -> tuple[Callable[[], Iterator[bytes]], int]:
    """A multipart body with one file of about ``total_mb``: its chunks, and its length."""
    start = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.gcode"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    end = f"\r\n--{BOUNDARY}--\r\n".encode()
    filler = b"G1 X10 Y10\n" * (CHUNK // 11)

    def chunks() -> Iterator[bytes]:
        yield start
        for _ in range(total_mb * CHUNK // len(filler)):
            yield filler
        yield end

    return chunks, len(start) + (total_mb * CHUNK // len(filler)) * len(filler) + len(end)


def chunked(body: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in body:
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def picture_upload(picture: bytes, filename: str) -> tuple[Callable[[], Iterator[bytes]], int]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.gcode"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = (
        head
        + gcode(1)
        + (
            f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="picture"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + picture
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return lambda: iter([body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]), len(body)


def bomb() -> bytes:
    """50 megapixels of one colour: 200 KB as PNG, 150 MB once decoded."""
    out = io.BytesIO()
    Image.new("RGB", (8000, 6247), (200, 120, 40)).save(out, "PNG", optimize=True)
    return out.getvalue()


def gradient(size: tuple[int, int], fmt: str) -> bytes:
    small = Image.linear_gradient("L").resize((256, 256))
    image = Image.merge("RGB", (small, small.rotate(90), small.rotate(180)))
    out = io.BytesIO()
    image.resize(size).save(out, fmt)
    return out.getvalue()


def measure(head: str, body: Callable[[], Iterator[bytes]], token: bool) -> Outcome:
    with tempfile.TemporaryDirectory() as folder:
        spool = Path(folder) / "tmp"
        spool.mkdir()
        served = Served(Path(folder), mqtt_enabled="false")
        served.env["TMPDIR"] = str(spool)
        served.start()
        try:
            assert served.process is not None
            pid = served.process.pid
            auth = f"Authorization: Bearer {served.token}\r\n" if token else ""
            request = head.replace("{auth}", auth)
            wrote, cpu, peak = (
                _field(_proc(pid, "io"), "wchar"),
                _cpu(pid),
                _field(_proc(pid, "status"), "VmHWM"),
            )
            watch = SpoolWatch(spool)
            started = time.monotonic()
            status, _answer, sent = served.exchange(request, body())
            seconds = time.monotonic() - started
            time.sleep(0.5)  # the server may still be reading what was sent
            largest = watch.close()
            return Outcome(
                status=status,
                seconds=seconds,
                sent_mb=sent / 1e6,
                wrote_mb=(_field(_proc(pid, "io"), "wchar") - wrote) / 1e6,
                spool_mb=largest / 1e6,
                cpu_seconds=_cpu(pid) - cpu,
                rss_growth_mb=(_field(_proc(pid, "status"), "VmHWM") - peak) / 1024,
            )
        finally:
            served.stop()


def scenarios(
    upload_mb: int, form_mb: int
) -> dict[str, tuple[str, Callable[[], Iterator[bytes]], bool]]:
    upload, upload_length = multipart(upload_mb)
    form_chunk = b"a" * CHUNK

    def form() -> Iterator[bytes]:
        yield b"username=x&password="
        for _ in range(form_mb):
            yield form_chunk

    picture, picture_length = picture_upload(bomb(), "bomb.png")
    photo, photo_length = picture_upload(gradient((4032, 3024), "JPEG"), "photo.jpg")
    cap, cap_length = picture_upload(gradient((4000, 4000), "PNG"), "cap.png")
    post = "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {kind}\r\n"
    files = f"multipart/form-data; boundary={BOUNDARY}"
    return {
        f"(a) {upload_mb} MB multipart, no token": (
            post.format(path="/api/print-files", auth="{auth}", kind=files)
            + f"Content-Length: {upload_length}\r\n\r\n",
            upload,
            False,
        ),
        f"(b) {upload_mb} MB multipart chunked, no token": (
            post.format(path="/api/print-files", auth="{auth}", kind=files)
            + "Transfer-Encoding: chunked\r\n\r\n",
            lambda: chunked(upload()),
            False,
        ),
        f"(c) {form_mb} MB urlencoded to /login": (
            post.format(path="/login", auth="", kind="application/x-www-form-urlencoded")
            + f"Content-Length: {form_mb * CHUNK + 20}\r\n\r\n",
            form,
            False,
        ),
        "(d) 50 MP PNG picture bomb, with token": (
            post.format(path="/api/print-files", auth="{auth}", kind=files)
            + f"Content-Length: {picture_length}\r\n\r\n",
            picture,
            True,
        ),
        "(e) 12 MP JPEG photo, with token": (
            post.format(path="/api/print-files", auth="{auth}", kind=files)
            + f"Content-Length: {photo_length}\r\n\r\n",
            photo,
            True,
        ),
        "(f) 16 MP PNG picture, with token": (
            post.format(path="/api/print-files", auth="{auth}", kind=files)
            + f"Content-Length: {cap_length}\r\n\r\n",
            cap,
            True,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--form-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="letters of the scenarios to run, e.g. ad")
    args = parser.parse_args()
    print(
        f"{'scenario':42} {'status':>6} {'s':>6} {'sent MB':>8} {'wrote MB':>9} "
        f"{'spool MB':>9} {'CPU s':>6} {'+RSS MB':>8}"
    )
    for name, (head, body, token) in scenarios(args.upload_mb, args.form_mb).items():
        if args.only and name[1] not in args.only:
            continue
        runs = [measure(head, body, token) for _ in range(args.repeats)]

        def median(values: list[float]) -> float:
            return statistics.median(values)

        print(
            f"{name:42} {runs[0].status:>6} {median([r.seconds for r in runs]):6.2f} "
            f"{median([r.sent_mb for r in runs]):8.1f} {median([r.wrote_mb for r in runs]):9.1f} "
            f"{median([r.spool_mb for r in runs]):9.1f} "
            f"{median([r.cpu_seconds for r in runs]):6.2f} "
            f"{median([r.rss_growth_mb for r in runs]):8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
