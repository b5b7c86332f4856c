"""Typing in Chromium: the widget page (opened on its own, as the popout does) shows "typing…"
while an agent types a reply, never for a private note, and reports the visitor's typing."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import subscribe
from tests.support.receiver import Receiver


@pytest.fixture
def api(make_account: Callable[..., ApiClient]) -> ApiClient:
    """conftest's `api`, made on a worker thread (its asyncio.run cannot run in the thread
    where Playwright's sync API keeps its event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(make_account, "Acme", "Ada Admin").result()


def conversation_number(api: ApiClient) -> int:
    listed = ok(api.get("conversations", params={"status": "all"}))["data"]["payload"]
    number: int = listed[0]["id"]
    return number


def test_widget_shows_agent_typing_and_reports_the_visitors(
    api: ApiClient, backend: Backend, inbox: JSON, page: Page, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/typing", ["conversation_typing_on", "conversation_typing_off"])
    page.goto(f"{backend.url}/widget?website_token={inbox['website_token']}")
    page.fill(".composer textarea", "Hello there")
    page.press(".composer textarea", "Enter")
    expect(page.locator(".msg.in:not(.pending) .text", has_text="Hello there")).to_be_visible()
    number = conversation_number(api)
    path = f"conversations/{number}/toggle_typing_status"
    typing = page.locator(".typing")
    expect(typing).to_be_hidden()

    ok(api.post(path, json={"typing_status": "on", "is_private": True}))
    page.wait_for_timeout(1000)
    expect(typing).to_be_hidden()  # a private note's typing never reaches the visitor
    ok(api.post(path, json={"typing_status": "on"}))
    expect(typing).to_be_visible()
    expect(typing).to_have_text("typing…")
    ok(api.post(path, json={"typing_status": "off"}))
    expect(typing).to_be_hidden()

    # The agent's three (private on, on, off) first: they are delivered asynchronously.
    before = len(receiver.wait_for(3, "/typing"))
    page.locator(".composer textarea").press_sequentially("Are you th", delay=50)
    got = receiver.wait_for(before + 2, "/typing", timeout=15)[before:]  # on, then off when idle
    assert [r.json()["event"] for r in got] == ["conversation_typing_on", "conversation_typing_off"]
    assert {r.json()["user"]["type"] for r in got} == {"contact"}
