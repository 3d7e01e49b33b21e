"""The OctoPrint adapter: the only module that imports octorest.

Every request has a timeout (octorest sets none), the API key travels only in the session
header, no redirect is followed (it would take the key to another address), and octorest's
bare ``RuntimeError("… <body> (status)")`` and the network's errors become:

    PrinterError
     ├── Unreachable    no answer in time, connection refused, bad address
     ├── Unauthorized   the API key was refused (403; 400 "CSRF validation failed" on POST)
     ├── Busy           the printer cannot do that now (409)
     ├── Rejected       any other answer, with its HTTP status and a reason class
     │    └── Redirected  a 3xx answer: refused, never followed
     └── OutsideNetworks  connected to an address outside LIBRARYLAB_PRINTER_NETWORKS:
                          closed before a byte (or the key) was sent

Messages hold a status code and a class of reason, never the body of an answer: the printer
URL may point at any service, and these messages reach ``/api/health``, which needs no login.
The texts taken from a well-formed OctoPrint answer (its connection state, a firmware error)
are cut to one line of ``SAID_MAX`` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3
from octorest import OctoRest
from requests.adapters import HTTPAdapter

from printers import networks as nets
from printers.model import RawStatus

DEFAULT_TIMEOUT = 3.0
SAID_MAX = 80
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
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Redirected(Rejected):
    def __init__(self, status: int) -> None:
        super().__init__(
            status,
            f"OctoPrint answered with a redirect ({status}); use the address it redirects to",
        )


class OutsideNetworks(PrinterError):
    def __init__(self) -> None:
        super().__init__(f"refused: the printer's address is outside {nets.SETTING}")


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
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def _checked_adapter(networks: tuple[nets.Network, ...]) -> HTTPAdapter:
    """Transport that checks the address each new connection reached, before it is used:
    the check holds whatever a name resolves to at that moment (DNS rebinding)."""

    def check(sock: Any) -> None:
        if not nets.allowed(str(sock.getpeername()[0]), networks):
            sock.close()
            raise OutsideNetworks

    class Checked(urllib3.connection.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            check(self.sock)

    class CheckedTLS(urllib3.connection.HTTPSConnection):
        def connect(self) -> None:
            super().connect()  # the handshake, before any request: no key sent yet
            check(self.sock)

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Checked

    class TLSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = CheckedTLS

    adapter = HTTPAdapter()
    adapter.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}
    return adapter


def _refuse_redirects(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A response hook: it runs before requests would follow a redirect, on any session."""
    if 300 <= response.status_code < 400:
        response.close()
        raise Redirected(response.status_code)


def _translate(exc: Exception) -> PrinterError:
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        # 2xx, but not JSON (requests' JSONDecodeError is a ValueError), or another shape
        return Rejected(0, "not OctoPrint (its answer is not OctoPrint's)")
    if isinstance(exc, requests.exceptions.Timeout):
        return Unreachable("OctoPrint does not answer: timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return Unreachable("OctoPrint does not answer: no connection (refused or unknown host)")
    if isinstance(exc, requests.exceptions.RequestException):
        return Unreachable(f"OctoPrint does not answer: {type(exc).__name__}")
    text = str(exc)  # holds the body: only the status is read from it
    found = _STATUS.search(text)
    status = int(found.group(1)) if found else 0
    if status in (401, 403) or (status == 400 and "CSRF" in text):
        return Unauthorized("OctoPrint refused the API key")
    if status == 409:
        return Busy("the printer cannot do that now (409)")
    return Rejected(status, f"OctoPrint answered {status}")


def _said(text: object) -> str:
    """A text from a well-formed OctoPrint answer, as one short line."""
    line = " ".join(str(text or "").split())
    return line[:SAID_MAX]


class OctoPrintClient:
    """One OctoPrint server."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        networks: tuple[nets.Network, ...] = (),
    ) -> None:
        http = session or _TimedSession(timeout)
        http.hooks["response"].append(_refuse_redirects)
        if networks:
            http.trust_env = False  # a proxy from the environment would be the peer checked
            for scheme in ("http://", "https://"):
                http.mount(scheme, _checked_adapter(networks))
        http.headers["X-Api-Key"] = api_key  # set here: octorest would fetch /api/version first
        try:
            self._octo = OctoRest(url=url, session=http)
        except TypeError as exc:
            raise Rejected(0, f"not an OctoPrint address: {exc}") from None

    def status(self) -> RawStatus:
        try:
            return self._status()
        except (
            RuntimeError,
            requests.exceptions.RequestException,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as exc:
            error = _translate(exc)
            if isinstance(error, Rejected) and error.status == 404:  # OctoPrint has these
                error = Rejected(404, "not OctoPrint (404)")
            raise error from None

    def _status(self) -> RawStatus:
        connection = _said(self._octo.connection_info()["current"]["state"]) or "Closed"
        job = self._octo.job_info()
        if connection in ("Closed", "Offline", "Detecting serial connection") or (
            "error" in connection.lower()
        ):  # /api/printer answers 409 then; the job's state tells an error apart
            told = _said(job.get("state")) or connection
            return RawStatus(told, error=_said(job.get("error")))
        printer = self._octo.printer()
        temps = {
            name: (values.get("actual"), values.get("target"))
            for name, values in printer.get("temperature", {}).items()
            if isinstance(values, dict)
        }
        progress = job.get("progress") or {}
        return RawStatus(
            connection=connection,
            error=_said(printer.get("state", {}).get("error")),
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
            self._call(lambda: self._octo.files_info("local", remote_name))
        except Rejected as exc:
            if exc.status == 404:
                return False
            raise
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
