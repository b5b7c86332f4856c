"""The dashboard in Chromium, as a new user meets it: first run, an inbox with the widget, a
webhook made in the form, a visitor's conversation arriving live, the reply, the webhooks that
follow, the delivery log, a failing receiver and a redelivery. Screenshots of the main pages at
1280 and 390 px wide go to docs/screenshots/.

The first run needs an installation without any account, so each test starts its own server
on an empty database (SQLite file, or a new PostgreSQL database) instead of the shared one.

The visitor writes in the real widget, on the widget's preview page (a sample website with the
inbox's snippet), in a browser of their own.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.browser import SCREENSHOTS
from tests.support.receiver import Receiver

pytest.importorskip("playwright")
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Locator, Page, expect

EVENTS = (
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
)
PASSWORD = "a-long-password"


@pytest.fixture
def fresh_server(backend: Backend, tmp_path: Path) -> Iterator[VoxsigServer]:
    """Voxsig on an empty database; a failed delivery is retried once, after a second."""
    database = f"voxsig_dashboard_{uuid.uuid4().hex[:10]}"
    if backend.cluster is not None:
        url = backend.cluster.create_database(database)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}"
    server = VoxsigServer(url, tmp_path, extra_env={"VOXSIG_WEBHOOK_RETRY_SCHEDULE": "1"})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if backend.cluster is not None:
            backend.cluster.drop_database(database)


def screenshots(backend: Backend) -> Callable[[Page, str], None]:
    """Saves the page at 1280 and at 390 px wide (once per run: on SQLite)."""

    def shoot(page: Page, name: str) -> None:
        if backend.name != "sqlite":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in ((1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})

    return shoot


def reload_until(page: Page, locator: Callable[[], Locator], timeout: float = 15.0) -> None:
    """The delivery log is not live: reload until `locator` shows (the worker is async)."""
    deadline = time.monotonic() + timeout
    while locator().count() == 0:
        assert time.monotonic() < deadline, f"not shown on {page.url} within {timeout} s"
        time.sleep(0.3)
        page.reload()
    expect(locator().first).to_be_visible()


def onboard(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Welcome to Voxsig")).to_be_visible()
    page.get_by_label("Account name").fill("Acme Support")
    page.get_by_label("Your name").fill("Ada Admin")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome to Voxsig, Ada Admin!")).to_be_visible()


def visitor_page(browser: Browser, preview_url: str) -> tuple[BrowserContext, FrameLocator]:
    """A visitor on a phone, on the sample page with the widget open (the widget's own markup:
    a <voxsig-widget> with its bubble, and an iframe with the composer)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    visitor = context.new_page()
    visitor.goto(preview_url)
    visitor.locator("voxsig-widget .bubble").click()
    expect(visitor.locator("voxsig-widget .box")).to_have_class(re.compile(r"\bopen\b"))
    return context, visitor.frame_locator("voxsig-widget iframe")


def write(frame: FrameLocator, text: str) -> None:
    frame.locator(".composer textarea").fill(text)
    frame.locator(".composer textarea").press("Enter")
    expect(frame.locator(".msg.in:not(.pending) .text", has_text=text)).to_be_visible()


