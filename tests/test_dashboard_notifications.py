"""Issue 14.1 in Chromium: nothing told an agent that a customer arrived. An agent sits in one
conversation while visitors write through the widget API: the tab's title, its icon and the
badge on Conversations count them, a notice names each new conversation, and opening one
brings the count down. Messages in a conversation of mine make a notice (and the beep, when
on) wherever I am, never my own replies or notes, nor conversations of other agents; browser
notifications come when the Profile setting is on (the permission asked once, from its button)
and never when it is off. The JSON routes and the setting over HTTP are in
test_dashboard_notifications_http.py.

Chromium headless shows no system notifications and plays no sound, so the page gets stand-ins
for `Notification` and `AudioContext` that record what it asks of them."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.conftest import Backend
from tests.support.browser import SCREENSHOTS
from tests.support.client import ApiClient, ok, unique_email
from tests.support.factories import post_message
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)
from tests.support.widget import WidgetVisitor, visit

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Locator, Page, expect

# Runs before the page's scripts on every page: the permission is kept per tab (it starts
# "default", so the Profile button's request can be seen), what was shown is recorded.
STAND_INS = """
(() => {
  window.__notifications = [];
  const permission = () => sessionStorage.getItem("test.permission") || "default";
  class RecordingNotification {
    constructor(title, options) {
      window.__notifications.push({ title, body: (options || {}).body || "" });
    }
    close() {}
    static get permission() { return permission(); }
    static requestPermission() {
      const asked = Number(sessionStorage.getItem("test.asked") || 0) + 1;
      sessionStorage.setItem("test.asked", String(asked));
      sessionStorage.setItem("test.permission", "granted");
      return Promise.resolve("granted");
    }
  }
  window.Notification = RecordingNotification;
  window.__beeps = 0;
  const param = () => ({ setValueAtTime() {}, exponentialRampToValueAtTime() {} });
  class RecordingAudio {
    constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
    resume() { return Promise.resolve(); }
    createGain() { return { gain: param(), connect() {} }; }
    createOscillator() {
      return { type: "", frequency: param(), connect() {}, stop() {},
               start() { window.__beeps += 1; } };
    }
  }
  window.AudioContext = RecordingAudio;
})();
"""
LIVE = 10_000  # ms: a signal, its question and the answer, on a busy 2-core machine


@pytest.fixture
def agent_page(browser: Browser, page: Page, backend: Backend) -> Page:
    """The `page` fixture (console errors fail the test) with the stand-ins and the
    notification permission granted to the server's origin."""
    page.context.grant_permissions(["notifications"], origin=backend.url)
    page.context.add_init_script(STAND_INS)  # every page of the context, a second tab too
    return page


def log_in(page: Page, api: ApiClient) -> None:
    page.goto(api.url + "/")
    page.get_by_label("Email").fill(api.credentials.email)
    page.get_by_label("Password").fill(api.credentials.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()


def counted(page: Page, n: int) -> None:
    """notify.js has the count `n` from the server (body[data-unread])."""
    expect(page.locator("body")).to_have_attribute("data-unread", str(n), timeout=LIVE)


def badge(page: Page) -> Locator:
    nav = page.get_by_role("navigation", name="Main")
    return nav.get_by_role("link", name=re.compile("^Conversations")).locator("[data-unread-badge]")


def toasts(page: Page) -> Locator:
    return page.locator("[data-notices] .notice")


def shoot(backend: Backend, page: Page, name: str) -> None:
    """What the agent sees at 1280 and 390 px wide (the window, not the whole page: the
    notices sit in its corner), once per run (on SQLite)."""
    if backend.name != "sqlite":
        return
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}-{width}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})


def contact_name(api: ApiClient, number: int) -> str:
    conversation = ok(api.get(f"conversations/{number}"))
    return str(conversation["meta"]["sender"]["name"])


