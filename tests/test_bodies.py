"""Oversized request bodies are refused before the service reads, spools or buffers them.

A real ``librarylab serve``, spoken to over a raw socket so that a body can be larger than
it says, or come without a length at all (chunked). The witness is the service process's
own count of bytes written (``wchar``, files and sockets alike: uploads spool to unnamed
temporary files that no folder listing shows) and its peak memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.served import Served

MB = 1 << 20
BOUNDARY = "testboundary0123456789"
PRINT_FILE_MAX_MB = 1  # the upload routes take 1 + 10 (picture) MB and a little more
UPLOAD_LIMIT = (PRINT_FILE_MAX_MB + 10) * MB + 64 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    service = Served(
        tmp_path_factory.mktemp("bodies"),
        mqtt_enabled="false",
        print_file_max_mb=str(PRINT_FILE_MAX_MB),
    )
    service.start()
    yield service
    service.stop()


def multipart(megabytes: int) -> Iterator[bytes]:
    """A multipart body with one G-code file of ``megabytes``, in 1 MB chunks."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.gcode"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    line = b"G1 X10 Y10\n"
    for _ in range(megabytes):
        yield line * (MB // len(line))
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def chunked(body: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in body:
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def head(path: str, kind: str, length: int | None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {kind}"]
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    lines.append(framing)
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


def problem(answer: bytes) -> dict[str, object]:
    found: dict[str, object] = json.loads(answer.partition(b"\r\n\r\n")[2])
    return found


UPLOAD = f"multipart/form-data; boundary={BOUNDARY}"
FORM = "application/x-www-form-urlencoded"


def test_a_200_mb_upload_without_a_token_is_refused_by_its_length_unread(
    served: Served,
) -> None:
    before = served.written_bytes()
    status, answer, _sent = served.exchange(
        head("/api/print-files", UPLOAD, 200 * MB), multipart(200)
    )
    assert status == 413
    assert problem(answer)["detail"] == (
        "The upload is larger than 11 MB: a print file may have 1 MB, its picture 10 MB."
    )
    assert served.written_bytes() - before < MB


def test_an_upload_without_a_token_is_refused_before_its_body_is_read(served: Served) -> None:
    """Chunked, so no length gives it away: only authentication before the body does."""
    before = served.written_bytes()
    status, answer, _sent = served.exchange(
        head("/api/print-files", UPLOAD, None), chunked(multipart(200))
    )
    assert status == 401
    assert "Authorization: Bearer" in str(problem(answer)["detail"])
    assert served.written_bytes() - before < MB


def test_the_upload_page_sends_a_stranger_to_log_in_before_reading_the_upload(
    served: Served,
) -> None:
    before = served.written_bytes()
    status, answer, _sent = served.exchange(
        head("/printers/files/new", UPLOAD, None), chunked(multipart(200))
    )
    assert status == 303
    assert b"location: /login?next=" in answer.lower()
    assert served.written_bytes() - before < MB


def test_a_chunked_upload_is_cut_off_at_the_routes_limit(served: Served) -> None:
    """With a valid token, a body that never says its length is counted as it comes."""
    before = served.written_bytes()
    status, answer, sent = served.exchange(
        head("/api/print-files", UPLOAD, None, served.token), chunked(multipart(40))
    )
    assert status == 413
    assert problem(answer)["type"] == "/problems/too-large"
    assert sent < 40 * MB
    assert served.written_bytes() - before < UPLOAD_LIMIT + MB
    assert served.api("GET", "/api/print-files") == []


@pytest.mark.parametrize("path", ["/login", "/api/stations"])
def test_a_big_form_is_refused_before_the_csrf_check_buffers_it(served: Served, path: str) -> None:
    """asgi-csrf reads a whole urlencoded body (of /login, or of any request with a
    cookie) to find its token; 30 MB cost it 60 MB of memory and seconds of CPU."""
    memory = served.peak_memory_kb()
    filler = b"a" * MB

    def body() -> Iterator[bytes]:
        yield b"username=ada&password="
        for _ in range(30):
            yield filler

    cookie = "Cookie: csrftoken=x\r\n" if path != "/login" else ""
    status, answer, _sent = served.exchange(
        head(path, FORM, None).replace("\r\n\r\n", f"\r\n{cookie}\r\n"), chunked(body())
    )
    assert status == 413
    assert problem(answer)["detail"] == "The request is larger than 256 KB."
    assert served.peak_memory_kb() - memory < 20 * 1024


def test_a_form_within_the_limit_still_works(served: Served, tmp_path: Path) -> None:
    notes = "ü" * 4000  # 24 KB as JSON escapes it (\u00fc)
    station = {"name": "VR 1", "kind": "vr", "capacity": 2, "notes": notes}
    body = json.dumps(station).encode()
    assert len(body) > 24_000
    created = httpx2.post(
        f"{served.base}/api/stations",
        content=body,
        headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["notes"] == notes
    added = served.add_file(b"G28\nG1 X1\n" * 50_000)  # 500 KB, with its token
    assert [f["id"] for f in served.api("GET", "/api/print-files")] == [added]
