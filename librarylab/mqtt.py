"""The MQTT bus: the only module that imports paho-mqtt.

It connects in the background (the app boots before the broker is up), subscribes in
``on_connect`` (so every reconnect re-subscribes and the broker replays retained state),
reconnects within seconds, and leaves a retained ``offline`` last will on the service's
status topic. Payloads are JSON with ``ts`` (UTC, ISO 8601) and a schema version ``v``.
Anyone on the broker can publish, so a message larger than ``MAX_PAYLOAD_BYTES`` or not a
JSON object never reaches a handler: it is dropped and counted (``dropped``), with a warning
at most once a minute per topic and never its payload.

Errors of paho and the network never escape: the bus records them as ``last_error``.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from librarylab.logs import Throttle, shown

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ENVELOPE = frozenset({"ts", "v"})  # the fields ``envelope`` adds to every payload
MAX_PAYLOAD_BYTES = 64 * 1024  # the largest real payload (a day's rotation) is a few KiB
# CONNACK "bad user name or password" and "not authorized" (MQTT 3.1.1 codes 4 and 5 as paho
# reports them in MQTT 5 terms)
_REFUSED_ACCOUNT = frozenset({134, 135})
Handler = Callable[[str, dict[str, Any] | None], None]  # (topic, payload or None if empty)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://user:pass@host:1883`` → an address; mqtts:// means TLS (default 8883)."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )


def envelope(payload: dict[str, Any], now: datetime | None = None) -> str:
    """The JSON text of a payload with its timestamp and schema version."""
    stamp = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    return json.dumps({**payload, "ts": stamp, "v": SCHEMA_VERSION}, separators=(",", ":"))


class Bus:
    """One MQTT connection of the service."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        status_topic: str | None,
        ca_file: str | None = None,
    ) -> None:
        """``status_topic`` carries ``online`` and the ``offline`` last will; None for a
        client that only listens (a broker with ACLs refuses a will on a topic it forbids)."""
        self.address = address
        self.status_topic = status_topic
        self._ca_file = ca_file
        self.connected = False
        self.last_error: str | None = None
        self.dropped = 0  # messages too large or not a JSON object
        self.received = 0  # messages that reached a handler (for the metrics)
        self.sent = 0  # messages handed to paho
        self._warnings = Throttle()
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.max_inflight_messages_set(100)
        if status_topic is not None:
            self._client.will_set(status_topic, envelope({"state": "offline"}), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._client.connect_async(self.address.host, self.address.port, keepalive=15)
        except (OSError, ValueError) as exc:
            self.last_error = str(exc)
        self._client.loop_start()

    def stop(self) -> None:
        if self.connected and self.status_topic is not None:
            self.publish(self.status_topic, {"state": "offline"}, retain=True)
        self._client.disconnect()
        self._client.loop_stop()

    # -- use -----------------------------------------------------------------------------
    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Call ``handler`` for each message matching ``topic_filter``, also after reconnects."""
        with self._lock:
            self._handlers[topic_filter] = handler

        def deliver(_client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
            try:
                payload = _decode(message.payload)
            except Undecodable as exc:
                self._drop(message.topic, str(exc))
                return
            self.received += 1
            handler(message.topic, payload)

        self._client.message_callback_add(topic_filter, deliver)
        if self.connected:
            self._client.subscribe(topic_filter, qos=1)

    def publish(self, topic: str, payload: dict[str, Any] | None, *, retain: bool = False) -> bool:
        """Publish JSON (``None`` clears a retained topic); False when not connected."""
        text = "" if payload is None else envelope(payload)
        info = self._client.publish(topic, text, qos=1, retain=retain)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.sent += 1
            return True
        return False

    def _drop(self, topic: str, why: str) -> None:
        self.dropped += 1
        self._warnings.warn(log, topic, f"dropped an MQTT message on {shown(topic)}: {why}")

    # -- paho callbacks (paho's thread) -------------------------------------------------
    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        if reason.is_failure:
            self.connected = False
            self.last_error = str(reason)
            if reason.value in _REFUSED_ACCOUNT:
                who = self.address.username
                self.last_error += (
                    f" (the broker refused the account '{who}')"
                    if who
                    else (" (the broker wants an account)")
                )
            log.warning("MQTT broker refused the connection: %s", self.last_error)
            return
        self.connected = True
        self.last_error = None
        log.info("connected to MQTT broker %s:%d", self.address.host, self.address.port)
        with self._lock:
            filters = list(self._handlers)
        for topic_filter in filters:
            client.subscribe(topic_filter, qos=1)
        if self.status_topic is not None:
            client.publish(self.status_topic, envelope({"state": "online"}), qos=1, retain=True)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Any,
    ) -> None:
        if self.connected:
            log.warning("lost the MQTT broker: %s", reason)
        self.connected = False
        if reason.is_failure and self.last_error is None:  # keep a refusal's own reason
            self.last_error = str(reason)

    def _on_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self.connected = False
        self.last_error = self.last_error or self._why_unreachable()

    def _why_unreachable(self) -> str:
        """paho does not say why a connection failed. Over TLS a handshake of our own does:
        a certificate the service does not trust is a common cause, and hard to guess."""
        if not self.address.tls:
            return "broker unreachable"
        host, port = self.address.host, self.address.port
        context = ssl.create_default_context(cafile=self._ca_file)
        try:
            with (
                socket.create_connection((host, port), timeout=3) as raw,
                context.wrap_socket(raw, server_hostname=host),
            ):
                return "broker unreachable"
        except ssl.SSLCertVerificationError as exc:
            return f"broker unreachable: its TLS certificate is not trusted ({exc.verify_message})"
        except OSError as exc:
            return f"broker unreachable: {exc.strerror or exc}"


class Undecodable(ValueError):
    """A message that is not a payload of ours: too large, not JSON, or not an object."""


def _decode(raw: bytes | bytearray) -> dict[str, Any] | None:
    """The payload as a dict; ``None`` for an empty message (a cleared retained topic)."""
    if not raw:
        return None
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise Undecodable(f"{len(raw)} bytes, more than {MAX_PAYLOAD_BYTES}")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Undecodable("not JSON") from None
    if not isinstance(value, dict):
        raise Undecodable("not a JSON object")
    return value
