"""Uploading demo G-code files: good ones are kept with their estimate, others refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import Image

from librarylab.app import create_app
from tests.conftest import Lab, admin_headers, make_settings

BOAT = b";FLAVOR:Marlin\n;TIME:1234\nG28\nG1 X10 Y10 F3000\nM104 S0\n"


def upload(
    lab_client: TestClient, headers: dict[str, str], filename: str, content: bytes, **form: str
) -> Response:
    return lab_client.post(
        "/api/print-files",
        headers=headers,
        data=form,
        files={"file": (filename, content, "application/octet-stream")},
    )


def test_a_gcode_file_is_kept_with_the_slicers_estimate(lab: Lab) -> None:
    response = upload(lab.client, lab.headers(), "boat.gcode", BOAT, name="Kleines Boot")
    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in ("name", "filename", "size", "estimated_seconds")} == {
        "name": "Kleines Boot",
        "filename": "boat.gcode",
        "size": len(BOAT),
        "estimated_seconds": 1234,
    }
    listed = lab.client.get("/api/print-files", headers=lab.headers()).json()
    assert [f["id"] for f in listed] == [created["id"]]


@pytest.mark.parametrize(
    ("filename", "content", "says"),
    [
        ("boat.stl", b"solid boat\n", "slice the model first"),
        ("../../etc/boat.gcode", BOAT, "without folders"),
        ("logo.gcode", b"\x89PNG\r\n\x1a\n\0\0\0", "no G-code commands"),
        ("empty.gcode", b"", "empty"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(
    lab: Lab, tmp_path: Path, filename: str, content: bytes, says: str
) -> None:
    response = upload(lab.client, lab.headers(), filename, content)
    assert response.status_code == 422
    assert says in response.text
    assert lab.client.get("/api/print-files", headers=lab.headers()).json() == []
    assert not list((tmp_path / "data" / "print-files").glob("*"))


def test_files_over_the_limit_are_refused(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, print_file_max_mb=0.001))
    with TestClient(app) as client:
        headers = admin_headers(app)
        big = BOAT + b"G1 X1\n" * 400
        response = upload(client, headers, "big.gcode", big)
        assert response.status_code == 413
        refusal = response.json()
        assert refusal["type"] == "/problems/too-large"
        assert refusal["field"] == "file"
        assert refusal["detail"] == "The file is larger than 0.001 MB."
        assert client.get("/api/print-files", headers=headers).json() == []


def test_uploads_need_a_login(lab: Lab) -> None:
    assert upload(lab.client, {}, "boat.gcode", BOAT).status_code == 401


def photo(fmt: str, size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A real image with a location in its EXIF data, as a phone would take it (MPO: a
    JPEG with a second frame, as many phones write)."""
    image = Image.new("RGB", size, (230, 0, 126))
    exif = Image.Exif()
    exif[0x8825] = {2: (51.0, 13.0, 0.0)}  # GPSInfo: latitude
    out = io.BytesIO()
    extra = {"save_all": True, "append_images": [image.copy()]} if fmt == "MPO" else {}
    image.save(out, fmt, exif=exif, **extra)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "MPO", "PNG"])
def test_a_picture_is_kept_small_and_without_its_metadata(lab: Lab, fmt: str) -> None:
    response = lab.client.post(
        "/api/print-files",
        headers=lab.headers(),
        data={"name": "Kleines Boot"},
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": ("boot.jpg", photo(fmt), "image/jpeg"),
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["picture"] == f"/api/print-files/{created['id']}/picture"
    shown = lab.client.get(created["picture"], headers=lab.headers())
    assert shown.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(shown.content)) as stored:
        assert max(stored.size) == 800
        assert not stored.getexif()
    without = upload(lab.client, lab.headers(), "keychain.gcode", BOAT).json()
    assert without["picture"] is None
    missing = lab.client.get(f"/api/print-files/{without['id']}/picture", headers=lab.headers())
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "picture",
    [
        b"GIF89a not really",
        b"\x89PNG\r\n\x1a\n broken",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
)
def test_a_picture_that_is_not_a_photo_refuses_the_whole_upload(
    lab: Lab, tmp_path: Path, picture: bytes
) -> None:
    response = lab.client.post(
        "/api/print-files",
        headers=lab.headers(),
        files={
            "file": ("boat.gcode", BOAT, "application/octet-stream"),
            "picture": ("boot.png", picture, "image/png"),
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "The picture must be a PNG, JPEG or WebP image."
    assert lab.client.get("/api/print-files", headers=lab.headers()).json() == []
    assert not list((tmp_path / "data" / "print-files").glob("*"))