def test_first_run_to_live_conversation_webhooks_and_delivery_log(
    backend: Backend, fresh_server: VoxsigServer, receiver: Receiver, browser: Browser, page: Page
) -> None:
    shoot = screenshots(backend)
    url = fresh_server.url

    # First run: `/` offers to create the account.
    page.goto(url)
    shoot(page, "onboarding")
    onboard(page, url)

    # A web widget inbox, and its embed snippet copied.
    widget = page.get_by_role("region", name="New website widget inbox")
    widget.get_by_label("Inbox name").fill("Website")
    widget.get_by_label("Website URL").fill("https://shop.example")
    widget.get_by_role("button", name="Create widget inbox").click()
    snippet = page.get_by_label("Embed snippet")
    expect(snippet).to_have_value(re.compile(r"window\.voxsigSDK\.run"))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.get_by_role("button", name="Copy embed snippet").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert "websiteToken" in page.evaluate("navigator.clipboard.readText()")
    preview = page.get_by_role("link", name="Try the widget on a sample page")
    preview_url = url + str(preview.get_attribute("href"))
    shoot(page, "inbox")

    # A webhook made in the form, pointing at the receiver.
    page.get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    page.get_by_role("link", name="New webhook", exact=True).click()
    page.get_by_label("Endpoint URL").fill(receiver.url("/hook"))
    page.get_by_label("Name (optional)").fill("Receiver")
    for name in EVENTS:
        page.get_by_label(name, exact=True).check()
    expect(page.get_by_text("A new conversation is created in the account.")).to_be_visible()
    shoot(page, "webhook-new")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_text("Webhook created.")).to_be_visible()
    page.get_by_text("Reveal signing secret").click()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_value(re.compile(r"^whsec_"))
    webhook_path = urlpath(page.url)

    # The API token, regenerated and shown once.
    page.get_by_role("link", name="Profile").click()
    page.get_by_role("button", name="Regenerate token").click()
    token = page.get_by_role("textbox", name="API access token").input_value()
    profile = httpx.get(f"{url}/api/v1/profile", headers={"api_access_token": token})
    assert profile.json()["email"] == "ada@example.com"
    shoot(page, "profile")

    # A visitor writes: the conversation appears without a reload.
    page.get_by_role("link", name="Conversations").click()
    expect(page.get_by_text("No open conversations.")).to_be_visible()
    shoot(page, "conversations-empty")
    visitor, widget = visitor_page(browser, preview_url)
    try:
        write(widget, "Hello, my order has not arrived")
        row = page.get_by_role("link", name=re.compile(r"^Visitor [0-9a-f]{4}"))
        expect(row).to_be_visible(timeout=10_000)
        expect(page.get_by_text("1 unread")).to_be_visible()
        expect(page.get_by_role("link", name=re.compile(r"^Open 1"))).to_be_visible()
        shoot(page, "conversations")

        # The conversation: its message, the visit's details; the next message arrives live.
        row.click()
        number = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_text("Hello, my order has not arrived")).to_be_visible()
        details = page.get_by_role("complementary", name="Conversation details")
        expect(details.get_by_text(re.compile(r"Chrom\w* [\d.]+ on Linux"))).to_be_visible()
        # The page the visitor wrote from: host and path shown, the whole address (with the
        # website_token in its query) only in the link.
        referer = details.get_by_role(
            "link", name=re.compile(r"^127\.0\.0\.1:\d+\/widget\/preview$")
        )
        expect(referer).to_have_attribute("href", preview_url)
        write(widget, "It was order 1234")
        expect(page.get_by_text("It was order 1234")).to_be_visible(timeout=10_000)

        # The agent's reply reaches the visitor.
        page.get_by_label("Message", exact=True).fill("Hi, I am looking into it.")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg.outgoing", has_text="Hi, I am looking into it.")).to_be_visible()
        expect(widget.locator(".msg.out .text", has_text="I am looking into it")).to_be_visible()
    finally:
        visitor.close()

    # A private note sent from the keyboard, then resolve.
    page.get_by_label("Private note").check()
    page.get_by_label("Message", exact=True).fill("Courier lost it; refund approved")
    page.get_by_label("Message", exact=True).press("Control+Enter")
    expect(page.locator(".msg.note", has_text="refund approved")).to_be_visible()
    expect(page.locator(".msg.note")).to_contain_text("Private note")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_text("Conversation was resolved by Ada Admin")).to_be_visible()
    shoot(page, "conversation")

    # The receiver got every event, in the conversation's order.
    received = [r.json()["event"] for r in receiver.wait_for(7, "/hook", timeout=20)]
    assert received[0] == "conversation_created"
    assert received.count("message_created") == 4  # two from the visitor, the reply, the note
    assert received[-2:] == ["conversation_status_changed", "conversation_updated"]

    # The delivery log shows them, each answered 200.
    page.get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_text("100%")).to_be_visible()
    shoot(page, "webhooks")
    page.get_by_role("link", name="Delivery log of Receiver").click()
    log = page.get_by_role("table")
    reload_until(page, lambda: log.locator("tbody tr", has_text="HTTP 200").nth(6))
    for name in ("conversation_created", "message_created", "conversation_updated"):
        expect(log.get_by_text(name).first).to_be_visible()
    expect(log.get_by_text("conversation_status_changed")).to_be_visible()
    shoot(page, "deliveries")

    # The receiver fails: the failure and its error show in the log.
    # Both events of the reopening fail twice (one try and the retry the test server allows).
    receiver.respond("/hook", 500, 500, 500, 500)
    page.goto(f"{url}/app/conversations/{number}")
    page.get_by_role("button", name="Reopen").click()
    expect(page.get_by_text("Conversation was reopened by Ada Admin")).to_be_visible()
    page.goto(f"{url}{webhook_path}/deliveries")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    failed = page.get_by_role("row", name=re.compile("conversation_status_changed"))
    reload_until(page, lambda: failed)
    expect(failed).to_contain_text("HTTP 500")
    expect(failed).to_contain_text("Failed")
    failed.get_by_role("link").click()
    expect(page.get_by_text("Error: http_status — HTTP 500").first).to_be_visible()
    expect(page.locator(".attempt.failed")).to_have_count(2)
    expect(page.locator("pre.body")).to_contain_text('"event": "conversation_status_changed"')
    shoot(page, "delivery-failed")

    # It recovers; one click sends the same delivery again.
    page.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_text("Sending again")).to_be_visible()
    reload_until(page, lambda: page.locator(".attempt.succeeded", has_text="HTTP 200"))
    expect(page.locator(".badge", has_text="Succeeded")).to_be_visible()
    hook = receiver.requests("/hook")
    again = [r for r in hook if r.json()["event"] == "conversation_status_changed"][-3:]
    assert [r.status for r in again] == [500, 500, 200]
    assert len({r.headers["webhook-id"] for r in again}) == 1  # the same delivery

    # Contacts, and the empty states of a second look.
    page.get_by_role("link", name="Contacts").click()
    contact = page.get_by_role("link", name=re.compile(r"^Visitor [0-9a-f]{4}"))
    expect(contact).to_be_visible()
    shoot(page, "contacts")
    contact.click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    expect(page.get_by_text("Website").first).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    shoot(page, "settings-inboxes")
    page.get_by_role("link", name="Agents").click()
    shoot(page, "settings-agents")


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_agent_cannot_open_settings_or_webhooks(
    backend: Backend, fresh_server: VoxsigServer, browser: Any, page: Page
) -> None:
    url = fresh_server.url
    onboard(page, url)
    page.get_by_role("link", name="Agents").click()
    form = page.get_by_role("region", name="Add an agent")
    form.get_by_label("Name").fill("Jane Agent")
    form.get_by_label("Email").fill("jane@example.com")
    form.get_by_role("button", name="Add agent").click()
    link = page.get_by_label("Invitation link").input_value()
    expect(page.get_by_role("cell", name="jane@example.com")).to_be_visible()

    # Jane, in her own browser: chooses a password, then logs out and in again.
    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        jane = context.new_page()
        jane.goto(link)
        jane.get_by_label("New password").fill("janes-password")
        jane.get_by_label("Repeat the password").fill("janes-password")
        jane.get_by_role("button", name="Set password and log in").click()
        expect(jane.get_by_text("Welcome, Jane Agent!")).to_be_visible()
        jane.get_by_role("button", name="Log out").click()
        expect(jane.get_by_role("heading", name="Log in to Voxsig")).to_be_visible()
        jane.get_by_label("Email").fill("jane@example.com")
        jane.get_by_label("Password").fill("janes-password")
        jane.keyboard.press("Enter")
        # A login verifies an argon2 hash (deliberately slow): more than the default 5 s once
        # on a loaded CI machine.
        expect(jane.get_by_role("heading", name="Conversations")).to_be_visible(timeout=15_000)
        nav = jane.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Conversations")).to_be_visible()
        expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
        expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
        for path in ("/app/webhooks", "/app/webhooks/new", "/app/settings/inboxes"):
            response = jane.goto(url + path)
            assert response is not None
            assert response.status == 403, path
            expect(jane.get_by_role("heading", name="Administrators only")).to_be_visible()
    finally:
        context.close()
