"""Issue 17, the dashboard over plain HTTP on both databases: the composer's form posts files
(multipart/form-data, as a browser without the script sends it), the thread shows them (images
inline at their thumbnail's size, other files as links with name and size), the list shows a
file-only message by its file, and a refused file or token keeps nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import ApiClient
from tests.support.dashboard import Dashboard, logged_in
from tests.support.deployment import DeployFactory
from tests.support.factories import messages_of, setup_thread
from tests.support.files import PDF, SVG_WITH_SCRIPT, png, stored_files
from voxsig.dashboard.filters import file_size, files_line, thumb_box

Files = list[tuple[str, tuple[str, bytes, str]]]


def compose(
    dashboard: Dashboard,
    display_id: int,
    files: list[tuple[str, bytes]],
    token: str | None = None,
    **fields: str,
) -> httpx.Response:
    """The composer's form as a browser posts it: its token first, the text, then the files
    (an empty file input when none: a part with filename="" and no bytes)."""
    text = {"csrf_token": dashboard.token if token is None else token, "mode": "reply", **fields}
    body, content_type = browser_form(list(text.items()), files or [("", b"")])
    return dashboard.http.post(
        f"/app/conversations/{display_id}/messages",
        content=body,
        headers={"content-type": content_type},
    )


def browser_form(
    fields: list[tuple[str, str]], files: list[tuple[str, bytes]]
) -> tuple[bytes, str]:
    """multipart/form-data in the form's order (httpx leaves out an empty filename, which
    browsers send for an input with no file chosen)."""
    boundary = "----voxsigtestboundary7MA4YWxkTrZu0gW"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments[]"; '
        f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def dashboard(api: ApiClient) -> Dashboard:
    return logged_in(api)


def test_the_composer_sends_an_image_and_a_pdf(api: ApiClient, dashboard: Dashboard) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    picture = png(640, 480)
    sent = compose(
        dashboard, cid, [("box.png", picture), ("invoice.pdf", PDF)], content="Both attached"
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/app/conversations/{cid}"

    (message,) = messages_of(api, cid)
    assert (message["content"], message["message_type"], message["private"]) == (
        "Both attached",
        1,
        False,
    )
    image, pdf = message["attachments"]
    assert (image["file_name"], image["file_type"], image["width"], image["height"]) == (
        "box.png",
        "image",
        640,
        480,
    )
    assert (pdf["file_name"], pdf["file_type"], pdf["file_size"]) == (
        "invoice.pdf",
        "file",
        len(PDF),
    )
    assert httpx.get(image["data_url"], timeout=10).content == picture
    assert httpx.get(pdf["data_url"], timeout=10).content == PDF

    shown = dashboard.get(f"/app/conversations/{cid}")
    page = shown.text
    thumb = _path(image["thumb_url"])
    found = re.search(r'<a href="([^"]+)" class="file-image"[^>]*><img ([^>]+)>', page)
    assert found, page
    link, img = html.unescape(found.group(1)), html.unescape(found.group(2))
    assert link == _path(image["data_url"])
    assert f'src="{thumb}"' in img
    assert 'alt="box.png"' in img
    assert 'width="250" height="188"' in img  # the thumbnail's size: no jump while it loads
    assert dashboard.get(thumb).headers["content-type"].startswith("image/")
    pdf_link = re.search(r'<a href="([^"]+)" class="file-link" download="invoice.pdf">', page)
    assert pdf_link, page
    assert html.unescape(pdf_link.group(1)) == _path(pdf["data_url"])
    assert re.search(r"invoice\.pdf</a> <span class=\"file-size\">[\d.]+ B</span>", page)
    assert f"{len(PDF)} B" in page
    # The page loads them from its own origin only.
    policy = shown.headers["content-security-policy"]
    assert "img-src 'self' data:;" in policy
    assert "media-src 'self';" in policy


def test_a_note_with_a_file_only_and_the_list_names_it(
    api: ApiClient, dashboard: Dashboard
) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    sent = compose(dashboard, cid, [("invoice.pdf", PDF)], mode="note")
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/app/conversations/{cid}?mode=note"
    (note,) = messages_of(api, cid)
    assert note["private"] is True
    assert not note["content"]
    assert [a["file_name"] for a in note["attachments"]] == ["invoice.pdf"]
    listed = dashboard.page("/app/conversations")
    excerpt = re.search(r'<p class="excerpt">(.*?)</p>', listed, re.S)
    assert excerpt, listed
    assert "📎 invoice.pdf" in excerpt.group(1)


def test_a_form_without_files_is_a_message_and_an_empty_one_is_refused(
    api: ApiClient, dashboard: Dashboard
) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    assert compose(dashboard, cid, [], content="Just text").status_code == 303
    (message,) = messages_of(api, cid)
    assert (message["content"], message["attachments"]) == ("Just text", [])
    empty = compose(dashboard, cid, [], content="  ")
    assert empty.status_code == 200
    assert 'id="f-content-error"' in empty.text
    assert len(messages_of(api, cid)) == 1


def test_a_refused_file_is_shown_under_the_composer_with_the_draft_and_nothing_is_stored(
    api: ApiClient, dashboard: Dashboard, backend: Backend
) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    before = stored_files(backend.server.data_dir)
    refused = compose(
        dashboard,
        cid,
        [("fine.png", png(8, 8)), ("cat.svg", SVG_WITH_SCRIPT)],
        content="Please keep this text",
        mode="note",
    )
    assert refused.status_code == 200, refused.text
    page = html.unescape(refused.text)
    error = re.search(r'<p class="error" id="f-attachments-error">([^<]+)</p>', page)
    assert error, page
    assert error.group(1) == 'The file "cat.svg" is image/svg+xml, which is not accepted'
    assert 'aria-describedby="f-attachments-error f-attachments-hint"' in page
    assert ">Please keep this text</textarea>" in page
    assert re.search(r'value="note" checked', page)
    assert messages_of(api, cid) == []
    assert stored_files(backend.server.data_dir) == before


def test_a_file_too_large_is_refused_and_nothing_is_stored(deploy: DeployFactory) -> None:
    deployment = deploy({"VOXSIG_ATTACHMENT_MAX_BYTES": "20000"})
    api = deployment.account()
    dashboard = logged_in(api)
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    refused = compose(
        dashboard, cid, [("small.pdf", PDF), ("big.pdf", PDF + b"%" * 30_000)], content="Two"
    )
    assert refused.status_code == 200, refused.text
    page = html.unescape(refused.text)
    assert 'The file "big.pdf" is larger than 20000 bytes' in page
    assert ">Two</textarea>" in page
    assert messages_of(api, cid) == []
    assert stored_files(deployment.server.data_dir) == []
    # The same agent then sends what fits.
    assert compose(dashboard, cid, [("small.pdf", PDF)]).status_code == 303
    (message,) = messages_of(api, cid)
    assert [a["file_name"] for a in message["attachments"]] == ["small.pdf"]
    dashboard.close()


def test_files_need_this_sessions_token_and_a_wrong_one_keeps_nothing(
    api: ApiClient, dashboard: Dashboard, backend: Backend
) -> None:
    _, _, conversation = setup_thread(api)
    cid = conversation["id"]
    before = stored_files(backend.server.data_dir)
    for token in ("not-the-token", "", "ünïcode"):
        forged = compose(dashboard, cid, [("box.png", png(8, 8))], token=token, content="x")
        assert forged.status_code == 403, forged.text
        assert "security token" in forged.text
    # A refused file is no way around it: without the token, no page with the draft either.
    forged = compose(dashboard, cid, [("cat.svg", SVG_WITH_SCRIPT)], token="wrong")
    assert forged.status_code == 403
    # Nor a refused file sent before any token.
    parts: Files = [
        ("attachments[]", ("cat.svg", SVG_WITH_SCRIPT, "image/svg+xml")),
        ("csrf_token", ("", dashboard.token.encode(), "text/plain")),
    ]
    early = dashboard.http.post(f"/app/conversations/{cid}/messages", files=parts)
    assert early.status_code == 403, early.text
    assert messages_of(api, cid) == []
    assert stored_files(backend.server.data_dir) == before
    # Another session's cookie-less request is the login page, and stores nothing.
    anonymous = httpx.post(
        f"{api.url}/app/conversations/{cid}/messages",
        data={"csrf_token": dashboard.token},
        files={"attachments[]": ("box.png", png(8, 8), "image/png")},
    )
    assert anonymous.status_code == 303
    assert stored_files(backend.server.data_dir) == before


def test_human_sizes_thumb_boxes_and_file_lines() -> None:
    assert [file_size(n) for n in (0, 1023, 1024, 12_595, 5 * 1024**2, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "12.3 KB",
        "5.0 MB",
        "3.0 GB",
    ]
    assert thumb_box({"width": 640, "height": 480}) == (250, 188)
    assert thumb_box({"width": 100, "height": 3000}) == (8, 250)
    assert thumb_box({"width": 40, "height": 30}) == (40, 30)  # never enlarged
    assert thumb_box({"width": None, "height": 30}) is None
    assert files_line([]) == ""
    assert files_line(["a.pdf"]) == "📎 a.pdf"
    assert files_line(["a.pdf", "b.png"]) == "📎 a.pdf and 1 more file"
    assert files_line(["a.pdf", "b.png", "c.png"]) == "📎 a.pdf and 2 more files"


def _path(url: str) -> str:
    """A file link as the dashboard writes it: the path on this server."""
    return httpx.URL(url).raw_path.decode("ascii")
