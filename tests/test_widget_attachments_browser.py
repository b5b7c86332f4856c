"""Files in the widget, in Chromium (issue 17): picked with the paperclip, dropped on the
widget, pasted from the clipboard; previewed in the tray (images from blob: URLs) and
removable; sent as one message whose image shows inline and whose PDF is a download link;
what the agents' API then serves are the bytes the visitor chose. A refused file shows the
server's reason and stores nothing; an agent's files (an image and audio) show in the widget.
The page fixture fails a test on any console error, so the page's CSP allowing all of this is
checked too."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import wave
from collections.abc import Iterator
from typing import Any

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import messages_of, widget_inbox
from tests.support.files import PDF, SVG_WITH_SCRIPT, jpeg, png, post_files, stored_files
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)

# Builds a DataTransfer holding one file (bytes from base64) and fires a drag over the
# message list; `drop` false stops before the drop, to see the hint.
DRAG = """({b64, name, type, drop}) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, {type}));
  const target = document.querySelector(".list");
  const kinds = drop ? ["drop"] : ["dragenter", "dragover"];
  for (const kind of kinds) {
    const init = {bubbles: true, cancelable: true, dataTransfer: data};
    target.dispatchEvent(new DragEvent(kind, init));
  }
}"""
# A paste into the message box of a clipboard holding one image without a name (as a
# screenshot is).
PASTE = """({b64, type}) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], "", {type}));
  const box = document.querySelector(".composer textarea");
  const init = {bubbles: true, cancelable: true, clipboardData: data};
  box.dispatchEvent(new ClipboardEvent("paste", init));
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def open_widget(page: Page, backend: Backend, inbox: JSON) -> None:
    """The widget page on its own (as the popout is), once its visitor is configured."""
    page.goto(f"{backend.url}/widget?website_token={inbox['website_token']}")
    page.wait_for_function("() => localStorage.length > 0")  # config done: the token kept


def pick(page: Page, *files: tuple[str, str, bytes]) -> None:
    page.set_input_files(
        ".picker", [{"name": n, "mimeType": t, "buffer": data} for n, t, data in files]
    )


def chip_names(page: Page) -> Any:
    return page.locator(".tray .chip .name")


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(bytes(1600))
    return out.getvalue()


def bytes_at(url: str) -> bytes:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, url
    return answer.content


def the_conversation(api: ApiClient) -> int:
    (conversation,) = ok(api.get("conversations", params={"status": "all"}))["data"]["payload"]
    number: int = conversation["id"]
    return number


def test_files_picked_dropped_and_pasted_are_previewed_and_sent(
    page: Page, backend: Backend, api: ApiClient
) -> None:
    inbox = widget_inbox(api)
    open_widget(page, backend, inbox)
    screenshot, pasted = png(320, 200), jpeg(120, 90)
    expect(page.locator(".tray")).to_be_hidden()

    page.get_by_role("button", name="Attach files").focus()
    pick(page, ("screenshot.png", "image/png", screenshot), ("draft.pdf", "application/pdf", PDF))
    expect(chip_names(page)).to_have_text(["screenshot.png", "draft.pdf"])
    preview = page.locator(".tray .chip img")
    expect(preview).to_have_count(1)  # only the image has a thumbnail
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("() => document.querySelector('.tray img').naturalWidth === 320")
    expect(page.locator(".tray .chip").nth(1).locator(".size")).to_have_text(f"{len(PDF)} B")

    page.get_by_role("button", name="Remove draft.pdf").click()
    expect(chip_names(page)).to_have_text(["screenshot.png"])
    expect(page.get_by_role("button", name="Remove screenshot.png")).to_be_focused()

    page.evaluate(DRAG, {"b64": b64(PDF), "name": "order.pdf", "type": "", "drop": False})
    expect(page.locator(".drop")).to_be_visible()
    page.evaluate(DRAG, {"b64": b64(PDF), "name": "order.pdf", "type": "", "drop": True})
    expect(page.locator(".drop")).to_be_hidden()
    page.evaluate(PASTE, {"b64": b64(pasted), "type": "image/jpeg"})
    expect(chip_names(page)).to_have_count(3)
    expect(chip_names(page).nth(1)).to_have_text("order.pdf")
    expect(chip_names(page).nth(2)).to_have_text(re.compile(r"^pasted-\d+\.jpeg$"))
    expect(page.locator(".tray .chip img")).to_have_count(2)  # the pasted image previews too
    pasted_name = chip_names(page).nth(2).inner_text()

    page.fill(".composer textarea", "Here is the damage")
    page.press(".composer textarea", "Enter")
    sent = page.locator(".msg.in:not(.pending):not(.failed)")
    expect(sent.locator(".text")).to_have_text("Here is the damage")
    expect(page.locator(".tray")).to_be_hidden()
    images = sent.locator(".files a.image img")
    expect(images).to_have_count(2)
    expect(sent.locator(".files a.file .name")).to_have_text("order.pdf")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msg.in .files img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )

    number = the_conversation(api)
    (message,) = [m for m in messages_of(api, number) if m["content"] == "Here is the damage"]
    image, pdf, photo = message["attachments"]
    assert [a["file_type"] for a in (image, pdf, photo)] == ["image", "file", "image"]
    assert (image["file_name"], pdf["file_name"], photo["file_name"]) == (
        "screenshot.png",
        "order.pdf",
        pasted_name,
    )
    assert bytes_at(image["data_url"]) == screenshot
    assert bytes_at(pdf["data_url"]) == PDF
    assert bytes_at(photo["data_url"]) == pasted
    # The widget shows the thumbnail, linking to the whole image; the PDF is a download.
    shown = sent.locator(".files a.image").first
    assert bytes_at(str(shown.get_attribute("href"))) == screenshot
    assert bytes_at(str(shown.locator("img").get_attribute("src"))) == bytes_at(image["thumb_url"])
    document = sent.locator(".files a.file")
    assert bytes_at(str(document.get_attribute("href"))) == PDF
    expect(document).to_have_attribute("download", "order.pdf")
    expect(document.locator(".size")).to_have_text(f"{len(PDF)} B")


