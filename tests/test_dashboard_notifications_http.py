"""The notification routes over plain HTTP (issue 14.1): what the unread count counts, what a
conversation's answer says, that both answer for the session's account only (another
account's conversation is a 404, no session a 401), and the Profile page's settings (CSRF
required, bad values 422). The browser side is tests/test_dashboard_notifications.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Backend
from tests.support.client import ApiClient, ok
from tests.support.dashboard import Dashboard, logged_in
from tests.support.factories import post_message, widget_inbox
from tests.support.widget import WidgetVisitor, visit

ROW_ID = re.compile(r'data-open-conversation="(\d+)"')


def row_id(dashboard: Dashboard, display_id: int) -> int:
    """The conversation's row id (what live signals carry), read off its page (which marks
    the conversation read, as opening it does)."""
    found = ROW_ID.search(dashboard.page(f"/app/conversations/{display_id}"))
    assert found, "the conversation page names its conversation"
    return int(found.group(1))


def state(dashboard: Dashboard, **params: Any) -> dict[str, Any]:
    response = dashboard.get("/app/notifications/state", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = response.json()
    return answer


def about(dashboard: Dashboard, row: int, **params: Any) -> dict[str, Any]:
    response = dashboard.get(f"/app/notifications/conversations/{row}", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_count_is_open_conversations_of_mine_or_unassigned_with_unread_customer_messages(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    make_member: Callable[..., ApiClient],
) -> None:
    dashboard = logged_in(api)
    try:
        assert state(dashboard) == {"unread": 0, "browser": False, "sound": False}
        alice = visit(backend, inbox, visitors)
        number = alice.say("Where is my parcel?")["conversation_id"]
        assert state(dashboard)["unread"] == 1
        row = row_id(dashboard, number)  # opened: read
        assert state(dashboard)["unread"] == 0

        # The agent's own reply and a note leave the customer's message the latest incoming.
        first = about(dashboard, row)
        post_message(api, number, "Looking into it")
        post_message(api, number, "Courier says Tuesday", private=True)
        assert about(dashboard, row)["last_incoming"] == first["last_incoming"]
        assert state(dashboard)["unread"] == 0, "the agent's messages are not unread"

        again = alice.say("Hello?\n\n  It was   order 1234 " + "x" * 200)
        answer = about(dashboard, row)
        assert answer["unread"] == 1
        assert {k: answer[k] for k in ("id", "display_id", "url", "status", "mine")} == {
            "id": row,
            "display_id": number,
            "url": f"/app/conversations/{number}",
            "status": "open",
            "mine": False,
        }
        assert answer["unassigned"] is True
        assert answer["assignee_id"] is None
        assert answer["name"].startswith("Visitor ")
        assert answer["first_incoming_id"] == first["last_incoming"]["id"]
        last = answer["last_incoming"]
        assert last["id"] == again["id"] > answer["first_incoming_id"]
        assert last["excerpt"].startswith("Hello? It was order 1234 xxx")
        assert len(last["excerpt"]) == 140
        assert last["excerpt"].endswith("…")
        # The conversation on screen is not counted (the page reads it as it refreshes).
        assert about(dashboard, row, viewing=row)["unread"] == 0
        assert state(dashboard, viewing=row)["unread"] == 0
        assert state(dashboard, viewing=row + 1000)["unread"] == 1

        # Someone else's conversation is theirs to answer; mine counts again; resolved waits
        # for nobody.
        agent = make_member("agent", "Jane Agent")
        assign = f"conversations/{number}/assignments"
        ok(api.post(assign, json={"assignee_id": agent.credentials.user_id}))
        assert state(dashboard)["unread"] == 0
        assert about(dashboard, row)["mine"] is False
        ok(api.post(assign, json={"assignee_id": api.credentials.user_id}))
        mine = about(dashboard, row)
        assert (mine["mine"], mine["unassigned"], mine["unread"]) == (True, False, 1)
        assert mine["assignee_id"] == api.credentials.user_id
        ok(api.post(f"conversations/{number}/toggle_status", json={"status": "resolved"}))
        assert state(dashboard)["unread"] == 0
        assert about(dashboard, row)["status"] == "resolved"

        # A new conversation is unassigned: it counts.
        visit(backend, inbox, visitors).say("Hi")
        assert state(dashboard)["unread"] == 1
    finally:
        dashboard.close()


def test_another_accounts_conversation_is_not_found_and_nothing_answers_without_a_session(
    api: ApiClient,
    backend: Backend,
    inbox: dict[str, Any],
    visitors: list[WidgetVisitor],
    make_account: Callable[..., ApiClient],
) -> None:
    other = make_account("Other Co", "Olga Other")
    other_visitor = WidgetVisitor(backend.url, widget_inbox(other)["website_token"]).start()
    visitors.append(other_visitor)
    other_number = other_visitor.say("A secret order 777")["conversation_id"]
    other_dashboard, dashboard = logged_in(other), logged_in(api)
    try:
        foreign = row_id(other_dashboard, other_number)
        number = visit(backend, inbox, visitors).say("Hello")["conversation_id"]
        own = row_id(dashboard, number)
        assert about(dashboard, own)["id"] == own
        for path in (
            f"/app/notifications/conversations/{foreign}",
            "/app/notifications/conversations/2147483647",
            "/app/notifications/conversations/99999999999",
            "/app/notifications/conversations/abc",
            "/app/notifications/conversations/0",
        ):
            response = dashboard.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "777" not in response.text
            assert "Olga" not in response.text
        # Another account's open conversations are not counted either.
        other_visitor.say("Still waiting")
        assert state(dashboard)["unread"] == 0
        assert state(other_dashboard)["unread"] == 1
        for bad in ("abc", "-1", "0", "99999999999"):
            response = dashboard.get("/app/notifications/state", params={"viewing": bad})
            assert response.status_code == 422, (bad, response.text)
            response = dashboard.get(
                f"/app/notifications/conversations/{own}", params={"viewing": bad}
            )
            assert response.status_code == 422, (bad, response.text)

        anonymous = httpx.Client(base_url=backend.url, timeout=30)
        forged = httpx.Client(
            base_url=backend.url, timeout=30, cookies={"voxsig_session": "forged.value"}
        )
        try:
            for client in (anonymous, forged):
                for path in ("/app/notifications/state", f"/app/notifications/conversations/{own}"):
                    response = client.get(path)
                    assert response.status_code == 401, (path, response.text)
                    assert response.headers["content-type"].startswith("application/json")
                    assert response.json()["error"] == "unauthorized"
        finally:
            anonymous.close()
            forged.close()
        # A logged-out session is out at once.
        dashboard.post("/logout")
        assert dashboard.get("/app/notifications/state").status_code == 401
    finally:
        dashboard.close()
        other_dashboard.close()


def test_the_profile_saves_each_users_own_choice_with_csrf(
    api: ApiClient, backend: Backend, make_account: Callable[..., ApiClient]
) -> None:
    dashboard = logged_in(api)
    try:
        profile = dashboard.page("/app/profile")
        assert "Turn on browser notifications" in profile
        assert "Turn on the sound" in profile
        assert 'data-notify-browser="off"' in profile
        assert 'data-notify-sound="off"' in profile

        # No CSRF token, or another one: refused, nothing saved.
        refused = dashboard.http.post("/app/profile/notifications", data={"browser": "on"})
        assert refused.status_code == 403
        refused = dashboard.http.post(
            "/app/profile/notifications", data={"browser": "on", "csrf_token": "not-it"}
        )
        assert refused.status_code == 403
        assert state(dashboard)["browser"] is False

        page = dashboard.follow("/app/profile/notifications", {"browser": "on"})
        assert "Browser notifications are on." in page
        assert "Turn off browser notifications" in page
        assert 'data-notify-browser="on"' in page
        assert state(dashboard) == {"unread": 0, "browser": True, "sound": False}
        page = dashboard.follow("/app/profile/notifications", {"sound": "on"})
        assert "The sound is on." in page
        assert "Turn off the sound" in page
        assert state(dashboard) == {"unread": 0, "browser": True, "sound": True}

        for bad in ({"sound": "loud"}, {"browser": "yes"}, {}, {"browser": "\x00"}):
            response = dashboard.post("/app/profile/notifications", bad)
            assert response.status_code == 422, (bad, response.text)
        assert state(dashboard) == {"unread": 0, "browser": True, "sound": True}

        page = dashboard.follow("/app/profile/notifications", {"browser": "off", "sound": "off"})
        assert "Browser notifications are off. The sound is off." in page
        assert state(dashboard) == {"unread": 0, "browser": False, "sound": False}

        # Each user's own: another user's choice stays theirs.
        dashboard.follow("/app/profile/notifications", {"sound": "on"})
        other = logged_in(make_account("Other Co", "Olga Other"))
        try:
            assert state(other) == {"unread": 0, "browser": False, "sound": False}
        finally:
            other.close()
        assert state(dashboard)["sound"] is True
    finally:
        dashboard.close()

    anonymous = Dashboard(backend.url)
    try:
        anonymous.refresh_token("/")
        response = anonymous.post("/app/profile/notifications", {"browser": "on"})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/?next=")
    finally:
        anonymous.close()
