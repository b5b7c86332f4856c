"""A website that pastes Chatwoot's widget snippet, unchanged but for its BASE_URL, gets Voxsig's
widget: window.chatwootSettings, window.chatwootSDK.run, window.$chatwoot's methods and the
chatwoot:* window events, in Chromium, on a page of another origin (127.0.0.1, another port).
Each method's effect is checked on the server through the REST API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect

from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import (
    api_inbox,
    new_conversation,
    post_message,
    subscribe,
    widget_inbox,
)
from tests.support.host_page import (
    HostPage,
    api_off_loop,  # noqa: F401  (the `api` fixture)
)
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

# Chatwoot's snippet, exactly as its inbox settings page gives it.
SNIPPET = """<script>
  (function(d,t) {
    var BASE_URL="%(base)s";
    var g=d.createElement(t),s=d.getElementsByTagName(t)[0];
    g.src=BASE_URL+"/packs/js/sdk.js";
    g.defer = true;
    g.async = true;
    s.parentNode.insertBefore(g,s);
    g.onload=function(){
      window.chatwootSDK.run({
        websiteToken: '%(token)s',
        baseUrl: BASE_URL
      })
    }
  })(document,"script");
</script>"""
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Acme</title><link rel="icon" href="data:,"></head>
<body>
<h1>Acme Outfitters</h1>
<script>
  window.chatwootSettings = %(settings)s;
  window.seen = [];
  ["ready", "error", "on-message", "opened", "closed"].forEach(function (name) {
    ["chatwoot:", "voxsig:"].forEach(function (prefix) {
      window.addEventListener(prefix + name, function (event) {
        window.seen.push({name: prefix + name, detail: event.detail});
      });
    });
  });
</script>
%(snippet)s
</body>
</html>
"""
BUBBLE, BOX = "voxsig-widget .bubble", "voxsig-widget .box"
OPEN = re.compile(r"\bopen\b")


@pytest.fixture
def site(api: ApiClient, inbox: JSON) -> Iterator[Callable[..., HostPage]]:
    """Makes pages with Chatwoot's snippet for `inbox` (or another), closed after the test."""
    made: list[HostPage] = []

    def make(settings: JSON | None = None, of: JSON | None = None) -> HostPage:
        snippet = SNIPPET % {"base": api.url, "token": (of or inbox)["website_token"]}
        html = PAGE % {"settings": json.dumps(settings or {}), "snippet": snippet}
        made.append(HostPage(html, "/shop/pricing.html"))
        return made[-1]

    yield make
    for host in made:
        host.close()


def load(page: Page, host: HostPage) -> FrameLocator:
    page.goto(host.url)
    wait_seen(page, "chatwoot:ready")
    return page.frame_locator("voxsig-widget iframe")


def seen(page: Page, name: str) -> list[Any]:
    details: list[Any] = page.evaluate(
        "n => window.seen.filter(e => e.name === n).map(e => e.detail)", name
    )
    return details


def wait_seen(page: Page, name: str, count: int = 1) -> None:
    page.wait_for_function(
        "([n, c]) => window.seen.filter(e => e.name === n).length >= c",
        arg=[name, count],
        timeout=15_000,
    )


def send(frame: FrameLocator, text: str) -> None:
    frame.locator(".composer textarea").fill(text)
    frame.locator(".composer textarea").press("Enter")
    expect(frame.locator(".msg.in:not(.pending) .text", has_text=text)).to_be_visible()


def the_conversation(api: ApiClient, **params: Any) -> JSON:
    """The account's one conversation (of those that `params` filter)."""
    listed = ok(api.get("conversations", params={"status": "all", **params}))["data"]["payload"]
    assert len(listed) == 1, listed
    conversation: JSON = listed[0]
    return conversation


def contacts(api: ApiClient) -> list[JSON]:
    listed: list[JSON] = ok(api.get("contacts"))["payload"]
    return listed


def eventually(check: Callable[[], bool], describe: Callable[[], str]) -> None:
    wait_until(check, 10, describe, step=0.1)


