"""JSON API of demo print files (upload and list)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile, status
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile as StarletteUpload

from librarylab.deps import CurrentUser, SessionDep, SettingsDep
from librarylab.errors import NotFound, TooLarge
from librarylab.schemas import RecordId
from printers import files
from printers.schemas import PrintFileOut, file_out

router = APIRouter(prefix="/api/print-files", tags=["print files"])
CHUNK = 1 << 20
PICTURE_MAX_MB = 10


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


@router.post("", status_code=status.HTTP_201_CREATED)
def create_print_file(
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    name: Annotated[str | None, Form(max_length=120)] = None,
    picture: UploadFile | None = None,
) -> PrintFileOut:
    """A G-code file (``file``) with an optional ``name`` and ``picture`` (PNG, JPEG, WebP)."""
    with tempfile.TemporaryDirectory() as folder:
        upload = spool(file, Path(folder), settings.print_file_max_mb)
        photo = None
        if picture is not None and picture.filename:
            photo = spool(picture, Path(folder), PICTURE_MAX_MB, "picture")
        record = files.add_file(
            session, settings.data_dir, upload, file.filename or "", name, photo
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
