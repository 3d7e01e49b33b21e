"""Checking demo G-code files and reading the slicer's time estimate. Pure."""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from librarylab.errors import InvalidInput

EXTENSIONS = (".gcode", ".gco", ".g")
_COMMAND = re.compile(rb"^\s*[GMT]\d+", re.MULTILINE)
_PRUSA = re.compile(r"estimated printing time(?: \(normal mode\))?\s*=\s*(.+)", re.IGNORECASE)
_CURA = re.compile(r"^;TIME:(\d+)", re.MULTILINE)
_S3D = re.compile(r"Build time:\s*(\d+)\s*hours?\s*(\d+)\s*minutes?", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def check_name(filename: str) -> str:
    """The bare file name, refusing path parts and other file types."""
    bare = filename.strip()
    if (
        not bare
        or bare != PurePosixPath(bare).name
        or bare != PureWindowsPath(bare).name
        or bare in (".", "..")
    ):
        raise InvalidInput("Upload a file name without folders (e.g. boat.gcode).", "file")
    if not bare.lower().endswith(EXTENSIONS):
        raise InvalidInput(
            "Only G-code files ({types}) can be printed; slice the model first.",
            "file",
            types=", ".join(EXTENSIONS),
        )
    return bare


def check_content(head: bytes) -> None:
    """Refuse files that are not G-code (binary data, or no G/M commands at the start)."""
    if b"\0" in head or not _COMMAND.search(head):
        raise InvalidInput(
            "This file holds no G-code commands: upload the sliced .gcode file.", "file"
        )


def estimated_seconds(head: bytes, tail: bytes = b"") -> int | None:
    """The print time the slicer wrote into the file (PrusaSlicer, Cura, Simplify3D)."""
    text = (head + b"\n" + tail).decode("utf-8", "replace")
    if found := _CURA.search(text):
        return int(found.group(1))
    if found := _S3D.search(text):
        return int(found.group(1)) * 3600 + int(found.group(2)) * 60
    if found := _PRUSA.search(text):
        parts = re.findall(r"(\d+)\s*([dhms])", found.group(1))
        if parts:
            return sum(int(n) * _UNITS[unit] for n, unit in parts)
    return None
