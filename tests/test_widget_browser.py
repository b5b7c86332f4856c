"""The widget in a real browser (Chromium through Playwright), embedded as a website owner
would: the inbox's snippet pasted into a page served from another origin (another host name and
port). Webhooks are received by a real endpoint and checked against the spec's schema."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FrameLocator, Page, expect

from tests.conftest import Backend
from tests.support.browser import SCREENSHOTS
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.factories import by_event, post_message, subscribe, widget_inbox
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until
from tests.support.webhook_schema import validate_event
from voxsig.kit.signatures import hmac_hex

JSON = dict[str, Any]
SITE_HOST = "localhost"  # the Voxsig server is 127.0.0.1: another origin, another site
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme Outfitters · Pricing</title>
<link rel="icon" href="data:,">
<style>
  body {{ margin: 0; font: 17px/1.6 Georgia, serif; color: #2a2623; background: #fbf8f2; }}
  header {{ padding: 22px 56px; font: 700 21px system-ui, sans-serif; background: #fff;
           border-bottom: 1px solid #ece6da; }}
  main {{ max-width: 760px; margin: 48px 56px; }}
  h1 {{ font-size: 46px; margin: 0 0 12px; }}
  .plans {{ display: flex; gap: 20px; margin-top: 28px; }}
  .plan {{ flex: 1; padding: 22px; background: #fff; border: 1px solid #ece6da;
           border-radius: 12px; }}
  .plan b {{ display: block; font: 700 26px system-ui, sans-serif; }}
  /* Rules that would restyle the widget if its styles were not scoped. */
  iframe, .bubble, .box {{ border: 6px solid red !important; }}
</style>
</head>
<body>
<header>Acme Outfitters</header>
<main>
  <h1>Pricing</h1>
  <p>Simple plans for every kind of expedition. Questions? Ask us in the chat.</p>
  <div class="plans">
    <div class="plan">Basic<b>$9</b>per month</div>
    <div class="plan">Pro<b>$29</b>per month</div>
    <div class="plan">Team<b>$79</b>per month</div>
  </div>
</main>
<script>
  window.addEventListener("voxsig:ready", function () {{
    window.$voxsig.setLocale("de");
    {on_ready}
    document.body.dataset.voxsigReady = "1";
  }});
  window.addEventListener("voxsig:error", function (event) {{
    document.body.dataset.voxsigError = event.detail.message;
  }});
</script>
{snippet}
</body>
</html>
"""


class Site:
    """A website on its own origin whose one page embeds an inbox's widget snippet."""

    def __init__(self, inbox: JSON, on_ready: str = "") -> None:
        page = PAGE.format(snippet=inbox["web_widget_script"], on_ready=on_ready).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == "/shop/pricing.html"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{SITE_HOST}:{self.server.server_address[1]}/shop/pricing.html?src=test"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(backend: Backend) -> Iterator[ApiClient]:
    """conftest's `api`, but the account is created on a worker thread: tests/support's
    create_account calls asyncio.run(), which fails in the thread where Playwright's sync API
    keeps its event loop."""
    backend.ensure_running()
    with ThreadPoolExecutor(1) as pool:
        credentials = pool.submit(
            create_account, backend.database_url, "Acme", unique_email(), user_name="Ada Admin"
        ).result()
    client = ApiClient(backend.url, credentials)
    yield client
    client.close()


@pytest.fixture
def site(inbox: JSON) -> Iterator[Site]:
    made = Site(inbox)
    yield made
    made.close()


def widget(page: Page) -> FrameLocator:
    return page.frame_locator("voxsig-widget iframe")


def load(page: Page, site: Site) -> FrameLocator:
    page.goto(site.url)
    page.wait_for_selector("body[data-voxsig-ready]", state="attached", timeout=15_000)
    return widget(page)


def open_widget(page: Page) -> None:
    page.locator("voxsig-widget .bubble").click()
    expect(page.locator("voxsig-widget .box")).to_have_class(re.compile(r"\bopen\b"))


def send(frame: FrameLocator, text: str) -> None:
    frame.locator(".composer textarea").fill(text)
    frame.locator(".composer textarea").press("Enter")
    expect(frame.locator(".msg.in:not(.pending) .text", has_text=text)).to_be_visible()


def conversation_of(api: ApiClient) -> JSON:
    listed = api.get("conversations", params={"status": "all"}).json()["data"]["payload"]
    assert len(listed) == 1, listed
    conversation: JSON = listed[0]
    return conversation


