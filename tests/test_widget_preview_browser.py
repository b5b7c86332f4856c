"""Issue 14 in Chromium: the widget's preview page on a phone (no sideways scrolling, the bubble
on screen, the inbox's real domain), the greeting shown once in the widget, and the agent's
Visit panel (readable start time, the visitor's page without its raw token)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, FrameLocator, Page, expect

from tests.conftest import Backend
from tests.support.browser import SCREENSHOTS
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import widget_inbox
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)

GREETING = "Hello! Ask us anything about your order."
PHONE = {"width": 390, "height": 844}


def greeted_inbox(api: ApiClient, **channel: str) -> JSON:
    inbox = widget_inbox(api, **channel)
    body = {"greeting_enabled": True, "greeting_message": GREETING}
    changed: JSON = ok(api.patch(f"inboxes/{inbox['id']}", json=body))
    return changed


def on_phone(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(url)
    expect(page.locator("voxsig-widget .bubble")).to_be_visible()
    return page


def open_widget(page: Page) -> FrameLocator:
    page.locator("voxsig-widget .bubble").click()
    expect(page.locator("voxsig-widget .box")).to_have_class(re.compile(r"\bopen\b"))
    return page.frame_locator("voxsig-widget iframe")


def test_the_preview_page_fits_a_phone_and_names_the_real_site(
    api: ApiClient, browser: Browser, backend: Backend
) -> None:
    # Typed without a scheme: stored as https://, and the preview names the domain.
    inbox = widget_inbox(api, website_url="acme-outfitters.example/shop")
    assert inbox["website_url"] == "https://acme-outfitters.example/shop"
    page = on_phone(browser, inbox["widget_preview_url"])
    try:
        expect(page.locator(".logo")).to_have_text("acme-outfitters.example")
        assert "your-website.example" not in page.content()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the preview is {width} px wide on a 390 px screen"
        bubble = page.locator("voxsig-widget .bubble").bounding_box()
        assert bubble is not None
        assert bubble["x"] >= 0, bubble
        assert bubble["x"] + bubble["width"] <= PHONE["width"], bubble
        if backend.name == "sqlite":
            page.screenshot(path=str(SCREENSHOTS / "widget-preview-390.png"), full_page=True)
        frame = open_widget(page)
        expect(frame.locator(".composer textarea")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        page.context.close()


def log_in(page: Page, api: ApiClient) -> None:
    page.goto(api.url + "/")
    page.get_by_label("Email").fill(api.credentials.email)
    page.get_by_label("Password").fill(api.credentials.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()


def write(frame: FrameLocator, text: str) -> None:
    frame.locator(".composer textarea").fill(text)
    frame.locator(".composer textarea").press("Enter")


def only_conversation(api: ApiClient) -> int:
    listed = ok(api.get("conversations"))["data"]["payload"]
    assert len(listed) == 1, listed
    number: int = listed[0]["id"]
    return number


def test_the_widget_shows_the_greeting_once(api: ApiClient, browser: Browser, page: Page) -> None:
    inbox = greeted_inbox(api)
    visitor = on_phone(browser, inbox["widget_preview_url"])
    try:
        frame = open_widget(visitor)
        expect(frame.locator(".title")).to_have_text("Hi there")  # the welcome, in the header
        expect(frame.locator(".msg")).to_have_count(0)  # no conversation, so no greeting yet
        write(frame, "Where is my parcel?")
        texts = frame.locator(".msg:not(.pending) .text")
        expect(texts).to_have_text([GREETING, "Where is my parcel?"])
        visitor.wait_for_timeout(1000)  # the live stream's copy of the greeting has come too
        expect(texts).to_have_text([GREETING, "Where is my parcel?"])
        visitor.reload()
        frame = open_widget(visitor)
        expect(frame.locator(".msg .text")).to_have_text([GREETING, "Where is my parcel?"])
    finally:
        visitor.context.close()
    log_in(page, api)
    page.goto(f"{api.url}/app/conversations/{only_conversation(api)}")
    thread = page.get_by_role("list", name="Messages")
    expect(thread.get_by_text(GREETING)).to_have_count(1)


def test_the_visit_panel_shows_a_readable_start_and_no_raw_token(
    api: ApiClient, browser: Browser, page: Page
) -> None:
    inbox = widget_inbox(api)
    visitor = on_phone(browser, inbox["widget_preview_url"])
    try:
        frame = open_widget(visitor)
        write(frame, "Hello from the preview page")
        expect(frame.locator(".msg.in:not(.pending) .text")).to_have_text(
            ["Hello from the preview page"]
        )
    finally:
        visitor.context.close()
    log_in(page, api)
    page.goto(f"{api.url}/app/conversations/{only_conversation(api)}")
    visit = page.get_by_role("region", name="Visit", exact=True)
    started = visit.locator("dt:has-text('Initiated at') + dd")
    expect(started).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$"))
    expect(visit).not_to_contain_text("timestamp")
    referer = visit.locator("dt:has-text('Referer') + dd")
    expect(referer).to_have_text(re.compile(r"^127\.0\.0\.1:\d+/widget/preview$"))
    expect(visit).not_to_contain_text(inbox["website_token"])
    link = referer.get_by_role("link")
    assert inbox["website_token"] in str(link.get_attribute("href"))
    assert inbox["website_token"] in str(link.get_attribute("title"))
