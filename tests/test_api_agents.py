"""The agents resource over real HTTP: adding, role changes, removal, the last administrator,
and what an agent may and may not do."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.client import ApiClient, error, fields_of, ok, unique_email
from tests.support.factories import (
    api_inbox,
    conversation_ids,
    create_conversation,
    new_contact,
    setup_thread,
)


def test_agent_add_and_role_change(api: ApiClient) -> None:
    email = unique_email("agent")
    added = ok(api.post("agents", json={"name": "Andy Agent", "email": email}))
    assert (added["name"], added["email"], added["role"]) == ("Andy Agent", email, "agent")
    assert added["account_id"] == api.account_id
    listed = ok(api.get("agents"))
    assert sorted((a["id"], a["role"]) for a in listed) == sorted(
        [(api.user_id, "administrator"), (added["id"], "agent")]
    )
    promoted = ok(api.patch(f"agents/{added['id']}", json={"role": "administrator"}))
    assert promoted["role"] == "administrator"
    assert ok(api.get(f"agents/{added['id']}"))["role"] == "administrator"
    demoted = ok(api.patch(f"agents/{added['id']}", json={"role": "agent"}))
    assert demoted["role"] == "agent"


def test_agent_remove(api: ApiClient) -> None:
    added = ok(api.post("agents", json={"name": "Temp", "email": unique_email("temp")}))
    ok(api.delete(f"agents/{added['id']}"))
    error(api.get(f"agents/{added['id']}"), 404)
    assert [a["id"] for a in ok(api.get("agents"))] == [api.user_id]


def test_the_last_administrator_cannot_be_removed_or_demoted(api: ApiClient) -> None:
    body = error(api.delete(f"agents/{api.user_id}"), 422)
    assert fields_of(body) == ["role"]
    body = error(api.patch(f"agents/{api.user_id}", json={"role": "agent"}), 422)
    assert fields_of(body) == ["role"]
    assert ok(api.get(f"agents/{api.user_id}"))["role"] == "administrator"
    # With a second administrator, the first may step down.
    ok(
        api.post(
            "agents", json={"name": "Bea", "email": unique_email("b"), "role": "administrator"}
        )
    )
    assert ok(api.patch(f"agents/{api.user_id}", json={"role": "agent"}))["role"] == "agent"


def test_an_agent_gets_403_on_administrator_writes(
    api: ApiClient, make_member: Callable[..., ApiClient]
) -> None:
    inbox = api_inbox(api)
    agent = make_member("agent")
    profile = ok(agent.get("/api/v1/profile"))
    assert (profile["id"], profile["role"]) == (agent.user_id, "agent")

    denied = [
        agent.post("inboxes", json={"name": "Mine", "channel": {"type": "api"}}),
        agent.patch(f"inboxes/{inbox['id']}", json={"name": "Renamed"}),
        agent.delete(f"inboxes/{inbox['id']}"),
        agent.post("agents", json={"name": "X", "email": unique_email("x")}),
        agent.patch(f"agents/{agent.user_id}", json={"role": "administrator"}),
        agent.delete(f"agents/{api.user_id}"),
        agent.get("webhooks"),
        agent.post("webhooks", json={"url": "https://example.com/h", "subscriptions": ["x"]}),
    ]
    for response in denied:
        error(response, 403)

    # Nothing changed, and the agent can still do an agent's work.
    assert [i["name"] for i in ok(api.get("inboxes"))["payload"]] == ["API"]
    assert ok(api.get(f"agents/{agent.user_id}"))["role"] == "agent"
    listed = ok(agent.get("inboxes"))["payload"]
    assert [i["id"] for i in listed] == [inbox["id"]]
    assert "hmac_token" not in listed[0]
    assert "hmac_token" not in ok(agent.get(f"inboxes/{inbox['id']}"))
    contact = new_contact(agent, inbox["id"], name="Walk-in")
    conversation = create_conversation(agent, inbox["id"], contact["contact"]["id"])
    assert conversation["status"] == "open"


def test_an_agent_sees_their_own_assignments_as_me(
    api: ApiClient, make_member: Callable[..., ApiClient]
) -> None:
    inbox, contact, first = setup_thread(api)
    second = create_conversation(api, inbox["id"], contact["id"])
    agent = make_member("agent", name="Andy Agent")
    assigned = ok(
        api.post(f"conversations/{second['id']}/assignments", json={"assignee_id": agent.user_id})
    )
    assert (assigned["id"], assigned["name"]) == (agent.user_id, "Andy Agent")
    assert conversation_ids(agent, assignee_type="me") == [second["id"]]
    assert conversation_ids(api, assignee_type="me") == []
    assert conversation_ids(api, assignee_type="unassigned") == [first["id"]]
