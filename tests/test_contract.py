"""The served API keeps its OpenAPI contract, as an outside tester would check it.

Schemathesis reads ``/openapi.json`` of a real ``librarylab serve`` with the demo program
and an admin token, and runs all its phases (examples, coverage, fuzzing, stateful) with
every check but ``positive_data_acceptance`` (a schema-valid request may still break a
business rule, e.g. a second station of the same name). Every status, content type, body
and ``Allow`` header must be as documented, and a request the document forbids must be
refused. Generation is deterministic (Hypothesis derandomized, no example database), so
every run on the same day sends the same cases (the demo program is laid around today).

Nothing is excluded but one check on the plan operations (``tests/schemathesis.toml`` says
why): the API has no operation that would break the instance for the rest
of the run (a token cannot revoke itself, nobody can demote or deactivate themselves or the
last active admin, and a password reset leaves tokens alone), and the wall's event stream,
which never ends, is not part of the document (``include_in_schema=False``), like the
staff pages.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.librarylab.test_cli import run
from tests.served import Served
from tests.services import free_port

SCHEMATHESIS = str(Path(sys.executable).parent / "st")
# Per-operation settings: only where a check's assumption does not hold, each with its reason.
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Cases per operation and phase: about 2,400 cases in all, a good minute on two cores.
MAX_EXAMPLES = 30


def test_the_served_api_keeps_its_openapi_contract(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    served = Served(tmp_path, mqtt_embedded_port=str(free_port()))
    assert run(["demo"], served.env).returncode == 0
    served.start()
    # A printer (at an address where nothing answers: it shows as offline), so that the
    # printer operations meet a record too.
    printer = {"name": "Prusa", "url": f"http://127.0.0.1:{free_port()}", "api_key": "key-1234"}
    served.api("POST", "/api/printers", json=printer)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [
                SCHEMATHESIS,
                f"--config-file={CONFIG}",
                "run",
                f"{served.base}/openapi.json",
                "--phases=examples,coverage,fuzzing,stateful",
                f"--header=Authorization: Bearer {served.token}",
                f"--max-examples={MAX_EXAMPLES}",
                "--generation-deterministic",
                "--request-timeout=30",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
            check=False,
        )
    finally:
        served.stop()
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    notes = result.stdout[result.stdout.rfind("WARNINGS") :] if "WARNINGS" in result.stdout else ""
    generated = re.search(r"(\d+) generated", summary)
    cases = int(generated[1]) if generated else 0
    record_property("schemathesis_cases", cases)
    print(f"schemathesis: {cases} cases in {time.monotonic() - started:.0f} s\n{notes or summary}")
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    assert cases > 1000, summary
    assert f"{cases} generated, {cases} passed" in summary, summary
