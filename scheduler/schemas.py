"""JSON shapes of the planning API (a public contract: add fields, never rename)."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, model_validator

from librarylab.schemas import HHMM, OutModel, StrictModel, Timestamp
from scheduler.service import MAX_PERSON_NAME_LENGTH, PlanOptions, PlanView
from visits.model import MAX_PARTICIPANTS

KINDS = ("vr", "gaming", "printing")


class PinIn(StrictModel):
    group_id: StrictInt = Field(ge=1)
    slot_index: StrictInt = Field(ge=0)
    station_id: StrictInt = Field(ge=1)


class PersonIn(StrictModel):
    name: str = Field(min_length=1, max_length=MAX_PERSON_NAME_LENGTH)
    avoids: list[str] = Field(default_factory=list, description="kinds this person must not do")

    @model_validator(mode="after")
    def _known_kinds(self) -> PersonIn:
        unknown = sorted(set(self.avoids) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}: use {', '.join(KINDS)}")
        return self


class PlanIn(StrictModel):
    slot_minutes: StrictInt | None = Field(default=None, ge=5, le=240)
    changeover_minutes: StrictInt | None = Field(default=None, ge=0, le=60)
    group_count: StrictInt | None = Field(default=None, ge=1, le=200)
    max_group_size: StrictInt | None = Field(default=None, ge=1, le=200)
    pins: list[PinIn] = Field(default_factory=list)
    accept_partial: StrictBool = False
    people: list[PersonIn] | None = Field(
        default=None,
        max_length=MAX_PARTICIPANTS,
        description="named participants instead of the visit's count",
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
    station_out: StrictInt | None = Field(default=None, ge=1)
    station_in: StrictInt | None = Field(default=None, ge=1)
    group_leaves: StrictInt | None = Field(default=None, ge=1, description="a group id")
    staff_leaves: StrictInt | None = Field(
        default=None, ge=1, le=50, description="how many staff members leave"
    )

    @model_validator(mode="after")
    def _one_change(self) -> ReplanIn:
        names = ("station_out", "station_in", "group_leaves", "staff_leaves")
        given = [n for n in names if getattr(self, n)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of station_out, station_in, group_leaves, staff_leaves"
            )
        return self


class GroupOut(OutModel):
    id: int = Field(description="1-based")
    name: str
    size: int
    members: list[str]
    avoids: list[str] = Field(default_factory=list, description="kinds the group must not do")


class AssignmentOut(OutModel):
    group_id: int
    station_id: int
    turn_minutes: int | None = Field(
        default=None,
        description="minutes per person when the group is larger than the station's capacity "
        "and takes turns (slot minutes × capacity ÷ group size, rounded down); null otherwise",
    )


class SlotOut(OutModel):
    index: int = Field(description="0-based")
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM")
    assignments: list[AssignmentOut]
    staffed_stations: int | None = Field(
        default=None,
        description="stations in use that need staff (only in plans with staff on duty)",
    )
    staff_capacity: int | None = Field(
        default=None,
        description="stations the staff on duty could supervise in this slot",
    )


class MissingOut(OutModel):
    """A station kind a group does not get to (in a partial plan or after a re-plan)."""

    group_id: int
    kind: str


class PlanOptionsOut(OutModel):
    """What staff asked for; null means the lab's default."""

    slot_minutes: int | None = None
    changeover_minutes: int | None = None
    group_count: int | None = None
    max_group_size: int | None = None
    pins: list[tuple[int, int, int]] = Field(
        default_factory=list, description="[group_id, slot_index, station_id]"
    )
    accept_partial: bool = False
    people: list[tuple[str, list[str]]] = Field(
        default_factory=list, description="[name, kinds avoided]"
    )


class OutageOut(OutModel):
    station_id: int
    from_: str = Field(alias="from", description="HH:MM")


class PlanOut(OutModel):
    """A visit's rotation plan, with the options it was made with and whether it is stale."""

    visit_id: int
    groups: list[GroupOut]
    slots: list[SlotOut]
    lower_bound_slots: int
    optimal: bool
    missing: list[MissingOut]
    engine: str = Field(default="greedy", description="greedy or cp-sat")
    staff_on_duty: int | None = Field(
        default=None, description="staff on duty the plan was made for; null: not limited"
    )
    stations_per_staff: int | None = Field(
        default=None, description="stations needing staff one person supervises at once"
    )
    supervised_visits: int | None = Field(
        default=None,
        description="set when supervision is what makes the plan this long: the station "
        "visits that need staff; null otherwise",
    )
    options: PlanOptionsOut
    revision: int
    updated_at: Timestamp
    outages: list[OutageOut]
    stale: bool
    stale_reasons: list[str]


def plan_out(view: PlanView) -> PlanOut:
    """The stored plan document, with its options and whether it is stale."""
    return PlanOut.model_validate(
        {
            **view.document,
            "options": view.stored.options,
            "revision": view.stored.revision,
            "updated_at": view.stored.updated_at,
            "outages": [
                {"station_id": int(k), "from": v}
                for k, v in view.stored.inputs.get("outages", {}).items()
            ],
            "stale": bool(view.stale_reasons),
            "stale_reasons": [r.message for r in view.stale_reasons],
        }
    )
