"""Webhook receiver for the deliveries benchmark, run as its own process:
`python -m bench.delivery_receiver PORT`.

aiohttp (uvloop), 127.0.0.1 only. `POST /hook/{name}` answers 200 with an empty body at once and
records the arrival: a count, the first and last arrival (time.time(), so that other processes
on this machine can compare it with their own clock), duplicates by `webhook-id`, and, when the
body carries `bench_seq` (and `bench_t`, the sender's clock when it committed or sent it), the
arrival of that sequence number, and each endpoint's count and first and last arrival. The first
VERIFY_FIRST requests of each run have their Standard Webhooks signature checked against the
secrets given to `/_reset`.

An endpoint named in `/_reset`'s `hang` ({name: seconds}) hangs instead: each request to it is
counted as `hung` (not as an arrival) and answered only after that many seconds, i.e. after the
sender's timeout; the isolation benchmark uses it.

Control (same port): `GET /health`, `POST /_reset` with {"secrets": {name: secret}, "hang":
{name: seconds}}, `GET /_stats` (`?full=1` adds the arrivals per second and per endpoint,
`&seqs=1` every sequence number's arrival).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook as Verifier

HOST = "127.0.0.1"
VERIFY_FIRST = 50
SEQ = re.compile(rb"bench_seq\W{1,3}(\d+)")
STAMP = re.compile(rb"bench_t\W{1,3}(\d+\.\d+)")


@dataclass
class State:
    count: int = 0
    first: float | None = None
    last: float | None = None
    duplicates: int = 0
    unsigned: int = 0
    verified: int = 0
    bad_signatures: int = 0
    bad_signature_sample: str | None = None
    ids: set[str] = field(default_factory=set)
    # seq -> (arrival, the sender's embedded time or None); the first arrival only.
    by_seq: dict[int, tuple[float, float | None]] = field(default_factory=dict)
    by_path: Counter[str] = field(default_factory=Counter)
    # name -> [first arrival, last arrival]
    span_by_path: dict[str, list[float]] = field(default_factory=dict)
    hang: dict[str, float] = field(default_factory=dict)
    hung: Counter[str] = field(default_factory=Counter)
    per_second: Counter[int] = field(default_factory=Counter)
    verifiers: dict[str, Verifier] = field(default_factory=dict)


STATE = State()


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    now = time.time()
    st = STATE
    name = request.match_info["name"]
    hang = st.hang.get(name)
    if hang is not None:
        st.hung[name] += 1
        await asyncio.sleep(hang)  # the sender gave up long before
        return web.Response()
    st.count += 1
    if st.first is None:
        st.first = now
    st.last = now
    st.per_second[int(now)] += 1
    st.by_path[name] += 1
    span = st.span_by_path.get(name)
    if span is None:
        st.span_by_path[name] = [now, now]
    else:
        span[1] = now
    message_id = request.headers.get("webhook-id")
    if not message_id or not request.headers.get("webhook-signature"):
        st.unsigned += 1
    elif message_id in st.ids:
        st.duplicates += 1
    else:
        st.ids.add(message_id)
    found = SEQ.search(body)
    if found is not None:
        seq = int(found.group(1))
        if seq not in st.by_seq:
            stamp = STAMP.search(body)
            st.by_seq[seq] = (now, float(stamp.group(1)) if stamp is not None else None)
    verifier = st.verifiers.get(name)
    if verifier is not None and st.verified + st.bad_signatures < VERIFY_FIRST:
        try:
            verifier.verify(body, dict(request.headers), json_parse=False)
            st.verified += 1
        except Exception as exc:  # any verification failure is a finding, not a crash
            st.bad_signatures += 1
            st.bad_signature_sample = st.bad_signature_sample or f"{name}: {exc}"
    return web.Response()


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    global STATE
    body: dict[str, Any] = await request.json() if request.can_read_body else {}
    STATE = State(
        verifiers={k: Verifier(v) for k, v in body.get("secrets", {}).items()},
        hang={k: float(v) for k, v in body.get("hang", {}).items()},
    )
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    st = STATE
    data: dict[str, Any] = {
        "count": st.count,
        "unique": len(st.ids),
        "duplicates": st.duplicates,
        "unsigned": st.unsigned,
        "verified": st.verified,
        "bad_signatures": st.bad_signatures,
        "bad_signature_sample": st.bad_signature_sample,
        "first": st.first,
        "last": st.last,
        "sequenced": len(st.by_seq),
        "paths": len(st.by_path),
        "hung": sum(st.hung.values()),
    }
    if request.query.get("seqs"):
        data["by_seq"] = {str(k): list(v) for k, v in st.by_seq.items()}
    if request.query.get("full"):
        start = min(st.per_second, default=0)
        end = max(st.per_second, default=-1)
        data["per_second"] = [st.per_second.get(s, 0) for s in range(start, end + 1)]
        data["by_path"] = dict(st.by_path)
        data["span_by_path"] = st.span_by_path
        data["hung_by_path"] = dict(st.hung)
    return web.json_response(data)


async def serve(port: int) -> None:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/hook/{name}", hook)
    app.router.add_get("/health", health)
    app.router.add_post("/_reset", reset)
    app.router.add_get("/_stats", stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, backlog=1024)
    await site.start()
    try:
        await asyncio.Event().wait()  # until SIGTERM (the parent stops us)
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m bench.delivery_receiver PORT\n")
        return 2
    port = int(argv[0])
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:
        uvloop.run(serve(port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
