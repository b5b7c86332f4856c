"""Two tenants for the isolation walks: account B with a real object of every kind (and strings
unique to the test, so finding one in an answer to account A proves a leak), account A with
its own, the operations of /openapi.json, and bodies valid for each route."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.client import JSON, ApiClient, ok, unique_email
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

ACCOUNT_PREFIX = "/api/v1/accounts/{account_id}"
PUBLIC_PREFIX = "/public/api/v1/inboxes/{inbox_identifier}"
METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass
class TenantB:
    """Account B and the real objects the walk aims at. Every string that identifies B's data is
    unique to this test, so finding one in a response to A proves a leak."""

    client: ApiClient
    inbox_id: int
    inbox_identifier: str
    hmac_token: str
    contact_id: int
    contact_email: str
    contact_name: str
    source_id: str
    conversation_id: int  # the conversation number (the public id)
    message_id: int
    message_text: str
    private_text: str
    agent_id: int  # a non-administrator member: removing them would succeed if unchecked
    webhook_id: int
    webhook_secret: str
    callback_secret: str  # the main inbox's callback's
    callback_delivery_id: int  # a settled delivery of that callback
    delivery_id: int  # a settled (no longer pending) delivery of B's webhook
    other_inbox_source_id: str  # a contact of B's second API inbox
    sibling_source_id: str  # another contact of B's main inbox, with no conversation
    # An agent bot that answers B's second inbox (not the main one, whose conversations the
    # walks aim at): its token, its secret and a settled delivery of its log.
    agent_bot_id: int
    bot_token: str
    bot_secret: str
    bot_delivery_id: int

    def path_values(self, account_id: int, path: str = "") -> dict[str, Any]:
        """B's object ids for every path parameter of the account API, under `account_id`
        (a delivery of its inbox's callback under …/inboxes/{inbox_id}/deliveries)."""
        callback_log = "/inboxes/{inbox_id}/deliveries/" in path
        bot_log = "/agent_bots/{agent_bot_id}/deliveries/" in path
        delivery = self.delivery_id
        if callback_log or bot_log:
            delivery = self.callback_delivery_id if callback_log else self.bot_delivery_id
        return {
            "account_id": account_id,
            "inbox_id": self.inbox_id,
            "contact_id": self.contact_id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "agent_id": self.agent_id,
            "webhook_id": self.webhook_id,
            "delivery_id": delivery,
            "agent_bot_id": self.agent_bot_id,
            "label": "b-label",
        }

    def secrets(self) -> list[str]:
        return [
            self.contact_email,
            self.contact_name,
            self.inbox_identifier,
            self.hmac_token,
            self.message_text,
            self.private_text,
            self.webhook_secret,
            self.callback_secret,
            self.source_id,
            self.bot_token,
            self.bot_secret,
        ]


@dataclass
class TenantA:
    client: ApiClient
    inbox_id: int
    inbox_identifier: str
    contact_id: int
    source_id: str


def settled_deliveries(
    b: ApiClient, webhook_id: int, count: int, log: str = "webhooks/{}/deliveries"
) -> list[JSON]:
    """The endpoint's deliveries (a webhook's, or with `log` an inbox callback's) once `count`
    exist and none is pending any more."""
    listed: list[JSON] = []

    def settled() -> bool:
        nonlocal listed
        listed = ok(b.get(log.format(webhook_id)))["payload"]
        return len(listed) >= count and all(d["status"] != "pending" for d in listed)

    wait_until(settled, 20.0, lambda: f"deliveries not settled: {listed}", step=0.1)
    return listed


def make_tenant_b(b: ApiClient, receiver: Receiver) -> TenantB:
    tag = unique_email("b").split("@")[0]
    # With a callback, so its routes (…/callback, …/deliveries) have something to guard.
    channel = {"type": "api", "webhook_url": receiver.url(f"/{tag}-callback")}
    inbox = ok(b.post("inboxes", json={"name": "B main", "channel": channel}))
    callback = ok(b.get(f"inboxes/{inbox['id']}/callback"))["payload"]["webhook"]
    hook = ok(
        b.post(
            "webhooks", json={"url": receiver.url(f"/{tag}"), "subscriptions": ["message_created"]}
        )
    )["payload"]["webhook"]
    email = f"{tag}@tenant-b.example"
    name = f"Bea {tag}"
    created = ok(b.post("contacts", json={"name": name, "email": email, "inbox_id": inbox["id"]}))
    contact = created["payload"]["contact"]
    source_id = created["payload"]["contact_inbox"]["source_id"]
    # Two conversations, so B's target is number 2: account A (which has one) has no number 2.
    ok(b.post("conversations", json={"inbox_id": inbox["id"], "contact_id": contact["id"]}))
    conversation = ok(
        b.post("conversations", json={"inbox_id": inbox["id"], "contact_id": contact["id"]})
    )
    assert conversation["id"] == 2
    cid = conversation["id"]
    text = f"B-only message {tag}"
    message = ok(b.post(f"conversations/{cid}/messages", json={"content": text}))
    ok(b.post(f"conversations/{cid}/messages", json={"content": "hi", "message_type": "incoming"}))
    private = f"B-only note {tag}"
    ok(b.post(f"conversations/{cid}/messages", json={"content": private, "private": True}))
    ok(b.post(f"conversations/{cid}/labels", json={"labels": ["b-label"]}))
    agent = ok(b.post("agents", json={"name": "B agent", "email": unique_email("b-agent")}))
    second = ok(b.post("inboxes", json={"name": "B second", "channel": {"type": "api"}}))
    bot = ok(
        b.post(
            "agent_bots", json={"name": f"B bot {tag}", "outgoing_url": receiver.url(f"/{tag}-bot")}
        )
    )
    ok(b.post(f"inboxes/{second['id']}/set_agent_bot", json={"agent_bot": bot["id"]}))
    other = ok(b.post("contacts", json={"name": "Elsewhere", "inbox_id": second["id"]}))["payload"]
    elsewhere = other["contact_inbox"]["source_id"]
    botted = ok(
        b.post(
            "conversations", json={"inbox_id": second["id"], "contact_id": other["contact"]["id"]}
        )
    )
    ok(
        b.post(
            f"conversations/{botted['id']}/messages",
            json={"content": "hi bot", "message_type": "incoming"},
        )
    )
    sibling = ok(
        httpx.post(
            f"{b.url}/public/api/v1/inboxes/{inbox['inbox_identifier']}/contacts",
            json={"name": "Sibling"},
        )
    )["source_id"]
    return TenantB(
        client=b,
        inbox_id=inbox["id"],
        inbox_identifier=inbox["inbox_identifier"],
        hmac_token=inbox["hmac_token"],
        callback_secret=callback["secret"],
        contact_id=contact["id"],
        contact_email=email,
        contact_name=name,
        source_id=source_id,
        conversation_id=cid,
        message_id=message["id"],
        message_text=text,
        private_text=private,
        agent_id=agent["id"],
        webhook_id=hook["id"],
        webhook_secret=hook["secret"],
        # Three messages were created after the webhook: three message_created deliveries.
        delivery_id=settled_deliveries(b, hook["id"], 3)[-1]["id"],
        callback_delivery_id=settled_deliveries(b, inbox["id"], 3, "inboxes/{}/deliveries")[-1][
            "id"
        ],
        other_inbox_source_id=elsewhere,
        sibling_source_id=sibling,
        agent_bot_id=bot["id"],
        bot_token=bot["access_token"],
        bot_secret=bot["secret"],
        bot_delivery_id=settled_deliveries(b, bot["id"], 1, "agent_bots/{}/deliveries")[-1]["id"],
    )


def make_tenant_a(a: ApiClient) -> TenantA:
    inbox = ok(a.post("inboxes", json={"name": "A main", "channel": {"type": "api"}}))
    created = ok(a.post("contacts", json={"name": "Al", "inbox_id": inbox["id"]}))["payload"]
    ok(
        a.post(
            "conversations", json={"inbox_id": inbox["id"], "contact_id": created["contact"]["id"]}
        )
    )
    return TenantA(
        client=a,
        inbox_id=inbox["id"],
        inbox_identifier=inbox["inbox_identifier"],
        contact_id=created["contact"]["id"],
        source_id=created["contact_inbox"]["source_id"],
    )


# A webhook's backlog figures that move with the clock alone (the rate over the last 5 minutes,
# the estimate drawn from it): not B's data, so a snapshot leaves them out.
MOVING = ("delivered_per_minute", "drain_estimate_seconds")


def without_rates(listing: JSON) -> JSON:
    for webhook in listing["payload"]["webhooks"]:
        for key in MOVING:
            webhook["backlog"].pop(key, None)
    return listing


def snapshot(t: TenantB) -> JSON:
    """Everything of B's that the walk could touch, as B sees it."""
    b, cid = t.client, t.conversation_id
    return {
        "inboxes": ok(b.get("inboxes")),
        "inbox": ok(b.get(f"inboxes/{t.inbox_id}")),
        "contacts": ok(b.get("contacts")),
        "contact": ok(b.get(f"contacts/{t.contact_id}")),
        "contact_conversations": ok(b.get(f"contacts/{t.contact_id}/conversations")),
        "conversations": ok(b.get("conversations", params={"status": "all"})),
        "conversation": ok(b.get(f"conversations/{cid}")),
        "messages": ok(b.get(f"conversations/{cid}/messages")),
        "labels": ok(b.get(f"conversations/{cid}/labels")),
        "agents": ok(b.get("agents")),
        "webhooks": without_rates(ok(b.get("webhooks"))),
        "deliveries": ok(b.get(f"webhooks/{t.webhook_id}/deliveries")),
        "delivery": ok(b.get(f"webhooks/{t.webhook_id}/deliveries/{t.delivery_id}")),
    }


def operations(spec: JSON, prefix: str) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation whose path starts with `prefix`."""
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith(prefix)
        for method in METHODS
        if method in item
    ]


def fill(template: str, values: dict[str, Any]) -> str:
    names = re.findall(r"{(\w+)}", template)
    unknown = [n for n in names if n not in values]
    assert not unknown, f"{template}: no value for path parameter(s) {unknown}; extend the walk"
    return template.format(**{n: values[n] for n in names})


def leaks(response: httpx.Response, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in response.text]


def account_walk_body(account_user_id: int, inbox_id: int, contact_id: int, path: str) -> JSON:
    """A body that is valid for the route, with references that are valid in the account of the
    path, so that only the missing tenancy check (not validation) could let it through."""
    body: JSON = {
        "content": "x",
        "status": "resolved",
        "name": "x",
        "email": unique_email("walk"),
        "role": "administrator",
        "url": f"http://127.0.0.1:9/{unique_email('u')}",
        "subscriptions": ["message_created"],
        "labels": ["x"],
        "priority": "high",
        "assignee_id": account_user_id,
        "inbox_id": inbox_id,
        "contact_id": contact_id,
        "custom_attributes": {"walked": True},
        "channel": {"type": "api"},
        "since": int(time.time()) - 3600,  # webhook recovery
        "typing_status": "on",
        "agent_bot": None,  # set_agent_bot: none, valid in any account
    }
    if "/messages" in path:
        del body["status"]  # a message's status is sent/delivered/read/failed
    return body


def public_walk_body() -> JSON:
    return {
        "content": "x",
        "echo_id": "e-1",
        "name": "x",
        "email": unique_email("pub"),
        "custom_attributes": {"walked": True},
        "submitted_values": [{"name": "x", "value": "y"}],
        "typing_status": "on",
    }
