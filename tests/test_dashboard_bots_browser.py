"""Issue 16's dashboard in Chromium: an administrator goes to Settings → Bots, creates a bot,
copies its access token, and attaches it to a widget inbox; a widget visitor's conversation then
waits in the Pending view, and the bot's answer (posted with the copied token through the REST
API) is marked as the bot's in the list and in the thread, live. Both databases; screenshots of
the bot's page and the Pending view at 1280 and 390 px (on SQLite). The forms' every branch is
in test_dashboard_bots.py, over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Backend
from tests.support.browser import SCREENSHOTS
from tests.support.client import ApiClient
from tests.support.dashboard import logged_in
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)
from tests.support.receiver import Receiver
from tests.support.widget import WidgetVisitor, visit

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

LIVE = 10_000  # ms: a signal, the page's refetch and its swap, on a busy 2-core machine


def enter_dashboard(page: Page, api: ApiClient) -> None:
    """The administrator's dashboard session (tests/support/dashboard.py's login, over HTTP),
    handed to the browser as its cookie: the login form is test_dashboard_browser.py's."""
    dashboard = logged_in(api)
    try:
        cookies = [
            {"name": c.name, "value": c.value or "", "url": api.url}
            for c in dashboard.http.cookies.jar
        ]
    finally:
        dashboard.close()
    page.context.add_cookies(cookies)  # type: ignore[arg-type]


def shoot(backend: Backend, page: Page, name: str) -> None:
    """The whole page at 1280 and 390 px wide, once per run (on SQLite)."""
    if backend.name != "sqlite":
        return
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def bot_says(api: ApiClient, token: str, number: int, text: str) -> None:
    """The bot answering through the REST API with its own token."""
    response = httpx.post(
        f"{api.url}/api/v1/accounts/{api.account_id}/conversations/{number}/messages",
        headers={"api_access_token": token},
        json={"content": text},
        timeout=30.0,
    )
    assert response.status_code == 200, response.text


def test_a_bot_made_in_settings_holds_a_visitors_conversation_in_the_pending_view(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    receiver: Receiver,
    page: Page,
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=backend.url)
    enter_dashboard(page, api)
    page.goto(f"{api.url}/app/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Bots").click()
    expect(page.get_by_text("No bots yet.")).to_be_visible()

    form = page.get_by_role("region", name="New bot")
    form.get_by_label("Name").fill("Helper")
    form.get_by_label("Description (optional)").fill("Answers first, day and night")
    form.get_by_label("Outgoing URL").fill(receiver.url("/bot"))
    form.get_by_label("Payload format").select_option("chatwoot")
    form.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("status")).to_contain_text("Bot Helper created.")
    expect(page.get_by_role("heading", name="Helper Bot")).to_be_visible()

    # The token is behind Reveal; Copy puts it on the clipboard.
    token_box = page.get_by_role("textbox", name="Access token", exact=True)
    expect(token_box).to_be_hidden()
    page.get_by_text("Reveal access token").click()
    token = token_box.input_value()
    assert len(token) >= 24
    page.get_by_role("button", name="Copy access token").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token

    inboxes = page.get_by_role("region", name="Inboxes it answers first")
    expect(inboxes.get_by_text("It answers no inbox yet")).to_be_visible()
    inboxes.get_by_label("Attach to inbox").select_option(label=inbox["name"])
    inboxes.get_by_role("button", name="Attach").click()
    expect(page.get_by_role("status")).to_contain_text(f"Helper now answers {inbox['name']} first")
    expect(inboxes.get_by_role("link", name=inbox["name"])).to_be_visible()
    expect(inboxes.get_by_role("button", name=f"Detach from {inbox['name']}")).to_be_visible()
    shoot(backend, page, "settings-bot")

    # A visitor writes: the conversation is the bot's, pending, and not in the Open view.
    number = visit(backend, inbox, visitors).say("Where is my parcel?")["conversation_id"]
    bot_says(api, token, number, "Let me look that up for you.")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Conversations").click()
    tabs = page.get_by_role("navigation", name="Conversation status")
    expect(tabs.get_by_role("link", name=re.compile(r"^Open"))).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("link", name=re.compile(rf"#{number}$"))).to_have_count(0)
    expect(tabs.get_by_role("link", name=re.compile(r"^Pending"))).to_contain_text("1")
    tabs.get_by_role("link", name=re.compile(r"^Pending")).click()
    expect(page.get_by_text("Pending: conversations a bot answers first")).to_be_visible()
    row = page.locator(".conv", has=page.get_by_role("link", name=re.compile(rf"#{number}$")))
    excerpt = row.locator(".excerpt")
    expect(excerpt).to_have_text("Bot Helper: Let me look that up for you.")
    expect(excerpt.locator(".tag.bot")).to_have_text("Bot")
    expect(row.locator(".badge.status-pending")).to_have_text("Pending")

    # The bot writes again: the Pending view shows it live, still the bot's.
    bot_says(api, token, number, "Found it: it leaves today.")
    expect(excerpt).to_have_text("Bot Helper: Found it: it leaves today.", timeout=LIVE)
    shoot(backend, page, "conversations-pending")

    row.get_by_role("link", name=re.compile(rf"#{number}$")).click()
    thread = page.get_by_role("list", name="Messages")
    mine = thread.locator(".msg.bot", has_text="Let me look that up for you.")
    expect(mine.locator(".by strong")).to_have_text("Helper")
    expect(mine.locator(".tag.bot")).to_have_text("Bot")
    expect(mine.locator(".tag", has_text="Reply")).to_have_count(0)
    expect(thread.locator(".msg.bot")).to_have_count(2)
    visitor_line = thread.locator(".msg.incoming", has_text="Where is my parcel?")
    expect(visitor_line.locator(".tag.bot")).to_have_count(0)
