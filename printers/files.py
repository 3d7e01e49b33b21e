"""Demo print files: checked on upload, kept in the data folder, never sent unchecked."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from librarylab.errors import InvalidInput
from printers.gcode import check_content, check_name, estimated_seconds
from printers.orm import PrintFile

HEAD_BYTES = 64 * 1024  # slicers write their estimate at the start (Cura) or the end (Prusa)


class TooLarge(InvalidInput):
    """The upload passes the size limit in the settings (HTTP 413)."""


def store_dir(data_dir: Path) -> Path:
    return data_dir / "print-files"


def list_files(session: Session) -> Sequence[PrintFile]:
    return session.scalars(select(PrintFile).order_by(PrintFile.name)).all()


def add_file(
    session: Session, data_dir: Path, upload: Path, filename: str, name: str | None = None
) -> PrintFile:
    """Check an uploaded file (already on disk) and keep it; a refused file is not kept."""
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
    label = (name or bare.rsplit(".", 1)[0]).strip()[:120] or bare
    record = PrintFile(
        name=label,
        filename=bare,
        size=size,
        sha256=digest.hexdigest(),
        estimated_seconds=estimated_seconds(head, tail),
        created_at=datetime.now(UTC),
    )
    session.add(record)
    session.flush()
    target = store_dir(data_dir) / f"{record.id}.gcode"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(upload, target)
    return record
