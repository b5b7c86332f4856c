"""Agent bots over HTTP, as Chatwoot's API has them: an administrator makes a bot and attaches
it to an inbox; the inbox's conversations start pending; the bot gets the inbox's events
(Chatwoot's set, signed, in its format, through the outbox) and acts with its own token on
exactly the routes Chatwoot opens to bots, in its own inboxes; opening the conversation hands
it to people. Real receivers on 127.0.0.1, both databases."""

from __future__ import annotations

import httpx
from standardwebhooks.webhooks import Webhook as Verifier

from tests.support.client import JSON, ApiClient, error, fields_of, ok
from tests.support.factories import (
    activity_of,
    api_inbox,
    create_conversation,
    messages_of,
    new_contact,
    post_message,
    widget_inbox,
)
from tests.support.receiver import Received, Receiver
from tests.support.widget import WidgetVisitor

BOT_EVENTS = [
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "conversation_opened",
    "conversation_resolved",
]


def make_bot(api: ApiClient, url: str, **fields: object) -> JSON:
    bot: JSON = ok(api.post("agent_bots", json={"name": "Helper", "outgoing_url": url, **fields}))
    return bot


def attach(api: ApiClient, inbox_id: int, bot_id: int | None) -> None:
    response = api.post(f"inboxes/{inbox_id}/set_agent_bot", json={"agent_bot": bot_id})
    assert response.status_code == 200, response.text


def as_bot(api: ApiClient, bot: JSON) -> httpx.Client:
    """A client with the bot's token, under the bot's account."""
    return httpx.Client(
        base_url=f"{api.url}/api/v1/accounts/{api.account_id}",
        headers={"api_access_token": bot["access_token"]},
        timeout=30.0,
    )


def verified(bot: JSON, request: Received) -> JSON:
    body: JSON = Verifier(bot["secret"]).verify(request.body, dict(request.headers))
    return body


def test_a_bot_is_made_shown_changed_and_deleted_as_in_chatwoot(
    api: ApiClient, receiver: Receiver
) -> None:
    bot = make_bot(api, receiver.url("/bot"), description="Answers first")
    assert bot["name"] == "Helper"
    assert bot["description"] == "Answers first"
    assert bot["outgoing_url"] == receiver.url("/bot")
    assert bot["bot_type"] == "webhook"
    assert bot["account_id"] == api.account_id
    assert bot["system_bot"] is False
    assert len(bot["access_token"]) >= 24
    assert bot["payload_format"] == "chatwoot"
    assert bot["signing"] == "symmetric"
    assert bot["secret"].startswith("whsec_")
    assert bot["webhook"]["url"] == receiver.url("/bot")
    assert ok(api.get(f"agent_bots/{bot['id']}"))["access_token"] == bot["access_token"]
    assert [b["id"] for b in ok(api.get("agent_bots"))] == [bot["id"]]

    changed = ok(api.patch(f"agent_bots/{bot['id']}", json={"name": "Concierge"}))
    assert changed["name"] == "Concierge"
    assert changed["secret"] == bot["secret"]  # the endpoint is kept, secret and all
    reset = ok(api.post(f"agent_bots/{bot['id']}/reset_access_token"))
    assert reset["access_token"] != bot["access_token"]
    with as_bot(api, bot) as old:
        assert old.post("conversations", json={"inbox_id": 1}).status_code == 401
    nowhere = ok(api.patch(f"agent_bots/{bot['id']}", json={"outgoing_url": ""}))
    assert nowhere["outgoing_url"] == ""
    assert nowhere["webhook"] is None
    assert nowhere["secret"] is None

    assert api.delete(f"agent_bots/{bot['id']}").status_code == 200
    error(api.get(f"agent_bots/{bot['id']}"), 404)
    assert ok(api.get("agent_bots")) == []


def test_bad_bot_bodies_are_422s_naming_the_field(api: ApiClient, receiver: Receiver) -> None:
    assert "name" in fields_of(error(api.post("agent_bots", json={}), 422))
    refused = api.post("agent_bots", json={"name": "x", "outgoing_url": "ftp://example.com/"})
    assert "outgoing_url" in fields_of(error(refused, 422))
    private = api.post("agent_bots", json={"name": "x", "outgoing_url": "http://10.1.2.3/hook"})
    assert "outgoing_url" in fields_of(error(private, 422))
    avatar = api.post("agent_bots", json={"name": "x", "avatar_url": "javascript:alert(1)"})
    assert "avatar_url" in fields_of(error(avatar, 422))
    fmt = make_bot(api, receiver.url("/bot"))
    bogus = api.patch(f"agent_bots/{fmt['id']}", json={"payload_format": "bogus"})
    assert "payload_format" in fields_of(error(bogus, 422))
    inbox = api_inbox(api)
    unknown = api.post(f"inboxes/{inbox['id']}/set_agent_bot", json={"agent_bot": 987654})
    error(unknown, 404)


