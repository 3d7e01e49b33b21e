"""The statistics as CSV: one block per figure (title row, header row, data, empty row)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from scheduler.exports import as_text
from stats.model import Figures, Tally


def _tallies(tallies: Sequence[Tally]) -> list[list[object]]:
    return [[t.name, t.visits, t.visitors] for t in tallies]


def figures_csv(figures: Figures) -> str:
    tally_header = ["name", "visits", "visitors"]
    asked = figures.requests
    rate = "" if asked.acceptance_rate is None else round(asked.acceptance_rate, 4)
    blocks: list[tuple[str, list[str], list[list[object]]]] = [
        ("totals", ["visits", "visitors"], [[figures.visits, figures.visitors]]),
        ("per_year", tally_header, _tallies(figures.per_year)),
        ("per_round", tally_header, _tallies(figures.per_round)),
        ("libraries", tally_header, _tallies(figures.libraries)),
        ("towns", tally_header, _tallies(figures.towns)),
        ("topics", tally_header, _tallies(figures.topics)),
        (
            "posts",
            ["published", "outstanding", "visits_without_posts"],
            [
                [
                    figures.posts.published,
                    figures.posts.outstanding,
                    figures.posts.visits_without_posts,
                ]
            ],
        ),
        ("minutes_per_kind", ["kind", "minutes"], [list(k) for k in figures.minutes_per_kind]),
        (
            "minutes_per_station",
            ["station_id", "name", "kind", "minutes"],
            [[u.station_id, u.name, u.kind, u.minutes] for u in figures.minutes_per_station],
        ),
        (
            "prints",
            ["done", "failed", "cancelled", "open"],
            [
                [
                    figures.prints.done,
                    figures.prints.failed,
                    figures.prints.cancelled,
                    figures.prints.open,
                ]
            ],
        ),
        (
            "requests",
            [
                "total",
                *(state.value for state, _ in asked.by_state),
                "confirmed_by_mail",
                "acceptance_rate",
            ],
            [[asked.total, *(n for _, n in asked.by_state), asked.confirmed_by_mail, rate]],
        ),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for title, header, rows in blocks:
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([as_text(value) for value in row] for row in rows)
        writer.writerow([])
    return buffer.getvalue()