@contextlib.contextmanager
def page_expecting(browser: Browser, status: int) -> Iterator[Page]:
    """A fresh page whose console may report failed requests of `status` (Chromium logs every
    refused request as an error), and nothing else."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors, "the refused request should show in the console"
    assert all(f"status of {status}" in e for e in errors), errors


def test_a_refused_file_shows_the_server_s_reason_and_stores_nothing(
    browser: Browser, backend: Backend, api: ApiClient
) -> None:
    inbox = widget_inbox(api)
    with page_expecting(browser, 422) as page:
        refused_then_sent(page, backend, inbox, api)


def refused_then_sent(page: Page, backend: Backend, inbox: JSON, api: ApiClient) -> None:
    open_widget(page, backend, inbox)
    before = stored_files(backend.server.data_dir)
    pick(page, ("ok.png", "image/png", png(8, 8)), ("cat.svg", "image/svg+xml", SVG_WITH_SCRIPT))
    page.get_by_role("button", name="Send").click()
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("Your message was not sent")
    expect(notice).to_contain_text("image/svg+xml")
    expect(page.locator(".msg.failed")).to_have_count(1)
    # The files are back in the tray: the visitor drops the one at fault and sends the rest.
    expect(chip_names(page)).to_have_text(["ok.png", "cat.svg"])
    assert stored_files(backend.server.data_dir) == before
    assert ok(api.get("conversations", params={"status": "all"}))["data"]["payload"] == []
    page.get_by_role("button", name="Remove cat.svg").click()
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.in:not(.pending):not(.failed) .files img")).to_have_count(1)
    expect(notice).to_be_hidden()
    (message,) = messages_of(api, the_conversation(api))
    assert [a["file_name"] for a in message["attachments"]] == ["ok.png"]


def test_an_agent_s_image_and_audio_show_in_the_widget(
    page: Page, backend: Backend, api: ApiClient
) -> None:
    inbox = widget_inbox(api)
    open_widget(page, backend, inbox)
    page.fill(".composer textarea", "Can you show me?")
    page.press(".composer textarea", "Enter")
    expect(page.locator(".msg.in:not(.pending) .text")).to_have_text("Can you show me?")
    number = the_conversation(api)
    ok(
        post_files(
            api,
            number,
            [("label.png", png(400, 300)), ("note.wav", wav())],
            content="Like this",
        )
    )
    reply = page.locator(".msg.out", has_text="Like this")
    expect(reply.locator(".files a.image img")).to_have_attribute("alt", "label.png")
    audio = reply.locator(".files audio")
    expect(audio).to_have_attribute("aria-label", "note.wav")
    expect(audio).to_have_attribute("controls", "")
    page.wait_for_function(
        "() => document.querySelector('.msg.out .files img').naturalWidth === 250"
    )
    page.wait_for_function("() => document.querySelector('.msg.out audio').readyState >= 1")


def test_a_large_refused_file_still_shows_the_reason(
    browser: Browser, backend: Backend, api: ApiClient
) -> None:
    """The server refuses the file from its first bytes while the browser is still sending
    the rest: the visitor reads the reason, not a broken connection."""
    inbox = widget_inbox(api)
    unknown = bytes(range(256)) * (24 * 4096)  # 24 MiB of no known type
    with page_expecting(browser, 422) as page:
        open_widget(page, backend, inbox)
        before = stored_files(backend.server.data_dir)
        pick(page, ("data.bin", "application/octet-stream", unknown))
        page.get_by_role("button", name="Send").click()
        notice = page.get_by_role("alert")
        expect(notice).to_contain_text("Your message was not sent")
        expect(notice).to_contain_text('"data.bin" is of no known type')
        assert stored_files(backend.server.data_dir) == before
