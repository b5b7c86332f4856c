"""The machinery of the schema-driven fuzz (tests/test_api_fuzz.py): hypothesis over each
operation's generated cases, the conformance checks, the values each operation's paths are
pinned to, and bodies that every operation of a path accepts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.client import ApiClient, unique_email
from tests.support.tenants import TenantB, account_walk_body, public_walk_body

FUZZ_EXAMPLES = 5  # per operation and mode, with the account's own token
FOREIGN_EXAMPLES = 3  # per operation and mode, with another account's (all refused: cheaper)
FUZZ_BUDGET = 150.0  # seconds for every operation of one test together: a guard against a hang
FUZZED_PREFIXES = ("/api/v1/", "/public/api/v1/")


def fuzz_operation(
    operation: Any,
    mode: Any,
    pinned: dict[str, Any],
    call: Callable[[Any], Any],
    query: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    examples: int = FUZZ_EXAMPLES,
) -> None:
    """Runs hypothesis over one operation's generated cases (a few, reproducibly)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=pinned, query=query, headers=headers
    )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def probe(case: Any) -> None:
        call(case)

    try:
        probe()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (e.g. no parameters and no body).
        if mode != GenerationMode.NEGATIVE:
            raise


def conformance_checks() -> list[Any]:
    """No 5xx, and the answer is the documented one: status, content type and body schema."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


@dataclass
class Pins:
    """What one operation's cases carry as given: path values, query values, headers."""

    path: dict[str, Any]
    query: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None


def deletions_last(operation: Any) -> tuple[bool, bool, bool]:
    """Deletions last (they would leave the other operations nothing to reach), and of them the
    contact, then the inbox (whose conversations go with them), last of all."""
    deletes = operation.method.upper() == "DELETE"
    path = operation.path
    return (deletes, deletes and "/inboxes/" in path, deletes and "/contacts/" in path)


def fuzz_operations(
    openapi: dict[str, Any],
    pins: Callable[[Any], Pins | None],
    call: Callable[[Any], Any],
    failures: list[str],
    first: Callable[[Any, Pins], None] | None = None,
    examples: int = FUZZ_EXAMPLES,
) -> list[str]:
    """Every fuzzed operation, valid then invalid cases; returns their labels. `pins` gives an
    operation's fixed values, or None to leave it out; `first` is sent before its cases."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(openapi)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith(FUZZED_PREFIXES)]
    operations.sort(key=deletions_last)
    tried: list[str] = []
    started = time.monotonic()
    for operation in operations:
        if time.monotonic() - started > FUZZ_BUDGET:
            failures.append(f"out of time before {operation.label}")
            break
        pinned = pins(operation)
        if pinned is None:
            continue
        names = {p.name for p in operation.path_parameters}
        unknown = names - set(pinned.path)
        assert not unknown, f"{operation.label}: pin {unknown} (a new path parameter?)"
        path = {k: v for k, v in pinned.path.items() if k in names}
        tried.append(operation.label)
        if first is not None:
            first(operation, Pins(path, pinned.query, pinned.headers))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, path, call, pinned.query, pinned.headers, examples)
    print(f"fuzzed {len(tried)} operations in {time.monotonic() - started:.1f} s")
    return tried


def agent_question(api: ApiClient, conversation_id: int) -> int:
    """An agent's input_select in the conversation: a message a contact may answer (once)."""
    response = api.post(
        f"conversations/{conversation_id}/messages",
        json={
            "content": "Which one?",
            "content_type": "input_select",
            "content_attributes": {"items": [{"title": "A", "value": "a"}]},
        },
    )
    assert response.status_code == 200, response.text
    message_id: int = response.json()["id"]
    return message_id


def widget_question(api: ApiClient, website_token: str, visitor: str) -> int:
    """The visitor writes (starting a conversation) and an agent asks them: the question's id."""
    response = api.post(
        "/api/v1/widget/messages",
        params={"website_token": website_token},
        headers={"X-Auth-Token": visitor},
        json={"content": "Hello from the widget"},
    )
    assert response.status_code == 200, response.text
    return agent_question(api, response.json()["conversation_id"])


def public_path_values(api: ApiClient) -> dict[str, Any]:
    """A contact of a new API inbox of the account, with a conversation and a message, through
    the public client API: the values of that API's paths."""
    inbox = api.post("inboxes", json={"name": "Public", "channel": {"type": "api"}})
    assert inbox.status_code == 200, inbox.text
    base = f"/public/api/v1/inboxes/{inbox.json()['inbox_identifier']}/contacts"
    contact = api.post(base, json={"name": "Pat Public"})
    assert contact.status_code == 200, contact.text
    base += f"/{contact.json()['source_id']}/conversations"
    conversation = api.post(base, json={})
    assert conversation.status_code == 200, conversation.text
    conversation_id = conversation.json()["id"]
    message = api.post(f"{base}/{conversation_id}/messages", json={"content": "Hi"})
    assert message.status_code == 200, message.text
    return {
        "inbox_identifier": inbox.json()["inbox_identifier"],
        "contact_identifier": contact.json()["source_id"],
        "conversation_id": conversation_id,
        # The message the contact may PATCH (submitted_values): a question.
        "message_id": agent_question(api, conversation_id),
    }


def agent_message(api: ApiClient, conversation_id: int) -> int:
    response = api.post(f"conversations/{conversation_id}/messages", json={"content": "Hi"})
    assert response.status_code == 200, response.text
    message_id: int = response.json()["id"]
    return message_id


def valid_body(path: str, own: TenantB) -> dict[str, Any]:
    """A body every operation of `path`'s API accepts, with references valid in the account."""
    if path.startswith("/public/"):
        return public_walk_body()
    if path == "/api/v1/profile":  # a password change to the same password
        password = own.client.credentials.password
        same = {"password": password, "password_confirmation": password}
        return {"current_password": password, **same}
    if path.startswith("/api/v1/widget/"):
        removed = path.endswith("/destroy_custom_attributes")  # names, not values
        return {
            "content": "x",
            "name": "webwidget.triggered",
            "identifier": unique_email("visitor"),
            "email": unique_email("visitor"),
            "submitted_values": [{"name": "x", "value": "y"}],
            "typing_status": "on",
            "label": "b-label",
            "custom_attributes": ["walked"] if removed else {"walked": True},
            "custom_attribute": ["walked"],
        }
    return account_walk_body(own.client.user_id, own.inbox_id, own.contact_id, path)
