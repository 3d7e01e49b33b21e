"""The HTTPS set-up of docs/deploy.md: a real nginx with ``deploy/nginx/librarylab.conf`` in
front of a real ``librarylab serve`` with the settings of ``deploy/librarylab.env`` that
concern it (secure cookies, allowed hosts, the public URL)."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from librarylab.app import SESSION_COOKIE
from tests.librarylab.test_cli import _env, run
from tests.librarylab.test_mqtt import wait_until
from tests.librarylab.test_serve import serving
from tests.services import free_port, wait_for_port
from tests.test_deploy_mqtt import DEPLOY, make_ca

HOST = "lab.example.org"
PASSWORD = "proxy-password-1"


def _nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise RuntimeError("nginx is missing: 'make test' installs it (apt-get install nginx)")
    return found


def deployed_site(replace: dict[str, str]) -> str:
    """``deploy/nginx/librarylab.conf`` with ports, addresses and paths replaced; each must
    still be there, so the test fails when the file changes under it."""
    text = (DEPLOY / "nginx" / "librarylab.conf").read_text()
    for old, new in replace.items():
        assert old in text, f"deploy/nginx/librarylab.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Proxied:
    https: str  # nginx's HTTPS address
    http: str  # nginx's plain HTTP address
    direct: str  # the service itself, bypassing nginx
    verify: ssl.SSLContext  # trusts the test CA
    log: Path  # the service's output
    env: dict[str, str]


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    folder = tmp_path_factory.mktemp("deploy-proxy")
    certs = make_ca(folder / "certs", HOST, "127.0.0.1")
    env = _env(folder, f"sqlite:///{folder / 'lab.sqlite3'}") | {
        "LIBRARYLAB_MQTT_ENABLED": "false",
        "LIBRARYLAB_COOKIE_SECURE": "true",
        "LIBRARYLAB_ALLOWED_HOSTS": HOST,
        "LIBRARYLAB_PUBLIC_URL": f"https://{HOST}",
    }
    added = run(["user", "add", "ada", "--role", "admin"], env, PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    log = folder / "serve.log"
    with serving(env, log) as direct:
        https_port, http_port = free_port(), free_port()
        site = deployed_site(
            {
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "listen [::]:80;": "",
                "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                "listen [::]:443 ssl http2;": "",
                f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(certs / "server.crt"),
                f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(certs / "server.key"),
                "http://127.0.0.1:8000": direct,
            }
        )
        nginx = folder / "nginx"
        nginx.mkdir()
        (nginx / "site.conf").write_text(site)
        temp = "\n".join(
            f"  {kind}_temp_path {nginx / kind};" for kind in ("client_body", "proxy", "fastcgi")
        )
        (nginx / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\npid {nginx / 'nginx.pid'};\nerror_log {nginx / 'error.log'};\n"
            "events {}\n"
            f"http {{\n  access_log {nginx / 'access.log'};\n{temp}\n"
            f"  uwsgi_temp_path {nginx / 'uwsgi'};\n  scgi_temp_path {nginx / 'scgi'};\n"
            f"  include {nginx / 'site.conf'};\n}}\n"
        )
        command = [_nginx(), "-p", str(nginx), "-c", str(nginx / "nginx.conf"), "-e", "stderr"]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(https_port)
            verify = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            yield Proxied(
                f"https://127.0.0.1:{https_port}",
                f"http://127.0.0.1:{http_port}",
                direct,
                verify,
                log,
                env,
            )
        finally:
            process.terminate()
            process.wait(timeout=10)


def through(proxied: Proxied, **headers: str) -> httpx2.Client:
    """A browser reaching the service at https://lab.example.org through nginx."""
    return httpx2.Client(
        base_url=proxied.https, verify=proxied.verify, headers={"Host": HOST, **headers}
    )


def cookies_of(answer: httpx2.Response) -> dict[str, str]:
    """The Set-Cookie headers of an answer, by cookie name."""
    return {line.split("=", 1)[0]: line for line in answer.headers.get_list("set-cookie")}


def test_through_the_proxy_the_login_cookies_are_secure(proxied: Proxied) -> None:
    with through(proxied) as browser:
        page = browser.get("/login")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert re.fullmatch(r"[0-9a-f]{32}", page.headers["x-request-id"])  # nginx's id
        csrf = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
        assert csrf
        login = browser.post(
            "/login", data={"name": "ada", "password": PASSWORD, "csrftoken": csrf.group(1)}
        )
        assert login.status_code == 303, login.text
        set_cookies = cookies_of(login)
        assert set_cookies, "the login set no cookie"
        for name, line in set_cookies.items():
            assert "; secure" in line.lower(), (name, line)
        assert "httponly" in set_cookies[SESSION_COOKIE].lower()
        assert browser.get("/visits").status_code == 200  # the cookies work over HTTPS


def test_the_service_sees_https_and_the_proxys_client_address(proxied: Proxied) -> None:
    # Starlette's slash redirect names scheme and host: what the service believes they are.
    with through(proxied, **{"X-Forwarded-For": "203.0.113.9"}) as browser:
        redirect = browser.get("/visits/")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"https://{HOST}/visits"
    # Without the proxy the same request is plain HTTP: the https above came from nginx.
    plain = httpx2.get(f"{proxied.direct}/visits/", headers={"Host": HOST})
    assert plain.headers["location"] == f"http://{HOST}/visits"
    # The service trusts X-Forwarded-For from 127.0.0.1 (uvicorn's default), and its log
    # shows the address it took from there; so nginx must set the header, as it does: the
    # client's own value never got through.
    httpx2.get(f"{proxied.direct}/login", headers={"Host": HOST, "X-Forwarded-For": "198.51.100.7"})
    wait_until(lambda: "198.51.100.7" in proxied.log.read_text())
    assert "203.0.113.9" not in proxied.log.read_text()


def test_plain_http_only_redirects_to_https(proxied: Proxied) -> None:
    answer = httpx2.get(f"{proxied.http}/login?next=/visits", headers={"Host": HOST})
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{HOST}/login?next=/visits"


def test_a_host_that_is_not_allowed_is_refused_behind_the_proxy(proxied: Proxied) -> None:
    with through(proxied, Host="evil.example") as browser:
        refused = browser.get("/login")
    assert refused.status_code == 400
    assert "evil.example" not in refused.text


def test_the_walls_event_stream_passes_the_proxy_at_once(proxied: Proxied) -> None:
    display = run(["display-token", "create", "Foyer"], proxied.env)
    assert display.returncode == 0, display.stderr
    token = display.stdout.splitlines()[-1]
    with (
        through(proxied) as browser,
        browser.stream("GET", "/wall/events", params={"token": token}, timeout=5) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = []
        for line in answer.iter_lines():  # a buffered stream would time out here
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
            if len(events) == 2:
                break
    assert events == ["snapshot", "broker"]
