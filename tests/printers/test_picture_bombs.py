"""Pictures whose header promises more pixels than a demo picture needs are refused before
a pixel is decoded; real photos still pass, shrunk and upright."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from printers.pictures import MAX_PIXELS
from tests.conftest import STAFF_PASSWORD, Lab
from tests.pages import csrf_token, login

BOAT = b";FLAVOR:Marlin\n;TIME:1234\nG28\nG1 X10 Y10 F3000\nM104 S0\n"
REFUSAL = "The picture has more than 16 megapixels: shrink it, e.g. to 4000 × 3000 pixels."


def one_colour_png(size: tuple[int, int]) -> bytes:
    """Many pixels of one colour: a few hundred KB on disk, hundreds of MB decoded."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "PNG", optimize=True)
    return out.getvalue()


def post_picture(lab: Lab, picture: bytes, filename: str = "bomb.png") -> dict[str, object]:
    response = lab.client.post(
        "/api/print-files",
        headers=lab.headers(),
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": (filename, picture, "image/png"),
        },
    )
    assert response.status_code == 422, response.text
    refusal: dict[str, object] = response.json()
    return refusal


@pytest.mark.parametrize(
    "size",
    [
        (8000, 6247),  # 49.98 megapixels: passed the old cap of 50
        (8000, 4200),  # 33.6: above twice the cap, where Pillow's own guard refuses it
        (4001, 4000),  # one row over the cap
    ],
)
def test_a_picture_bomb_is_refused_by_its_header(
    lab: Lab, tmp_path: Path, size: tuple[int, int]
) -> None:
    picture = one_colour_png(size)
    assert len(picture) < 300_000
    refusal = post_picture(lab, picture)
    assert refusal["type"] == "/problems/rule-broken"
    assert refusal["field"] == "picture"
    assert refusal["detail"] == REFUSAL
    assert lab.client.get("/api/print-files", headers=lab.headers()).json() == []
    assert not list((tmp_path / "data" / "print-files").glob("*"))


def test_the_print_corner_page_refuses_a_picture_bomb(sqlite_lab: Lab) -> None:
    client = sqlite_lab.client
    login(client, "sam", STAFF_PASSWORD)
    token = csrf_token(client, "/printers")
    answer = client.post(
        "/printers/files/new",
        headers={"x-csrftoken": token, "accept-language": "en"},
        data={"name": "Boot"},
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": ("bomb.png", one_colour_png((8000, 6247)), "image/png"),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 422
    assert "16 Megapixel" in answer.text or "16 megapixels" in answer.text
    assert client.get("/api/print-files", headers=sqlite_lab.headers()).json() == []


def test_a_phone_photo_at_the_cap_is_kept_shrunk_and_upright(lab: Lab) -> None:
    """12 megapixels, taken with the phone held upright (EXIF orientation 6: turn right)."""
    assert MAX_PIXELS >= 4032 * 3024
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (4032, 3024), (30, 160, 90)).save(out, "JPEG", exif=exif)
    response = lab.client.post(
        "/api/print-files",
        headers=lab.headers(),
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": ("photo.jpg", out.getvalue(), "image/jpeg"),
        },
    )
    assert response.status_code == 201, response.text
    shown = lab.client.get(response.json()["picture"], headers=lab.headers())
    with Image.open(io.BytesIO(shown.content)) as stored:
        assert stored.size == (600, 800)
