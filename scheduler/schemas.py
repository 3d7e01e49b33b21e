"""JSON shapes of the planning API (a public contract: add fields, never rename)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from librarylab.schemas import HHMM, StrictModel
from scheduler.service import PlanOptions, PlanView

KINDS = ("vr", "gaming", "printing")


class PinIn(StrictModel):
    group_id: int = Field(ge=1)
    slot_index: int = Field(ge=0)
    station_id: int = Field(ge=1)


class PersonIn(StrictModel):
    name: str = Field(min_length=1, max_length=120)
    avoids: list[str] = Field(default_factory=list, description="kinds this person must not do")

    @model_validator(mode="after")
    def _known_kinds(self) -> PersonIn:
        unknown = sorted(set(self.avoids) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}: use {', '.join(KINDS)}")
        return self


class PlanIn(StrictModel):
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    changeover_minutes: int | None = Field(default=None, ge=0, le=60)
    group_count: int | None = Field(default=None, ge=1, le=200)
    max_group_size: int | None = Field(default=None, ge=1, le=200)
    pins: list[PinIn] = Field(default_factory=list)
    accept_partial: bool = False
    people: list[PersonIn] | None = Field(
        default=None, description="named participants instead of the visit's count"
    )

    def options(self) -> PlanOptions:
        return PlanOptions(
            slot_minutes=self.slot_minutes,
            changeover_minutes=self.changeover_minutes,
            group_count=self.group_count,
            max_group_size=self.max_group_size,
            pins=tuple((p.group_id, p.slot_index, p.station_id) for p in self.pins),
            accept_partial=self.accept_partial,
            people=tuple((p.name, tuple(p.avoids)) for p in self.people or ()),
        )


class ReplanIn(StrictModel):
    at: HHMM
    station_out: int | None = Field(default=None, ge=1)
    station_in: int | None = Field(default=None, ge=1)
    group_leaves: int | None = Field(default=None, ge=1, description="a group id")

    @model_validator(mode="after")
    def _one_change(self) -> ReplanIn:
        given = [n for n in ("station_out", "station_in", "group_leaves") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of station_out, station_in, group_leaves")
        return self


def plan_out(view: PlanView) -> dict[str, Any]:
    """The stored plan document, with its options and whether it is stale."""
    return {
        **view.document,
        "options": view.stored.options,
        "revision": view.stored.revision,
        "updated_at": view.stored.updated_at.isoformat(),
        "outages": [
            {"station_id": int(k), "from": v}
            for k, v in view.stored.inputs.get("outages", {}).items()
        ],
        "stale": bool(view.stale_reasons),
        "stale_reasons": [r.message for r in view.stale_reasons],
    }
