"""The MQTT topic layout under one prefix (see docs/mqtt.md). Pure: names only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str

    @property
    def service_status(self) -> str:
        return f"{self.prefix}/service/status"

    def station_state(self, station_id: int) -> str:
        return f"{self.prefix}/stations/{station_id}/state"

    def station_heartbeat(self, station_id: int) -> str:
        return f"{self.prefix}/stations/{station_id}/heartbeat"

    def printer_state(self, printer_id: int) -> str:
        return f"{self.prefix}/printers/{printer_id}/state"

    @property
    def current_visit(self) -> str:
        return f"{self.prefix}/visits/current"

    def rotation(self, visit_id: int) -> str:
        return f"{self.prefix}/visits/{visit_id}/rotation"

    @property
    def everything(self) -> str:
        """The filter the wall listens to."""
        return f"{self.prefix}/#"

    def parse(self, topic: str) -> tuple[str, int | None]:
        """``…/stations/3/state`` → ("station_state", 3); unknown topics → ("", None)."""
        if not topic.startswith(self.prefix + "/"):
            return "", None
        parts = topic[len(self.prefix) + 1 :].split("/")
        match parts:
            case ["service", "status"]:
                return "service_status", None
            case ["stations", number, ("state" | "heartbeat") as what] if number.isdigit():
                return f"station_{what}", int(number)
            case ["printers", number, "state"] if number.isdigit():
                return "printer_state", int(number)
            case ["visits", "current"]:
                return "current_visit", None
            case ["visits", number, "rotation"] if number.isdigit():
                return "rotation", int(number)
        return "", None
