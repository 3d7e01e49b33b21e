"""LIBRARYLAB_LOG_FORMAT=json: one JSON object per line, with the request's id, secrets masked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from librarylab.logs import REQUEST_ID, JsonFormatter
from tests.librarylab.test_cli import LIBRARYLAB
from tests.served import Served
from tests.services import wait_for_port

SECRET = "ll_secret-token-in-a-link-0815"


def lines_until(path: Path, found: str, timeout: float = 30) -> list[dict[str, Any]]:
    """The log's lines as JSON objects, once one of them holds ``found``."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text()
        if found in text or time.monotonic() > deadline:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        time.sleep(0.2)


def test_json_logs_carry_the_request_id_and_mask_query_tokens(tmp_path: Path) -> None:
    served = Served(tmp_path, log_format="json", mqtt_enabled="false")
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [LIBRARYLAB, "serve", "--port", str(served.port)],
            env=served.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(served.port, timeout=30)
            mine = httpx2.get(
                f"{served.base}/api/visits.ics?token={SECRET}",
                headers={"X-Request-ID": "proxy-id-42"},
                timeout=10,
            )
            forged = httpx2.get(
                f"{served.base}/api/stations",
                headers={"X-Request-ID": 'x" level=ERROR forged'},
                timeout=10,
            )
            entries = lines_until(log, "/api/stations")
        finally:
            process.terminate()
            process.wait(timeout=15)

    assert mine.headers["x-request-id"] == "proxy-id-42"
    generated = forged.headers["x-request-id"]
    assert generated != 'x" level=ERROR forged'
    assert len(generated) == 16
    for entry in entries:  # every line parsed as JSON above
        assert entry.keys() >= {"time", "level", "logger", "message", "request_id"}
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    ics = next(e for e in access if "/api/visits.ics" in e["message"])
    assert ics["request_id"] == "proxy-id-42"
    assert "token=***" in ics["message"]
    stations = next(e for e in access if "/api/stations" in e["message"])
    assert stations["request_id"] == generated
    assert any(e["logger"] == "uvicorn.error" and e["request_id"] is None for e in entries)
    assert SECRET not in log.read_text()


def test_the_json_formatter_masks_secrets_in_messages_and_errors() -> None:
    try:
        raise ValueError(f"/posts/{SECRET}")
    except ValueError:
        record = logging.LogRecord(
            "librarylab.x",
            logging.ERROR,
            __file__,
            1,
            "GET %s",
            (f"/wall?token={SECRET}",),
            sys.exc_info(),
        )
    token = REQUEST_ID.set("abc")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert entry["request_id"] == "abc"
    assert entry["message"] == "GET /wall?token=***"
    assert entry["level"] == "ERROR"
    assert SECRET not in entry["exception"]
