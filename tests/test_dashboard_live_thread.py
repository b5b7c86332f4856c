"""Issue 14, points 2 and 3, in Chromium: a conversation page that an agent is working in.

Live updates reach the thread while the agent has focus and a text selection in it (new
messages are appended in place, nothing moves under an agent reading earlier messages), and
regions holding focus elsewhere are updated around the focused control. The page's actions save
without a reload, so nothing typed elsewhere on the page is lost; the selects save when changed;
the composer's draft survives a reload; and without JavaScript the forms post as before.

The contact writes over the REST API (an incoming message): the same live signal as the widget.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, create_account, ok, unique_email
from tests.support.factories import post_message, setup_thread, subscribe
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Locator, Page, expect

LIVE = 5_000  # ms: a live update arrives well within this


def log_in(page: Page, api: ApiClient) -> None:
    page.goto(api.url + "/")
    page.get_by_label("Email").fill(api.credentials.email)
    page.get_by_label("Password").fill(api.credentials.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()


def open_conversation(page: Page, api: ApiClient, conversation: JSON) -> None:
    page.goto(f"{api.url}/app/conversations/{conversation['id']}")
    expect(page.get_by_role("heading", name=re.compile(f"#{conversation['id']}"))).to_be_visible()
    page.wait_for_timeout(300)  # the live stream connects (a signal before it would be missed)


def incoming(api: ApiClient, conversation: JSON, text: str) -> JSON:
    """The contact writes."""
    return post_message(api, conversation["id"], text, message_type="incoming")


def conversation_of(api: ApiClient, conversation: JSON) -> JSON:
    found: JSON = ok(api.get(f"conversations/{conversation['id']}"))
    return found


def select_text(page: Page, body: Locator, text: str) -> None:
    """Selects `text` inside the element, as dragging over it with the mouse does."""
    body.evaluate(
        """(node, text) => {
            const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
            for (let t = walker.nextNode(); t; t = walker.nextNode()) {
                const at = t.data.indexOf(text);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(t, at);
                range.setEnd(t, at + text.length);
                const selection = window.getSelection();
                selection.removeAllRanges();
                selection.addRange(range);
                return;
            }
            throw new Error("text not found: " + text);
        }""",
        text,
    )
    assert selected(page) == text


def selected(page: Page) -> str:
    text: str = page.evaluate("window.getSelection().toString()")
    return text


def focused_id(page: Page) -> str:
    found: str = page.evaluate("document.activeElement ? document.activeElement.id : ''")
    return found


def mark(page: Page, selector: str) -> None:
    """Tags the element itself (not its markup): still tagged later only if never replaced."""
    page.locator(selector).evaluate("node => { node.voxsigMark = 'same node'; }")


def still_marked(page: Page, selector: str) -> bool:
    marked: bool = page.locator(selector).evaluate("node => node.voxsigMark === 'same node'")
    return marked


@pytest.fixture
def api(backend: Backend) -> Iterator[ApiClient]:
    """conftest's `api`, made on a worker thread: create_account calls asyncio.run(), which
    fails in the thread where Playwright's sync API keeps its event loop."""
    backend.ensure_running()
    with ThreadPoolExecutor(1) as pool:
        credentials = pool.submit(
            create_account, backend.database_url, "Acme", unique_email(), user_name="Ada Admin"
        ).result()
    client = ApiClient(backend.url, credentials)
    yield client
    client.close()


@pytest.fixture
def thread(api: ApiClient) -> JSON:
    _, _, conversation = setup_thread(api)
    return conversation


def test_a_message_arrives_while_the_agent_selects_text_in_the_thread(
    backend: Backend, api: ApiClient, page: Page, thread: JSON
) -> None:
    incoming(api, thread, "Hello, my order number is 88123-XK")
    log_in(page, api)
    open_conversation(page, api, thread)
    bubble = page.locator(".msg .body", has_text="88123-XK")
    bubble.click()  # the thread takes the focus, as when copying the order number
    assert focused_id(page) == "messages"
    select_text(page, bubble, "88123-XK")
    mark(page, ".msg:has-text('88123-XK')")

    incoming(api, thread, "Any news about it?")
    expect(page.locator(".msg.incoming", has_text="Any news about it?")).to_be_visible(timeout=LIVE)
    assert selected(page) == "88123-XK"
    assert focused_id(page) == "messages"
    assert still_marked(page, ".msg:has-text('88123-XK')"), "the bubble was replaced"

    # An edited message changes in place; the selection in another one stays.
    reply = post_message(api, thread["id"], "We are looking into it")
    expect(page.locator(".msg.outgoing", has_text="We are looking into it")).to_be_visible(
        timeout=LIVE
    )
    ok(api.patch(f"messages/{reply['id']}", json={"content": "We found your parcel"}))
    expect(page.locator(".msg.outgoing", has_text="We found your parcel")).to_be_visible(
        timeout=LIVE
    )
    expect(page.locator(".msg")).to_have_count(3)
    assert selected(page) == "88123-XK"
    assert focused_id(page) == "messages"


