"""Messages with files from contacts, over real HTTP on both databases: the public client API
(`POST …/contacts/{source_id}/conversations/{id}/messages`) and the widget's
(`POST /api/v1/widget/messages`), each as `multipart/form-data` with `attachments[]` as
Chatwoot's clients send it. What the contact and the agents see, the bytes behind the links,
and that a refused upload (another contact's conversation, a disallowed type, too many files,
too many uploads) stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, error, fields_of, ok
from tests.support.factories import api_inbox, messages_of
from tests.support.files import PDF, SVG_WITH_SCRIPT, jpeg, png, stored_files
from tests.support.widget import PublicContact, WidgetVisitor, visit
from voxsig.public.limits import UPLOADS

Files = list[tuple[str, bytes]]


def form(files: Files, **fields: str) -> dict[str, Any]:
    """httpx arguments of a multipart/form-data body: `files` as attachments[], `fields` as
    text parts (a text part even when there is no file, so the body is always multipart)."""
    parts: list[tuple[str, Any]] = [
        ("attachments[]", (name, data, "application/octet-stream")) for name, data in files
    ]
    parts += [(name, (None, value)) for name, value in fields.items()]
    return {"files": parts}


def bytes_at(url: str) -> bytes:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, url
    return answer.content


def check_image_and_pdf(message: JSON, picture: bytes) -> None:
    """`message` carries the image and the PDF sent, and their links serve what was sent."""
    image, pdf = message["attachments"]
    assert (image["file_type"], image["extension"], image["file_name"]) == (
        "image",
        "png",
        "screenshot.png",
    )
    assert (image["width"], image["height"], image["file_size"]) == (320, 200, len(picture))
    assert image["thumb_url"]
    assert (pdf["file_type"], pdf["extension"], pdf["file_name"]) == ("file", "pdf", "order.pdf")
    assert (pdf["thumb_url"], pdf["file_size"]) == ("", len(PDF))
    assert {a["message_id"] for a in (image, pdf)} == {message["id"]}
    assert bytes_at(image["data_url"]) == picture
    assert bytes_at(pdf["data_url"]) == PDF


# -- the public client API ---------------------------------------------------------------------


class PublicThread:
    """A contact of an API inbox with one conversation, and its messages' URL path."""

    def __init__(self, backend: Backend, api: ApiClient, inbox: JSON) -> None:
        self.contact = PublicContact(backend.url, inbox["inbox_identifier"])
        self.contact.create(name="Pat Public")
        self.conversation: JSON = self.contact.ok("POST", "/conversations", json={})
        self.path = f"/conversations/{self.conversation['id']}/messages"

    def post(self, files: Files, path: str | None = None, **fields: str) -> httpx.Response:
        return self.contact.request("POST", path or self.path, **form(files, **fields))


@pytest.fixture
def threads(backend: Backend, api: ApiClient) -> Any:
    made: list[PublicThread] = []
    inbox = api_inbox(api)

    def make() -> PublicThread:
        made.append(PublicThread(backend, api, inbox))
        return made[-1]

    yield make
    for thread in made:
        thread.contact.close()


def test_public_api_message_with_an_image_and_a_pdf(api: ApiClient, threads: Any) -> None:
    thread = threads()
    picture = png(320, 200)
    sent = ok(
        thread.post(
            [("screenshot.png", picture), ("order.pdf", PDF)],
            content="The parcel arrived broken",
            echo_id="tmp-7",
        )
    )
    assert (sent["content"], sent["echo_id"], sent["message_type"]) == (
        "The parcel arrived broken",
        "tmp-7",
        0,
    )
    check_image_and_pdf(sent, picture)
    (listed,) = thread.contact.ok("GET", thread.path)
    assert [a["id"] for a in listed["attachments"]] == [a["id"] for a in sent["attachments"]]
    check_image_and_pdf(listed, picture)
    (seen_by_agents,) = messages_of(api, thread.conversation["id"])
    assert seen_by_agents["sender"]["type"] == "contact"
    check_image_and_pdf(seen_by_agents, picture)


def test_public_api_files_alone_are_a_message_but_text_alone_is_needed_without_them(
    threads: Any,
) -> None:
    thread = threads()
    photo = jpeg(120, 90)
    only_file = ok(thread.post([("photo.jpg", photo)]))
    assert only_file["content"] == ""
    assert [a["extension"] for a in only_file["attachments"]] == ["jpg"]
    assert bytes_at(only_file["attachments"][0]["data_url"]) == photo
    only_text = ok(thread.post([], content="Just words, as a form"))
    assert (only_text["content"], only_text["attachments"]) == ("Just words, as a form", [])
    assert fields_of(error(thread.post([], content="   "), 422)) == ["content"]
    # JSON keeps its rules: content is required there.
    empty_json = thread.contact.request("POST", thread.path, json={"content": ""})
    assert fields_of(error(empty_json, 422)) == ["content"]
    sent_json = thread.contact.ok("POST", thread.path, json={"content": "Still JSON"})
    assert sent_json["attachments"] == []


def test_public_api_another_contacts_conversation_is_a_404_and_stores_nothing(
    backend: Backend, api: ApiClient, threads: Any
) -> None:
    owner, stranger = threads(), threads()
    before = stored_files(backend.server.data_dir)
    for number in (owner.conversation["id"], 999_999):
        path = f"/conversations/{number}/messages"
        refused = stranger.post([("x.png", png(8, 8)), ("x.pdf", PDF)], path=path, content="hi")
        assert fields_of(error(refused, 404)) == ["conversation_id"]
    assert stored_files(backend.server.data_dir) == before
    assert owner.contact.ok("GET", owner.path) == []
    assert messages_of(api, owner.conversation["id"]) == []


