"""JSON API of demo print files (upload and list)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, UploadFile, status
from starlette.datastructures import UploadFile as StarletteUpload

from librarylab.deps import CurrentUser, SessionDep, SettingsDep
from printers import files
from printers.files import TooLarge
from printers.orm import PrintFile

router = APIRouter(prefix="/api/print-files", tags=["print files"])
CHUNK = 1 << 20


def file_out(record: PrintFile) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "filename": record.filename,
        "size": record.size,
        "estimated_seconds": record.estimated_seconds,
    }


@router.get("")
def read_print_files(session: SessionDep, _user: CurrentUser) -> list[dict[str, Any]]:
    return [file_out(f) for f in files.list_files(session)]


async def spool(file: StarletteUpload, folder: Path, max_mb: float) -> Path:
    """Stream an upload to ``folder``; refuse it (413) as soon as it passes the limit."""
    upload = folder / "upload"
    limit = int(max_mb * 1024 * 1024)
    written = 0
    with upload.open("wb") as out:
        while chunk := await file.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooLarge("The file is larger than {limit} MB.", "file", limit=f"{max_mb:g}")
            out.write(chunk)
    return upload


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_print_file(
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    name: Annotated[str | None, Form(max_length=120)] = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        upload = await spool(file, Path(folder), settings.print_file_max_mb)
        record = files.add_file(session, settings.data_dir, upload, file.filename or "", name)
        session.commit()
    return file_out(record)
