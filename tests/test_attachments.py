"""Messages with files through the REST API, over real HTTP on both databases, stored on the
server's local disk: what the API answers, what the webhooks carry in both formats, what the
signed links serve (and refuse), and that a refused or cut-off upload leaves nothing behind."""

from __future__ import annotations

import io
import socket
import time
import urllib.parse

import httpx
from PIL import Image

from harness.server import TEST_SECRET_KEY
from tests.conftest import Backend
from tests.support.client import ApiClient, error, fields_of, ok
from tests.support.factories import messages_of, setup_thread, subscribe
from tests.support.files import PDF, SVG_WITH_SCRIPT, png, post_files, stored_files
from tests.support.receiver import Receiver
from voxsig.files import links


def _image_and_pdf(api: ApiClient, conversation_id: int, **fields: str) -> dict:
    picture = png(640, 480)
    answer = ok(
        post_files(
            api,
            conversation_id,
            [("photo of the box.png", picture), ("invoice.pdf", PDF)],
            content="Here are both",
            **fields,
        )
    )
    return {"answer": answer, "png": picture}


def test_a_message_with_an_image_and_a_pdf(api: ApiClient, receiver: Receiver) -> None:
    _, _, conversation = setup_thread(api)
    subscribe(api, receiver, "/v", ["message_created"], payload_format="voxsig")
    subscribe(api, receiver, "/c", ["message_created"], payload_format="chatwoot")
    sent = _image_and_pdf(api, conversation["id"], message_type="incoming")
    message = sent["answer"]
    assert (message["content"], message["message_type"]) == ("Here are both", 0)
    image, pdf = message["attachments"]
    assert (image["file_type"], image["extension"], image["width"], image["height"]) == (
        "image",
        "png",
        640,
        480,
    )
    assert image["file_size"] == len(sent["png"])
    assert image["file_name"] == "photo of the box.png"
    assert (pdf["file_type"], pdf["extension"], pdf["file_size"]) == ("file", "pdf", len(PDF))
    assert (pdf["thumb_url"], pdf["width"], pdf["height"]) == ("", None, None)
    assert {a["message_id"] for a in (image, pdf)} == {message["id"]}
    assert {a["account_id"] for a in (image, pdf)} == {api.account_id}

    got = httpx.get(image["data_url"], timeout=10)
    assert got.status_code == 200
    assert got.content == sent["png"]
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["content-disposition"].startswith("inline")
    document = httpx.get(pdf["data_url"], timeout=10)
    assert document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')
    thumb = httpx.get(image["thumb_url"], timeout=10)
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (250, 188)

    # The list shows the same files, with links that work.
    (listed,) = messages_of(api, conversation["id"])
    assert [a["id"] for a in listed["attachments"]] == [image["id"], pdf["id"]]
    assert httpx.get(listed["attachments"][1]["data_url"], timeout=10).content == PDF

    (voxsig,) = [r.json() for r in receiver.wait_for(1, "/v")]
    assert [a["id"] for a in voxsig["attachments"]] == [image["id"], pdf["id"]]
    assert voxsig["conversation"]["messages"][0]["attachments"][0]["file_type"] == "image"
    (chatwoot,) = [r.json() for r in receiver.wait_for(1, "/c")]
    assert next(sorted(a) for a in chatwoot["attachments"]) == sorted(
        [
            "id",
            "message_id",
            "file_type",
            "account_id",
            "extension",
            "data_url",
            "thumb_url",
            "file_size",
            "width",
            "height",
        ]
    )
    pushed = chatwoot["conversation"]["messages"][0]
    assert httpx.get(pushed["attachments"][0]["data_url"], timeout=10).content == sent["png"]


def test_a_form_without_files_is_a_message_and_fields_are_read_as_chatwoot_sends_them(
    api: ApiClient,
) -> None:
    _, contact, conversation = setup_thread(api)
    path = f"conversations/{conversation['id']}/messages"
    note = ok(
        api.post(
            path,
            files={
                "content": (None, "Only text, as a form"),
                "private": (None, "true"),
                "message_type": (None, "outgoing"),
                "content_attributes": (None, '{"source": "gateway"}'),
                "source_id": (None, "wamid.1"),
            },
        )
    )
    assert (note["content"], note["private"], note["attachments"]) == (
        "Only text, as a form",
        True,
        [],
    )
    assert (note["content_attributes"], note["source_id"]) == ({"source": "gateway"}, "wamid.1")
    incoming = ok(post_files(api, conversation["id"], [("a.png", png(8, 8))], message_type="0"))
    assert incoming["message_type"] == 0
    assert incoming["content"] == ""
    assert incoming["sender"]["id"] == contact["id"]
    broken = error(
        api.post(path, files={"content": (None, "x"), "content_attributes": (None, "{nope")}), 422
    )
    assert fields_of(broken) == ["content_attributes"]
    empty = error(api.post(path, files={"content": (None, "  ")}), 422)
    assert fields_of(empty) == ["content"]


