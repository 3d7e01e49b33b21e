"""The admins' page of the audit trail: filters as a GET form, the changes as a table."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from librarylab import forms
from librarylab.audit import service
from librarylab.audit.audited import TYPE_NAMES
from librarylab.audit.trail import CHANGED
from librarylab.deps import AdminPageUser, SessionDep, SettingsDep
from librarylab.errors import DomainError, InvalidInput
from librarylab.templating import gettext_for, lab_time, render

router = APIRouter(prefix="/audit", include_in_schema=False)

PAGE_SIZE = 50
FIELDS = ("type", "id", "actor", "from", "to", "offset")
MAX_OFFSET = 2_147_483_647


def labels(request: Request) -> dict[str, dict[str, str]]:
    """The names the page shows for object types, sources and actions."""
    _ = gettext_for(request)
    return {
        "types": {
            "station": _("Station"),
            "round": _("Round"),
            "visit": _("Visit"),
            "visit_post": _("Visit post"),
            "plan": _("Plan"),
            "printer": _("Printer"),
            "print_file": _("Print file"),
            "print_job": _("Print job"),
            "user": _("Account"),
            "api_token": _("API token"),
            "display_link": _("Display link"),
            "invitation": _("Invitation"),
        },
        "sources": {
            "page": _("staff page"),
            "api": _("API"),
            "cli": _("command line"),
            "system": _("system"),
        },
        "actions": {
            "created": _("created"),
            "changed": _("changed"),
            "deleted": _("deleted"),
            "cancelled": _("cancelled"),
            "retried": _("retried"),
            "bed_confirmed": _("bed confirmed clear"),
        },
    }


def _filters(raw: dict[str, str], zone: ZoneInfo) -> tuple[service.Filters, int]:
    """The form's values as filters; dates are whole days in the lab's time zone."""
    kind = raw["type"]
    if kind and kind not in TYPE_NAMES:
        raise InvalidInput("Choose an object type from the list.", "type")
    if raw["id"] and not raw["id"].replace("-", "").isdigit():
        raise InvalidInput("An object id is a number.", "id")
    if len(raw["id"]) > 64 or len(raw["actor"]) > 80:
        raise InvalidInput("The filter is longer than any stored value.", "id")
    first, last = forms.optional_day(raw["from"], "from"), forms.optional_day(raw["to"], "to")
    if first and last and last < first:
        raise InvalidInput("'Until' must not be before 'From'.", "to")
    offset = raw["offset"]
    if offset and (not offset.isdigit() or int(offset) > MAX_OFFSET):
        raise InvalidInput("The page is out of range.", "offset")
    since = datetime.combine(first, time(), zone) if first else None
    until = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    filters = service.Filters(kind or None, raw["id"] or None, raw["actor"] or None, since, until)
    return filters, int(offset or 0)


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _changes(changes: dict[str, Any], changed: str) -> list[tuple[str, str, str | None]]:
    """Each field with its before and after; a hidden field's after is None."""
    rows: list[tuple[str, str, str | None]] = []
    for name, pair in sorted(changes.items()):
        if pair == CHANGED or not isinstance(pair, list) or len(pair) != 2:
            rows.append((name, changed, None))
        else:
            rows.append((name, _shown(pair[0]), _shown(pair[1])))
    return rows


@router.get("")
def audit_page(
    request: Request, session: SessionDep, settings: SettingsDep, _admin: AdminPageUser
) -> Response:
    raw = {name: request.query_params.get(name, "").strip() for name in FIELDS}
    _ = gettext_for(request)
    error: DomainError | None = None
    found = service.Found([], 0)
    offset = 0
    try:
        filters, offset = _filters(raw, ZoneInfo(settings.timezone))
        found = service.search(session, filters, limit=PAGE_SIZE, offset=offset)
    except InvalidInput as exc:
        error = exc
    query = {k: v for k, v in raw.items() if v and k != "offset"}
    following = offset + len(found.records)
    return render(
        request,
        "audit/page.html",
        {
            "values": raw,
            "labels": labels(request),
            "actors": service.actors(session),
            "rows": [
                {
                    "record": record,
                    "at": lab_time(request, record.at),
                    "changes": _changes(record.changes, _("changed")),
                }
                for record in found.records
            ],
            "total": found.total,
            "first": offset + 1,
            "last": following,
            "previous": (
                urlencode({**query, "offset": max(offset - PAGE_SIZE, 0)}) if offset else None
            ),
            "next": (
                urlencode({**query, "offset": following}) if following < found.total else None
            ),
            "retention_days": settings.audit_retention_days,
            "error": error.translated(gettext_for(request)) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK,
    )
