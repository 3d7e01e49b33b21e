"""The embedded MQTT broker (amqtt) for the zero-setup default.

It runs in its own thread with its own event loop, bound to 127.0.0.1, and keeps retained
messages in a SQLite file in the data folder so the wall's state survives a restart. With
``LIBRARYLAB_MQTT_URL`` set, none of this runs: Mosquitto (or any broker) is used instead.

Nobody connects without an account of ``librarylab/mqtt_access.py``, and each account may
publish, subscribe and receive only what its rules allow: amqtt's own FileAuthPlugin checks
the passwords, two small additions cover what amqtt 0.12.1 leaves open (a last will on any
topic, retained messages of other clients' subscriptions sent to a new client).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker, BrokerContext
from amqtt.contexts import Action
from amqtt.plugins.authentication import FileAuthPlugin, PasswordFileError
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.session import Session

from librarylab.logs import shown
from librarylab.mqtt_access import SERVICE_USER, may_publish, may_read
from librarylab.private import private_file

log = logging.getLogger(__name__)


class EmbeddedBrokerError(Exception):
    """The embedded broker could not start (e.g. its port is taken)."""


class EmbeddedBroker:
    """amqtt on ``127.0.0.1:port`` in a background thread."""

    def __init__(self, port: int, data_dir: Path, prefix: str, password_file: Path) -> None:
        self.port = port
        self.prefix = prefix
        self.password_file = password_file
        self.store = data_dir / "mqtt-retained.sqlite3"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mqtt-broker", daemon=True
        )
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        rules = {"prefix": self.prefix, "service_user": SERVICE_USER}
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                f"{__name__}.AccountsPlugin": {"password_file": str(self.password_file), **rules},
                f"{__name__}.TopicRulesPlugin": rules,
                "amqtt.contrib.persistence.SessionDBPlugin": {
                    "connection": f"sqlite+aiosqlite:///{self.store}",
                    "clear_on_shutdown": False,
                },
            },
        }

    def start(self, timeout: float = 10) -> None:
        private_file(self.store)
        self._thread.start()

        async def boot() -> None:
            self._broker = _Broker(self._config(), loop=self._loop)
            await self._broker.start()

        try:
            asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout)
        except Exception as exc:
            self.stop()
            raise EmbeddedBrokerError(
                f"the embedded MQTT broker cannot listen on 127.0.0.1:{self.port} ({exc}); "
                "set LIBRARYLAB_MQTT_EMBEDDED_PORT to a free port or LIBRARYLAB_MQTT_URL"
            ) from None
        log.info("embedded MQTT broker on 127.0.0.1:%d", self.port)

    def stop(self, timeout: float = 10) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None

            async def halt() -> None:
                try:
                    await broker.shutdown()
                finally:  # also when it never started (its port was taken)
                    # Let the plugins close (the retained-message store's database) before
                    # the remaining tasks are cancelled below.
                    await broker.plugins_manager.map_plugin_close()
                # amqtt 0.12 keeps the sockets of past clients open: close them ourselves.
                for transport in _transports_of(self._loop):
                    transport.abort()
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(halt(), self._loop).result(timeout)
            except Exception:
                log.warning("the embedded MQTT broker did not shut down cleanly")
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._loop.is_running():
            self._loop.close()


class _Broker(Broker):  # type: ignore[misc]  # amqtt has no type information
    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        # amqtt 0.12.1 also calls this at connect for every filter any client subscribed
        # to: a client gets the retained messages only of filters it may subscribe to.
        if await self._topic_filtering(session, subscription[0], Action.SUBSCRIBE):
            await super()._publish_retained_messages_for_subscription(subscription, session)


class AccountsPlugin(FileAuthPlugin):  # type: ignore[misc]
    """amqtt's password file, read again when it changed (an agent added while the service
    runs), with a last will allowed only on a topic its account may publish on."""

    @dataclass
    class Config:
        password_file: str | None = None
        prefix: str = ""
        service_user: str = SERVICE_USER

    def __init__(self, context: BrokerContext) -> None:
        super().__init__(context)
        self._read_as = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.config.password_file)
        except (OSError, TypeError):
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _reread(self) -> None:
        stamp = self._stamp()
        if stamp == self._read_as:
            return
        self._read_as = stamp
        self._users: dict[str, str] = {}
        try:
            self._read_password_file()
        except PasswordFileError as exc:
            log.warning("cannot read the MQTT accounts: %s", exc)

    async def authenticate(self, *, session: Session) -> bool | None:
        self._reread()
        stored = self._users.get(session.username or "")
        if not session.username or stored is None:
            return False  # anonymous, or no such account
        # argon2 takes tens of milliseconds: not on the loop every client shares
        if not await asyncio.to_thread(self.pwd_hasher.verify, session.password or "", stored):
            return False
        if session.will_flag and not may_publish(
            session.username, session.will_topic or "", self.config.prefix, self.config.service_user
        ):
            log.warning(
                "refused %s: a last will on a topic it may not publish", shown(session.username)
            )
            return False
        return True


class TopicRulesPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Per account: what it may publish, subscribe to and receive (``mqtt_access``)."""

    @dataclass
    class Config:
        prefix: str = ""
        service_user: str = SERVICE_USER

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        user = session.username if session is not None else None
        if topic is None:
            return False
        if action == Action.PUBLISH:
            return may_publish(user, topic, self.config.prefix, self.config.service_user)
        return may_read(user, topic, self.config.prefix, self.config.service_user)


def _transports_of(loop: asyncio.AbstractEventLoop) -> list[asyncio.Transport]:
    """The open socket transports of ``loop`` (only the broker runs on it)."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.Transport)
        and getattr(obj, "_loop", None) is loop
        and not obj.is_closing()
    ]