def test_an_agent_in_one_conversation_is_told_of_two_new_ones(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    agent_page: Page,
) -> None:
    page = agent_page
    alice = visit(backend, inbox, visitors)
    first = alice.say("My order has not arrived")["conversation_id"]
    log_in(page, api)
    page.goto(f"{api.url}/app/conversations/{first}")
    counted(page, 0)
    expect(page).to_have_title(re.compile(rf"^#{first} Visitor [0-9a-f]{{4}} · Voxsig$"))
    expect(badge(page)).to_be_hidden()
    icon = page.locator('link[rel="icon"]')
    assert icon.get_attribute("href") == "/app/static/favicon.svg"

    bob, carol = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    second = bob.say("Hello, do you ship to Norway?")["conversation_id"]
    third = carol.say("I was charged twice")["conversation_id"]
    bob_name, carol_name = contact_name(api, second), contact_name(api, third)

    counted(page, 2)
    expect(page).to_have_title(re.compile(rf"^\(2\) #{first} Visitor [0-9a-f]{{4}} · Voxsig$"))
    expect(badge(page)).to_be_visible()
    expect(badge(page).locator("[data-unread-count]")).to_have_text("2")
    expect(toasts(page)).to_have_count(2, timeout=LIVE)
    bob_toast = toasts(page).filter(has_text=bob_name)
    expect(bob_toast).to_contain_text(f"New conversation from {bob_name} #{second}")
    expect(bob_toast).to_contain_text("Hello, do you ship to Norway?")
    expect(toasts(page).filter(has_text=carol_name)).to_contain_text("I was charged twice")
    href = icon.get_attribute("href") or ""
    assert href.startswith("data:image/svg+xml,"), href
    assert "%3Ccircle" in href  # the red dot
    assert "%3E2%3C%2Ftext%3E" in href  # with "2"
    shoot(backend, page, "notifications")

    # A message in the conversation on screen: no notice, and it is not counted.
    alice.say("Any news?")
    expect(page.get_by_text("Any news?")).to_be_visible(timeout=LIVE)
    time.sleep(0.5)
    expect(toasts(page).filter(has_text="Any news?")).to_have_count(0)
    expect(page).to_have_title(re.compile(r"^\(2\) "))

    # The notice leads to the conversation; opening it counts it read.
    bob_toast.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/app/conversations/{second}$"))
    counted(page, 1)
    expect(page).to_have_title(re.compile(rf"^\(1\) #{second} "))
    expect(badge(page).locator("[data-unread-count]")).to_have_text("1")
    # The icon is redrawn just after the count (a race the clean-clone run lost once).
    expect(icon).to_have_attribute("href", re.compile(r"^data:image/svg\+xml,"), timeout=LIVE)

    page.goto(f"{api.url}/app/conversations/{third}")
    counted(page, 0)
    expect(page).to_have_title(re.compile(rf"^#{third} "))
    expect(badge(page)).to_be_hidden()
    assert icon.get_attribute("href") == "/app/static/favicon.svg"

    # The count follows the live refreshes of the list, on every page.
    page.get_by_role("link", name="Contacts").click()
    visit(backend, inbox, visitors).say("One more")
    counted(page, 1)
    expect(page).to_have_title(re.compile(r"^\(1\) Contacts · Voxsig$"))


def test_messages_in_my_conversations_make_a_notice_and_the_beep_wherever_i_am(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    agent_page: Page,
) -> None:
    page = agent_page
    alice, bob = visit(backend, inbox, visitors), visit(backend, inbox, visitors)
    mine = alice.say("Hi")["conversation_id"]
    theirs = bob.say("Hello")["conversation_id"]
    jane = ok(api.post("agents", json={"name": "Jane Agent", "email": unique_email("jane")}))
    for number, user_id in ((mine, api.credentials.user_id), (theirs, jane["id"])):
        ok(api.post(f"conversations/{number}/assignments", json={"assignee_id": user_id}))
    log_in(page, api)

    # The sound, turned on in Profile (off by default).
    page.get_by_role("link", name="Profile").click()
    expect(
        page.get_by_text("Off. When it is on, each notice comes with a short beep.")
    ).to_be_visible()
    page.get_by_role("button", name="Turn on the sound").click()
    expect(page.get_by_text("The sound is on.")).to_be_visible()
    page.get_by_role("button", name="Play the sound").click()
    assert page.evaluate("window.__beeps") == 1

    page.get_by_role("link", name="Contacts").click()
    counted(page, 1)  # mine (alice's), not Jane's
    # My own reply and note, Jane's customer: nothing. Then alice writes: one notice, one beep.
    post_message(api, mine, "Let me check")
    post_message(api, mine, "VIP customer", private=True)
    bob.say("Jane, are you there?")
    alice.say("Thanks, it is order 1234")
    notice = toasts(page).filter(has_text="order 1234")
    expect(notice).to_be_visible(timeout=LIVE)
    expect(notice).to_contain_text(f"wrote #{mine}")
    time.sleep(1.0)
    expect(toasts(page)).to_have_count(1)
    assert page.evaluate("window.__beeps") == 1
    assert page.evaluate("window.__notifications") == []  # browser notifications are off

    # Dismissed at once with its button; else gone after about 8 s.
    notice.get_by_role("button", name="Dismiss").click()
    expect(toasts(page)).to_have_count(0)
    alice.say("Hello again")
    expect(toasts(page)).to_have_count(1, timeout=LIVE)
    expect(toasts(page)).to_have_count(0, timeout=12_000)

    # In the conversation itself, visible: no notice and no beep.
    page.goto(f"{api.url}/app/conversations/{mine}")
    alice.say("Are you reading this?")
    expect(page.get_by_text("Are you reading this?")).to_be_visible(timeout=LIVE)
    time.sleep(0.5)
    expect(toasts(page)).to_have_count(0)
    assert page.evaluate("window.__beeps") == 0