def test_links_are_signed_and_a_changed_one_is_a_404(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    (pdf,) = ok(post_files(api, conversation["id"], [("x.pdf", PDF)], content="doc"))["attachments"]
    url = urllib.parse.urlsplit(pdf["data_url"])
    _, _, ident, variant, token, name = url.path.split("/")
    base = f"{url.scheme}://{url.netloc}/files"
    assert httpx.get(f"{base}/{ident}/{variant}/{token}/anything.txt", timeout=5).content == PDF
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = int(ident) + 1000
    expired = links.sign(int(ident), "data", int(time.time()) - 5, TEST_SECRET_KEY)
    forged = links.sign(int(ident), "data", int(time.time()) + 60, "not the server's key")
    for bad in (
        f"{base}/{ident}/{variant}/{flipped}/{name}",
        f"{base}/{other_id}/{variant}/{token}/{name}",
        f"{base}/{ident}/thumb/{token}/{name}",
        f"{base}/{ident}/data/{expired}/{name}",
        f"{base}/{ident}/data/{forged}/{name}",
        f"{base}/{ident}/data/123.abc/{name}",
        f"{base}/x/data/{token}/{name}",
    ):
        answer = httpx.get(bad, timeout=5)
        assert answer.status_code == 404, bad
        assert PDF not in answer.content
    # A link the test signs with the server's key works: the 404s above are the signature's.
    fresh = links.sign(int(ident), "data", int(time.time()) + 60, TEST_SECRET_KEY)
    assert httpx.get(f"{base}/{ident}/data/{fresh}/{name}", timeout=5).content == PDF


def test_a_refused_file_refuses_the_message_and_stores_nothing(
    api: ApiClient, backend: Backend
) -> None:
    _, _, conversation = setup_thread(api)
    before = stored_files(backend.server.data_dir)
    cid = conversation["id"]
    script = error(
        post_files(api, cid, [("ok.png", png(4, 4)), ("cat.svg", SVG_WITH_SCRIPT)], content="x"),
        422,
    )
    assert fields_of(script) == ["attachments[1]"]
    assert "image/svg+xml" in script["message"]
    renamed = error(post_files(api, cid, [("photo.png", b"MZ\x90\x00" + bytes(200))]), 422)
    assert fields_of(renamed) == ["attachments[0]"]
    many = error(post_files(api, cid, [(f"{n}.pdf", PDF) for n in range(11)], content="x"), 422)
    assert fields_of(many) == ["attachments[10]"]
    assert "10 files" in many["message"]
    as_text = error(
        api.post(f"conversations/{cid}/messages", files={"attachments[]": (None, "x")}), 422
    )
    assert fields_of(as_text) == ["attachments[]"]
    assert messages_of(api, cid) == []
    assert stored_files(backend.server.data_dir) == before


def test_an_upload_cut_off_midway_leaves_no_row_and_no_file(
    api: ApiClient, backend: Backend
) -> None:
    _, _, conversation = setup_thread(api)
    before = stored_files(backend.server.data_dir)
    boundary = "cutoffboundary"
    head = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments[]"; '
            f'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + png(32, 32)
        + bytes(300_000)
    )
    url = urllib.parse.urlsplit(api.url)
    request = (
        f"POST /api/v1/accounts/{api.account_id}/conversations/{conversation['id']}/messages "
        f"HTTP/1.1\r\nHost: {url.netloc}\r\napi_access_token: {api.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 5_000_000}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request + head)
        time.sleep(0.5)  # the server is streaming the file into the store
    deadline = time.monotonic() + 10
    while stored_files(backend.server.data_dir) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_files(backend.server.data_dir) == before
    assert messages_of(api, conversation["id"]) == []
    assert ok(api.get("/api/v1/profile"))  # and the server serves on


def test_a_deleted_message_shows_no_files_but_its_sent_links_work(api: ApiClient) -> None:
    _, _, conversation = setup_thread(api)
    message = ok(post_files(api, conversation["id"], [("x.pdf", PDF)], content="doc"))
    link = message["attachments"][0]["data_url"]
    ok(api.delete(f"conversations/{conversation['id']}/messages/{message['id']}"))
    (listed,) = messages_of(api, conversation["id"])
    assert listed["attachments"] == []
    assert httpx.get(link, timeout=5).content == PDF  # a replayed webhook's link still works