def test_chatwoots_snippet_opens_the_widget_and_fires_its_events(
    api: ApiClient, site: Callable[..., HostPage], page: Page
) -> None:
    frame = load(page, site())
    assert seen(page, "voxsig:ready") == [{}]  # Voxsig's names fire beside Chatwoot's
    assert page.evaluate("() => window.$chatwoot === window.$voxsig")
    assert page.evaluate("() => window.chatwootSDK === window.voxsigSDK")
    assert page.evaluate("() => window.$chatwoot.hasLoaded")
    bubble = page.locator(BUBBLE).bounding_box()
    assert bubble is not None
    assert bubble["x"] + bubble["width"] == 1260  # right, 20 px in

    page.locator(BUBBLE).click()
    expect(page.locator(BOX)).to_have_class(OPEN)
    wait_seen(page, "chatwoot:opened")
    assert len(seen(page, "voxsig:opened")) == 1
    assert page.evaluate("() => window.$chatwoot.isOpen")
    send(frame, "Hello from a Chatwoot snippet")
    assert the_conversation(api)["messages"][0]["content"] == "Hello from a Chatwoot snippet"

    page.evaluate("() => window.$chatwoot.toggle('close')")
    expect(page.locator(BOX)).not_to_have_class(OPEN)
    wait_seen(page, "chatwoot:closed")
    page.evaluate("() => window.$chatwoot.toggle('close')")  # closed already: nothing happens
    page.evaluate("() => window.$chatwoot.toggle('open')")
    wait_seen(page, "chatwoot:opened", 2)
    page.evaluate("() => window.$chatwoot.toggle()")
    wait_seen(page, "chatwoot:closed", 2)
    page.evaluate("() => window.$voxsig.toggle(true)")  # Voxsig's form still works
    wait_seen(page, "chatwoot:opened", 3)
    time.sleep(0.3)
    assert (len(seen(page, "chatwoot:opened")), len(seen(page, "chatwoot:closed"))) == (3, 2)
    assert (len(seen(page, "voxsig:opened")), len(seen(page, "voxsig:closed"))) == (3, 2)
    assert len(seen(page, "chatwoot:ready")) == 1


