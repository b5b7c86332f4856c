"""Pure pieces of attachments on their way out and in: link signing to the hour, the JSON of
both formats, Content-Disposition, which requests stream, and form fields as a request model."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from voxsig.bodies import form_body
from voxsig.config import Settings
from voxsig.files import links
from voxsig.files.links import ROUND_SECONDS, LinkSigner
from voxsig.files.storage import content_disposition
from voxsig.messages.attachments import streamed_limit
from voxsig.messages.schemas import MessageCreate
from voxsig.views.attachments import attachment_json, chatwoot_attachment

SECRET = "s" * 40
SIGNER = LinkSigner("https://chat.example.com", SECRET, 7 * 86400)


def _row(**over: Any) -> Any:
    fields = {
        "id": 7,
        "message_id": 3,
        "file_type": "image",
        "account_id": 2,
        "extension": "png",
        "file_name": "my photo.png",
        "file_size": 1234,
        "width": 640,
        "height": 480,
        "content_type": "image/png",
        "thumb_key": "attachments/x.thumb.jpg",
    }
    return SimpleNamespace(**{**fields, **over})


def _token(url: str) -> str:
    return url.split("/")[-2]


def test_links_are_absolute_signed_and_the_same_within_the_hour() -> None:
    now = 1_800_000_100.0  # 100 s into an hour
    url = SIGNER.url(7, "data", "my photo.png", now)
    assert url.startswith("https://chat.example.com/files/7/data/")
    assert url.endswith("/my%20photo.png")
    token = _token(url)
    expires = links.expires_of(token)
    assert expires is not None
    assert expires % ROUND_SECONDS == 0
    assert now + 7 * 86400 <= expires < now + 7 * 86400 + ROUND_SECONDS
    assert links.verify(token, 7, "data", now, SECRET)
    assert not links.verify(token, 8, "data", now, SECRET)
    assert not links.verify(token, 7, "thumb", now, SECRET)
    assert SIGNER.url(7, "data", "my photo.png", now + 60) == url  # cacheable
    assert not links.verify(token, 7, "data", expires + 1, SECRET)


def test_the_voxsig_json_and_chatwoots() -> None:
    body = attachment_json(_row(), SIGNER, 1_800_000_000.0)
    assert body["data_url"] != body["thumb_url"]
    assert "/files/7/thumb/" in body["thumb_url"]
    assert (body["file_name"], body["content_type"]) == ("my photo.png", "image/png")
    assert list(chatwoot_attachment(body)) == [
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
    no_thumb = attachment_json(_row(thumb_key=None, file_type="file"), SIGNER, 0.0)
    assert no_thumb["thumb_url"] == ""


@pytest.mark.parametrize(
    ("name", "inline", "expected"),
    [
        ("a.pdf", False, 'attachment; filename="a.pdf"'),
        ("a.png", True, 'inline; filename="a.png"'),
        (
            'x"\r\n.html',
            False,
            "attachment; filename=\"x___.html\"; filename*=UTF-8''x%22%0D%0A.html",
        ),
    ],
)
def test_content_disposition(name: str, inline: bool, expected: str) -> None:
    assert content_disposition(name, inline=inline) == expected


def _scope(method: str, path: str, content_type: bytes) -> dict[str, Any]:
    return {"method": method, "path": path, "headers": [(b"content-type", content_type)]}


def test_only_a_multipart_post_to_a_message_door_streams() -> None:
    limit_of = streamed_limit(Settings(attachment_max_message_bytes=1000))
    form = b"multipart/form-data; boundary=x"
    doors = (
        "/api/v1/accounts/1/conversations/2/messages",
        "/public/api/v1/inboxes/abc/contacts/def/conversations/3/messages",
        "/api/v1/widget/messages",
        "/app/conversations/4/messages",
    )
    for path in doors:
        assert limit_of(_scope("POST", path, form)) is not None, path
    assert limit_of(_scope("POST", doors[0], b"application/json")) is None
    assert limit_of(_scope("PATCH", doors[0], form)) is None
    assert limit_of(_scope("POST", "/api/v1/accounts/1/contacts", form)) is None
    assert limit_of(_scope("POST", doors[0] + "/x", form)) is None


def test_form_fields_become_the_json_model() -> None:
    body = form_body(
        {"content": "hi", "message_type": "0", "private": "true", "content_attributes": '{"a":1}'},
        MessageCreate,
        json_fields=("content_attributes",),
    )
    assert (body.content, body.message_type, body.private) == ("hi", 0, True)
    assert body.content_attributes == {"a": 1}
    with pytest.raises(RequestValidationError) as refused:
        form_body({"content_attributes": "{"}, MessageCreate, json_fields=("content_attributes",))
    assert refused.value.errors()[0]["loc"] == ("body", "content_attributes")
    with pytest.raises(RequestValidationError):
        form_body({"message_type": "sideways"}, MessageCreate)