def test_browser_notifications_come_only_when_turned_on(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    agent_page: Page,
) -> None:
    page = agent_page
    log_in(page, api)
    page.get_by_role("link", name="Profile").click()
    page.get_by_role("button", name="Turn on browser notifications").click()
    expect(page.get_by_text("Browser notifications are on.")).to_be_visible()
    expect(page.get_by_text("This browser shows them.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('test.asked')") == "1"

    page.get_by_role("link", name="Conversations").click()
    counted(page, 0)
    bob = visit(backend, inbox, visitors)
    number = bob.say("Is anyone there?")["conversation_id"]
    expect(toasts(page)).to_have_count(1, timeout=LIVE)
    shown = page.evaluate("window.__notifications")
    assert shown == [
        {"title": f"New conversation from {contact_name(api, number)}", "body": "Is anyone there?"}
    ]

    # Off: the notice still shows, the system says nothing.
    page.get_by_role("link", name="Profile").click()
    page.get_by_role("button", name="Turn off browser notifications").click()
    expect(page.get_by_text("Browser notifications are off.")).to_be_visible()
    page.get_by_role("link", name="Conversations").click()
    counted(page, 1)
    visit(backend, inbox, visitors).say("Hello?")
    expect(toasts(page)).to_have_count(1, timeout=LIVE)
    counted(page, 2)
    time.sleep(0.5)
    assert page.evaluate("window.__notifications") == []

    # On again: the permission is there already, so the browser is not asked again.
    page.get_by_role("link", name="Profile").click()
    page.get_by_role("button", name="Turn on browser notifications").click()
    expect(page.get_by_text("Browser notifications are on.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('test.asked')") == "1"


def test_several_tabs_beep_and_notify_once_and_not_for_what_another_tab_shows(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    agent_page: Page,
) -> None:
    first = agent_page
    alice = visit(backend, inbox, visitors)
    mine = alice.say("Hi")["conversation_id"]
    ok(api.post(f"conversations/{mine}/assignments", json={"assignee_id": api.credentials.user_id}))
    log_in(first, api)
    first.get_by_role("link", name="Profile").click()
    first.get_by_role("button", name="Turn on browser notifications").click()
    first.get_by_role("button", name="Turn on the sound").click()
    expect(first.get_by_text("The sound is on.")).to_be_visible()
    second = first.context.new_page()  # the same browser: its storage, its permission
    for page in (first, second):
        page.goto(f"{api.url}/app/contacts")
        page.evaluate("sessionStorage.setItem('test.permission', 'granted')")
        page.reload()
        counted(page, 1)

    # Both tabs elsewhere: a notice in each, but one beep and one system notification.
    alice.say("Is my refund done?")
    for page in (first, second):
        expect(toasts(page).filter(has_text="Is my refund done?")).to_be_visible(timeout=LIVE)
    time.sleep(0.5)
    beeps = [page.evaluate("window.__beeps") for page in (first, second)]
    shown = [len(page.evaluate("window.__notifications")) for page in (first, second)]
    assert sorted(beeps) == [0, 1], beeps
    assert sorted(shown) == [0, 1], shown

    # One tab shows the conversation: the other shows a notice, and says nothing more.
    first.goto(f"{api.url}/app/conversations/{mine}")
    expect(first.get_by_text("Is my refund done?")).to_be_visible()
    second.reload()
    counted(second, 0)
    alice.say("Hello?")
    expect(first.get_by_text("Hello?", exact=True)).to_be_visible(timeout=LIVE)
    expect(toasts(second).filter(has_text="Hello?")).to_be_visible(timeout=LIVE)
    time.sleep(0.5)
    for page in (first, second):
        assert page.evaluate("window.__beeps") == 0
        assert page.evaluate("window.__notifications") == []
    expect(toasts(first)).to_have_count(0)