def test_an_inbox_shows_its_bot_and_takes_one_at_a_time(api: ApiClient, receiver: Receiver) -> None:
    inbox = api_inbox(api)
    assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot")) == {"agent_bot": {}}
    first, second = make_bot(api, receiver.url("/a")), make_bot(api, receiver.url("/b"))
    attach(api, inbox["id"], first["id"])
    shown = ok(api.get(f"inboxes/{inbox['id']}/agent_bot"))["agent_bot"]
    assert shown["id"] == first["id"]
    assert "access_token" not in shown
    attach(api, inbox["id"], second["id"])
    assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot"))["agent_bot"]["id"] == second["id"]
    assert ok(api.get(f"agent_bots/{first['id']}"))["inbox_ids"] == []
    assert ok(api.get(f"agent_bots/{second['id']}"))["inbox_ids"] == [inbox["id"]]
    attach(api, inbox["id"], None)
    assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot")) == {"agent_bot": {}}


def test_the_bot_answers_first_and_hands_over_to_people(api: ApiClient, receiver: Receiver) -> None:
    inbox = widget_inbox(api)
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    visitor = WidgetVisitor(api.url, inbox["website_token"]).start()
    try:
        visitor.say("Hello, is anyone there?")
        conversation = ok(api.get("conversations", params={"status": "pending"}))["data"]
        (pending,) = conversation["payload"]
        assert pending["status"] == "pending"
        cid = pending["id"]
        # The open view is not flooded with what the bot handles.
        assert cid not in [c["id"] for c in ok(api.get("conversations"))["data"]["payload"]]

        (arrived,) = receiver.wait_for(1, "/bot")
        event = verified(bot, arrived)
        assert event["event"] == "message_created"
        assert event["message_type"] == "incoming"  # Chatwoot's webhook_data
        assert event["content"] == "Hello, is anyone there?"
        assert event["conversation"]["id"] == cid

        with as_bot(api, bot) as client:
            menu = {
                "content": "How can I help?",
                "content_type": "input_select",
                "content_attributes": {
                    "items": [
                        {"title": "Track my order", "value": "track"},
                        {"title": "Talk to a person", "value": "human"},
                    ]
                },
            }
            answered = client.post(f"conversations/{cid}/messages", json=menu)
            assert answered.status_code == 200, answered.text
            sent = answered.json()
            assert sent["message_type"] == 1
            assert sent["sender"] == {
                "id": bot["id"],
                "name": "Helper",
                "avatar_url": "",
                "type": "agent_bot",
            }
            incoming = client.post(
                f"conversations/{cid}/messages",
                json={"content": "pretending", "message_type": "incoming"},
            )
            assert "message_type" in fields_of(error(incoming, 422))
            handed = client.post(f"conversations/{cid}/toggle_status", json={"status": "open"})
            assert handed.status_code == 200, handed.text
            assert handed.json()["payload"]["current_status"] == "open"

        assert ok(api.get(f"conversations/{cid}"))["status"] == "open"
        assert "Conversation was handed over to the agents by Helper" in activity_of(api, cid)
        assert cid in [c["id"] for c in ok(api.get("conversations"))["data"]["payload"]]
        shown = [m for m in messages_of(api, cid) if m["content"] == "How can I help?"]
        assert shown[0]["sender"]["type"] == "agent_bot"
        # The bot's own message and the handover reach it too, as in Chatwoot.
        names = [r.json()["event"] for r in receiver.wait_for(3, "/bot")]
        assert names == ["message_created", "message_created", "conversation_opened"]
    finally:
        visitor.close()


