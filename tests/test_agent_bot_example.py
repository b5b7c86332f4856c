"""examples/bot.py, the README's agent bot, as a real process on 127.0.0.1 against the running
server, both databases: it answers a widget visitor and an API inbox's contact with its menu,
acts on their choice and hands over to people; a bot nobody answers at leaves the visitor to
the agents within about a minute; a delivery whose signature does not verify is refused and
does nothing."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Signer

from harness.processes import free_port
from tests.support.client import JSON, ApiClient, ok
from tests.support.factories import (
    activity_of,
    api_inbox,
    create_conversation,
    messages_of,
    new_contact,
    widget_inbox,
)
from tests.support.waiting import wait_until
from tests.support.widget import WidgetVisitor, public, public_contact

EXAMPLE = Path(__file__).parents[1] / "examples" / "bot.py"
MENU_TITLES = ["Track my order", "Talk to a person"]
PERSON = [{"title": "Talk to a person", "value": "talk_to_person"}]
TRACK = [{"title": "Track my order", "value": "track_order"}]
HANDOVER_TEXT = "Connecting you to a person…"
HANDED_OVER = "Conversation was handed over to the agents by Helper"
ANSWER_WITHIN = 15.0  # seconds for a delivery, the bot's API call and its event


class ExampleBot:
    """examples/bot.py running as its README says, its log lines collected as they come."""

    def __init__(self, voxsig_url: str, bot: JSON, port: int) -> None:
        env = {
            "VOXSIG_URL": voxsig_url,
            "BOT_TOKEN": bot["access_token"],
            "BOT_SECRET": bot["secret"],
            "PORT": str(port),
        }
        self.url = f"http://127.0.0.1:{port}/"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLE)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("listening on")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, text: str, timeout: float = ANSWER_WITHIN) -> None:
        wait_until(
            lambda: self.count(text) > 0,
            timeout,
            lambda: f"the bot never logged {text!r}; it logged:\n" + "\n".join(self.lines),
        )

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def run_bot(api: ApiClient) -> Iterator[Callable[[int], tuple[JSON, ExampleBot]]]:
    """Makes a bot called at a free port, attaches it to the inbox given, and starts the
    example there: (the bot as the API shows it, its process)."""
    started: list[ExampleBot] = []

    def run(inbox_id: int) -> tuple[JSON, ExampleBot]:
        port = free_port()
        bot = make_bot(api, f"http://127.0.0.1:{port}/")
        attach(api, inbox_id, bot["id"])
        started.append(ExampleBot(api.url, bot, port))
        return bot, started[-1]

    yield run
    for process in started:
        process.stop()


def make_bot(api: ApiClient, outgoing_url: str) -> JSON:
    bot: JSON = ok(api.post("agent_bots", json={"name": "Helper", "outgoing_url": outgoing_url}))
    return bot


def attach(api: ApiClient, inbox_id: int, bot_id: int) -> None:
    ok(api.post(f"inboxes/{inbox_id}/set_agent_bot", json={"agent_bot": bot_id}))


def status_of(api: ApiClient, conversation_id: int) -> str:
    status: str = ok(api.get(f"conversations/{conversation_id}"))["status"]
    return status


def open_ids(api: ApiClient) -> list[int]:
    """The conversations in the agents' (default, open) view."""
    return [c["id"] for c in ok(api.get("conversations"))["data"]["payload"]]


def bot_messages(messages: list[JSON]) -> list[JSON]:
    return [m for m in messages if (m.get("sender") or {}).get("type") == "agent_bot"]


def wait_for_message(
    listed: Callable[[], list[JSON]], wanted: Callable[[JSON], bool], what: str
) -> JSON:
    """The first message of `listed()` that is `wanted`, once there is one."""
    found: list[JSON] = []

    def arrived() -> bool:
        found[:] = [m for m in listed() if wanted(m)]
        return bool(found)

    wait_until(arrived, ANSWER_WITHIN, lambda: f"no {what} among {listed()}", step=0.2)
    return found[0]


def is_menu(message: JSON) -> bool:
    return message.get("content_type") == "input_select"


def delivery_of(api: ApiClient, bot: JSON, content: str) -> JSON:
    """The bot's delivery (as its log shows it, attempts and body) of message_created for the
    message with `content`, once it is in the log."""
    base = f"agent_bots/{bot['id']}/deliveries"
    found: list[JSON] = []

    def logged() -> bool:
        listed = ok(api.get(base, params={"event": "message_created"}))["payload"]
        for row in listed:
            shown: JSON = ok(api.get(f"{base}/{row['id']}"))["payload"]
            if json.loads(shown["request_body"]).get("content") == content:
                found[:] = [shown]
                return True
        return False

    wait_until(logged, ANSWER_WITHIN, lambda: f"no delivery of {content!r} to the bot", step=0.2)
    return found[0]