def test_chatwoot_settings_position_type_launcher_title_locale_and_dark_mode(
    api: ApiClient, site: Callable[..., HostPage], page: Page, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/open", ["webwidget_triggered"])
    page.emulate_media(color_scheme="dark")
    settings = {
        "position": "left",
        "type": "expanded_bubble",
        "launcherTitle": "Talk to Acme",
        "locale": "fr",
        "darkMode": "auto",
    }
    frame = load(page, site(settings))
    expect(page.locator(BUBBLE + " .label")).to_have_text("Talk to Acme")
    bubble = page.locator(BUBBLE).bounding_box()
    assert bubble is not None
    assert bubble["x"] == 20, bubble  # on the left
    assert bubble["width"] > 120, bubble  # the expanded bubble holds its title
    page.locator(BUBBLE).click()
    box = page.locator(BOX)
    expect(box).to_have_class(OPEN)
    placed = box.bounding_box()
    assert placed is not None
    assert placed["x"] == 20, placed
    expect(frame.locator("html")).to_have_attribute("lang", "fr")
    background = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(23, 25, 29)"  # dark, as the system is
    opened = receiver.wait_for(1, "/open")[0].json()
    assert opened["event_info"]["widget_language"] == "fr"


def test_hide_message_bubble_leaves_opening_to_the_page(
    site: Callable[..., HostPage], page: Page
) -> None:
    page.emulate_media(color_scheme="dark")
    frame = load(page, site({"hideMessageBubble": True}))
    expect(page.locator(BUBBLE)).to_be_hidden()
    page.evaluate("() => window.$chatwoot.toggle()")
    box = page.locator(BOX)
    expect(box).to_have_class(OPEN)
    wait_seen(page, "chatwoot:opened")

    def bottom() -> float:
        placed = box.bounding_box()
        assert placed is not None
        return placed["y"] + placed["height"]

    # in the bubble's place, 20 px from the bottom, once its opening transition is over
    eventually(lambda: abs(bottom() - 780) < 0.5, lambda: f"the box ends at {bottom()}")
    background = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(255, 255, 255)"  # darkMode defaults to light, whatever the system
    page.evaluate("() => window.$chatwoot.toggleBubbleVisibility('show')")
    expect(page.locator(BUBBLE)).to_be_visible()
    page.evaluate("() => window.$chatwoot.toggleBubbleVisibility('hide')")
    expect(page.locator(BUBBLE)).to_be_hidden()


def test_set_user_and_contact_custom_attributes_reach_the_contact(
    api: ApiClient, site: Callable[..., HostPage], page: Page
) -> None:
    frame = load(page, site())
    refused = page.evaluate(
        "() => { try { window.$chatwoot.setUser({}); } catch (e) { return e.message; } }"
    )
    assert refused == "Identifier should be a string or a number"
    page.evaluate(
        "() => window.$chatwoot.setUser('cust-42', "
        "{name: 'Grace Hopper', email: 'grace@acme.example'})"
    )
    page.evaluate("() => window.$chatwoot.setCustomAttributes({plan: 'pro', seats: 3})")

    def contact() -> JSON:
        listed = contacts(api)
        assert len(listed) == 1, listed
        return listed[0]

    # Two calls from the widget, which may land in either order.
    eventually(
        lambda: (
            contact()["custom_attributes"] == {"plan": "pro", "seats": 3}
            and contact()["identifier"] == "cust-42"
        ),
        lambda: f"the contact is {contact()}",
    )
    found = contact()
    assert (found["name"], found["email"], found["identifier"]) == (
        "Grace Hopper",
        "grace@acme.example",
        "cust-42",
    )
    page.evaluate("() => window.$chatwoot.deleteCustomAttribute('plan')")
    eventually(
        lambda: contact()["custom_attributes"] == {"seats": 3},
        lambda: f"the contact is {contact()}",
    )
    page.locator(BUBBLE).click()
    send(frame, "It's Grace")
    assert the_conversation(api)["meta"]["sender"]["id"] == found["id"]


def test_conversation_attributes_and_labels_reach_the_conversation(
    api: ApiClient, inbox: JSON, site: Callable[..., HostPage], page: Page
) -> None:
    elsewhere = new_conversation(api, api_inbox(api)["id"])
    ok(api.post(f"conversations/{elsewhere.conversation_id}/labels", json={"labels": ["vip"]}))
    frame = load(page, site())
    refused = page.evaluate(
        "() => { try { window.$chatwoot.setConversationCustomAttributes({}); }"
        " catch (e) { return e.message; } }"
    )
    assert refused == "Custom attributes should have atleast one key"
    # Asked before the visitor has a conversation: applied once the first message starts one.
    page.evaluate(
        """() => {
          window.$chatwoot.setConversationCustomAttributes({order: 'A-1', cart: 2});
          window.$chatwoot.setLabel('vip');
          window.$chatwoot.setLabel('made-up');
        }"""
    )
    page.locator(BUBBLE).click()
    send(frame, "Where is my order?")
    number = the_conversation(api, inbox_id=inbox["id"])["id"]

    def conversation() -> JSON:
        found: JSON = ok(api.get(f"conversations/{number}"))
        return found

    eventually(
        lambda: (
            conversation()["custom_attributes"] == {"order": "A-1", "cart": 2}
            and conversation()["labels"] == ["vip"]
        ),
        lambda: f"the conversation is {conversation()}",
    )
    page.evaluate(
        """() => {
          window.$chatwoot.deleteConversationCustomAttribute('cart');
          window.$chatwoot.removeLabel('vip');
        }"""
    )
    eventually(
        lambda: (
            conversation()["custom_attributes"] == {"order": "A-1"}
            and conversation()["labels"] == []
        ),
        lambda: f"the conversation is {conversation()}",
    )
    assert ok(api.get(f"conversations/{elsewhere.conversation_id}"))["labels"] == ["vip"]


def test_reset_gives_a_new_visitor(
    api: ApiClient, site: Callable[..., HostPage], page: Page
) -> None:
    frame = load(page, site())
    page.locator(BUBBLE).click()
    send(frame, "before reset")
    first = the_conversation(api)["meta"]["sender"]["id"]
    page.evaluate("() => window.$chatwoot.reset()")
    expect(page.locator(BOX)).not_to_have_class(OPEN)
    page.locator(BUBBLE).click()
    expect(frame.locator(".msg")).to_have_count(0)
    send(frame, "after reset")
    listed = ok(api.get("conversations", params={"status": "all"}))["data"]["payload"]
    senders = {c["messages"][0]["content"]: c["meta"]["sender"]["id"] for c in listed}
    assert set(senders) == {"before reset", "after reset"}
    assert senders["before reset"] == first
    assert senders["after reset"] != first
    assert len(contacts(api)) == 2
    assert len(seen(page, "chatwoot:ready")) == 1  # not again after reset, as in Chatwoot


def test_messages_fire_on_message_once_each(
    api: ApiClient, site: Callable[..., HostPage], page: Page
) -> None:
    frame = load(page, site())
    page.locator(BUBBLE).click()
    send(frame, "Is the Pro plan monthly?")
    number = the_conversation(api)["id"]
    post_message(api, number, "Note to self: check billing", private=True)
    reply = post_message(api, number, "Yes, billed monthly.")
    expect(frame.locator(".msg.out .text", has_text="Yes, billed monthly.")).to_be_visible()
    wait_seen(page, "chatwoot:on-message", 2)
    time.sleep(0.5)  # a duplicate would have arrived by now
    details = seen(page, "chatwoot:on-message")
    assert seen(page, "voxsig:on-message") == details
    by_content = {d["content"]: d for d in details}
    assert len(details) == len(by_content) == 2, details  # each once, never the private note
    answer = by_content["Yes, billed monthly."]
    assert answer["id"] == reply["id"]
    assert answer["conversation_id"] == number
    assert (answer["message_type"], answer["sender_type"], answer["private"]) == (1, "User", False)
    assert answer["sender"]["name"] == "Ada Admin"
    own = by_content["Is the Pro plan monthly?"]
    assert (own["message_type"], own["sender_type"]) == (0, "Contact")


def test_popout_chat_window_opens_the_same_visitor_in_a_window(
    api: ApiClient, site: Callable[..., HostPage], page: Page
) -> None:
    frame = load(page, site())
    page.locator(BUBBLE).click()
    send(frame, "before the popout")
    with page.expect_popup() as popped:
        page.evaluate("() => window.$chatwoot.popoutChatWindow()")
    popup = popped.value
    expect(popup.locator(".msg.in .text")).to_have_text(["before the popout"])
    assert popup.url.startswith(f"{api.url}/widget?website_token=")
    assert "#" not in popup.url  # the visitor token left the address at once
    expect(page.locator(BOX)).not_to_have_class(OPEN)  # the page's box closes, as in Chatwoot
    wait_seen(page, "chatwoot:closed")
    popup.locator(".composer textarea").fill("from the popout")
    popup.locator(".composer textarea").press("Enter")
    eventually(
        lambda: (
            len(ok(api.get(f"conversations/{the_conversation(api)['id']}/messages"))["payload"])
            == 2
        ),
        lambda: "the popout's message is not in the visitor's conversation",
    )
    assert len(contacts(api)) == 1


def test_a_refused_set_user_fires_chatwoot_error(
    api: ApiClient, site: Callable[..., HostPage], browser: Browser
) -> None:
    inbox = widget_inbox(api, hmac_mandatory=True)
    context = browser.new_context()  # the refused request shows in the console: not `page`
    try:
        page = context.new_page()
        load(page, site(of=inbox))
        page.evaluate("() => window.$chatwoot.setUser('mallory', {identifier_hash: 'f00d'})")
        wait_seen(page, "chatwoot:error")
        reason = "identifier_hash does not match the identifier"
        assert seen(page, "chatwoot:error") == [{"message": reason}]
        assert seen(page, "voxsig:error") == [{"message": reason}]
    finally:
        context.close()
    assert [c["identifier"] for c in contacts(api)] == [None]