def test_the_bot_token_opens_only_the_routes_chatwoot_opens_to_bots(
    api: ApiClient, make_account: object, receiver: Receiver
) -> None:
    inbox, elsewhere = api_inbox(api, "Bot's"), api_inbox(api, "Not the bot's")
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    contact = new_contact(api, inbox["id"], name="Ana")["contact"]
    mine = create_conversation(api, inbox["id"], contact["id"])
    assert mine["status"] == "pending"
    other_contact = new_contact(api, elsewhere["id"], name="Bo")["contact"]
    theirs = create_conversation(api, elsewhere["id"], other_contact["id"])
    assert theirs["status"] == "open"
    with as_bot(api, bot) as client:
        # Every route outside Chatwoot's list: 401, as Chatwoot answers bots.
        for method, path in [
            ("GET", "conversations"),
            ("GET", f"conversations/{mine['id']}"),
            ("GET", f"conversations/{mine['id']}/messages"),
            ("GET", "contacts"),
            ("GET", "agent_bots"),
            ("POST", "webhooks"),
            ("POST", f"conversations/{mine['id']}/labels"),
        ]:
            refused = client.request(method, path, json={})
            assert refused.status_code == 401, (method, path, refused.text)
            assert "not authorized for bots" in refused.json()["message"]
        # The bot's routes, in its own inbox.
        assert (
            client.post(
                f"conversations/{mine['id']}/toggle_priority", json={"priority": "high"}
            ).status_code
            == 200
        )
        attrs = client.post(
            f"conversations/{mine['id']}/custom_attributes",
            json={"custom_attributes": {"order": "A-1"}},
        )
        assert attrs.json() == {"custom_attributes": {"order": "A-1"}}
        assigned = client.post(
            f"conversations/{mine['id']}/assignments", json={"assignee_id": api.user_id}
        )
        assert assigned.status_code == 200, assigned.text
        updated = client.patch(f"conversations/{mine['id']}", json={"priority": "low"})
        assert updated.json()["priority"] == "low"
        started = client.post(
            "conversations", json={"inbox_id": inbox["id"], "contact_id": contact["id"]}
        )
        assert started.status_code == 200
        assert started.json()["status"] == "pending"
        # Not in its inboxes: 404, as for what does not exist.
        error(client.post(f"conversations/{theirs['id']}/messages", json={"content": "x"}), 404)
        error(client.post(f"conversations/{theirs['id']}/toggle_status"), 404)
        error(
            client.post(
                "conversations",
                json={"inbox_id": elsewhere["id"], "contact_id": other_contact["id"]},
            ),
            404,
        )
    assert activity_of(api, mine["id"])[-1] == "Helper set the priority to low"

    stranger = make_account()  # type: ignore[operator]
    with httpx.Client(
        base_url=f"{api.url}/api/v1/accounts/{stranger.account_id}",
        headers={"api_access_token": bot["access_token"]},
        timeout=30.0,
    ) as client:
        error(client.post("conversations/1/messages", json={"content": "x"}), 404)
        error(client.post("conversations", json={"inbox_id": 1}), 404)


