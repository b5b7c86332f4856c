"""Image sizes and thumbnails: sizes, EXIF orientation, transparency, bombs refused from the
header, truncated and foreign files refused with the module's own exceptions."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from voxsig.files import images
from voxsig.files.images import ImageRefused, ImageTooLarge, inspect, thumbnail, thumbnail_type

ORIENTATION = 0x0112


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def halves(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue: which way is up survives a rotation."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def reddish(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 180 and pixel[2] < 80


def bluish(pixel: tuple[int, ...]) -> bool:
    return pixel[2] > 180 and pixel[0] < 80


def png_claiming(width: int, height: int) -> bytes:
    """A real PNG whose IHDR is rewritten to claim another size (its CRC recomputed)."""
    data = bytearray(encoded(Image.new("RGB", (4, 4)), "PNG"))
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), then width and height
    struct.pack_into(">II", data, ihdr + 8, width, height)
    chunk = bytes(data[ihdr + 4 : ihdr + 8 + 13])
    struct.pack_into(">I", data, ihdr + 8 + 13, zlib.crc32(chunk))
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_inspect_reads_the_size(fmt: str) -> None:
    assert inspect(encoded(Image.new("RGB", (640, 480)), fmt)) == (640, 480)


def test_inspect_reads_a_path_too(tmp_path: Path) -> None:
    path = tmp_path / "photo.bin"
    path.write_bytes(encoded(Image.new("RGB", (33, 44)), "PNG"))
    assert inspect(path) == (33, 44)
    assert thumbnail_type(thumbnail(path)) == "image/jpeg"


def test_inspect_is_none_for_what_is_not_an_image() -> None:
    assert inspect(b"%PDF-1.7\n") is None
    assert inspect(b"") is None
    assert inspect(b"hello") is None
    assert inspect(encoded(Image.new("RGB", (10, 10)), "PNG")[:12]) is None
    assert inspect(encoded(Image.new("RGB", (10, 10)), "BMP")) is None  # not a decoded format
    assert inspect(b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>") is None


def test_thumbnail_fits_max_side_and_keeps_the_aspect() -> None:
    big = decoded(thumbnail(encoded(halves((1000, 500)), "PNG")))
    assert big.format == "JPEG"
    assert big.size == (250, 125)
    small = decoded(thumbnail(encoded(halves((100, 50)), "PNG"), max_side=250))
    assert small.size == (100, 50)  # never enlarged
    tall = decoded(thumbnail(encoded(Image.new("RGB", (300, 1200)), "JPEG"), max_side=64))
    assert tall.size == (16, 64)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: shown turned a quarter clockwise
    photo = encoded(halves((400, 200)), "JPEG", exif=exif.tobytes(), quality=95)
    assert inspect(photo) == (200, 400)
    shown = decoded(thumbnail(photo)).convert("RGB")
    assert shown.size == (125, 250)
    width, height = shown.size
    assert reddish(shown.getpixel((width // 2, 10)))  # the left half is now on top
    assert bluish(shown.getpixel((width // 2, height - 10)))


def test_transparency_makes_a_png() -> None:
    clear = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    data = thumbnail(encoded(clear, "PNG"))
    assert thumbnail_type(data) == "image/png"
    out = decoded(data)
    assert out.format == "PNG"
    assert out.size == (250, 250)
    assert out.convert("RGBA").getpixel((5, 5))[3] == 0


def test_other_modes_become_jpeg() -> None:
    for image in (Image.new("L", (300, 300), 128), Image.new("CMYK", (300, 300))):
        data = thumbnail(encoded(image, "JPEG"))
        assert thumbnail_type(data) == "image/jpeg"
        assert decoded(data).size == (250, 250)
    palette = Image.new("RGB", (300, 300), (10, 200, 10)).convert("P")
    assert decoded(thumbnail(encoded(palette, "GIF"))).size == (250, 250)


def test_a_bomb_is_refused_from_its_header_quickly() -> None:
    bomb = png_claiming(100_000, 100_000)
    started = time.monotonic()
    with pytest.raises(ImageTooLarge) as caught:
        thumbnail(bomb)
    with pytest.raises(ImageTooLarge):
        inspect(bomb)
    assert time.monotonic() - started < 1
    assert caught.value.limit == images.MAX_PIXELS
    assert "over the limit" in str(caught.value)
    assert isinstance(caught.value, ImageRefused)
    just_over = png_claiming(8000, 6000)  # 48 MP: under Pillow's own limit, over ours
    with pytest.raises(ImageTooLarge, match="8000x6000") as caught:
        thumbnail(just_over)
    assert caught.value.size == (8000, 6000)


def test_the_limit_is_a_parameter() -> None:
    data = encoded(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageTooLarge):
        thumbnail(data, max_pixels=9_999)
    assert inspect(data, max_pixels=10_000) == (100, 100)
    assert images.MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # ours refuses before Pillow warns


def test_a_truncated_image_is_refused() -> None:
    for fmt in ("PNG", "JPEG"):
        data = encoded(Image.effect_noise((400, 400), 60).convert("RGB"), fmt)
        cut = data[: len(data) // 2]
        with pytest.raises(ImageRefused, match="not a readable image"):
            thumbnail(cut)


def test_what_is_not_an_image_is_refused() -> None:
    for data in (b"", b"hello", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n" + bytes(40)):
        with pytest.raises(ImageRefused):
            thumbnail(data)


def test_max_side_is_bounded() -> None:
    data = encoded(Image.new("RGB", (10, 10)), "PNG")
    for side in (0, -1, 5000):
        with pytest.raises(ValueError, match="max_side"):
            thumbnail(data, max_side=side)
