"""One shape for every error of the JSON API: Problem Details (RFC 9457).

Every 4xx and 5xx under ``/api`` is ``application/problem+json`` with ``type``, ``title``,
``status`` and ``detail`` (a sentence that says what to fix), plus our own members:
``field`` (the one value at fault, if there is one), ``fixes`` (concrete ways out) and
``errors`` (every invalid value, ``[{field, message}]``). What becomes which problem:

    RequestValidationError     -> 422 /problems/invalid-request (``errors`` lists them all)
    DomainError                -> 400 about:blank
     ├── InvalidInput          -> 422 /problems/rule-broken
     │    └── TooLarge         -> 413 /problems/too-large
     ├── NotFound              -> 404 /problems/not-found
     ├── Conflict              -> 409 /problems/conflict
     └── Unavailable           -> 503 /problems/unavailable (a printer did not get to it)
    IntegrityError             -> 409 /problems/conflict (a race the database settled)
    DataError                  -> 422 /problems/rule-broken (a value the database cannot hold)
    HTTPException              -> its status, about:blank (401, 403, 404, 405 with every
                                  method the path allows in ``Allow``, ...)
    anything else              -> 500 about:blank, without a trace

A browser on a staff page (outside ``/api``, asking for HTML) gets the same title and
detail as a short HTML page instead; the pages' own redirects are not errors and stay.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from librarylab.deps import admin_user, optional_user
from librarylab.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
)
from librarylab.templating import gettext_for

MEDIA_TYPE = "application/problem+json"
ABOUT_BLANK = "about:blank"


class FieldError(BaseModel):
    """One invalid value of a request."""

    field: str = Field(
        description="The value at fault: a body field (nested ones as `posts[0].kind`), "
        "or a query or path parameter by its name; `body` for the body as a whole."
    )
    message: str = Field(description="What is wrong with it.")


class ProblemDetails(BaseModel):
    """An error answer (RFC 9457 Problem Details, `application/problem+json`)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    type: str = Field(
        default=ABOUT_BLANK,
        description="The kind of problem: `about:blank` (the status says it all) or one of "
        "the service's own kinds, `/problems/...` (see docs/problems.md).",
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong here and what to fix, as a sentence.")
    field: str | None = Field(
        default=None, description="The one value at fault, when there is exactly one."
    )
    fixes: list[str] = Field(
        default_factory=list, description="Concrete ways out, where the service knows them."
    )
    errors: list[FieldError] = Field(
        default_factory=list, description="Every invalid value of the request."
    )


# The service's own kinds of problem: type URI and title (docs/problems.md describes them).
INVALID_REQUEST = ("/problems/invalid-request", "The request does not match the API")
RULE_BROKEN = ("/problems/rule-broken", "The request breaks a rule")
TOO_LARGE = ("/problems/too-large", "The upload is too large")
NOT_FOUND = ("/problems/not-found", "No such record")
CONFLICT = ("/problems/conflict", "The request clashes with stored data")
UNAVAILABLE = ("/problems/unavailable", "A printer did not take the request in time")

# Most specific first: TooLarge is an InvalidInput.
_DOMAIN_KINDS: list[tuple[type[DomainError], int, tuple[str, str]]] = [
    (TooLarge, 413, TOO_LARGE),
    (InvalidInput, 422, RULE_BROKEN),
    (NotFound, 404, NOT_FOUND),
    (Conflict, 409, CONFLICT),
    (Unavailable, 503, UNAVAILABLE),
]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _wants_html(request: Request) -> bool:
    """A browser on a staff page; API paths always answer problem+json."""
    path = request.url.path
    if path == "/api" or path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(
    request: Request,
    problem: ProblemDetails,
    headers: dict[str, str] | None = None,
    page_text: str | None = None,
) -> Response:
    """``problem`` as problem+json, or as a short HTML page for a browser on a staff page."""
    if _wants_html(request):
        text = html.escape(page_text or problem.detail)
        body = (
            '<!doctype html><meta charset="utf-8">'
            '<link rel="stylesheet" href="/static/style.css">'
            f"<title>{problem.status} · LibraryLab</title>"
            f'<main><h1>{problem.status}</h1><p>{text}</p><p><a href="/">LibraryLab</a></p></main>'
        )
        return HTMLResponse(body, status_code=problem.status, headers=headers)
    return JSONResponse(
        problem.model_dump(mode="json"),
        status_code=problem.status,
        headers=headers,
        media_type=MEDIA_TYPE,
    )


def domain_problem(request: Request, exc: Exception) -> Response:
    """A refused request as a problem (or a short page for a browser on a staff page)."""
    assert isinstance(exc, DomainError)
    status, (kind, title) = 400, (ABOUT_BLANK, _phrase(400))
    for cls, code, found in _DOMAIN_KINDS:
        if isinstance(exc, cls):
            status, (kind, title) = code, found
            break
    field = exc.field
    problem = ProblemDetails(
        type=kind,
        title=title,
        status=status,
        detail=exc.message,
        field=field,
        fixes=[fix.message for fix in exc.fixes],
        errors=[FieldError(field=field, message=exc.message)] if field else [],
    )
    page_text = exc.translated(gettext_for(request)) if _wants_html(request) else None
    return problem_response(request, problem, page_text=page_text)


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "posts", 0, "kind")`` -> ``posts[0].kind``; a parameter by its name."""
    name = ""
    for part in loc[1:] if len(loc) > 1 else loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _field_error(error: dict[str, Any]) -> FieldError:
    loc = tuple(error.get("loc", ("body",)))
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":  # its location is a position in the text
        loc = ("body",)
        message = f"{message} ({error.get('ctx', {}).get('error', 'not JSON')})"
    return FieldError(field=field_name(loc), message=message)


def _validation_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(error) for error in exc.errors()]
    if len(errors) == 1:
        detail = f"Fix {errors[0].field}: {errors[0].message}."
    else:
        listed = "; ".join(f"{e.field}: {e.message}" for e in errors)
        detail = f"Fix these {len(errors)} values: {listed}."
    fields = {e.field for e in errors}
    kind, title = INVALID_REQUEST
    problem = ProblemDetails(
        type=kind,
        title=title,
        status=422,
        detail=detail,
        field=fields.pop() if len(fields) == 1 else None,
        errors=errors,
    )
    return problem_response(request, problem)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes on this path (the router asks only the first
    route whose path matches, so GET and POST in separate routes would hide each other)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(status)
    if status == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
    elif status == 404 and detail == _phrase(404):
        detail = f"There is nothing at {request.url.path}; /docs lists the API's paths."
    if status < 400:  # not an error: keep Starlette's own answer
        return Response(status_code=status, headers=headers)
    problem = ProblemDetails(title=_phrase(status), status=status, detail=detail)
    return problem_response(request, problem, headers=headers)


def _integrity_problem(request: Request, _exc: Exception) -> Response:
    # Two requests raced past the same uniqueness check; the database kept one.
    kind, title = CONFLICT
    problem = ProblemDetails(
        type=kind,
        title=title,
        status=409,
        detail="The change clashes with data stored meanwhile; reload and try again.",
    )
    return problem_response(request, problem)


def _data_problem(request: Request, _exc: Exception) -> Response:
    # A value the database cannot hold (e.g. a NUL character) that the rules let through.
    kind, title = RULE_BROKEN
    problem = ProblemDetails(
        type=kind,
        title=title,
        status=422,
        detail="A value cannot be stored (out of range or with control characters); "
        "change it and send the request again.",
    )
    return problem_response(request, problem)


def _server_problem(request: Request, _exc: Exception) -> Response:
    # Starlette logs the exception with its trace after this answer; the client gets none.
    problem = ProblemDetails(
        title=_phrase(500),
        status=500,
        detail="The service failed on this request and logged why; try again, and tell "
        "the lab's admin if it keeps failing.",
    )
    return problem_response(request, problem)


def add_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""
    handlers: dict[type[Exception], Callable[[Request, Exception], Response]] = {
        DomainError: domain_problem,
        RequestValidationError: _validation_problem,
        HTTPException: _http_problem,
        IntegrityError: _integrity_problem,
        DataError: _data_problem,
        Exception: _server_problem,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)


# What each documented error status means, unless a route says more.
DESCRIPTIONS = {
    400: "The body cannot be read (e.g. broken JSON or multipart).",
    401: "Not logged in: send `Authorization: Bearer <token>`; or the token is unknown or revoked.",
    403: "Refused: the admin role is needed, the account must choose its own password first, "
    "or a session-cookie write lacks the `x-csrftoken` header.",
    404: "There is no record with this id.",
    409: "The request clashes with stored data (e.g. a name already taken).",
    413: "The body is larger than the limit of its route, or an uploaded file than its own.",
    503: "The printer's coordinator did not get to the request in time; nothing changed "
    "unless `detail` says otherwise.",
    422: "Invalid input: `errors` lists every value that does not match the API; a broken "
    "rule is named in `detail`, with its `field` and `fixes`.",
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error statuses a route declares itself (those its dependencies cannot tell)."""
    return {code: {"description": DESCRIPTIONS.get(code, _phrase(code))} for code in statuses}


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """The operations of ``app``'s OpenAPI document, with their full paths."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def _calls(route: RouteContext) -> Iterator[Any]:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        yield dependant.call
        stack.extend(dependant.dependencies)


def error_statuses(route: RouteContext, method: str) -> set[int]:
    """The error statuses of one operation: from its dependencies and parameters, and the
    ones it declares."""
    calls = set(_calls(route))
    dependant = route.dependant
    statuses = {int(code) for code in route.responses if int(code) >= 400}
    if optional_user in calls:
        statuses.update((401, 403))  # 403: a one-time password, or a cookie write's CSRF check
    if admin_user in calls:
        statuses.add(403)
    if dependant.path_params:
        statuses.add(404)
    if dependant.path_params or dependant.query_params or dependant.body_params:
        statuses.add(422)
    if dependant.body_params:
        statuses.add(400)  # a body that cannot be parsed
        statuses.add(413)  # every body is streamed against its route's limit (bodies.py)
    if method in _WRITES:
        statuses.add(409)  # a clash with stored data, or a race that the database settled
    return statuses


def _is_problem_free(response: dict[str, Any]) -> bool:
    """A response documented without a body, or with FastAPI's validation-error body."""
    content = response.get("content")
    return not content or "HTTPValidationError" in str(content)


def describe_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document state every error of every operation as a problem,
    and which operations need a bearer token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem_schema = ProblemDetails.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["ProblemDetails"] = problem_schema
        content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token from `librarylab token create NAME`.",
            }
        }
        for route in api_routes(app):
            for method in sorted(route.methods or ()):
                operation = schema["paths"][str(route.path_format)][method.lower()]
                responses = operation.setdefault("responses", {})
                for status in sorted(error_statuses(route, method)):
                    response = responses.setdefault(
                        str(status), {"description": DESCRIPTIONS.get(status, _phrase(status))}
                    )
                    if response.get("description") == "Validation Error":  # FastAPI's own
                        response["description"] = DESCRIPTIONS[422]
                    if _is_problem_free(response):
                        response["content"] = content
                if optional_user in set(_calls(route)):
                    operation["security"] = [{"bearer": []}]
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
