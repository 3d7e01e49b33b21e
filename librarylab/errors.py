"""The service's own errors; the HTTP edge turns them into status codes.

    DomainError            -> 400
     ├── InvalidInput      -> 422  (the message says what to fix)
     │    └── TooLarge     -> 413  (an upload over its limit)
     ├── NotFound          -> 404
     ├── Conflict          -> 409  (e.g. a name that must be unique is taken)
     └── Unavailable       -> 503  (a device did not answer in time; try again)

Messages are English templates with ``{named}`` fields. The API answers in English;
the staff pages translate the template first, then fill in the fields. Babel finds the
templates by the calls that carry them (keywords listed in the Makefile's ``messages``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Problem:
    """One broken rule: the field it concerns and a message template."""

    field: str
    template: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template.format(**self.params)

    def translated(self, gettext: Callable[[str], str]) -> str:
        return gettext(self.template).format(**self.params)


class DomainError(Exception):
    """A request the service understood but refuses."""

    def __init__(self, template: str, field: str | None = None, **params: Any) -> None:
        self.problem = Problem(field or "", template, params)
        self.fixes: list[Problem] = []  # concrete ways out, where the service knows them
        super().__init__(self.problem.message)

    @classmethod
    def from_problem(cls, problem: Problem, fixes: list[Problem] | None = None) -> DomainError:
        error = cls(problem.template, problem.field, **problem.params)
        error.fixes = list(fixes or [])
        return error

    @property
    def message(self) -> str:
        return self.problem.message

    @property
    def field(self) -> str | None:
        return self.problem.field or None

    def translated(self, gettext: Callable[[str], str]) -> str:
        return self.problem.translated(gettext)


class InvalidInput(DomainError):
    """The input breaks a rule; the message names the rule and the fix."""


def reject_unknown_fields(changes: Iterable[str], editable: Iterable[str]) -> None:
    """Refuse a change that names fields which cannot be changed."""
    unknown = set(changes) - set(editable)
    if unknown:
        raise InvalidInput(
            "These fields cannot be changed: {fields}.", fields=", ".join(sorted(unknown))
        )


class TooLarge(InvalidInput):
    """An upload passes its size limit."""


class NotFound(DomainError):
    """The addressed record does not exist."""


class Conflict(DomainError):
    """The input clashes with something already stored."""


class Unavailable(DomainError):
    """Something the request needs (a printer) did not get to it in time; nothing changed
    unless the message says otherwise."""
