"""Images' sizes and thumbnails, with Pillow, safe against what strangers upload.

Only JPEG, PNG, GIF and WebP are decoded (the image kinds `kinds.DEFAULT_ALLOWED` accepts):
Pillow's other plugins, some of which run external programs, are never consulted. An image
of more than `MAX_PIXELS` pixels is refused from its header, before any decoding
(`ImageTooLarge`), so a decompression bomb costs a few bytes read, never the memory it claims.
Anything else that goes wrong (not an image, a truncated or corrupt one) is `ImageRefused`; no
other exception escapes.

Both functions block: they read and decode. The caller runs them off the event loop
(`await asyncio.to_thread(thumbnail, data)`)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps

MAX_PIXELS = 40_000_000  # a 48 MP phone photo is ~12 MP saved; this is ~160 MB decoded (RGBA)
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# EXIF orientations 5 to 8 turn the picture a quarter: width and height swap when shown.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_ORIENTATION = 0x0112


class ImageRefused(ValueError):
    """Not an image this module reads: unknown, truncated, corrupt, or too large."""


class ImageTooLarge(ImageRefused):
    """More pixels than the limit (`size` is None when Pillow refused the header itself)."""

    def __init__(self, limit: int, size: tuple[int, int] | None = None) -> None:
        what = f"image of {size[0]}x{size[1]} pixels" if size else "image"
        super().__init__(f"{what} is over the limit of {limit} pixels")
        self.limit = limit
        self.size = size


Source = Path | bytes


def _open(src: Source, max_pixels: int) -> Image.Image:
    handle = io.BytesIO(src) if isinstance(src, bytes | bytearray) else Path(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(handle, formats=FORMATS)  # lazy: the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own check (past its global limit, above ours) fired first.
        raise ImageTooLarge(max_pixels) from error
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        image.close()
        raise ImageTooLarge(max_pixels, (width, height))
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block: shown as stored
        return 1
    return value if isinstance(value, int) else 1


def inspect(src: Source, max_pixels: int = MAX_PIXELS) -> tuple[int, int] | None:
    """(width, height) as the image is shown (its EXIF orientation applied), read from the
    header alone; None when `src` is not an image of the decoded formats. Raises
    ImageTooLarge past `max_pixels`. Blocking: run it off the event loop."""
    try:
        with _open(src, max_pixels) as image:
            width, height = image.size
            if _orientation(image) in _QUARTER_TURNS:
                width, height = height, width
            return width, height
    except ImageTooLarge:
        raise
    except Exception:
        return None


def thumbnail(src: Source, max_side: int = 250, max_pixels: int = MAX_PIXELS) -> bytes:
    """The image turned upright (EXIF orientation) and shrunk to fit `max_side` on each side
    (never enlarged): PNG when it has transparency, else JPEG (`thumbnail_type` tells which).
    Raises ImageTooLarge past `max_pixels`, ImageRefused for anything it cannot decode.
    Blocking: run it off the event loop."""
    if not 1 <= max_side <= 4096:
        raise ValueError("max_side must be between 1 and 4096")
    try:
        with _open(src, max_pixels) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            return _encode(upright)
    except ImageRefused:
        raise
    except Exception as error:
        raise ImageRefused(f"not a readable image ({type(error).__name__})") from error


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    transparent = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if transparent:
        image.convert("RGBA").save(out, format="PNG", optimize=True)
    else:
        opaque = image if image.mode in ("RGB", "L") else image.convert("RGB")
        opaque.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


# A stored thumbnail's key ends with its type, so it is served without being read first.
THUMB_SUFFIXES = {"image/jpeg": ".thumb.jpg", "image/png": ".thumb.png"}


def thumbnail_key_type(key: str) -> str:
    """The content type of the thumbnail stored under `key`."""
    return "image/png" if key.endswith(THUMB_SUFFIXES["image/png"]) else "image/jpeg"


def thumbnail_type(data: bytes) -> str:
    """The content type of bytes `thumbnail` returned."""
    return "image/png" if data.startswith(PNG_SIGNATURE) else "image/jpeg"
