"""The OctoPrint adapter: the only module that imports octorest.

Every request has a timeout (octorest sets none), the API key travels only in the session
header, and octorest's bare ``RuntimeError("… (status)")`` and the network's errors become:

    PrinterError
     ├── Unreachable    no answer in time, connection refused, bad address
     ├── Unauthorized   the API key was refused (403; 400 "CSRF validation failed" on POST)
     ├── Busy           the printer cannot do that now (409)
     └── Rejected       any other refusal, with its HTTP status and reason
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from octorest import OctoRest

from printers.model import RawStatus

DEFAULT_TIMEOUT = 3.0
_STATUS = re.compile(r"\((\d{3})\)\s*$")


class PrinterError(Exception):
    """Talking to OctoPrint failed; the message is safe to show (it holds no key)."""


class Unreachable(PrinterError):
    pass


class Unauthorized(PrinterError):
    pass


class Busy(PrinterError):
    pass


class Rejected(PrinterError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"OctoPrint refused ({status}): {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Analysis:
    """OctoPrint's analysis of an uploaded file: not ``done`` while it is still queued."""

    done: bool
    estimated_seconds: int | None = None


class _TimedSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        *args: Any,
        **kwargs: Any,
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _translate(exc: Exception) -> PrinterError:
    if isinstance(exc, requests.exceptions.RequestException):
        return Unreachable(f"OctoPrint does not answer: {type(exc).__name__}")
    text = str(exc)
    found = _STATUS.search(text)
    status = int(found.group(1)) if found else 0
    reason = text.split(": ", 1)[-1].rsplit(" (", 1)[0][:200] if found else text[:200]
    if status in (401, 403) or "CSRF" in text:
        return Unauthorized("OctoPrint refused the API key")
    if status == 409:
        return Busy(f"the printer cannot do that now: {reason}")
    return Rejected(status, reason)


class OctoPrintClient:
    """One OctoPrint server."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        http = session or _TimedSession(timeout)
        http.headers["X-Api-Key"] = api_key  # set here: octorest would fetch /api/version first
        try:
            self._octo = OctoRest(url=url, session=http)
        except TypeError as exc:
            raise Rejected(0, f"not an OctoPrint address: {exc}") from None

    def status(self) -> RawStatus:
        try:
            connection = self._octo.connection_info()["current"]["state"] or "Closed"
            job = self._octo.job_info()
            if connection in ("Closed", "Offline", "Detecting serial connection") or (
                "error" in connection.lower()
            ):  # /api/printer answers 409 then; the job's state tells an error apart
                told = str(job.get("state") or connection)
                return RawStatus(told, error=str(job.get("error") or ""))
            printer = self._octo.printer()
        except (RuntimeError, requests.exceptions.RequestException, ValueError, KeyError) as exc:
            raise _translate(exc) from None
        temps = {
            name: (values.get("actual"), values.get("target"))
            for name, values in printer.get("temperature", {}).items()
            if isinstance(values, dict)
        }
        progress = job.get("progress") or {}
        return RawStatus(
            connection=connection,
            error=str(printer.get("state", {}).get("error", "") or ""),
            file=(job.get("job") or {}).get("file", {}).get("name"),
            completion=progress.get("completion"),
            print_time=progress.get("printTime"),
            print_time_left=progress.get("printTimeLeft"),
            temperatures=temps,
        )

    def upload(self, local: Path, remote_name: str) -> None:
        """Put a file on OctoPrint's local storage (octorest drops select/print flags on
        upload, so starting is a separate call)."""
        with local.open("rb") as handle:
            self._call(lambda: self._octo.upload((remote_name, handle)))

    def has_file(self, remote_name: str) -> bool:
        try:
            self._octo.files_info("local", remote_name)
        except RuntimeError as exc:
            if "(404)" in str(exc):
                return False
            raise _translate(exc) from None
        except requests.exceptions.RequestException as exc:
            raise _translate(exc) from None
        return True

    def start(self, remote_name: str) -> None:
        """Select an uploaded file and print it."""
        self._call(lambda: self._octo.select(remote_name, print=True))

    def cancel(self) -> None:
        self._call(self._octo.cancel)

    def analysis(self, remote_name: str) -> Analysis:
        """OctoPrint's own analysis of an uploaded file. OctoPrint analyses uploads only while
        it prints nothing: a file printed right after its upload is analysed after that print.
        A file it no longer has is ``Rejected`` with status 404."""
        info = self._call(lambda: self._octo.files_info("local", remote_name))
        found = (info or {}).get("gcodeAnalysis")
        if not isinstance(found, dict):
            return Analysis(done=False)
        seconds = found.get("estimatedPrintTime")  # absent for a file that extrudes nothing
        return Analysis(True, round(seconds) if isinstance(seconds, int | float) else None)

    def _call(self, action: Any) -> Any:
        try:
            return action()
        except (RuntimeError, requests.exceptions.RequestException, ValueError) as exc:
            raise _translate(exc) from None
