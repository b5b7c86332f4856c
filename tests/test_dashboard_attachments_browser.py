"""Issue 17 in Chromium: the dashboard composer's files. Picked (set_input_files, a second pick
adding to the first), dropped on the composer and pasted into it; previewed with name, size and
an image's thumbnail, each removable; sent with the text; shown in the thread (the image loaded
under the page's CSP, the PDF as a link with name and size) and seen by the API. A refused file
is shown under the composer with the draft and the files kept, nothing stored. Messages with an
image that arrive over the API while the page is open appear in the live thread; without
JavaScript the form posts its files too. The `page` fixture fails a test on any console error
(a CSP refusal included)."""

from __future__ import annotations

import base64
import re

import pytest

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import messages_of, setup_thread
from tests.support.files import PDF, SVG_WITH_SCRIPT, png, post_files, stored_files
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Locator, Page, expect

LIVE = 5_000  # ms: a live update arrives well within this
PICTURE = png(640, 480)
DROPPED = png(120, 90, (30, 160, 60))


def log_in(page: Page, api: ApiClient) -> None:
    page.goto(api.url + "/")
    page.get_by_label("Email").fill(api.credentials.email)
    page.get_by_label("Password").fill(api.credentials.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()


def open_conversation(page: Page, api: ApiClient, conversation: JSON) -> None:
    page.goto(f"{api.url}/app/conversations/{conversation['id']}")
    expect(page.get_by_role("heading", name=re.compile(f"#{conversation['id']}"))).to_be_visible()


def file_payload(name: str, data: bytes, mime: str) -> dict[str, object]:
    return {"name": name, "mimeType": mime, "buffer": data}


def hand_over(page: Page, event: str, name: str, data: bytes, mime: str) -> None:
    """Drops the file on the composer's text box, or pastes it there, as a browser does: the
    event carries a DataTransfer holding the file."""
    page.locator("#f-content").evaluate(
        """(node, [event, name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, { type: mime }));
            if (event === "paste") {
                node.dispatchEvent(new ClipboardEvent("paste", {
                    clipboardData: data, bubbles: true, cancelable: true }));
                return;
            }
            for (const type of ["dragenter", "dragover", "drop"]) {
                node.dispatchEvent(new DragEvent(type, {
                    dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }""",
        [event, name, base64.b64encode(data).decode(), mime],
    )


def chosen(page: Page) -> Locator:
    return page.get_by_role("list", name="Files to send").get_by_role("listitem")


def input_count(page: Page) -> int:
    count: int = page.locator("#f-attachments").evaluate("input => input.files.length")
    return count


def loaded(image: Locator) -> bool:
    """The image was fetched and decoded (a CSP refusal or a 404 leaves it at 0 wide)."""
    done: bool = image.evaluate("img => img.complete && img.naturalWidth > 0")
    return done


def test_the_composer_sends_picked_and_dropped_files(
    backend: Backend, api: ApiClient, page: Page
) -> None:
    _, _, conversation = setup_thread(api)
    log_in(page, api)
    open_conversation(page, api, conversation)
    expect(page.get_by_role("list", name="Files to send")).to_be_hidden()

    picker = page.get_by_label("Attach files")
    picker.set_input_files(
        [
            file_payload("box.png", PICTURE, "image/png"),
            file_payload("wrong.pdf", PDF, "application/pdf"),
        ]
    )
    # A second pick adds to the first (the browser alone would replace it).
    picker.set_input_files([file_payload("invoice.pdf", PDF, "application/pdf")])
    expect(chosen(page)).to_have_count(3)
    expect(chosen(page).nth(0)).to_contain_text("box.png")
    expect(chosen(page).nth(0)).to_contain_text(re.compile(r"\d+\.\d KB"))
    expect(chosen(page).nth(0).locator("img")).to_be_visible()  # a preview of the image
    expect(chosen(page).nth(2)).to_contain_text(f"invoice.pdf {len(PDF)} B")

    page.get_by_role("button", name="Remove wrong.pdf").click()
    expect(chosen(page)).to_have_count(2)
    # The focus moves to the next file's button, not to the page's top.
    expect(page.get_by_role("button", name="Remove invoice.pdf")).to_be_focused()
    hand_over(page, "drop", "dropped.png", DROPPED, "image/png")
    expect(chosen(page)).to_have_count(3)
    expect(chosen(page).nth(2)).to_contain_text("dropped.png")
    assert input_count(page) == 3  # the form posts exactly the files shown

    page.get_by_role("textbox", name="Message", exact=True).fill(
        "Your photo, the invoice and one more"
    )
    page.get_by_role("button", name="Send").click()
    sent = page.locator(".msg.outgoing", has_text="Your photo, the invoice and one more")
    expect(sent).to_be_visible()
    image = sent.get_by_role("img", name="box.png")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("width", "250")
    expect(image).to_have_attribute("height", "188")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert loaded(image)
    assert loaded(sent.get_by_role("img", name="dropped.png"))
    pdf = sent.get_by_role("link", name="invoice.pdf")
    expect(pdf).to_be_visible()
    expect(sent.locator(".file-line", has_text="invoice.pdf")).to_contain_text(f"{len(PDF)} B")
    # The composer is empty again.
    expect(page.get_by_role("list", name="Files to send")).to_be_hidden()
    assert input_count(page) == 0
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("")

    (message,) = messages_of(api, conversation["id"])
    assert message["content"] == "Your photo, the invoice and one more"
    assert [a["file_name"] for a in message["attachments"]] == [
        "box.png",
        "invoice.pdf",
        "dropped.png",
    ]
    assert [a["file_size"] for a in message["attachments"]] == [
        len(PICTURE),
        len(PDF),
        len(DROPPED),
    ]
    href = pdf.get_attribute("href") or ""
    assert href.startswith(f"/files/{message['attachments'][1]['id']}/data/")  # by path


def test_a_refused_file_keeps_the_draft_and_the_files_and_stores_nothing(
    backend: Backend, api: ApiClient, page: Page
) -> None:
    _, _, conversation = setup_thread(api)
    before = stored_files(backend.server.data_dir)
    log_in(page, api)
    open_conversation(page, api, conversation)
    page.get_by_label("Private note").check()
    page.get_by_role("textbox", name="Message", exact=True).fill("Screenshot for the team")
    hand_over(page, "paste", "image.png", DROPPED, "image/png")
    page.get_by_label("Attach files").set_input_files(
        [file_payload("cat.svg", SVG_WITH_SCRIPT, "image/svg+xml")]
    )
    expect(chosen(page)).to_have_count(2)
    page.get_by_role("button", name="Send").click()

    error = page.locator("#f-attachments-error")
    expect(error).to_have_text('The file "cat.svg" is image/svg+xml, which is not accepted')
    expect(page.get_by_label("Attach files")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value(
        "Screenshot for the team"
    )
    expect(page.get_by_label("Private note")).to_be_checked()
    expect(chosen(page)).to_have_count(2)  # nothing to pick again
    assert messages_of(api, conversation["id"]) == []
    assert stored_files(backend.server.data_dir) == before

    page.get_by_role("button", name="Remove cat.svg").click()
    page.get_by_role("button", name="Send").click()
    note = page.locator(".msg.note", has_text="Screenshot for the team")
    expect(note).to_be_visible()
    expect(note.get_by_role("img", name="image.png")).to_be_visible()
    expect(error).to_have_count(0)
    (message,) = messages_of(api, conversation["id"])
    assert message["private"] is True
    assert [a["file_name"] for a in message["attachments"]] == ["image.png"]


def test_a_large_refused_file_gets_its_answer_not_a_reset_connection(
    backend: Backend, api: ApiClient, page: Page
) -> None:
    """Refused from its first bytes while the browser still sends the rest: the server reads
    the rest before answering (a server that answered at once would reset the connection,
    and the page would log it)."""
    _, _, conversation = setup_thread(api)
    before = stored_files(backend.server.data_dir)
    log_in(page, api)
    open_conversation(page, api, conversation)
    page.get_by_role("textbox", name="Message", exact=True).fill("with a big file")
    unknown = b"\x01\x02" + bytes(range(256)) * (24 * 4096)  # 24 MiB of no known type
    page.get_by_label("Attach files").set_input_files(
        [file_payload("backup.bin", unknown, "application/octet-stream")]
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#f-attachments-error")).to_have_text(
        'The file "backup.bin" is of no known type', timeout=20_000
    )
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("with a big file")
    assert messages_of(api, conversation["id"]) == []
    assert stored_files(backend.server.data_dir) == before


def test_an_image_arriving_over_the_api_appears_in_the_live_thread(
    backend: Backend, api: ApiClient, page: Page
) -> None:
    _, _, conversation = setup_thread(api)
    log_in(page, api)
    open_conversation(page, api, conversation)
    # Posted after the page was rendered: only the live thread can show it (a message sent
    # before the stream listened is caught up when it opens).
    page.get_by_role("textbox", name="Message", exact=True).fill("half-written reply")

    message = ok(
        post_files(
            api,
            conversation["id"],
            [("damaged parcel.png", PICTURE), ("receipt.pdf", PDF)],
            message_type="incoming",
        )
    )
    arrived = page.locator(f'[data-message-id="{message["id"]}"]')
    expect(arrived).to_be_visible(timeout=LIVE)
    image = arrived.get_by_role("img", name="damaged parcel.png")
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    expect(arrived.get_by_role("link", name="receipt.pdf")).to_be_visible()
    expect(arrived.locator(".body")).to_have_count(0)  # no empty bubble for a file-only message
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value(
        "half-written reply"
    )

    # The list names it by its file.
    page.goto(api.url + "/app/conversations")
    expect(page.locator(".conv", has_text="#" + str(conversation["id"]))).to_contain_text(
        "📎 damaged parcel.png and 1 more file"
    )


def test_without_javascript_the_form_posts_its_files(
    backend: Backend, api: ApiClient, browser: Browser
) -> None:
    _, _, conversation = setup_thread(api)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, api)
        open_conversation(page, api, conversation)
        page.get_by_label("Attach files").set_input_files(
            [
                file_payload("box.png", PICTURE, "image/png"),
                file_payload("invoice.pdf", PDF, "application/pdf"),
            ]
        )
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("img", name="box.png")).to_be_visible()
        expect(page.get_by_role("link", name="invoice.pdf")).to_be_visible()
    finally:
        context.close()
    (message,) = messages_of(api, conversation["id"])
    assert [a["file_name"] for a in message["attachments"]] == ["box.png", "invoice.pdf"]
