"""Pictures of demo prints: the only module that imports Pillow.

An uploaded photo is decoded (so anything that is not a real PNG, JPEG or WebP image is
refused), turned upright, shrunk and stored again as WebP: that drops its metadata (a phone
photo's EXIF may hold a location) and whatever else rode along in the file.

A picture's size on disk says nothing about its size decoded: a PNG of one colour, 200 KB,
can hold 50 megapixels. So the width and height in its header are checked before any pixel
is decoded, and at most DECODERS pictures are decoded at once. Memory for pictures stays
below DECODERS × MAX_PIXELS × 4 bytes (RGBA, the widest mode these formats decode to), plus
a quarter of that for the first shrinking step: about 160 MB. A JPEG is decoded at the
smallest scale (1/2 to 1/8) that still gives MAX_SIDE, which costs far less.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from librarylab.errors import InvalidInput

FORMATS = {"PNG", "JPEG", "MPO", "WEBP"}  # MPO: phone JPEGs with extra frames (first is used)
# A 12-megapixel phone photo (4032 × 3024) and a 16-megapixel camera's (4608 × 3456) pass;
# the stored picture has MAX_SIDE pixels a side whatever comes in.
MAX_PIXELS = 16_000_000
MAX_SIDE = 800
DECODERS = 2  # one per core; more would only share the cores and add up the memory
# Pillow's own guard agrees (it warns above this and refuses above twice this in open()).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_decoding = threading.BoundedSemaphore(DECODERS)


def _too_many_pixels() -> InvalidInput:
    return InvalidInput(
        "The picture has more than {limit} megapixels: shrink it, e.g. to 4000 × 3000 pixels.",
        "picture",
        limit=MAX_PIXELS // 1_000_000,
    )


def prepare(upload: Path) -> bytes:
    """The picture as a small WebP, or InvalidInput saying what to upload instead.

    Blocking work (decoding): for the thread pool, never the event loop.
    """
    try:
        with Image.open(upload) as image:  # reads the header only
            if image.format not in FORMATS:
                raise InvalidInput("The picture must be a PNG, JPEG or WebP image.", "picture")
            if image.width * image.height > MAX_PIXELS:
                raise _too_many_pixels()
            with _decoding:
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a smaller scale
                image.thumbnail((MAX_SIDE, MAX_SIDE))  # decodes, then shrinks in place
                upright = ImageOps.exif_transpose(image)  # of the small copy
                out = io.BytesIO()
                upright.convert("RGBA" if "A" in upright.getbands() else "RGB").save(
                    out, "WEBP", quality=85
                )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput("The picture must be a PNG, JPEG or WebP image.", "picture") from None
    return out.getvalue()
