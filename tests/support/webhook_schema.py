"""The webhook payloads' JSON Schemas as the running server serves them (`GET
/api/v1/webhook_events`, built from voxsig.events.schemas): every delivered body is checked
against what Voxsig documents, not against a copy kept in the tests.

`served(url)` fetches them once per server; `validate_event` checks one body in one format
(the schemas of the server fetched last, which is the one the suite is running against: the
backends run one at a time). The receiver checks every body it records on a path whose
format a test declared (`Receiver.expect_format`, which `factories.subscribe` calls with the
format the created endpoint answers)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from voxsig.events.names import ALL

# The six events of webhook-events.md (what `factories.subscribe` subscribes to by default),
# and every event an endpoint may subscribe to (the server's own list, events/names.py).
EVENTS: list[str] = list(ALL[:6])
ALL_EVENTS: list[str] = list(ALL)

# A key only the tests' own bodies carry (deliveries.publish_events puts events of its making
# straight into the outbox): the receiver does not judge those against Voxsig's schemas.
SYNTHETIC = "voxsig_test_synthetic"

_lock = threading.Lock()
_served: dict[str, dict[str, dict[str, Draft202012Validator]]] = {}
_latest: list[str] = []


def served(url: str) -> dict[str, dict[str, Draft202012Validator]]:
    """{event: {format: validator}} from the server at `url` (fetched once)."""
    with _lock:
        if url not in _served:
            answer = httpx.get(f"{url}/api/v1/webhook_events", timeout=30.0)
            answer.raise_for_status()
            validators: dict[str, dict[str, Draft202012Validator]] = {}
            for event in answer.json()["payload"]:
                validators[event["name"]] = {}
                for fmt, schema in event["schemas"].items():
                    Draft202012Validator.check_schema(schema)
                    validators[event["name"]][fmt] = Draft202012Validator(schema)
            _served[url] = validators
        if not _latest or _latest[-1] != url:
            _latest.append(url)
        return _served[url]


def validator(payload_format: str, name: str, url: str | None = None) -> Draft202012Validator:
    if url is not None:
        schemas = served(url)
    else:
        assert _latest, "no server's schemas fetched yet (webhook_schema.served(url))"
        schemas = _served[_latest[-1]]
    assert name in schemas, f"unknown event {name!r}"
    return schemas[name][payload_format]


def problems(payload: Any, payload_format: str = "voxsig", url: str | None = None) -> list[str]:
    """What in `payload` breaks the served schema of its event in `payload_format`."""
    if not isinstance(payload, dict) or payload.get("event") not in ALL_EVENTS:
        return [f"not a webhook event body: {str(payload)[:200]}"]
    check = validator(payload_format, payload["event"], url)
    return [
        f"{payload['event']} ({payload_format}) at /{'/'.join(map(str, e.absolute_path))}: "
        f"{e.message[:300]}"
        for e in check.iter_errors(payload)
    ]


def validate_event(payload: dict[str, Any], payload_format: str = "voxsig") -> None:
    """Fails naming every field of `payload` that breaks the served schema."""
    found = problems(payload, payload_format)
    assert not found, "\n".join(found)
