"""Folders and files for the service's own user only: the data folder (0700), its
databases, retained MQTT messages and secret key (0600).

Created with these modes, and narrowed when an older version left them readable to others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (made if missing)."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _narrow(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read (made empty if missing)."""
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _narrow(path, FILE_MODE)
    return path


def _narrow(path: Path, wanted: int) -> None:
    """Take away what others may do; a path of another user is left as it is."""
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~wanted:
        path.chmod(wanted)
