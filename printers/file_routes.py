"""JSON API of demo print files (upload and list).

An upload's multipart body is read only after the caller is known (FastAPI would read
``File`` and ``Form`` parameters before any dependency runs): a request without a valid
token is answered 401 before a byte of its body is read. The body as a whole is bounded by
:data:`body_limits` (see ``librarylab/bodies.py``), each file by its own limit while it is
copied.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from librarylab.bodies import BodyLimit
from librarylab.deps import CurrentUser, SessionDep, SettingsDep
from librarylab.errors import NotFound, Problem, TooLarge
from librarylab.problems import error_responses
from librarylab.schemas import RecordId
from printers import files
from printers.schemas import PrintFileOut, file_out

router = APIRouter(prefix="/api/print-files", tags=["print files"])
CHUNK = 1 << 20
PICTURE_MAX_MB = 10
FIELD_MAX_BYTES = 64 * 1024  # a text field of an upload form (the name, the CSRF token)
UPLOAD_PATHS = ("/api/print-files", "/printers/files/new")


def body_limits(print_file_max_mb: float) -> dict[tuple[str, str], BodyLimit]:
    """The upload routes take a print file and a picture, each at its limit, and a little
    more for the form's other fields and the multipart framing."""
    limit = BodyLimit(
        int((print_file_max_mb + PICTURE_MAX_MB) * 1024 * 1024) + FIELD_MAX_BYTES,
        Problem(
            "body",
            "The upload is larger than {limit} MB: a print file may have {file} MB, "
            "its picture {picture} MB.",
            {
                "limit": f"{print_file_max_mb + PICTURE_MAX_MB:g}",
                "file": f"{print_file_max_mb:g}",
                "picture": PICTURE_MAX_MB,
            },
        ),
    )
    return {("POST", path): limit for path in UPLOAD_PATHS}


def upload_form(request: Request) -> Any:
    """The multipart body of an upload form: two files and a few short fields at most."""
    return request.form(max_files=2, max_fields=8, max_part_size=FIELD_MAX_BYTES)


async def read_upload(request: Request, _user: CurrentUser) -> AsyncIterator[FormData]:
    """The upload's form, read once the caller is known; its files are removed afterwards."""
    async with upload_form(request) as form:
        yield form


UploadDep = Annotated[FormData, Depends(read_upload)]


class PrintFileUpload(BaseModel):
    """The multipart body of ``POST /api/print-files``."""

    file: UploadFile
    name: str | None = Field(default=None, max_length=120)
    picture: UploadFile | None = None

    @classmethod
    def of(cls, form: FormData) -> PrintFileUpload:
        """Checked as FastAPI checks ``File`` and ``Form`` parameters (an empty text field
        counts as missing), with the same 422 on a mismatch."""
        values = {k: v for k, v in form.items() if not (isinstance(v, str) and v == "")}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise RequestValidationError(
                [error | {"loc": ("body", *error["loc"])} for error in exc.errors()]
            ) from None


# The body as FastAPI described it when the route took File and Form parameters.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "Body_create_print_file_api_print_files_post",
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "contentMediaType": "application/octet-stream",
                            "title": "File",
                        },
                        "name": {
                            "anyOf": [{"type": "string", "maxLength": 120}, {"type": "null"}],
                            "title": "Name",
                        },
                        "picture": {
                            "anyOf": [
                                {
                                    "type": "string",
                                    "contentMediaType": "application/octet-stream",
                                },
                                {"type": "null"},
                            ],
                            "title": "Picture",
                        },
                    },
                }
            }
        },
    }
}


@router.get("")
def read_print_files(session: SessionDep, _user: CurrentUser) -> list[PrintFileOut]:
    return [file_out(f) for f in files.list_files(session)]


def spool(file: StarletteUpload, folder: Path, max_mb: float, field: str = "file") -> Path:
    """Copy an upload to ``folder``; refuse it (413) as soon as it passes the limit.

    Blocking file work: for plain route functions, which FastAPI runs in its thread pool.
    """
    upload = folder / field
    limit = int(max_mb * 1024 * 1024)
    written = 0
    with upload.open("wb") as out:
        while chunk := file.file.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooLarge("The file is larger than {limit} MB.", field, limit=f"{max_mb:g}")
            out.write(chunk)
    return upload


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 413, 422),
    openapi_extra=UPLOAD_BODY,
)
def create_print_file(
    form: UploadDep, session: SessionDep, settings: SettingsDep, _user: CurrentUser
) -> PrintFileOut:
    """A G-code file (``file``) with an optional ``name`` and ``picture`` (PNG, JPEG, WebP)."""
    upload = PrintFileUpload.of(form)
    with tempfile.TemporaryDirectory() as folder:
        kept = spool(upload.file, Path(folder), settings.print_file_max_mb)
        photo = None
        if upload.picture is not None and upload.picture.filename:
            photo = spool(upload.picture, Path(folder), PICTURE_MAX_MB, "picture")
        record = files.add_file(
            session, settings.data_dir, kept, upload.file.filename or "", upload.name, photo
        )
        session.commit()
    return file_out(record)


@router.get("/{file_id}/picture", response_class=FileResponse)
def read_picture(
    file_id: RecordId, session: SessionDep, settings: SettingsDep, _user: CurrentUser
) -> FileResponse:
    record = files.get_file(session, file_id)
    path = files.picture_path(settings.data_dir, record.id)
    if not record.has_picture or not path.is_file():
        raise NotFound("Print file {id} has no picture.", id=file_id)
    return FileResponse(path, media_type="image/webp")