def test_a_resolved_conversation_the_contact_writes_to_goes_back_to_the_bot(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = api_inbox(api)
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    contact = new_contact(api, inbox["id"], name="Ana")["contact"]
    cid = create_conversation(api, inbox["id"], contact["id"])["id"]
    ok(api.post(f"conversations/{cid}/toggle_status", json={"status": "resolved"}))
    post_message(api, cid, "Me again", message_type="incoming")
    assert ok(api.get(f"conversations/{cid}"))["status"] == "pending"
    names = [r.json()["event"] for r in receiver.wait_for(2, "/bot")]
    assert names == ["conversation_resolved", "message_created"]
    # An explicit status on creation is honoured, bot or not.
    explicit = create_conversation(api, inbox["id"], contact["id"], status="open")
    assert explicit["status"] == "open"


def test_taking_the_bot_away_or_deleting_it_hands_its_conversations_to_people(
    api: ApiClient, receiver: Receiver
) -> None:
    first, second = api_inbox(api, "First"), api_inbox(api, "Second")
    bot = make_bot(api, receiver.url("/bot"))
    for inbox in (first, second):
        attach(api, inbox["id"], bot["id"])
    contact = new_contact(api, first["id"], name="Ana")["contact"]
    waiting = create_conversation(api, first["id"], contact["id"])["id"]
    other = new_contact(api, second["id"], name="Bo")["contact"]
    held = create_conversation(api, second["id"], other["id"])["id"]
    attach(api, first["id"], None)
    assert ok(api.get(f"conversations/{waiting}"))["status"] == "open"
    assert activity_of(api, waiting) == ["Helper no longer answers this inbox"]
    assert ok(api.get(f"conversations/{held}"))["status"] == "pending"
    assert api.delete(f"agent_bots/{bot['id']}").status_code == 200
    assert ok(api.get(f"conversations/{held}"))["status"] == "open"
    assert ok(api.get(f"inboxes/{second['id']}/agent_bot")) == {"agent_bot": {}}
    # New conversations start open again.
    assert create_conversation(api, second["id"], other["id"])["status"] == "open"


def test_a_bots_messages_reach_webhooks_and_the_contact_as_the_bots(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = api_inbox(api)
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    for fmt in ("voxsig", "chatwoot"):
        hook = {
            "url": receiver.url(f"/{fmt}"),
            "subscriptions": ["message_created"],
            "payload_format": fmt,
        }
        ok(api.post("webhooks", json=hook))
    made = new_contact(api, inbox["id"], name="Ana")
    cid = create_conversation(api, inbox["id"], made["contact"]["id"])["id"]
    with as_bot(api, bot) as client:
        assert client.post(f"conversations/{cid}/messages", json={"content": "Hi!"}).is_success
    (voxsig,) = receiver.wait_for(1, "/voxsig")
    assert voxsig.json()["sender"]["type"] == "agent_bot"
    assert voxsig.json()["sender"]["id"] == bot["id"]
    (chatwoot,) = receiver.wait_for(1, "/chatwoot")
    assert chatwoot.json()["sender"] == {"id": bot["id"], "name": "Helper", "type": "agent_bot"}
    identifier = inbox["inbox_identifier"]
    source = made["contact_inbox"]["source_id"]
    listed = httpx.get(
        f"{api.url}/public/api/v1/inboxes/{identifier}/contacts/{source}"
        f"/conversations/{cid}/messages",
        timeout=30.0,
    )
    assert listed.status_code == 200, listed.text
    (shown,) = [m for m in listed.json() if m["content"] == "Hi!"]
    assert shown["sender"] == {
        "id": bot["id"],
        "name": "Helper",
        "avatar_url": "",
        "type": "agent_bot",
    }


def test_a_bots_endpoint_is_disabled_and_recovered_like_a_webhook(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = api_inbox(api)
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    off = ok(api.patch(f"agent_bots/{bot['id']}", json={"enabled": False}))
    assert off["webhook"]["enabled"] is False
    contact = new_contact(api, inbox["id"], name="Ana")["contact"]
    cid = create_conversation(api, inbox["id"], contact["id"])["id"]
    post_message(api, cid, "Anyone?", message_type="incoming")
    on = ok(api.patch(f"agent_bots/{bot['id']}", json={"enabled": True}))
    since = on["webhook"]["recover_since"]
    assert receiver.requests("/bot") == []  # nothing was sent while disabled
    recovered = ok(api.post(f"agent_bots/{bot['id']}/recover", json={"since": since}))
    assert recovered["payload"]["recovered"] == 1
    (arrived,) = receiver.wait_for(1, "/bot")
    assert verified(bot, arrived)["content"] == "Anyone?"
    (logged,) = ok(api.get(f"agent_bots/{bot['id']}/deliveries"))["payload"]
    assert logged["event"] == "message_created"
    nowhere = make_bot(api, "")
    refused = api.patch(f"agent_bots/{nowhere['id']}", json={"enabled": False})
    assert "enabled" in fields_of(error(refused, 422))
    error(api.get(f"agent_bots/{nowhere['id']}/deliveries"), 404)


def test_a_bot_that_is_called_nowhere_holds_nothing_pending(
    api: ApiClient, receiver: Receiver
) -> None:
    """Disabled, or without an outgoing_url, a bot would never answer: what it holds goes to
    people, and new conversations of its inboxes start open."""
    inbox = api_inbox(api)
    bot = make_bot(api, receiver.url("/bot"))
    attach(api, inbox["id"], bot["id"])
    contact = new_contact(api, inbox["id"], name="Ana")["contact"]
    held = create_conversation(api, inbox["id"], contact["id"])["id"]
    ok(api.patch(f"agent_bots/{bot['id']}", json={"enabled": False}))
    assert ok(api.get(f"conversations/{held}"))["status"] == "open"
    assert activity_of(api, held) == ["Helper was disabled"]
    assert create_conversation(api, inbox["id"], contact["id"])["status"] == "open"
    ok(api.patch(f"agent_bots/{bot['id']}", json={"enabled": True}))
    again = create_conversation(api, inbox["id"], contact["id"])["id"]
    assert ok(api.get(f"conversations/{again}"))["status"] == "pending"
    ok(api.patch(f"agent_bots/{bot['id']}", json={"outgoing_url": ""}))
    assert ok(api.get(f"conversations/{again}"))["status"] == "open"
    assert activity_of(api, again) == ["Helper is called nowhere now"]
    assert create_conversation(api, inbox["id"], contact["id"])["status"] == "open"