def test_public_api_refused_files_store_nothing(
    backend: Backend, api: ApiClient, threads: Any
) -> None:
    thread = threads()
    before = stored_files(backend.server.data_dir)
    script = error(thread.post([("ok.png", png(4, 4)), ("cat.svg", SVG_WITH_SCRIPT)]), 422)
    assert fields_of(script) == ["attachments[1]"]
    assert "image/svg+xml" in script["message"]
    many = error(thread.post([(f"{n}.pdf", PDF) for n in range(11)], content="x"), 422)
    assert fields_of(many) == ["attachments[10]"]
    unknown = error(thread.post([("a.png", b"MZ\x90\x00" + bytes(100))]), 422)
    assert fields_of(unknown) == ["attachments[0]"]
    assert stored_files(backend.server.data_dir) == before
    assert thread.contact.ok("GET", thread.path) == []
    assert messages_of(api, thread.conversation["id"]) == []


# -- the widget --------------------------------------------------------------------------------


def widget_post(visitor: WidgetVisitor, files: Files, **fields: str) -> httpx.Response:
    return visitor.request("POST", "messages", **form(files, **fields))


def only_conversation(api: ApiClient) -> JSON:
    (conversation,) = ok(api.get("conversations", params={"status": "all"}))["data"]["payload"]
    found: JSON = conversation
    return found


def test_widget_first_message_with_files_starts_the_conversation(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    picture = png(320, 200)
    referer = "https://shop.example/orders/88"
    sent = ok(
        widget_post(
            visitor,
            [("screenshot.png", picture), ("order.pdf", PDF)],
            echo_id="echo-1",
            referer=referer,
        )
    )
    assert (sent["content"], sent["echo_id"], sent["message_type"]) == ("", "echo-1", 0)
    check_image_and_pdf(sent, picture)
    conversation = only_conversation(api)
    assert conversation["id"] == sent["conversation_id"]
    assert conversation["additional_attributes"]["referer"] == referer
    listed = visitor.messages()
    assert listed["conversation"]["id"] == sent["conversation_id"]
    (mine,) = [m for m in listed["payload"] if m["id"] == sent["id"]]
    check_image_and_pdf(mine, picture)
    (seen_by_agents,) = [m for m in messages_of(api, conversation["id"]) if m["id"] == sent["id"]]
    check_image_and_pdf(seen_by_agents, picture)
    # The next one goes to the same conversation, text and a file together.
    second = ok(widget_post(visitor, [("order.pdf", PDF)], content="And the invoice"))
    assert (second["conversation_id"], second["content"]) == (conversation["id"], "And the invoice")
    assert bytes_at(second["attachments"][0]["data_url"]) == PDF


def test_widget_refused_files_store_nothing_and_start_nothing(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    before = stored_files(backend.server.data_dir)
    script = error(widget_post(visitor, [("a.png", png(4, 4)), ("b.svg", SVG_WITH_SCRIPT)]), 422)
    assert fields_of(script) == ["attachments[1]"]
    many = error(widget_post(visitor, [(f"{n}.png", png(4, 4)) for n in range(11)]), 422)
    assert fields_of(many) == ["attachments[10]"]
    assert "10 files" in many["message"]
    assert fields_of(error(widget_post(visitor, [], content=" "), 422)) == ["content"]
    too_long = error(widget_post(visitor, [("a.png", png(4, 4))], referer="x" * 3000), 422)
    assert fields_of(too_long) == ["referer"]  # read after the file was stored: deleted again
    assert stored_files(backend.server.data_dir) == before
    assert visitor.messages() == {"conversation": None, "payload": []}
    assert ok(api.get("conversations", params={"status": "all"}))["data"]["payload"] == []
    # JSON keeps its rules.
    empty = visitor.request("POST", "messages", json={"content": ""})
    assert fields_of(error(empty, 422)) == ["content"]


def test_widget_uploads_are_limited_per_visitor(
    backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    burst = UPLOADS[0]
    for n in range(burst):
        ok(widget_post(visitor, [], content=f"form {n}"))  # text-only forms: cheap, counted
    before = stored_files(backend.server.data_dir)
    limited = widget_post(visitor, [("late.pdf", PDF)], content="one too many")
    assert error(limited, 429)["error"] == "rate_limited"
    assert "files" in limited.json()["message"]
    assert int(limited.headers["Retry-After"]) >= 1
    assert stored_files(backend.server.data_dir) == before
    assert visitor.say("Text still goes")["content"] == "Text still goes"
    other = visit(backend, inbox, visitors)
    assert ok(widget_post(other, [("mine.pdf", PDF)]))["attachments"]


def test_widget_request_limit_applies_to_uploads(
    backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    for _ in range(200):
        if visitor.request("GET", "contact").status_code == 429:
            break
    else:
        raise AssertionError("no 429 within 200 requests")
    before = stored_files(backend.server.data_dir)
    limited = widget_post(visitor, [("x.pdf", PDF)])
    assert "visitor" in error(limited, 429)["message"]
    assert stored_files(backend.server.data_dir) == before


def test_public_api_uploads_are_limited_per_contact(backend: Backend, threads: Any) -> None:
    thread = threads()
    for n in range(UPLOADS[0]):
        ok(thread.post([], content=f"form {n}"))
    before = stored_files(backend.server.data_dir)
    limited = thread.post([("late.pdf", PDF)])
    assert "files" in error(limited, 429)["message"]
    assert stored_files(backend.server.data_dir) == before
    assert thread.contact.ok("POST", thread.path, json={"content": "ok"})["content"] == "ok"
