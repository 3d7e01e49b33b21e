"""Pictures of demo prints: the only module that imports Pillow.

An uploaded photo is decoded (so anything that is not a real PNG, JPEG or WebP image is
refused), turned upright, shrunk and stored again as WebP: that drops its metadata (a phone
photo's EXIF may hold a location) and whatever else rode along in the file.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from librarylab.errors import InvalidInput

FORMATS = {"PNG", "JPEG", "MPO", "WEBP"}  # MPO: phone JPEGs with extra frames (first is used)
MAX_PIXELS = 50_000_000  # decoding more would take gigabytes of memory
MAX_SIDE = 800


def prepare(upload: Path) -> bytes:
    """The picture as a small WebP, or InvalidInput saying what to upload instead."""
    try:
        with Image.open(upload) as image:
            if image.format not in FORMATS:
                raise InvalidInput("The picture must be a PNG, JPEG or WebP image.", "picture")
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(
                    "The picture has too many pixels (at most 50 megapixels).", "picture"
                )
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            upright.convert("RGBA" if "A" in upright.getbands() else "RGB").save(
                out, "WEBP", quality=85
            )
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise InvalidInput("The picture must be a PNG, JPEG or WebP image.", "picture") from None
    return out.getvalue()
