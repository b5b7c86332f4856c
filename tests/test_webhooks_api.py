"""The webhooks API: Chatwoot's shapes, validation that names the problem, admins only."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.client import ApiClient
from tests.support.receiver import Receiver
from tests.support.webhook_schema import EVENTS


def create(api: ApiClient, **body: Any) -> Any:
    return api.post("webhooks", json=body)


def test_create_list_update_delete(api: ApiClient, receiver: Receiver) -> None:
    made = create(api, url=receiver.url("/a"), subscriptions=["message_created"], name="CRM")
    assert made.status_code == 200, made.text
    webhook = made.json()["payload"]["webhook"]
    assert webhook["name"] == "CRM"
    assert webhook["account_id"] == api.account_id
    assert webhook["subscriptions"] == ["message_created"]
    assert webhook["inbox"] is None
    assert webhook["enabled"] is True
    assert webhook["secret"].startswith("whsec_")
    assert len(base64.b64decode(webhook["secret"].removeprefix("whsec_"))) == 32

    listed = api.get("webhooks").json()["payload"]["webhooks"]
    assert [w["id"] for w in listed] == [webhook["id"]]

    changed = api.patch(
        f"webhooks/{webhook['id']}", json={"subscriptions": EVENTS, "name": "All of it"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["payload"]["webhook"]["subscriptions"] == EVENTS
    assert changed.json()["payload"]["webhook"]["secret"] == webhook["secret"]

    assert api.delete(f"webhooks/{webhook['id']}").status_code == 200
    assert api.get("webhooks").json()["payload"]["webhooks"] == []
    assert api.delete(f"webhooks/{webhook['id']}").status_code == 404


def test_chatwoot_wrapped_body_is_accepted(api: ApiClient, receiver: Receiver) -> None:
    made = api.post(
        "webhooks",
        json={"webhook": {"url": receiver.url("/w"), "subscriptions": ["conversation_created"]}},
    )
    assert made.status_code == 200, made.text
    assert made.json()["payload"]["webhook"]["url"] == receiver.url("/w")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "ftp://example.com/x", "subscriptions": ["message_created"]}, "url", "http"),
        ({"url": "/relative", "subscriptions": ["message_created"]}, "url", "absolute"),
        ({"url": "https://example.com/x", "subscriptions": []}, "subscriptions", "message_created"),
        (
            {"url": "https://example.com/x", "subscriptions": ["message_sent"]},
            "subscriptions",
            "webwidget_triggered",
        ),
        ({"subscriptions": ["message_created"]}, "url", ""),
    ],
)
def test_invalid_webhooks_are_refused_naming_the_field(
    api: ApiClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = api.post("webhooks", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["errors"][0]["field"] == field
    assert words in error["message"]


def test_the_same_url_twice_is_refused(api: ApiClient, receiver: Receiver) -> None:
    assert create(api, url=receiver.url("/d"), subscriptions=EVENTS).status_code == 200
    again = create(api, url=receiver.url("/d"), subscriptions=["message_created"])
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "url"


def test_an_inbox_of_another_account_is_refused(
    api: ApiClient, make_account: Any, receiver: Receiver
) -> None:
    other = make_account()
    foreign = other.post("inboxes", json={"name": "Theirs", "channel": {"type": "api"}}).json()
    response = create(api, url=receiver.url("/f"), subscriptions=EVENTS, inbox_id=foreign["id"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "inbox_id"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "http://192.168.1.1/hook",
    ],
)
def test_private_targets_are_refused_on_save(api: ApiClient, url: str) -> None:
    response = create(api, url=url, subscriptions=EVENTS)
    assert response.status_code == 422, response.text
    assert "VOXSIG_WEBHOOK_ALLOWED_NETWORKS" in response.json()["message"]


def test_agents_cannot_manage_webhooks(
    api: ApiClient, make_member: Callable[..., ApiClient], receiver: Receiver
) -> None:
    agent = make_member("agent", "Sam Agent")
    assert agent.get("webhooks").status_code == 403
    response = agent.post("webhooks", json={"url": receiver.url("/x"), "subscriptions": EVENTS})
    assert response.status_code == 403
    assert api.get("webhooks").json()["payload"]["webhooks"] == []