def test_the_bot_answers_a_widget_visitor_and_hands_over_on_their_choice(
    api: ApiClient, run_bot: Callable[[int], tuple[JSON, ExampleBot]]
) -> None:
    inbox = widget_inbox(api)
    bot, process = run_bot(inbox["id"])
    visitor = WidgetVisitor(api.url, inbox["website_token"]).start()
    try:
        visitor.say("Hello, where is my parcel?")
        (pending,) = ok(api.get("conversations", params={"status": "pending"}))["data"]["payload"]
        cid = pending["id"]
        assert pending["status"] == "pending"
        assert cid not in open_ids(api)  # the bot has it, not the agents

        # The bot got the visitor's message signed, verified it and answered with its menu.
        menu = wait_for_message(lambda: messages_of(api, cid), is_menu, "menu from the bot")
        first = delivery_of(api, bot, "Hello, where is my parcel?")
        process.wait_for(f"{first['message_id']}: message_created verified")
        assert [a["response_status"] for a in first["attempts"]] == [204]
        assert menu["sender"]["type"] == "agent_bot"
        assert menu["sender"]["id"] == bot["id"]
        assert [i["title"] for i in menu["content_attributes"]["items"]] == MENU_TITLES

        # The visitor answers in the widget; the choice reaches the bot, which hands over.
        shown = [m for m in visitor.messages()["payload"] if is_menu(m)]
        assert [m["id"] for m in shown] == [menu["id"]]
        visitor.ok("PATCH", f"messages/{menu['id']}", json={"submitted_values": PERSON})
        wait_until(
            lambda: status_of(api, cid) == "open",
            ANSWER_WITHIN,
            lambda: "the bot never opened the conversation:\n" + "\n".join(process.lines),
        )
        assert process.count("the contact chose 'talk_to_person'") == 1
        assert HANDED_OVER in activity_of(api, cid)
        assert cid in open_ids(api)
        from_bot = bot_messages(messages_of(api, cid))
        assert [m["content"] for m in from_bot] == [menu["content"], HANDOVER_TEXT]
        assert all(m["sender"]["id"] == bot["id"] for m in from_bot)
        assert HANDOVER_TEXT in [m["content"] for m in visitor.messages()["payload"]]

        # Now the agents have it: the bot gets the visitor's next message and leaves it alone.
        visitor.say("Thanks!")
        later = delivery_of(api, bot, "Thanks!")
        process.wait_for(f"{later['message_id']}: done")
        assert len(bot_messages(messages_of(api, cid))) == len(from_bot)
    finally:
        visitor.close()


def test_a_bot_that_never_answers_leaves_the_visitor_to_the_agents(api: ApiClient) -> None:
    inbox = widget_inbox(api)
    nobody = free_port()  # nothing listens there: every attempt is refused
    bot = make_bot(api, f"http://127.0.0.1:{nobody}/")
    attach(api, inbox["id"], bot["id"])
    visitor = WidgetVisitor(api.url, inbox["website_token"]).start()
    try:
        started = time.monotonic()
        visitor.say("Hello?")
        (pending,) = ok(api.get("conversations", params={"status": "pending"}))["data"]["payload"]
        cid = pending["id"]
        # The default schedule: 3, 10 and 20 s (±20%) after the first attempt, then people.
        wait_until(
            lambda: status_of(api, cid) == "open",
            90,
            lambda: f"conversation {cid} is still {status_of(api, cid)}",
            step=0.5,
        )
        took = time.monotonic() - started
    finally:
        visitor.close()
    assert 20 < took < 75, took  # 26.4 to 39.6 s of waits, then the worker's next round
    (why,) = [line for line in activity_of(api, cid) if "did not answer" in line]
    assert why.startswith("Helper did not answer (")
    assert why.endswith("): the conversation is open for the agents")
    assert cid in open_ids(api)

    failed = delivery_of(api, bot, "Hello?")
    assert failed["status"] == "failed"
    attempts = failed["attempts"]
    assert len(attempts) == 4  # the first and the three retries
    assert [a["error_class"] for a in attempts] == ["connection"] * 4
    assert all(a["response_status"] is None for a in attempts)


def test_the_bot_answers_an_api_inbox_through_the_public_client_api(
    api: ApiClient, anon: httpx.Client, run_bot: Callable[[int], tuple[JSON, ExampleBot]]
) -> None:
    inbox = api_inbox(api)
    bot, process = run_bot(inbox["id"])
    identifier = inbox["inbox_identifier"]
    contact = public_contact(anon, api, identifier)
    conversations = public(api, identifier, f"/{contact['source_id']}/conversations")
    conversation = ok(anon.post(conversations, json={}))
    assert conversation["status"] == "pending"
    cid = conversation["id"]
    messages = f"{conversations}/{cid}/messages"

    def contact_sees() -> list[JSON]:
        listed: list[JSON] = ok(anon.get(messages))
        return listed

    ok(anon.post(messages, json={"content": "Hi, I ordered a lamp"}))
    menu = wait_for_message(contact_sees, is_menu, "menu in the public API's list")
    assert [i["title"] for i in menu["content_attributes"]["items"]] == MENU_TITLES

    ok(anon.patch(f"{messages}/{menu['id']}", json={"submitted_values": TRACK}))
    tracking = wait_for_message(
        contact_sees, lambda m: "follow your order" in (m["content"] or ""), "tracking answer"
    )
    assert tracking["message_type"] == 1
    assert status_of(api, cid) == "pending"  # still the bot's

    ok(anon.post(messages, json={"content": "Can I talk to a human please?"}))
    wait_for_message(contact_sees, lambda m: m["content"] == HANDOVER_TEXT, "handover message")
    wait_until(lambda: status_of(api, cid) == "open", ANSWER_WITHIN, lambda: "still pending")
    assert process.count("the contact asked for a person") == 1
    assert HANDED_OVER in activity_of(api, cid)
    from_bot = bot_messages(messages_of(api, cid))
    assert [m["content"] for m in from_bot] == [menu["content"], tracking["content"], HANDOVER_TEXT]
    assert {m["sender"]["id"] for m in from_bot} == {bot["id"]}


