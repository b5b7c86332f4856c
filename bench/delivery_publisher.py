"""Publishing events for the deliveries benchmark, run as its own process:
`python -m bench.delivery_publisher CONFIG.json OUT.json`.

CONFIG["mode"] is one of:
- `setup`: migrate the database, create an account (`accounts.service.create_account`), one API
  inbox per endpoint and one webhook per endpoint (`webhooks.service.create_webhook`), each
  scoped to its inbox and subscribed to message_created, so each event has exactly one delivery.
- `bulk`: publish `events` events (`events.publish.publish`), `batch` per transaction
  (`Database.transaction()`), round robin over the inboxes; the worker is not running yet.
- `prepare`: `setup`, then `bulk`.
- `trickle`: publish `rate` events a second for `seconds`, one transaction each (as a request
  would); each payload carries `bench_t`, the clock just before the commit, and OUT gets the
  clock just after it.
- `api_trickle`: the same rate through the REST API (POST .../messages), the message content
  carrying `bench_seq` and `bench_t` (the clock when the request is sent); OUT gets the clock
  when the response arrived.
Every payload is a message_created body of the size and shape Voxsig renders (about 1.7 KB),
with `bench_seq` set; the ceiling (bench/delivery_client.py) sends the same bodies.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

CONVERSATIONS = 1024  # ordering keys: events of one "conversation" are delivered in order
SUBSCRIPTIONS = ["message_created"]


def payload(seq: int, inbox_id: int, stamp: float | None = None) -> dict[str, Any]:
    """A message_created body shaped like the one Voxsig renders, with `bench_seq` (and
    `bench_t` when given) for the receiver."""
    conversation = seq % CONVERSATIONS + 1
    created = 1795618669
    account = {"id": 1, "name": "Bench"}
    inbox = {"id": inbox_id, "name": f"API {inbox_id}"}
    sender = {"id": 1, "name": "bench", "email": "bench@example.com", "type": "user"}
    content = f"Benchmark message {seq}"
    message = {
        "id": seq + 1,
        "content": content,
        "message_type": 1,
        "created_at": created,
        "private": False,
        "source_id": None,
        "content_type": "text",
        "content_attributes": {},
        "sender": sender,
        "account": account,
        "inbox": inbox,
        "conversation_id": conversation,
        "inbox_id": inbox_id,
        "account_id": 1,
        "status": "sent",
        "updated_at": created,
    }
    body: dict[str, Any] = {"event": "message_created", "bench_seq": seq}
    if stamp is not None:
        body["bench_t"] = round(stamp, 6)
    body.update(message)
    body["conversation"] = {
        "additional_attributes": {},
        "can_reply": True,
        "channel": "Channel::Api",
        "id": conversation,
        "inbox_id": inbox_id,
        "contact_inbox": {
            "id": conversation,
            "contact_id": conversation,
            "inbox_id": inbox_id,
            "source_id": "20042df4-c181-4e91-9627-95071d5415ce",
            "created_at": "2026-11-25T14:57:49.485Z",
            "updated_at": "2026-11-25T14:57:49.485Z",
            "hmac_verified": False,
        },
        "messages": [message],
        "meta": {
            "sender": {
                "id": conversation,
                "name": f"Customer {conversation}",
                "avatar": "",
                "type": "contact",
                "account": account,
                "email": None,
                "phone_number": None,
                "identifier": None,
                "thumbnail": "",
                "custom_attributes": {},
                "additional_attributes": {},
            },
            "assignee": None,
            "hmac_verified": False,
        },
        "status": "open",
        "unread_count": 0,
        "agent_last_seen_at": 0,
        "contact_last_seen_at": 0,
        "timestamp": created,
        "account_id": 1,
        "assignee_id": None,
        "priority": None,
        "snoozed_until": None,
        "labels": [],
        "custom_attributes": {},
        "created_at": created,
        "updated_at": created,
        "last_activity_at": created,
        "contact_id": conversation,
    }
    return body


async def setup(config: dict[str, Any]) -> dict[str, Any]:
    from voxsig.accounts.service import create_account
    from voxsig.db import Database
    from voxsig.inboxes.service import create_inbox
    from voxsig.webhooks.netguard import parse_networks
    from voxsig.webhooks.service import create_webhook

    allowed = parse_networks(str(config["allowed_networks"]))
    db = Database(str(config["database_url"]))
    try:
        async with db.transaction() as session:
            made = await create_account(
                session, "Bench", "bench@example.com", "bench-password-1", "bench"
            )
            endpoints = []
            for name, url in config["endpoints"]:
                inbox = await create_inbox(session, made.account_id, f"API {name}", "api", {})
                webhook = await create_webhook(
                    session,
                    made.account_id,
                    {"url": url, "subscriptions": SUBSCRIPTIONS, "name": "", "inbox_id": inbox.id},
                    allowed,
                )
                endpoints.append(
                    {"name": name, "url": url, "inbox_id": inbox.id, "secret": webhook.secret}
                )
    finally:
        await db.dispose()
    return {"account_id": made.account_id, "endpoints": endpoints}


async def bulk(config: dict[str, Any]) -> dict[str, Any]:
    from voxsig.db import Database
    from voxsig.events.publish import publish

    account_id = int(config["account_id"])
    inboxes = [int(i) for i in config["inbox_ids"]]
    events, batch = int(config["events"]), int(config["batch"])
    db = Database(str(config["database_url"]))
    published = 0
    started = time.perf_counter()
    try:
        for start in range(0, events, batch):
            async with db.transaction() as session:
                for seq in range(start, min(start + batch, events)):
                    inbox = inboxes[seq % len(inboxes)]
                    event = await publish(
                        session,
                        account_id,
                        inbox,
                        "message_created",
                        payload(seq, inbox),
                        conversation_id=seq % CONVERSATIONS + 1,
                    )
                    if event is not None:
                        published += 1
    finally:
        await db.dispose()
    seconds = time.perf_counter() - started
    return {"published": published, "seconds": round(seconds, 3)}


async def _paced(rate: float, seconds: float) -> Any:
    """Yields 0, 1, 2, ... at `rate` a second for `seconds` (late ones at once, none skipped)."""
    count = int(rate * seconds)
    start = time.perf_counter()
    for seq in range(count):
        delay = start + seq / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield seq


async def trickle(config: dict[str, Any]) -> dict[str, Any]:
    from voxsig.db import Database
    from voxsig.events.publish import publish

    account_id = int(config["account_id"])
    inboxes = [int(i) for i in config["inbox_ids"]]
    db = Database(str(config["database_url"]))
    sent: dict[str, list[float]] = {}
    try:
        async for seq in _paced(float(config["rate"]), float(config["seconds"])):
            inbox = inboxes[seq % len(inboxes)]
            async with db.transaction() as session:
                before = time.time()
                await publish(
                    session,
                    account_id,
                    inbox,
                    "message_created",
                    payload(seq, inbox, before),
                    conversation_id=seq % CONVERSATIONS + 1,
                )
            sent[str(seq)] = [before, time.time()]
    finally:
        await db.dispose()
    return {"sent": sent, "errors": 0, "error_sample": None}


async def api_trickle(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    base = str(config["base_url"]).rstrip("/")
    conversations = [int(c) for c in config["conversations"]]
    headers = {"api_access_token": str(config["token"])}
    sent: dict[str, list[float]] = {}
    errors = 0
    sample: str | None = None
    timeout = aiohttp.ClientTimeout(total=30.0)
    pending: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, seq: int) -> None:
        nonlocal errors, sample
        conversation = conversations[seq % len(conversations)]
        before = time.time()
        body = {
            "content": f"bench_seq={seq} bench_t={before:.6f}",
            "message_type": "outgoing",
        }
        url = f"{base}/conversations/{conversation}/messages"
        try:
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
                    sample = sample or f"HTTP {resp.status}"
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors += 1
            sample = sample or f"{type(exc).__name__}: {exc}"
            return
        sent[str(seq)] = [before, time.time()]

    async with aiohttp.ClientSession(timeout=timeout) as session:
        # Open loop: a slow answer does not delay the next request.
        async for seq in _paced(float(config["rate"]), float(config["seconds"])):
            task = asyncio.create_task(one(session, seq))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=40.0)
    return {"sent": sent, "errors": errors, "error_sample": sample}


async def prepare(config: dict[str, Any]) -> dict[str, Any]:
    """`setup`, then `bulk` for the account and inboxes it made (one process start, not two)."""
    made = await setup(config)
    inboxes = [e["inbox_id"] for e in made["endpoints"]]
    published = await bulk({**config, "account_id": made["account_id"], "inbox_ids": inboxes})
    return {**made, "bulk": published}


MODES = {
    "setup": setup,
    "bulk": bulk,
    "prepare": prepare,
    "trickle": trickle,
    "api_trickle": api_trickle,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.delivery_publisher CONFIG.json OUT.json\n")
        return 2
    config = json.loads(Path(argv[0]).read_text())
    mode = MODES[str(config["mode"])]
    if config["mode"] in ("setup", "prepare"):
        from voxsig.migrate import upgrade

        upgrade(str(config["database_url"]))  # alembic runs its own loop: before ours
    result = asyncio.run(mode(config))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