def test_an_agent_reading_earlier_messages_keeps_their_place(
    backend: Backend, api: ApiClient, page: Page, thread: JSON
) -> None:
    # 100 messages: the page shows the latest 100, so the next one pushes the oldest out of the
    # window; it stays on screen all the same.
    for n in range(100):
        incoming(api, thread, f"History line {n:03d}")
    log_in(page, api)
    open_conversation(page, api, thread)
    messages = page.locator("#messages")
    assert messages.evaluate("l => l.scrollHeight - l.scrollTop - l.clientHeight") < 80
    messages.evaluate("l => { l.scrollTop = 0; }")
    oldest = page.locator(".msg .body", has_text="History line 000")
    oldest.click()
    select_text(page, oldest, "line 000")
    top = oldest.evaluate("n => n.getBoundingClientRect().top")

    incoming(api, thread, "A new question")
    arrived = page.locator(".msg", has_text="A new question")
    expect(arrived).to_have_count(1, timeout=LIVE)
    more = page.get_by_role("button", name="New messages below")
    expect(more).to_be_visible()
    expect(page.locator(".msg", has_text="History line 000")).to_have_count(1)
    assert oldest.evaluate("n => n.getBoundingClientRect().top") == top
    assert selected(page) == "line 000"
    assert focused_id(page) == "messages"
    expect(page.get_by_role("link", name="Show earlier messages")).to_have_attribute(
        "href", re.compile(r"before=\d+")
    )

    # At the bottom, the thread follows what arrives.
    more.click()
    expect(arrived).to_be_in_viewport()
    expect(more).to_be_hidden()
    incoming(api, thread, "And one more thing")
    expect(page.locator(".msg", has_text="And one more thing")).to_be_in_viewport(timeout=LIVE)
    assert messages.evaluate("l => l.scrollHeight - l.scrollTop - l.clientHeight") < 80


def test_a_focused_region_is_updated_around_the_focused_field(
    backend: Backend, api: ApiClient, page: Page, thread: JSON
) -> None:
    log_in(page, api)
    open_conversation(page, api, thread)
    labels = page.get_by_label("Labels")
    labels.click()
    labels.press_sequentially("refund, courier")

    # Another agent (the API) changes the priority and the status meanwhile.
    ok(api.post(f"conversations/{thread['id']}/toggle_priority", json={"priority": "urgent"}))
    ok(api.post(f"conversations/{thread['id']}/toggle_status", json={"status": "pending"}))
    expect(page.get_by_label("Priority")).to_have_value("urgent", timeout=LIVE)
    expect(page.locator("#conv-actions .badge")).to_have_text(re.compile("Pending"), timeout=LIVE)
    expect(labels).to_have_value("refund, courier")
    assert focused_id(page) == "f-labels"
    labels.press_sequentially(", lost")
    expect(labels).to_have_value("refund, courier, lost")


def test_actions_keep_what_the_agent_typed_elsewhere(
    backend: Backend, api: ApiClient, page: Page, thread: JSON
) -> None:
    log_in(page, api)
    open_conversation(page, api, thread)
    labels = page.get_by_label("Labels")
    composer = page.get_by_label("Message", exact=True)
    labels.fill("vip, billing")
    composer.fill("Your refund is on its way: order 88123")

    # Picking a priority saves it (the button is for pages without the script).
    page.get_by_label("Priority").select_option("high")
    set_priority = page.get_by_role("button", name="Set priority")
    if set_priority.is_visible():  # a page whose select does not save by itself
        set_priority.click()
    wait_until(
        lambda: conversation_of(api, thread)["priority"] == "high",
        10,
        lambda: "the priority was not saved",
        step=0.1,
    )
    expect(page.get_by_text("Priority saved")).to_be_visible()
    expect(page.get_by_label("Priority")).to_have_value("high")
    expect(labels).to_have_value("vip, billing")
    expect(composer).to_have_value("Your refund is on its way: order 88123")
    assert conversation_of(api, thread)["labels"] == []  # nothing else was sent

    # The assignee select saves when changed too.
    page.get_by_label("Assigned agent").select_option(label="Ada Admin")
    wait_until(
        lambda: conversation_of(api, thread)["assignee_id"] == api.credentials.user_id,
        10,
        lambda: f"the assignee was not saved: {conversation_of(api, thread)} {api.credentials}",
        step=0.1,
    )
    expect(page.get_by_text("Assignee saved")).to_be_visible()

    # A button: resolve. The thread shows it, the typed fields stay.
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_text("Conversation was resolved by Ada Admin")).to_be_visible()
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    expect(labels).to_have_value("vip, billing")
    expect(composer).to_have_value("Your refund is on its way: order 88123")

    # Saving the labels keeps the draft; a refused label keeps what was typed, with the error.
    labels.press("Enter")
    wait_until(
        lambda: sorted(conversation_of(api, thread)["labels"]) == ["billing", "vip"],
        10,
        lambda: "the labels were not saved",
        step=0.1,
    )
    labels.fill("vip, not a label!")
    page.get_by_role("button", name="Save labels").click()
    expect(page.get_by_text("is not a label")).to_be_visible()
    expect(labels).to_have_value("vip, not a label!")
    expect(composer).to_have_value("Your refund is on its way: order 88123")

    # Sending clears the composer only.
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.outgoing", has_text="order 88123")).to_be_visible()
    expect(composer).to_have_value("")
    expect(labels).to_have_value("vip, not a label!")


