"""The inboxes resource over real HTTP: website and API inboxes, update and delete."""

from __future__ import annotations

from tests.support.client import ApiClient, error, ok
from tests.support.factories import (
    api_inbox,
    post_message,
    setup_thread,
    widget_inbox,
)

SITE = {
    "website_url": "https://shop.example.com",
    "widget_color": "#aa3300",
    "welcome_title": "Hello!",
    "welcome_tagline": "We reply fast",
}


def test_web_widget_inbox(api: ApiClient) -> None:
    inbox = widget_inbox(api, "Site", **SITE)
    assert inbox["channel_type"] == "Channel::WebWidget"
    assert inbox["account_id"] == api.account_id
    assert (inbox["website_url"], inbox["widget_color"]) == ("https://shop.example.com", "#aa3300")
    assert (inbox["welcome_title"], inbox["welcome_tagline"]) == ("Hello!", "We reply fast")
    assert isinstance(inbox["website_token"], str)
    assert len(inbox["website_token"]) >= 16
    script = inbox["web_widget_script"]
    assert "/packs/js/sdk.js" in script
    assert inbox["website_token"] in script
    assert api.url in script  # the base URL the embedding page loads the SDK from
    assert inbox["inbox_identifier"] is None
    assert isinstance(inbox["hmac_token"], str)
    assert len(inbox["hmac_token"]) >= 16
    assert ok(api.get(f"inboxes/{inbox['id']}"))["website_token"] == inbox["website_token"]


def test_api_inbox(api: ApiClient) -> None:
    body = {"name": "Backend", "channel": {"type": "api", "webhook_url": "https://example.com/x"}}
    inbox = ok(api.post("inboxes", json=body))
    assert inbox["channel_type"] == "Channel::Api"
    assert isinstance(inbox["inbox_identifier"], str)
    assert len(inbox["inbox_identifier"]) >= 16
    assert inbox["webhook_url"] == "https://example.com/x"
    assert inbox["website_token"] is None
    assert inbox["web_widget_script"] is None
    assert isinstance(inbox["hmac_token"], str)
    assert inbox["hmac_token"]
    shown = ok(api.get(f"inboxes/{inbox['id']}"))
    assert shown["hmac_token"] == inbox["hmac_token"]
    assert shown["inbox_identifier"] == inbox["inbox_identifier"]
    assert ok(api.get("inboxes"))["payload"][0]["hmac_token"] == inbox["hmac_token"]
    other = api_inbox(api, "Second")
    assert other["inbox_identifier"] != inbox["inbox_identifier"]
    assert other["hmac_token"] != inbox["hmac_token"]


def test_inbox_update_and_delete(api: ApiClient) -> None:
    inbox = widget_inbox(api)
    updated = ok(
        api.patch(
            f"inboxes/{inbox['id']}",
            json={"name": "Shop", "channel": {"widget_color": "#000000"}, "greeting_enabled": True},
        )
    )
    assert (updated["name"], updated["widget_color"], updated["greeting_enabled"]) == (
        "Shop",
        "#000000",
        True,
    )
    assert updated["website_token"] == inbox["website_token"]
    fetched = ok(api.get(f"inboxes/{inbox['id']}"))
    assert (fetched["name"], fetched["widget_color"]) == ("Shop", "#000000")

    ok(api.delete(f"inboxes/{inbox['id']}"))
    error(api.get(f"inboxes/{inbox['id']}"), 404)
    assert ok(api.get("inboxes"))["payload"] == []


def test_deleting_an_inbox_deletes_its_conversations(api: ApiClient) -> None:
    inbox, contact, conversation = setup_thread(api)
    post_message(api, conversation["id"], "Hello")
    ok(api.delete(f"inboxes/{inbox['id']}"))
    error(api.get(f"conversations/{conversation['id']}"), 404)
    assert ok(api.get(f"contacts/{contact['id']}"))["payload"]["contact_inboxes"] == []
