"""The staff page of the statistics: a date range, charts and the numbers behind them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from babel.numbers import format_percent
from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from booking.model import RequestState
from librarylab import forms
from librarylab.deps import PageUser, SessionDep, SettingsDep
from librarylab.errors import DomainError, InvalidInput
from librarylab.templating import gettext_for, render, request_language
from stats import service
from stats.model import Figures

router = APIRouter(prefix="/stats", include_in_schema=False)

# The request states as the inbox names them (the catalog holds these texts).
REQUEST_LABELS = {
    RequestState.NEW: "not confirmed yet",
    RequestState.CONFIRMED: "waiting",
    RequestState.ACCEPTED: "accepted",
    RequestState.DECLINED: "declined",
    RequestState.EXPIRED: "expired",
}
BAR_SPACE = 360  # of the chart's 640 units: the rest holds the labels and the numbers


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    width: float
    css: str = ""


def bars(rows: list[tuple[str, int, str]]) -> list[Bar]:
    """Bars scaled to the largest value, which fills the bar space."""
    top = max((value for _, value, _ in rows), default=0)
    return [
        Bar(label, value, round(BAR_SPACE * value / top, 1) if top else 0.0, css)
        for label, value, css in rows
    ]


def _charts(figures: Figures, request: Request) -> dict[str, list[Bar]]:
    _ = gettext_for(request)
    kinds = {"vr": _("VR"), "gaming": _("Gaming"), "printing": _("3D printing")}
    prints = figures.prints
    return {
        "per_year": bars([(t.name, t.visits, "") for t in figures.per_year]),
        "per_round": bars(
            [(t.name or _("Without round"), t.visits, "") for t in figures.per_round]
        ),
        "towns": bars([(t.name or _("not given"), t.visits, "") for t in figures.towns]),
        "posts": bars(
            [
                (_("published"), figures.posts.published, "ok"),
                (_("outstanding"), figures.posts.outstanding, "warn"),
                (_("visits without posts"), figures.posts.visits_without_posts, "muted"),
            ]
        ),
        "kinds": bars(
            [(kinds.get(k) or _("not given"), m, f"kind-{k}") for k, m in figures.minutes_per_kind]
        ),
        "stations": bars(
            [(u.name, u.minutes, f"kind-{u.kind}") for u in figures.minutes_per_station]
        ),
        "requests": bars(
            [(_(REQUEST_LABELS[state]), n, "") for state, n in figures.requests.by_state]
        ),
        "prints": bars(
            [
                (_("done"), prints.done, "ok"),
                (_("failed"), prints.failed, "warn"),
                (_("cancelled"), prints.cancelled, "muted"),
                (_("open"), prints.open, ""),
            ]
        ),
    }


def _percent(share: float | None, request: Request) -> str:
    return "–" if share is None else format_percent(share, locale=request_language(request))


@router.get("")
def stats_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _user: PageUser,
) -> Response:
    raw = {name: request.query_params.get(name, "").strip() for name in ("from", "to")}
    error: DomainError | None = None
    figures = None
    try:
        start, end = forms.optional_day(raw["from"], "from"), forms.optional_day(raw["to"], "to")
        figures = service.read_figures(session, start, end, service.today_in(settings.timezone))
    except InvalidInput as exc:
        error = exc
    return render(
        request,
        "stats/page.html",
        {
            "values": raw,
            "figures": figures,
            "charts": _charts(figures, request) if figures else {},
            "acceptance": _percent(figures.requests.acceptance_rate, request) if figures else "",
            "csv_query": "" if error else urlencode({k: v for k, v in raw.items() if v}),
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )
