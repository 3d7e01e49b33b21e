"""Demo files: what is refused, and the slicers' time estimates, as tables."""

from __future__ import annotations

import pytest

from librarylab.errors import InvalidInput
from printers.gcode import check_content, check_name, estimated_seconds


@pytest.mark.parametrize("name", ["boat.gcode", "Schlüsselanhänger.GCO", "logo.g"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../boat.gcode", "without folders"),
        ("prints/boat.gcode", "without folders"),
        ("C:\\\\prints\\\\boat.gcode", "without folders"),
        ("..", "without folders"),
        ("boat.stl", "slice the model first"),
        ("boat.gcode.png", "slice the model first"),
        ("", "without folders"),
    ],
)
def test_bad_names_are_refused(name: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        check_name(name)


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\0\0", b"solid boat\nfacet normal 0 0 1\n", b"hello world\n"],
)
def test_content_that_is_not_gcode_is_refused(content: bytes) -> None:
    with pytest.raises(InvalidInput, match="no G-code commands"):
        check_content(content)


def test_gcode_passes() -> None:
    check_content(b"; a boat\nG28\nG1 X10 Y10 F3000\n")


@pytest.mark.parametrize(
    ("head", "tail", "seconds"),
    [
        (b";FLAVOR:Marlin\n;TIME:1234\nG28\n", b"", 1234),
        (b"G28\n", b"; estimated printing time (normal mode) = 1h 2m 3s\n", 3723),
        (b"G28\n", b"; estimated printing time (normal mode) = 12m 5s\n", 725),
        (b";   Build time: 1 hours 5 minutes\nG28\n", b"", 3900),
        (b"G28\nG1 X1\n", b"", None),
    ],
)
def test_slicer_estimates(head: bytes, tail: bytes, seconds: int | None) -> None:
    assert estimated_seconds(head, tail) == seconds
