"""A file's kind from real bytes: images, PDF, zips and Office documents, archives, audio,
text, and the markup that must be refused, whatever the file's name says."""

from __future__ import annotations

import gzip
import io
import random
import wave
import zipfile

import pytest
from PIL import Image

from voxsig.files import kinds
from voxsig.files.kinds import HEAD_BYTES, Kind, allowed, sniff


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, format=fmt)
    return out.getvalue()


def zip_bytes(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, f"<x>{name}</x>" * 20)
    return out.getvalue()


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x01" * 800)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("PNG", "image/png", "png"),
        ("JPEG", "image/jpeg", "jpg"),
        ("GIF", "image/gif", "gif"),
        ("WEBP", "image/webp", "webp"),
    ],
)
def test_images_made_by_pillow(fmt: str, content_type: str, extension: str) -> None:
    kind = sniff(image_bytes(fmt), "picture")
    assert kind == Kind(content_type, extension, "image")
    assert allowed(kind)


def test_a_name_that_lies_changes_nothing() -> None:
    png = image_bytes("PNG")
    for name in ("invoice.pdf", "page.html", "drawing.svg", "notes.txt", "../../x.exe"):
        assert sniff(png, name) == Kind("image/png", "png", "image")
    page = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    refused = sniff(page, "cat.png")
    assert refused == kinds.HTML
    assert not allowed(refused)


def test_only_the_head_is_read() -> None:
    png = image_bytes("PNG", (300, 300))
    assert sniff(png[:64], "x") == sniff(png, "x")
    assert sniff(b"hello " * 10_000, "x") == kinds.TEXT


def test_pdf() -> None:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    kind = sniff(head, "scan.jpg")
    assert kind == Kind("application/pdf", "pdf", "file")
    assert allowed(kind)


def test_a_plain_zip() -> None:
    kind = sniff(zip_bytes("a.txt", "b/c.bin"), "stuff.zip")
    assert kind == Kind("application/zip", "zip", "file")
    assert allowed(kind)


@pytest.mark.parametrize(
    ("entry", "content_type", "extension"),
    [
        ("word/document.xml", kinds.DOCX, "docx"),
        ("xl/workbook.xml", kinds.XLSX, "xlsx"),
        ("ppt/presentation.xml", kinds.PPTX, "pptx"),
    ],
)
def test_office_open_xml_told_apart_by_its_entries(
    entry: str, content_type: str, extension: str
) -> None:
    document = zip_bytes("[Content_Types].xml", "_rels/.rels", "docProps/app.xml", entry)
    for name in ("file.zip", "file", f"file.{extension}", "file.docx"):
        kind = sniff(document, name)
        assert kind == Kind(content_type, extension, "file")
        assert allowed(kind)


def test_a_zip_keeps_a_declared_office_extension_only_because_it_is_a_zip() -> None:
    archive = zip_bytes("content.xml", "other.bin")
    assert sniff(archive, "report.docx") == Kind(kinds.DOCX, "docx", "file")
    assert sniff(archive, "report.odt") == Kind(kinds.ODT, "odt", "file")
    assert sniff(archive, "report.exe") == Kind("application/zip", "zip", "file")
    assert sniff(b"not a zip at all", "report.docx") == kinds.TEXT


def test_open_document_by_its_mimetype_entry() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", kinds.ODS, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
    assert sniff(out.getvalue(), "sheet") == Kind(kinds.ODS, "ods", "file")


def test_gzip_and_7z() -> None:
    assert sniff(gzip.compress(b"x" * 100), "a") == Kind("application/gzip", "gz", "file")
    seven = b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24)
    assert sniff(seven, "a") == Kind("application/x-7z-compressed", "7z", "file")
    assert allowed(sniff(seven, "a"))


def test_wav_is_audio() -> None:
    kind = sniff(wav_bytes(), "voice.bin")
    assert kind == Kind("audio/wav", "wav", "audio")
    assert allowed(kind)


def test_an_executable_is_recognised_and_refused() -> None:
    kind = sniff(b"MZ\x90\x00\x03" + bytes(200), "setup.pdf")
    assert kind is not None
    assert kind.content_type == "application/x-msdownload"
    assert not allowed(kind)


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"\xef\xbb\xbf  <!-- a drawing -->\n<SVG onload=alert(1)></SVG>",
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg/>',
        b"just some words, then <svg onload=alert(1)>",
    ],
)
def test_svg_is_never_text_and_is_refused(svg: bytes) -> None:
    for name in ("drawing.svg", "notes.txt", "data.csv", "x.json", ""):
        kind = sniff(svg, name)
        assert kind == kinds.SVG
        assert kind.file_type == "file"
        assert not allowed(kind)


