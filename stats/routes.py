"""JSON and CSV API of the statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from librarylab.deps import CurrentUser, SessionDep, SettingsDep
from librarylab.schemas import Day
from stats import service
from stats.exports import figures_csv
from stats.schemas import StatsOut

router = APIRouter(prefix="/api", tags=["stats"])

From = Annotated[
    Day | None, Query(alias="from", description="First day, YYYY-MM-DD; none: from the start")
]
To = Annotated[
    Day | None, Query(alias="to", description="Last day, YYYY-MM-DD; none: until now and later")
]


@router.get("/stats")
def read_stats(
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    start: From = None,
    end: To = None,
) -> StatsOut:
    figures = service.read_figures(session, start, end, service.today_in(settings.timezone))
    return StatsOut.of(figures, start, end)


@router.get("/stats.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def read_stats_csv(
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    start: From = None,
    end: To = None,
) -> Response:
    """The same figures as ``/api/stats``, one block per figure, for spreadsheets."""
    figures = service.read_figures(session, start, end, service.today_in(settings.timezone))
    name = f"stats-{start or 'start'}-{end or 'end'}.csv"
    return Response(
        figures_csv(figures),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
