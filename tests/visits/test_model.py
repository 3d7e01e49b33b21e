"""Visit rules as a table."""

from __future__ import annotations

from datetime import time

import pytest

from visits.model import Post, PostKind, VisitStatus, is_post_outstanding, visit_problems

T = time.fromisoformat


def _problems(**overrides: object) -> list[str]:
    values: dict[str, object] = {
        "status": VisitStatus.CONFIRMED,
        "library": "Stadtbücherei Bochum",
        "start": T("10:00"),
        "end": T("14:00"),
        "hands_on_start": T("11:00"),
        "hands_on_end": T("12:30"),
        "participants": 9,
        "posts": [],
    } | overrides
    return [p.field for p in visit_problems(**values)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "broken"),
    [
        ({}, []),
        ({"end": T("09:00")}, ["end"]),
        ({"end": T("10:00")}, ["end"]),
        ({"hands_on_start": None, "hands_on_end": None}, []),
        ({"hands_on_end": None}, ["hands_on_end"]),
        ({"hands_on_end": T("10:30")}, ["hands_on_end"]),
        ({"hands_on_start": T("09:30")}, ["hands_on_start"]),
        ({"hands_on_end": T("14:30")}, ["hands_on_start"]),
        ({"hands_on_start": T("10:00"), "hands_on_end": T("14:00")}, []),
        ({"participants": -1}, ["participants"]),
        ({"participants": 201}, ["participants"]),
        ({"participants": 0}, ["participants"]),
        ({"library": " "}, ["library"]),
        ({"status": VisitStatus.FREE, "library": "", "participants": 0}, []),
        ({"status": VisitStatus.CANCELLED, "participants": 0}, []),
        ({"posts": [Post(PostKind.BLOG, "ftp://x", True)]}, ["posts"]),
        ({"posts": [Post(PostKind.BLOG, "https://blog.example/librarylab", True)]}, []),
    ],
)
def test_visit_rules(overrides: dict[str, object], broken: list[str]) -> None:
    assert _problems(**overrides) == broken


def test_hands_on_message_names_both_time_spans() -> None:
    problems = visit_problems(
        status=VisitStatus.CONFIRMED,
        library="X",
        start=T("10:00"),
        end=T("14:00"),
        hands_on_start=T("09:00"),
        hands_on_end=T("11:00"),
        participants=9,
        posts=[],
    )
    assert problems[0].message == (
        "The hands-on block (09:00–11:00) must lie within the visit (10:00–14:00)."
    )


@pytest.mark.parametrize(
    ("published", "outstanding"),
    [([], False), ([True], False), ([True, False], True), ([False], True)],
)
def test_a_post_is_outstanding_until_published(published: list[bool], outstanding: bool) -> None:
    posts = [Post(PostKind.BLOG, "", flag) for flag in published]
    assert is_post_outstanding(posts) is outstanding
