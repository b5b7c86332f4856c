"""Publishing events for the deliveries benchmark, run as its own process:
`python -m bench.delivery_publisher CONFIG.json OUT.json`.

CONFIG["mode"] is one of:
- `setup`: migrate the database, create an account (`accounts.service.create_account`) and one
  webhook per endpoint (`webhooks.service.create_webhook`), subscribed to message_created.
  `scope` "inbox" (the default): one API inbox per endpoint and each webhook scoped to its inbox,
  so each event (published round robin over the inboxes) has exactly one delivery. "account":
  one API inbox and account-wide webhooks, so each event has one delivery per endpoint.
  OUT: the account, its API token and the endpoints (name, url, inbox_id, secret).
- `bulk`: publish `events` events (`outbox.publish.publish`), `batch` per transaction
  (`Database.transaction()`), round robin over the inboxes; OUT has the clock (time.time())
  before the first transaction began and once the last committed.
- `prepare`: `setup`, then `bulk`.
- `trickle`: publish `rate` events a second for `seconds`, one transaction each (as a request
  would) up to 100 a second, beyond that several per transaction (500/s: 5 every 10 ms); open
  loop (each transaction in its own task, started on schedule, at most `concurrency` at once:
  1 on SQLite, a few on PostgreSQL); each payload carries
  `bench_t`, the clock just before the insert, and OUT gets the clock just after the commit.
- `api_trickle`: the same rate through the REST API (POST .../messages), the message content
  carrying `bench_seq` and `bench_t` (the clock when the request is sent); OUT gets the clock
  when the response arrived.
- `api_burst`: `count` messages through the REST API as fast as `clients` clients (one
  keep-alive connection each, back to back) can send them; OUT: the clock before the first
  request and after the last answer, the calls/s and the answers' latency.
Every payload is a message_created body of the size and shape Voxsig renders (about 1.7 KB),
with `bench_seq` set; the ceiling (bench/delivery_client.py) sends the same bodies.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Coroutine
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
    from voxsig.outbox.netguard import parse_networks
    from voxsig.webhooks.service import create_webhook

    allowed = parse_networks(str(config["allowed_networks"]))
    db = Database(str(config["database_url"]))
    try:
        async with db.transaction() as session:
            made = await create_account(
                session, "Bench", "bench@example.com", "bench-password-1", "bench"
            )
            per_inbox = config.get("scope", "inbox") == "inbox"
            shared = None
            if not per_inbox:
                shared = await create_inbox(session, made.account_id, "API", "api", {})
            endpoints = []
            for name, url in config["endpoints"]:
                inbox = shared or await create_inbox(
                    session, made.account_id, f"API {name}", "api", {}
                )
                webhook = await create_webhook(
                    session,
                    made.account_id,
                    {
                        "url": url,
                        "subscriptions": SUBSCRIPTIONS,
                        "name": "",
                        "inbox_id": inbox.id if per_inbox else None,
                    },
                    allowed,
                )
                endpoints.append(
                    {"name": name, "url": url, "inbox_id": inbox.id, "secret": webhook.secret}
                )
    finally:
        await db.dispose()
    return {
        "account_id": made.account_id,
        "api_access_token": made.api_access_token,
        "endpoints": endpoints,
    }


async def bulk(config: dict[str, Any]) -> dict[str, Any]:
    from voxsig.db import Database
    from voxsig.outbox.publish import publish

    account_id = int(config["account_id"])
    inboxes = [int(i) for i in config["inbox_ids"]]
    events, batch = int(config["events"]), int(config["batch"])
    db = Database(str(config["database_url"]))
    published = 0
    started_at = time.time()
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
    return {
        "published": published,
        "seconds": round(seconds, 3),
        "started_at": started_at,
        "finished_at": time.time(),
    }


MAX_COMMITS_PER_S = 100  # a trickle's transactions; above it, several events share one


async def _open_loop(
    config: dict[str, Any], one: Callable[[int], Coroutine[Any, Any, None]], batch: int = 1
) -> None:
    """Starts one(0), one(1), ... at `rate / batch` a second for `seconds` (each handles
    `batch` events), each as its own task, so a slow one does not delay the next (open loop;
    late ones start at once, none is skipped), at most `concurrency` (if given) running at
    once, in order; then waits (at most 40 s) for them all. SQLite wants 1: a transaction holds
    the database's one write lock from its first write to its commit, and tasks interleaved on
    a busy loop would hold it much longer."""
    rate, seconds = float(config["rate"]) / batch, float(config["seconds"])
    limit = asyncio.Semaphore(int(config.get("concurrency") or 1_000_000))
    pending: set[asyncio.Task[None]] = set()

    async def limited(tick: int) -> None:
        async with limit:
            await one(tick)

    start = time.perf_counter()
    for tick in range(int(rate * seconds)):
        delay = start + tick / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(limited(tick))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=40.0)


async def trickle(config: dict[str, Any]) -> dict[str, Any]:
    from voxsig.db import Database
    from voxsig.outbox.publish import publish

    account_id = int(config["account_id"])
    inboxes = [int(i) for i in config["inbox_ids"]]
    # At most MAX_COMMITS_PER_S transactions a second: at 500 events/s, 5 events every 10 ms.
    batch = max(1, math.ceil(float(config["rate"]) / MAX_COMMITS_PER_S))
    db = Database(str(config["database_url"]))
    sent: dict[str, list[float]] = {}

    async def one(tick: int) -> None:
        seqs = range(tick * batch, (tick + 1) * batch)
        async with db.transaction() as session:
            before = time.time()
            for seq in seqs:
                inbox = inboxes[seq % len(inboxes)]
                await publish(
                    session,
                    account_id,
                    inbox,
                    "message_created",
                    payload(seq, inbox, before),
                    conversation_id=seq % CONVERSATIONS + 1,
                )
        after = time.time()
        for seq in seqs:
            sent[str(seq)] = [before, after]

    try:
        await _open_loop(config, one, batch)
    finally:
        await db.dispose()
    return {"sent": sent, "errors": 0, "error_sample": None, "per_transaction": batch}


async def api_trickle(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    base = str(config["base_url"]).rstrip("/")
    conversations = [int(c) for c in config["conversations"]]
    headers = {"api_access_token": str(config["token"])}
    sent: dict[str, list[float]] = {}
    errors = 0
    sample: str | None = None
    timeout = aiohttp.ClientTimeout(total=30.0)

    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(seq: int) -> None:
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

        await _open_loop(config, one)
    return {"sent": sent, "errors": errors, "error_sample": sample}


async def api_burst(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    base = str(config["base_url"]).rstrip("/")
    conversations = [int(c) for c in config["conversations"]]
    headers = {"api_access_token": str(config["token"])}
    count, clients = int(config["count"]), int(config["clients"])
    latencies: list[float] = []
    errors = 0
    sample: str | None = None
    next_seq = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_seq, errors, sample
        while next_seq < count:
            seq = next_seq
            next_seq += 1
            conversation = conversations[seq % len(conversations)]
            url = f"{base}/conversations/{conversation}/messages"
            body = {"content": f"bench_seq={seq}", "message_type": "outgoing"}
            before = time.perf_counter()
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                    sample = sample or (None if ok else f"HTTP {resp.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok = False
                sample = sample or f"{type(exc).__name__}: {exc}"
            if ok:
                latencies.append(time.perf_counter() - before)
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started_at = time.time()
        started = time.perf_counter()
        async with asyncio.timeout(60.0 + count / 10.0):
            await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - started
    latencies.sort()

    def ms(q: float) -> float | None:
        if not latencies:
            return None
        return round(1000.0 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {
        "ok": len(latencies),
        "errors": errors,
        "error_sample": sample,
        "started_at": started_at,
        "finished_at": started_at + seconds,
        "seconds": round(seconds, 3),
        "calls_per_s": round(len(latencies) / seconds, 1) if seconds else None,
        "latency_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)},
    }


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
    "api_burst": api_burst,
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
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)  # the whole process's
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