def signed_headers(secret: str, delivery_id: str, body: str, at: datetime) -> dict[str, str]:
    signature = Signer(secret).sign(delivery_id, at, body)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def contact_says(api: ApiClient, conversation_id: int, content: str) -> str:
    """A message_created body of a contact's message, as Voxsig would send the bot."""
    event: dict[str, Any] = {
        "event": "message_created",
        "message_type": "incoming",
        "private": False,
        "content": content,
        "content_type": "text",
        "content_attributes": {},
        "account": {"id": api.account_id},
        "conversation": {"id": conversation_id, "status": "pending"},
    }
    return json.dumps(event)


def test_a_delivery_whose_signature_does_not_verify_is_refused_and_does_nothing(
    api: ApiClient, run_bot: Callable[[int], tuple[JSON, ExampleBot]]
) -> None:
    inbox = api_inbox(api)
    bot, process = run_bot(inbox["id"])
    contact = new_contact(api, inbox["id"], name="Tam")["contact"]
    cid = create_conversation(api, inbox["id"], contact["id"])["id"]
    body = contact_says(api, cid, "Hello")
    now = datetime.now(UTC)
    wrong_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    good = signed_headers(bot["secret"], "msg_genuine", body, now)
    refusals = {
        "body changed after signing": (good, body.replace("Hello", "human")),
        "another secret": (signed_headers(wrong_secret, "msg_other", body, now), body),
        "a stale timestamp": (
            signed_headers(bot["secret"], "msg_old", body, now - timedelta(minutes=10)),
            body,
        ),
        "a malformed signature": ({**good, "webhook-signature": "v1"}, body),
        "bad base64": ({**good, "webhook-signature": "v1,@@@"}, body),
        "no signature headers": ({"content-type": "application/json"}, body),
    }
    with httpx.Client(timeout=10.0) as client:
        for why, (headers, content) in refusals.items():
            refused = client.post(process.url, content=content, headers=headers)
            assert refused.status_code == 401, why
        assert process.count("refused a delivery") == len(refusals)
        assert process.count("verified") == 0

        # The same event, signed: acted on once, however often it arrives. A later delivery
        # is acted on after it (the bot takes one event at a time): then every menu is there.
        for _ in range(2):
            assert client.post(process.url, content=body, headers=good).status_code == 204
        later = signed_headers(bot["secret"], "msg_later", body, now)
        assert client.post(process.url, content=body, headers=later).status_code == 204
    process.wait_for("msg_later: done")
    menus = [m for m in bot_messages(messages_of(api, cid)) if is_menu(m)]
    assert len(menus) == 2  # one for msg_genuine, one for msg_later
    assert process.count("msg_genuine: message_created again, skipped") == 1
    assert status_of(api, cid) == "pending"  # "human" in the altered body handed nothing over


def test_a_delivery_the_bot_could_not_act_on_is_acted_on_when_sent_again(
    api: ApiClient, run_bot: Callable[[int], tuple[JSON, ExampleBot]]
) -> None:
    """The bot answered the delivery before acting, so it forgets the webhook-id of what it
    could not do: a redelivery (the same id and body) is not dropped as a duplicate."""
    bot, process = run_bot(api_inbox(api, "The bot's")["id"])
    elsewhere = api_inbox(api, "Not yet the bot's")
    contact = new_contact(api, elsewhere["id"], name="Rae")["contact"]
    cid = create_conversation(api, elsewhere["id"], contact["id"])["id"]
    body = contact_says(api, cid, "Hello")
    headers = signed_headers(bot["secret"], "msg_again", body, datetime.now(UTC))
    with httpx.Client(timeout=10.0) as client:
        assert client.post(process.url, content=body, headers=headers).status_code == 204
        process.wait_for("msg_again: POST")  # refused: not a conversation of the bot's
        assert process.count("answered 404") == 1
        attach(api, elsewhere["id"], bot["id"])
        assert client.post(process.url, content=body, headers=headers).status_code == 204
    process.wait_for("msg_again: done")
    assert process.count("msg_again: message_created again, skipped") == 0
    assert [m["content_type"] for m in bot_messages(messages_of(api, cid))] == ["input_select"]