@pytest.mark.parametrize(
    "page",
    [
        b"<!DOCTYPE html>\n<title>x</title>",
        b"<html><body>hi</body></html>",
        b"  \n<HTML>",
        b"hello <script>fetch('/api')</script>",
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>',
        b"<iframe src=x>",
    ],
)
def test_html_is_refused(page: bytes) -> None:
    kind = sniff(page, "readme.txt")
    assert kind == kinds.HTML
    assert not allowed(kind)


def test_other_xml_is_refused() -> None:
    kind = sniff(b'<?xml version="1.0"?><order id="1"/>', "order.txt")
    assert kind == kinds.XML
    assert not allowed(kind)


def test_text_csv_and_json() -> None:
    text = "Hello, world. Grüße, 你好\n".encode()
    assert sniff(text, "notes.txt") == Kind("text/plain", "txt", "file")
    assert sniff(text, "") == kinds.TEXT
    assert sniff(b"name,age\nAda,36\n", "people.CSV") == Kind("text/csv", "csv", "file")
    assert sniff(b"name,age\nAda,36\n", "people.txt") == kinds.TEXT
    assert sniff(b'{"a": [1, 2]}', "data") == Kind("application/json", "json", "file")
    assert sniff(b'{"a": [1, 2', "data.txt") == kinds.TEXT
    long_json = b'{"k": "' + b"v" * HEAD_BYTES
    assert sniff(long_json, "export.json") == kinds.JSON
    assert sniff(long_json, "export.txt") == kinds.TEXT
    for kind in (kinds.TEXT, kinds.CSV, kinds.JSON):
        assert allowed(kind)


def test_deeply_nested_json_is_just_text_not_an_error() -> None:
    assert sniff(b"[" * 5000 + b"]" * 5000, "deep") in (kinds.TEXT, kinds.JSON)
    assert sniff(b"[" * 8000, "deep") == kinds.TEXT


def test_a_character_cut_at_the_heads_end_is_still_text() -> None:
    text = ("é" * HEAD_BYTES).encode()  # two bytes each: the head ends on a whole one
    head = b"a" + text[: HEAD_BYTES - 1]  # ...and now on half of one
    assert sniff(head, "x") == kinds.TEXT


def test_not_text() -> None:
    assert sniff("Grüße".encode("latin-1"), "x.txt") is None  # not UTF-8
    assert sniff(b"abc\x00def", "x.txt") is None
    assert sniff(b"", "x.txt") is None


def test_random_bytes_are_unrecognised() -> None:
    noise = random.Random(17).randbytes(4096)
    assert sniff(noise, "photo.png") is None
    assert not allowed(sniff(noise, "photo.png"))


def test_hostile_arguments_never_raise() -> None:
    assert sniff("text, not bytes", "x") is None  # type: ignore[arg-type]
    assert sniff(b"hello", None) == kinds.TEXT  # type: ignore[arg-type]
    assert sniff(bytearray(b"hello"), "x") == kinds.TEXT
    truncated_zip = zip_bytes("word/document.xml")[:40]
    assert sniff(truncated_zip, "x") is not None


def test_declared_extension() -> None:
    assert kinds.declared_extension("A.B.DOCX") == "docx"
    assert kinds.declared_extension("dir\\evil/.bashrc") == "bashrc"
    assert kinds.declared_extension("noext") == ""
    assert kinds.declared_extension("x.very-long-extension") == ""
    assert kinds.declared_extension("x.") == ""


@pytest.mark.parametrize(
    ("content_type", "file_type"),
    [
        ("image/jpeg", "image"),
        ("image/png", "image"),
        ("image/gif", "image"),
        ("image/bmp", "image"),
        ("image/webp", "image"),
        ("image/svg+xml", "file"),
        ("image/tiff", "file"),
        ("video/mp4", "video"),
        ("video/webm", "video"),
        ("video/quicktime", "video"),
        ("video/ogg", "video"),
        ("video/x-matroska", "file"),
        ("audio/mpeg", "audio"),
        ("audio/ogg", "audio"),
        ("audio/x-flac", "audio"),
        ("application/pdf", "file"),
        ("text/plain", "file"),
    ],
)
def test_chatwoots_file_type(content_type: str, file_type: str) -> None:
    assert kinds.chatwoot_file_type(content_type) == file_type


def test_the_default_list_holds_no_markup() -> None:
    for refused in ("image/svg+xml", "text/html", "application/xml", "application/xhtml+xml"):
        assert refused not in kinds.DEFAULT_ALLOWED