def test_opening_the_bubble_fires_webwidget_triggered_once_per_opening(
    api: ApiClient, site: Site, page: Page, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/open", ["webwidget_triggered"])
    frame = load(page, site)
    styles = page.evaluate("() => document.querySelectorAll('style, link').length")
    assert styles == 2  # the page's own <style> and icon: the SDK added no global style
    bubble = page.locator("voxsig-widget .bubble")
    assert bubble.evaluate("b => getComputedStyle(b).borderTopWidth") == "0px"
    open_widget(page)
    expect(frame.locator(".title")).to_have_text("Hi there")
    expect(frame.locator(".tagline")).to_have_text("We usually reply in minutes")
    iframe = page.locator("voxsig-widget iframe")
    assert iframe.evaluate("f => getComputedStyle(f).borderTopWidth") == "0px"

    event = receiver.wait_for(1, "/open")[0].json()
    validate_event(event)
    info = event["event_info"]
    assert re.search(r"Chrom(e|ium)", info["browser"]["browser_name"]), info["browser"]
    assert info["browser"]["platform_name"] == "Linux"
    assert info["widget_language"] == "de"
    assert info["referer"] == site.url
    assert info["browser_language"] == "en"
    assert "GMT" in info["initiated_at"]["timestamp"]  # the browser's Date().toString()

    bubble.click()  # closing: no event
    expect(page.locator("voxsig-widget .box")).not_to_have_class(re.compile(r"\bopen\b"))
    bubble.click()
    page.evaluate("() => window.$voxsig.toggle()")  # closing again
    page.evaluate("() => window.$voxsig.toggle()")  # the third opening
    receiver.wait_for(3, "/open")
    time.sleep(1.0)  # had a closing fired one, it would have arrived by now
    opened = receiver.requests("/open")
    assert len(opened) == 3, [r.json()["event_info"] for r in opened]
    assert {r.json()["source_id"] for r in opened} == {event["source_id"]}


def test_a_visitor_and_an_agent_chat_live_and_a_reload_shows_the_history(
    api: ApiClient, site: Site, page: Page, receiver: Receiver
) -> None:
    subscribe(api, receiver, "/chat")
    frame = load(page, site)
    open_widget(page)
    send(frame, "Hi! Does the Pro plan include priority support?")
    got = receiver.wait_for(3, "/chat")  # webwidget_triggered, conversation_created, message
    for request in got:
        validate_event(request.json())
    created = by_event(got, "conversation_created")[0]
    message = by_event(got, "message_created")[0]
    assert (message["message_type"], message["sender"]["type"]) == (0, "contact")
    assert message["content"] == "Hi! Does the Pro plan include priority support?"
    attributes = created["additional_attributes"]
    assert attributes["referer"] == site.url
    assert attributes["browser"]["platform_name"] == "Linux"
    assert attributes["browser_language"] == "en"
    assert attributes["initiated_at"]["timestamp"]

    conversation_id = created["id"]
    post_message(api, conversation_id, "Visitor asks about Pro, check their account", private=True)
    reply = post_message(api, conversation_id, "Yes, it does: replies within one hour, 24/7.")
    post_message(
        api,
        conversation_id,
        "Which plan are you on today?",
        content_type="input_select",
        content_attributes={
            "items": [
                {"title": "Basic", "value": "basic"},
                {"title": "Pro", "value": "pro"},
                {"title": "Team", "value": "team"},
            ]
        },
    )
    expect(frame.locator(".msg.out .text", has_text=reply["content"])).to_be_visible()
    expect(frame.locator(".choices button", has_text="Team")).to_be_visible()
    expect(frame.locator(".msg.out .sender").first).to_have_text("Ada Admin")
    assert "check their account" not in frame.locator(".list").inner_text()
    wait_until(
        lambda: api.get(f"conversations/{conversation_id}").json()["contact_last_seen_at"] != 0,
        10,
        lambda: "reading the reply did not set contact_last_seen_at",
        step=0.1,
    )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-open.png"))

    page.reload()
    page.wait_for_selector("body[data-voxsig-ready]", state="attached")
    open_widget(page)
    texts = frame.locator(".msg .text")
    expect(texts).to_have_text(
        [
            "Hi! Does the Pro plan include priority support?",
            reply["content"],
            "Which plan are you on today?",
        ]
    )
    assert conversation_of(api)["id"] == conversation_id  # the same visitor, resumed


def test_questions_render_and_answers_fire_message_updated(
    api: ApiClient, site: Site, page: Page, receiver: Receiver
) -> None:
    frame = load(page, site)
    open_widget(page)
    send(frame, "I'd like a quote")
    conversation_id = conversation_of(api)["id"]
    subscribe(api, receiver, "/answers", ["message_updated"])
    post_message(
        api,
        conversation_id,
        "Which size?",
        content_type="input_select",
        content_attributes={
            "items": [{"title": "Small", "value": "s"}, {"title": "Large", "value": "l"}]
        },
    )
    post_message(api, conversation_id, "Where can we send the quote?", content_type="input_email")
    post_message(
        api,
        conversation_id,
        "A few details",
        content_type="form",
        content_attributes={
            "items": [
                {"name": "company", "label": "Company", "type": "text", "required": True},
                {"name": "notes", "label": "Notes", "type": "text_area"},
            ]
        },
    )
    frame.locator(".choices button", has_text="Large").click()
    frame.locator(".ask input[type=email]").fill("quotes@acme.example")
    frame.locator(".ask", has=frame.locator("input[type=email]")).locator("button").click()
    form = frame.locator(".ask", has=frame.locator("textarea"))
    form.locator("input[name=company]").fill("Acme")
    form.locator("textarea[name=notes]").fill("Blue, please")
    form.locator("button").click()

    got = receiver.wait_for(3, "/answers")
    values = {}
    for request in got:
        body = request.json()
        validate_event(body)
        values[body["content"]] = body["content_attributes"]["submitted_values"]
    assert values["Which size?"] == [{"title": "Large", "value": "l"}]
    assert values["Where can we send the quote?"] == [
        {"name": "email", "title": "Email", "value": "quotes@acme.example"}
    ]
    assert values["A few details"] == [
        {"name": "company", "title": "Company", "value": "Acme"},
        {"name": "notes", "title": "Notes", "value": "Blue, please"},
    ]
    expect(frame.locator(".answer b")).to_have_text(
        ["Large", "quotes@acme.example", "Acme", "Blue, please"]
    )


def test_identity_verification_is_accepted(
    api: ApiClient, page: Page, backend: Backend, receiver: Receiver
) -> None:
    inbox = widget_inbox(api, hmac_mandatory=True)
    identifier = f"customer-{uuid.uuid4().hex[:8]}"
    user = {"name": "Grace Hopper", "email": "grace@acme.example"}
    user["identifier_hash"] = hmac_hex(inbox["hmac_token"], identifier)
    site = Site(
        inbox, on_ready=f"window.$voxsig.setUser({json.dumps(identifier)}, {json.dumps(user)});"
    )
    try:
        frame = load(page, site)
        open_widget(page)
        send(frame, "Hello, it's Grace")
    finally:
        site.close()
    conversation = conversation_of(api)
    sender = conversation["meta"]["sender"]
    assert (sender["identifier"], sender["name"]) == (identifier, "Grace Hopper")
    assert conversation["contact_inbox"]["hmac_verified"] is True


def test_identity_verification_is_refused_with_a_wrong_hash(
    api: ApiClient, browser: Browser
) -> None:
    inbox = widget_inbox(api, hmac_mandatory=True)
    on_ready = "window.$voxsig.setUser('mallory', {name: 'Mallory', identifier_hash: 'f00d'});"
    site = Site(inbox, on_ready=on_ready)
    context = browser.new_context()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    try:
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        load(page, site)
        page.wait_for_selector("body[data-voxsig-error]", state="attached")
        reason = page.locator("body").get_attribute("data-voxsig-error")
        assert reason == "identifier_hash does not match the identifier"
    finally:
        context.close()
        site.close()
    # The refused request is the only thing the browser complained about.
    assert errors, "the refused set_user request should show in the console"
    assert all("401" in e for e in errors), errors
    contacts = api.get("contacts").json()["payload"]
    assert [c["identifier"] for c in contacts] == [None]


def test_one_visitor_does_not_see_another(
    api: ApiClient, site: Site, page: Page, browser: Browser
) -> None:
    frame = load(page, site)
    open_widget(page)
    send(frame, "Alice's private question")
    post_message(api, conversation_of(api)["id"], "Answer for Alice")
    expect(frame.locator(".msg.out .text")).to_have_text(["Answer for Alice"])
    context = browser.new_context()
    try:
        other = context.new_page()
        other_frame = load(other, site)
        open_widget(other)
        send(other_frame, "Bob here")
        expect(other_frame.locator(".msg .text")).to_have_text(["Bob here"])
    finally:
        context.close()
    expect(frame.locator(".msg .text")).to_have_text(
        ["Alice's private question", "Answer for Alice"]
    )


def test_reset_starts_a_new_visitor(site: Site, page: Page, inbox: JSON) -> None:
    frame = load(page, site)
    key = f"voxsig.token.{inbox['website_token']}"
    first = page.evaluate("k => localStorage.getItem(k)", key)
    assert first
    open_widget(page)
    send(frame, "before reset")
    page.evaluate("() => window.$voxsig.reset()")
    page.wait_for_function(
        "([k, old]) => localStorage.getItem(k) && localStorage.getItem(k) !== old", arg=[key, first]
    )
    open_widget(page)
    expect(widget(page).locator(".title")).to_have_text("Hi there")
    expect(widget(page).locator(".msg")).to_have_count(0)


def test_the_preview_page_shows_a_working_widget(api: ApiClient, page: Page) -> None:
    inbox = widget_inbox(api, website_url="https://acme.example")
    page.goto(inbox["widget_preview_url"])
    expect(page.locator("h1")).to_have_text("This is a sample page of your website.")
    expect(page.locator("pre code")).to_contain_text(inbox["website_token"])
    open_widget(page)
    frame = widget(page)
    expect(frame.locator(".title")).to_have_text("Hi there")
    send(frame, "Testing the preview")
    assert conversation_of(api)["messages"][0]["content"] == "Testing the preview"
