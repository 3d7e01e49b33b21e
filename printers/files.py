"""Demo print files: checked on upload, kept in the data folder, never sent unchecked."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from librarylab.errors import InvalidInput, NotFound
from librarylab.private import private_folder
from printers import pictures
from printers.gcode import check_content, check_name, estimated_seconds
from printers.orm import PrintFile

HEAD_BYTES = 64 * 1024  # slicers write their estimate at the start (Cura) or the end (Prusa)


def store_dir(data_dir: Path) -> Path:
    return data_dir / "print-files"


def get_file(session: Session, file_id: int) -> PrintFile:
    record = session.get(PrintFile, file_id)
    if record is None:
        raise NotFound(
            "There is no print file with id {id}; GET /api/print-files lists them.", id=file_id
        )
    return record


def list_files(session: Session) -> Sequence[PrintFile]:
    return session.scalars(select(PrintFile).order_by(PrintFile.name)).all()


def picture_path(data_dir: Path, file_id: int) -> Path:
    return store_dir(data_dir) / f"{file_id}.webp"


def add_file(
    session: Session,
    data_dir: Path,
    upload: Path,
    filename: str,
    name: str | None = None,
    picture: Path | None = None,
) -> PrintFile:
    """Check an uploaded file (already on disk) and its optional picture, and keep them;
    a refused upload keeps nothing."""
    bare = check_name(filename)
    size = upload.stat().st_size
    if size == 0:
        raise InvalidInput("The file is empty.", "file")
    with upload.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        handle.seek(max(0, size - HEAD_BYTES))
        tail = handle.read()
    check_content(head)
    digest = hashlib.sha256()
    with upload.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    shrunk = pictures.prepare(picture) if picture is not None else None
    label = (name or bare.rsplit(".", 1)[0]).strip()[:120] or bare
    record = PrintFile(
        name=label,
        filename=bare,
        size=size,
        sha256=digest.hexdigest(),
        estimated_seconds=estimated_seconds(head, tail),
        has_picture=shrunk is not None,
        created_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    target = store_dir(private_folder(data_dir)) / f"{record.id}.gcode"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(upload, target)
    if shrunk is not None:
        picture_path(data_dir, record.id).write_bytes(shrunk)
    return record