def test_the_draft_survives_a_reload_and_another_page(
    backend: Backend, api: ApiClient, page: Page, thread: JSON
) -> None:
    log_in(page, api)
    open_conversation(page, api, thread)
    composer = page.get_by_label("Message", exact=True)
    page.get_by_label("Private note").check()
    composer.fill("Customer called twice;\nwaiting for the courier")
    page.reload()
    expect(composer).to_have_value("Customer called twice;\nwaiting for the courier")
    expect(page.get_by_label("Private note")).to_be_checked()

    page.get_by_role("link", name="← Conversations").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    page.go_back()
    expect(composer).to_have_value("Customer called twice;\nwaiting for the courier")

    # Sent: the draft is gone, here and after a reload.
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.note", has_text="waiting for the courier")).to_be_visible()
    expect(composer).to_have_value("")
    page.reload()
    expect(page.locator(".msg.note", has_text="waiting for the courier")).to_be_visible()
    expect(composer).to_have_value("")


def test_an_action_that_cannot_reach_voxsig_says_so_and_keeps_the_choice(
    backend: Backend, api: ApiClient, browser: Browser, thread: JSON
) -> None:
    # Its own page: the fixture's fails on console errors, and a failed request logs one.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, api)
        open_conversation(page, api, thread)
        page.get_by_label("Labels").fill("vip")
        page.route("**/priority", lambda route: route.abort())
        page.get_by_label("Priority").select_option("urgent")
        expect(page.get_by_role("alert")).to_contain_text("could not be reached")
        page.get_by_role("button", name="Dismiss").click()
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page.get_by_label("Priority")).to_have_value("urgent")
        expect(page.get_by_label("Labels")).to_have_value("vip")
        assert conversation_of(api, thread)["priority"] is None

        page.unroute("**/priority")
        page.get_by_label("Priority").select_option("high")
        expect(page.get_by_text("Priority saved")).to_be_visible()
        assert conversation_of(api, thread)["priority"] == "high"
    finally:
        context.close()


@pytest.fixture
def no_script_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def test_without_javascript_the_forms_post_as_before(
    backend: Backend, api: ApiClient, no_script_page: Page, thread: JSON
) -> None:
    page = no_script_page
    log_in(page, api)
    open_conversation(page, api, thread)
    page.get_by_label("Priority").select_option("low")
    page.get_by_role("button", name="Set priority").click()
    expect(page.get_by_text("Priority saved")).to_be_visible()
    assert conversation_of(api, thread)["priority"] == "low"
    page.get_by_label("Assigned agent").select_option(label="Ada Admin")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Assignee saved")).to_be_visible()

    # A refused label is shown again as typed, next to its error.
    page.get_by_label("Labels").fill("vip, not a label!")
    page.get_by_role("button", name="Save labels").click()
    expect(page.get_by_text("is not a label")).to_be_visible()
    expect(page.get_by_label("Labels")).to_have_value("vip, not a label!")
    page.get_by_label("Message", exact=True).fill("Sent the plain way")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.outgoing", has_text="Sent the plain way")).to_be_visible()


def test_the_contact_typing_shows_and_the_agents_typing_is_reported(
    page: Page, api: ApiClient, thread: JSON, receiver: Receiver
) -> None:
    """Issue 15: the dashboard shows the contact typing (the public client API's call, as a
    gateway makes it) and reports the agent's, a note's as private."""
    subscribe(api, receiver, "/typing", ["conversation_typing_on", "conversation_typing_off"])
    log_in(page, api)
    open_conversation(page, api, thread)
    shown = page.locator("#typing")
    expect(shown).to_be_hidden()

    inbox = ok(api.get(f"inboxes/{thread['inbox_id']}"))
    contact_path = (
        f"{api.url}/public/api/v1/inboxes/{inbox['inbox_identifier']}/contacts/"
        f"{thread['contact_inbox']['source_id']}/conversations/{thread['id']}/toggle_typing"
    )
    ok(httpx.post(contact_path, json={"typing_status": "on"}))
    expect(shown).to_have_text(re.compile(r"is typing…$"), timeout=LIVE)
    ok(httpx.post(contact_path, json={"typing_status": "off"}))
    expect(shown).to_be_hidden(timeout=LIVE)
    contact_events = receiver.wait_for(2, "/typing")

    page.get_by_label("Private note").check()
    page.locator("#f-content").press_sequentially("Refund ok", delay=40)
    mine = receiver.wait_for(4, "/typing", timeout=15)[len(contact_events) :]  # on, off at idle
    assert [r.json()["event"] for r in mine] == [
        "conversation_typing_on",
        "conversation_typing_off",
    ]
    assert {(r.json()["user"]["type"], r.json()["is_private"]) for r in mine} == {("user", True)}
    assert {r.json()["user"]["id"] for r in mine} == {api.user_id}
    expect(shown).to_be_hidden()  # the agent's own typing is not shown as the contact's
