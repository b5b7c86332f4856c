"""Settings → Bots over plain HTTP (issue 16's dashboard): a bot made through the form, listed,
attached to an inbox (replacing another bot), its token reset (the old one refused by the REST
API at once), its secret and public key, its delivery log leading back to it, and deletion
handing its pending conversations to the agents; the inbox page's choice of bot; the Pending
view and the thread marking the bot's messages; refused URLs shown on the form; agents refused,
another account's bot a 404. Both databases. The browser side: test_dashboard_bots_browser.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import Dashboard, logged_in
from tests.support.factories import widget_inbox
from tests.support.receiver import Receiver
from tests.support.widget import WidgetVisitor

BOTS = "/app/settings/bots"
HOSTILE = "Helper <img src=x onerror=alert(1)>"


def bot_form(**fields: str) -> dict[str, str]:
    """What the New bot form posts."""
    return {
        "name": "Helper",
        "description": "",
        "outgoing_url": "",
        "avatar_url": "",
        "payload_format": "chatwoot",
        "signing": "symmetric",
        **fields,
    }


def create(dashboard: Dashboard, **fields: str) -> int:
    """A bot made through the form: its id, from the page it leads to."""
    response = dashboard.post(BOTS, bot_form(**fields))
    assert response.status_code == 303, response.text
    found = re.fullmatch(rf"{BOTS}/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def bot_client(api: ApiClient, token: str) -> httpx.Client:
    """The REST API as the bot calls it: its token in api_access_token."""
    return httpx.Client(
        base_url=f"{api.url}/api/v1/accounts/{api.account_id}",
        headers={"api_access_token": token},
        timeout=30.0,
    )


def bot_says(api: ApiClient, token: str, number: int, text: str) -> httpx.Response:
    with bot_client(api, token) as client:
        return client.post(f"conversations/{number}/messages", json={"content": text})


def visitor_writes(api: ApiClient, inbox: JSON, text: str) -> int:
    """A widget visitor's first message: the conversation's number."""
    visitor = WidgetVisitor(api.url, inbox["website_token"]).start()
    try:
        number: int = visitor.say(text)["conversation_id"]
    finally:
        visitor.close()
    return number


def status_of(api: ApiClient, number: int) -> str:
    return str(ok(api.get(f"conversations/{number}"))["status"])


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error shown for {field_id}"
    return found.group(1)


def test_a_bot_made_through_the_form_answers_first_then_is_reset_and_deleted(
    api: ApiClient, receiver: Receiver
) -> None:
    inbox = widget_inbox(api, "Website")
    dashboard = logged_in(api)
    try:
        assert 'href="/app/settings/bots"' in dashboard.page("/app/settings/inboxes")
        assert "No bots yet" in dashboard.page(BOTS)
        bot_id = create(
            dashboard,
            name=HOSTILE,
            description="Answers <b>first</b>",
            outgoing_url=receiver.url("/bot"),
            payload_format="voxsig",
        )
        bot = ok(api.get(f"agent_bots/{bot_id}"))
        assert bot["name"] == HOSTILE
        assert bot["outgoing_url"] == receiver.url("/bot")
        assert bot["payload_format"] == "voxsig"
        assert bot["signing"] == "symmetric"

        # Listed, escaped, with its URL and nothing to answer yet.
        raw = dashboard.get(BOTS).text
        assert "<img src=x" not in raw
        assert "<b>first" not in raw
        assert "Helper &lt;img src=x onerror=alert(1)&gt;" in raw
        listed = dashboard.page(BOTS)
        assert receiver.url("/bot") in listed
        assert "no inbox yet" in listed
        assert f'href="/app/webhooks/{bot["webhook"]["id"]}/deliveries"' in listed

        # Its page holds the token and the secret (behind Reveal).
        shown = dashboard.page(f"{BOTS}/{bot_id}")
        assert f'id="bot-token" readonly value="{bot["access_token"]}"' in shown
        assert f'id="bot-secret" readonly value="{bot["secret"]}"' in shown
        assert "Reveal access token" in shown
        assert "Reveal signing secret" in shown

        attached = dashboard.follow(f"{BOTS}/{bot_id}/inboxes", {"inbox_id": str(inbox["id"])})
        assert f"{HOSTILE} now answers Website first" in attached
        assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot"))["agent_bot"]["id"] == bot_id
        assert "no inbox yet" not in dashboard.page(BOTS)

        # A visitor's conversation is the bot's: pending, and its answer is marked as its own.
        number = visitor_writes(api, inbox, "Where is my parcel?")
        assert status_of(api, number) == "pending"
        old_token = bot["access_token"]
        assert bot_says(api, old_token, number, "Let me look that up").status_code == 200
        pending = dashboard.page("/app/conversations?status=pending")
        assert f"#{number}" in pending
        assert f'<span class="tag bot">Bot</span> <span class="sender">{HOSTILE}:</span>' in (
            pending
        )
        assert f"#{number}" not in dashboard.page("/app/conversations?status=open")
        thread = dashboard.page(f"/app/conversations/{number}")
        assert re.search(
            rf'<li class="msg outgoing bot"[^>]*>\s*<p class="by">\s*<strong>{re.escape(HOSTILE)}'
            r'</strong>\s*<span class="tag bot">Bot</span>',
            thread,
        ), "the bot's message is marked as the bot's"

        # A reset token: the old one is refused by the REST API at once, the new one works.
        reset = dashboard.follow(f"{BOTS}/{bot_id}/token")
        assert "The old one is refused from now on" in reset
        new_token = ok(api.get(f"agent_bots/{bot_id}"))["access_token"]
        assert new_token != old_token
        assert f'value="{new_token}"' in reset
        assert bot_says(api, old_token, number, "Still me?").status_code == 401
        assert bot_says(api, new_token, number, "Still me.").status_code == 200

        confirm = dashboard.page(f"{BOTS}/{bot_id}/delete")
        assert "its 1 pending conversation goes to the agents" in confirm
        assert dashboard.get(f"/app/conversations/{number}").status_code == 200
        deleted = dashboard.follow(f"{BOTS}/{bot_id}/delete")
        assert f"The bot {HOSTILE} was deleted" in deleted
        assert "No bots yet" in deleted
        assert api.get(f"agent_bots/{bot_id}").status_code == 404
        assert status_of(api, number) == "open"
        assert bot_says(api, new_token, number, "Gone?").status_code == 401
    finally:
        dashboard.close()


def test_a_refused_url_or_a_bad_field_is_shown_on_the_form_and_nothing_is_saved(
    api: ApiClient,
) -> None:
    dashboard = logged_in(api)
    try:
        refused = dashboard.post(BOTS, bot_form(outgoing_url="http://10.1.2.3/hook"))
        assert refused.status_code == 200, refused.text
        page = refused.text
        assert "private or reserved address" in error_of(page, "bot-outgoing_url")
        assert 'value="http://10.1.2.3/hook"' in page  # what was typed is kept
        assert 'aria-invalid="true"' in page
        for fields, field_id in (
            ({"name": ""}, "bot-name"),
            ({"outgoing_url": "ftp://example.com/"}, "bot-outgoing_url"),
            ({"avatar_url": "javascript:alert(1)"}, "bot-avatar_url"),
            (
                {"outgoing_url": "https://example.com/b", "payload_format": "bogus"},
                "bot-payload_format",
            ),
        ):
            response = dashboard.post(BOTS, bot_form(**fields))
            assert response.status_code == 200, (fields, response.text)
            assert error_of(response.text, field_id), fields
        assert ok(api.get("agent_bots")) == []

        # The edit form: the same, and the bot is left as it was.
        bot_id = create(dashboard, name="Concierge")
        edit = dashboard.post(
            f"{BOTS}/{bot_id}", bot_form(name="Renamed", outgoing_url="http://169.254.169.254/")
        )
        assert edit.status_code == 200, edit.text
        assert "private or reserved address" in error_of(edit.text, "f-outgoing_url")
        assert 'value="Renamed"' in edit.text
        kept = ok(api.get(f"agent_bots/{bot_id}"))
        assert kept["name"] == "Concierge"
        assert kept["outgoing_url"] == ""
        # A bot called nowhere takes no format or signing: the form's are not sent for it.
        saved = dashboard.follow(f"{BOTS}/{bot_id}", bot_form(name="Renamed", signing="asymmetric"))
        assert "Bot Renamed saved" in saved
        assert ok(api.get(f"agent_bots/{bot_id}"))["name"] == "Renamed"
    finally:
        dashboard.close()


def test_asymmetric_signing_shows_the_public_key_and_the_log_leads_back_to_the_bot(
    api: ApiClient, receiver: Receiver
) -> None:
    dashboard = logged_in(api)
    try:
        bot_id = create(dashboard, outgoing_url=receiver.url("/bot"), signing="asymmetric")
        bot = ok(api.get(f"agent_bots/{bot_id}"))
        endpoint_id = bot["webhook"]["id"]
        page = dashboard.page(f"{BOTS}/{bot_id}")
        assert bot["public_key"].startswith("whpk_")
        assert f'id="bot-public-key" readonly value="{bot["public_key"]}"' in page
        assert "whsk_" not in page  # the secret key is never shown

        rotated = dashboard.post(f"/app/webhooks/{endpoint_id}/rotate")
        assert rotated.status_code == 303
        assert rotated.headers["location"] == f"{BOTS}/{bot_id}"
        after = dashboard.page(f"{BOTS}/{bot_id}")
        assert "New signing key made" in after
        assert "The previous key also signs deliveries until" in after
        assert ok(api.get(f"agent_bots/{bot_id}"))["public_key"] != bot["public_key"]

        log = dashboard.page(f"/app/webhooks/{endpoint_id}/deliveries")
        assert f'<a href="{BOTS}/{bot_id}">← Bot Helper</a>' in log
        assert "No deliveries yet" in log
        # A bot's endpoint is no account webhook: its own pages stay the bot's.
        assert dashboard.get(f"/app/webhooks/{endpoint_id}").status_code == 404
        assert receiver.url("/bot") not in dashboard.page("/app/webhooks")
    finally:
        dashboard.close()


def test_attaching_replaces_the_inbox_bot_and_the_inbox_page_chooses_it(
    api: ApiClient, inbox: JSON, receiver: Receiver
) -> None:
    # Bots that are called somewhere: only such a bot holds conversations pending.
    first = ok(api.post("agent_bots", json={"name": "First", "outgoing_url": receiver.url("/1")}))
    second = ok(api.post("agent_bots", json={"name": "Second", "outgoing_url": receiver.url("/2")}))
    attached = api.post(f"inboxes/{inbox['id']}/set_agent_bot", json={"agent_bot": first["id"]})
    assert attached.status_code == 200, attached.text
    held = visitor_writes(api, inbox, "Hello bot")
    assert status_of(api, held) == "pending"

    dashboard = logged_in(api)
    try:
        page = dashboard.page(f"{BOTS}/{second['id']}")
        assert f'<option value="{inbox["id"]}">Website (replaces First)</option>' in page
        replaced = dashboard.follow(
            f"{BOTS}/{second['id']}/inboxes", {"inbox_id": str(inbox["id"])}
        )
        assert "Second now answers Website first. First no longer answers Website" in replaced
        assert "its pending conversations went to the agents" in replaced
        assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot"))["agent_bot"]["id"] == second["id"]
        assert status_of(api, held) == "open"  # handed over with the bot that held it

        # The inbox page shows the bot that answers first, and changes it.
        inbox_page = dashboard.page(f"/app/settings/inboxes/{inbox['id']}")
        assert f'<a href="{BOTS}/{second["id"]}">Second</a> <span class="tag bot">Bot</span>' in (
            inbox_page
        )
        assert f'<option value="{second["id"]}" selected>Second</option>' in inbox_page
        none = dashboard.follow(f"/app/settings/inboxes/{inbox['id']}/bot", {"agent_bot_id": ""})
        assert "Second no longer answers Website" in none
        assert "No bot: new conversations go straight to the agents." in none
        assert ok(api.get(f"inboxes/{inbox['id']}/agent_bot")) == {"agent_bot": {}}
        chosen = dashboard.follow(
            f"/app/settings/inboxes/{inbox['id']}/bot", {"agent_bot_id": str(first["id"])}
        )
        assert "First now answers Website first" in chosen
        assert ok(api.get(f"agent_bots/{first['id']}"))["inbox_ids"] == [inbox["id"]]

        # Detached from the bot's page; a bot that does not answer the inbox has nothing to
        # detach (a 404 page, nothing changed).
        wrong = dashboard.post(f"{BOTS}/{second['id']}/inboxes/{inbox['id']}/detach")
        assert wrong.status_code == 404
        assert ok(api.get(f"agent_bots/{first['id']}"))["inbox_ids"] == [inbox["id"]]
        detached = dashboard.follow(f"{BOTS}/{first['id']}/inboxes/{inbox['id']}/detach")
        assert "First no longer answers Website" in detached
        assert "It answers no inbox yet" in detached
        assert ok(api.get(f"agent_bots/{first['id']}"))["inbox_ids"] == []
    finally:
        dashboard.close()


def test_agents_are_refused_and_another_accounts_bot_is_a_404(
    api: ApiClient,
    make_account: Callable[..., ApiClient],
    make_member: Callable[..., ApiClient],
) -> None:
    theirs = make_account("Other")
    their_bot = ok(theirs.post("agent_bots", json={"name": "Not yours"}))
    their_inbox = widget_inbox(theirs, "Theirs")
    mine = ok(api.post("agent_bots", json={"name": "Mine"}))
    my_inbox = widget_inbox(api, "Mine")

    admin = logged_in(api)
    try:
        other = their_bot["id"]
        for path in (f"{BOTS}/{other}", f"{BOTS}/{other}/delete"):
            assert admin.get(path).status_code == 404, path
        for path, data in (
            (f"{BOTS}/{other}", bot_form(name="Stolen")),
            (f"{BOTS}/{other}/token", {}),
            (f"{BOTS}/{other}/delete", {}),
            (f"{BOTS}/{other}/inboxes", {"inbox_id": str(my_inbox["id"])}),
            (f"{BOTS}/{mine['id']}/inboxes", {"inbox_id": str(their_inbox["id"])}),
            (f"/app/settings/inboxes/{my_inbox['id']}/bot", {"agent_bot_id": str(other)}),
        ):
            assert admin.post(path, data).status_code == 404, path
        untouched = ok(theirs.get(f"agent_bots/{other}"))
        assert untouched["name"] == "Not yours"
        assert untouched["access_token"] == their_bot["access_token"]
        assert ok(theirs.get(f"inboxes/{their_inbox['id']}/agent_bot")) == {"agent_bot": {}}
        assert ok(api.get(f"inboxes/{my_inbox['id']}/agent_bot")) == {"agent_bot": {}}
        assert "Not yours" not in admin.page(BOTS)
    finally:
        admin.close()

    # The account's administrator made an agent by another administrator: the same login
    # is now refused every bot page and form, and nothing it posts takes.
    boss = make_member("administrator", "Bea Boss")
    ok(boss.patch(f"agents/{api.credentials.user_id}", json={"role": "agent"}))
    agent = logged_in(api)
    try:
        assert 'href="/app/settings/bots"' not in agent.page("/app/conversations")
        for path in (BOTS, f"{BOTS}/{mine['id']}", f"{BOTS}/{mine['id']}/delete"):
            refused = agent.get(path)
            assert refused.status_code == 403, path
            assert "Administrators only" in refused.text
            assert mine["access_token"] not in refused.text
        posts: list[tuple[str, dict[str, Any]]] = [
            (BOTS, bot_form(name="Agent's bot")),
            (f"{BOTS}/{mine['id']}", bot_form(name="Renamed by an agent")),
            (f"{BOTS}/{mine['id']}/token", {}),
            (f"{BOTS}/{mine['id']}/delete", {}),
            (f"{BOTS}/{mine['id']}/inboxes", {"inbox_id": str(my_inbox["id"])}),
            (f"/app/settings/inboxes/{my_inbox['id']}/bot", {"agent_bot_id": str(mine["id"])}),
        ]
        for path, data in posts:
            assert agent.post(path, data).status_code == 403, path
    finally:
        agent.close()
    assert ok(boss.get("agent_bots")) == [ok(boss.get(f"agent_bots/{mine['id']}"))]
    assert ok(boss.get(f"agent_bots/{mine['id']}"))["access_token"] == mine["access_token"]
    assert ok(boss.get(f"agent_bots/{mine['id']}"))["name"] == "Mine"
    assert ok(boss.get(f"inboxes/{my_inbox['id']}/agent_bot")) == {"agent_bot": {}}
