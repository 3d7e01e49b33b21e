"""The embedded MQTT broker (amqtt) for the zero-setup default.

It runs in its own thread with its own event loop, bound to 127.0.0.1, and keeps retained
messages in a SQLite file in the data folder so the wall's state survives a restart. With
``LIBRARYLAB_MQTT_URL`` set, none of this runs: Mosquitto (or any broker) is used instead.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from pathlib import Path
from typing import Any

from amqtt.broker import Broker

from librarylab.private import private_file

log = logging.getLogger(__name__)


class EmbeddedBrokerError(Exception):
    """The embedded broker could not start (e.g. its port is taken)."""


class EmbeddedBroker:
    """amqtt on ``127.0.0.1:port`` in a background thread."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.store = data_dir / "mqtt-retained.sqlite3"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mqtt-broker", daemon=True
        )
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
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
            self._broker = Broker(self._config(), loop=self._loop)
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


def _transports_of(loop: asyncio.AbstractEventLoop) -> list[asyncio.Transport]:
    """The open socket transports of ``loop`` (only the broker runs on it)."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.Transport)
        and getattr(obj, "_loop", None) is loop
        and not obj.is_closing()
    ]
