"""Creating the delivery benchmarks' events, run as its own process:
`python -m bench.delivery_publisher CONFIG.json OUT.json`. CONFIG["mode"] is one of:

- `setup`: migrate the database, create an account and one webhook per endpoint subscribed to
  message_created. `scope` "inbox" (the default): an API inbox per endpoint, each webhook scoped
  to its own, so each event (round robin over the inboxes) has one delivery; "account": one
  inbox and account-wide webhooks, one delivery per endpoint. OUT: the account, its API token
  and the endpoints (name, url, inbox_id, secret).
- `bulk`: publish `events` events (`outbox.publish.publish`), `batch` per transaction; OUT has
  the clock (time.time()) before the first transaction began and once the last committed.
- `prepare`: `setup`, then `bulk`.
- `trickle`: publish `rate` events a second for `seconds`, one transaction each up to 100 a
  second, beyond that several per transaction (500/s: 5 every 10 ms), open loop, at most
  `concurrency` at once; each payload carries `bench_t`, the clock just before the insert, and
  OUT gets the clock just after the commit.
- `api`: through the REST API (POST .../messages, the content carrying `bench_seq`): with a
  `rate`, the same open-loop trickle (and `bench_t`, the clock when the request is sent; OUT
  gets the clock when the answer arrived); without, `count` messages as fast as `clients`
  clients (one keep-alive connection each, back to back) can send them (OUT: the clock before
  the first request and after the last answer, the calls/s and the answers' latency).
Every payload is a message_created body of the size and shape Voxsig renders (about 1.7 KB,
bench/payload.json), with `bench_seq` set; the ceiling (bench/delivery_client.py) sends them too.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.accounts.service import create_account
from voxsig.db import Database
from voxsig.inboxes.service import create_inbox
from voxsig.migrate import upgrade
from voxsig.outbox.netguard import parse_networks
from voxsig.outbox.publish import publish
from voxsig.webhooks.service import Limits, create_webhook

CONVERSATIONS = 1024  # ordering keys: events of one "conversation" are delivered in order
SHAPE = (Path(__file__).parent / "payload.json").read_text()
MAX_COMMITS_PER_S = 100  # a trickle's transactions; above it, several events share one


def payload(seq: int, inbox_id: int, stamp: float | None = None) -> dict[str, Any]:
    """A message_created body shaped like the one Voxsig renders, with `bench_seq` (and
    `bench_t` when given) for the receiver."""
    conversation = seq % CONVERSATIONS + 1
    shape = json.loads(SHAPE)
    message = shape["message"] | {"id": seq + 1, "content": f"Benchmark message {seq}"}
    message |= {"conversation_id": conversation, "inbox_id": inbox_id}
    message["inbox"] = {"id": inbox_id, "name": f"API {inbox_id}"}
    chat = shape["conversation"] | {"id": conversation, "inbox_id": inbox_id}
    chat |= {"contact_id": conversation, "messages": [message]}
    chat["contact_inbox"] |= {"id": conversation, "contact_id": conversation, "inbox_id": inbox_id}
    chat["meta"]["sender"] |= {"id": conversation, "name": f"Customer {conversation}"}
    stamped = {} if stamp is None else {"bench_t": round(stamp, 6)}
    return {
        "event": "message_created",
        "bench_seq": seq,
        **stamped,
        **message,
        "conversation": chat,
    }


async def setup(config: dict[str, Any]) -> dict[str, Any]:
    limits = Limits(parse_networks(str(config["allowed_networks"])), max_in_flight=256)
    db = Database(str(config["database_url"]))
    try:
        async with db.transaction() as session:
            made = await create_account(
                session, "Bench", "bench@example.com", "bench-password-1", "bench"
            )
            per_inbox = config.get("scope", "inbox") == "inbox"
            shared = (
                None
                if per_inbox
                else await create_inbox(session, made.account_id, "API", "api", {}, limits)
            )
            endpoints = []
            for name, url in config["endpoints"]:
                inbox = shared or await create_inbox(
                    session, made.account_id, f"API {name}", "api", {}, limits
                )
                scoped = inbox.id if per_inbox else None
                hook = {
                    "url": url,
                    "subscriptions": ["message_created"],
                    "name": "",
                    "inbox_id": scoped,
                }
                webhook = await create_webhook(session, made.account_id, hook, limits)
                endpoints.append(
                    {"name": name, "url": url, "inbox_id": inbox.id, "secret": webhook.secret}
                )
    finally:
        await db.dispose()
    token = made.api_access_token
    return {"account_id": made.account_id, "api_access_token": token, "endpoints": endpoints}


async def _publish(
    session: AsyncSession, config: dict[str, Any], seqs: Iterable[int], stamp: float | None = None
) -> int:
    """Publishes event `seq` of `seqs` to inbox seq % inboxes; returns how many were published."""
    inboxes = [int(i) for i in config["inbox_ids"]]
    published = 0
    for seq in seqs:
        inbox = inboxes[seq % len(inboxes)]
        body = payload(seq, inbox, stamp)
        account, key = int(config["account_id"]), seq % CONVERSATIONS + 1
        event = await publish(session, account, inbox, "message_created", body, conversation_id=key)
        published += event is not None
    return published


async def bulk(config: dict[str, Any]) -> dict[str, Any]:
    events, batch = int(config["events"]), int(config["batch"])
    db = Database(str(config["database_url"]))
    published = 0
    started_at, started = time.time(), time.perf_counter()
    try:
        for start in range(0, events, batch):
            async with db.transaction() as session:
                published += await _publish(
                    session, config, range(start, min(start + batch, events))
                )
    finally:
        await db.dispose()
    seconds = round(time.perf_counter() - started, 3)
    return {
        "published": published,
        "seconds": seconds,
        "started_at": started_at,
        "finished_at": time.time(),
    }


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
    # At most MAX_COMMITS_PER_S transactions a second: at 500 events/s, 5 events every 10 ms.
    batch = max(1, math.ceil(float(config["rate"]) / MAX_COMMITS_PER_S))
    db = Database(str(config["database_url"]))
    sent: dict[str, list[float]] = {}

    async def one(tick: int) -> None:
        seqs = range(tick * batch, (tick + 1) * batch)
        async with db.transaction() as session:
            before = time.time()
            await _publish(session, config, seqs, before)
        after = time.time()
        sent.update({str(seq): [before, after] for seq in seqs})

    try:
        await _open_loop(config, one, batch)
    finally:
        await db.dispose()
    return {"sent": sent, "errors": 0, "error_sample": None, "per_transaction": batch}


async def api(config: dict[str, Any]) -> dict[str, Any]:
    base = str(config["base_url"]).rstrip("/")
    conversations = [int(c) for c in config["conversations"]]
    headers = {"api_access_token": str(config["token"])}
    trickled = "rate" in config
    sent: dict[str, list[float]] = {}  # seq -> [sent, answered] (time.time())
    errors, sample = 0, None
    connector = aiohttp.TCPConnector(limit=int(config.get("clients", 100)))
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(seq: int) -> None:
            nonlocal errors, sample
            before = time.time()
            content = f"bench_seq={seq}" + (f" bench_t={before:.6f}" if trickled else "")
            url = f"{base}/conversations/{conversations[seq % len(conversations)]}/messages"
            body = {"content": content, "message_type": "outgoing"}
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    failure = None if resp.status == 200 else f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if failure is None:
                sent[str(seq)] = [before, time.time()]
            else:
                errors, sample = errors + 1, sample or failure

        if trickled:
            await _open_loop(config, one)
            return {"sent": sent, "errors": errors, "error_sample": sample}
        count, seqs = int(config["count"]), iter(range(int(config["count"])))

        async def client() -> None:
            for seq in seqs:  # shared: each client takes the next one
                await one(seq)

        started_at, started = time.time(), time.perf_counter()
        async with asyncio.timeout(60.0 + count / 10.0):
            await asyncio.gather(*(client() for _ in range(int(config["clients"]))))
        seconds = time.perf_counter() - started
    latencies = sorted(after - before for before, after in sent.values())

    def ms(q: float) -> float | None:
        at = min(len(latencies) - 1, int(q * len(latencies)))
        return round(1000.0 * latencies[at], 1) if latencies else None

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


MODES = {"setup": setup, "bulk": bulk, "prepare": prepare, "trickle": trickle, "api": api}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.delivery_publisher CONFIG.json OUT.json\n")
        return 2
    config = json.loads(Path(argv[0]).read_text())
    if config["mode"] in ("setup", "prepare"):
        upgrade(str(config["database_url"]))  # alembic runs its own loop: before ours
    result = asyncio.run(MODES[str(config["mode"])](config))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)  # the whole process's
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
