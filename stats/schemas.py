"""The statistics as the JSON API shows them."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from booking.model import RequestState
from librarylab.schemas import OutModel
from stats.model import Figures, Requests, Tally


class TallyOut(OutModel):
    name: str = Field(description='The year, round, library, town or topic; "" when not given.')
    visits: int
    visitors: int = Field(description="The visits' participants, added up.")

    @classmethod
    def of(cls, tally: Tally) -> TallyOut:
        return cls(name=tally.name, visits=tally.visits, visitors=tally.visitors)


class KindMinutesOut(OutModel):
    kind: str
    minutes: int


class StationMinutesOut(OutModel):
    station_id: int
    name: str
    kind: str
    minutes: int


class PostsOut(OutModel):
    """Of the visits before today."""

    published: int
    outstanding: int = Field(description="Promised, not published yet.")
    visits_without_posts: int


class PrintsOut(OutModel):
    done: int = Field(description="Printed (finished, waiting for the bed to be cleared, or done).")
    failed: int
    cancelled: int
    open: int = Field(description="Queued, uploading, printing, or waiting for staff (unknown).")


class RequestsOut(OutModel):
    """Visit requests made in the range (on their UTC day), by state, and how many of those
    confirmed by mail became visits."""

    total: int
    new: int = Field(description="Not confirmed by mail yet.")
    confirmed: int = Field(description="Confirmed by mail, waiting for staff.")
    accepted: int
    declined: int
    expired: int = Field(description="Never confirmed by mail.")
    confirmed_by_mail: int = Field(description="Waiting, accepted or declined.")
    acceptance_rate: float | None = Field(
        description="accepted / confirmed_by_mail, from 0 to 1; null without such requests."
    )

    @classmethod
    def of(cls, figures: Requests) -> RequestsOut:
        return cls(
            total=figures.total,
            new=figures.count(RequestState.NEW),
            confirmed=figures.count(RequestState.CONFIRMED),
            accepted=figures.accepted,
            declined=figures.count(RequestState.DECLINED),
            expired=figures.count(RequestState.EXPIRED),
            confirmed_by_mail=figures.confirmed_by_mail,
            acceptance_rate=figures.acceptance_rate,
        )


class StatsOut(OutModel):
    """Confirmed and done visits only; free dates, requests and cancelled visits do not count."""

    start: date | None = Field(serialization_alias="from", description="First day, or null.")
    end: date | None = Field(serialization_alias="to", description="Last day, or null.")
    visits: int
    visitors: int
    per_year: list[TallyOut]
    per_round: list[TallyOut] = Field(description="In the order the rounds began.")
    libraries: list[TallyOut] = Field(description="Most visits first.")
    towns: list[TallyOut] = Field(description="Most visits first.")
    topics: list[TallyOut] = Field(description="Most visits first.")
    posts: PostsOut
    minutes_per_kind: list[KindMinutesOut] = Field(
        description="Minutes the stations of each kind are in use by the visits' plans."
    )
    minutes_per_station: list[StationMinutesOut] = Field(description="Most minutes first.")
    prints: PrintsOut = Field(
        description="Print jobs of the visits in the range, and jobs without a visit made then."
    )
    requests: RequestsOut

    @classmethod
    def of(cls, figures: Figures, start: date | None, end: date | None) -> StatsOut:
        return cls(
            start=start,
            end=end,
            visits=figures.visits,
            visitors=figures.visitors,
            per_year=[TallyOut.of(t) for t in figures.per_year],
            per_round=[TallyOut.of(t) for t in figures.per_round],
            libraries=[TallyOut.of(t) for t in figures.libraries],
            towns=[TallyOut.of(t) for t in figures.towns],
            topics=[TallyOut.of(t) for t in figures.topics],
            posts=PostsOut(
                published=figures.posts.published,
                outstanding=figures.posts.outstanding,
                visits_without_posts=figures.posts.visits_without_posts,
            ),
            minutes_per_kind=[
                KindMinutesOut(kind=kind, minutes=m) for kind, m in figures.minutes_per_kind
            ],
            minutes_per_station=[
                StationMinutesOut(
                    station_id=u.station_id, name=u.name, kind=u.kind, minutes=u.minutes
                )
                for u in figures.minutes_per_station
            ],
            prints=PrintsOut(
                done=figures.prints.done,
                failed=figures.prints.failed,
                cancelled=figures.prints.cancelled,
                open=figures.prints.open,
            ),
            requests=RequestsOut.of(figures.requests),
        )
