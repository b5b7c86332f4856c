"""The delivery ceiling, run as its own process: `python -m bench.delivery_client CONFIG OUT`.

Voxsig's own HTTP client (`voxsig.outbox.transport.Transport`, allowed networks 127.0.0.0/8,
the limits `voxsig worker` builds) sends `events` signed message_created bodies (the ones
bench/delivery_publisher.py publishes, signed by `voxsig.outbox.signing.signed_headers`
with a fresh timestamp, each with its own `webhook-id`, as the worker sends them) round robin to
the endpoints, `concurrency` in flight, and nothing is stored: what one process can push
through to the receiver, the limit the worker's rate is compared with.

CONFIG: {"endpoints": [{"url", "secret", "inbox_id"}], "events": N, "concurrency": 256,
"loop": "asyncio" | "uvloop"}.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

from bench.delivery_publisher import payload
from voxsig.config import Settings
from voxsig.outbox.netguard import parse_networks
from voxsig.outbox.policy import Policy
from voxsig.outbox.publish import render
from voxsig.outbox.signing import new_message_id, signed_headers
from voxsig.outbox.transport import Limits, Transport


async def run(config: dict[str, Any]) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = config["endpoints"]
    events = int(config["events"])
    concurrency = int(config["concurrency"])
    policy = Policy.from_settings(Settings())
    transport = Transport(
        parse_networks("127.0.0.0/8"),
        Limits(
            connect_timeout=policy.connect_timeout,
            total_timeout=policy.total_timeout,
            max_in_flight=concurrency,
        ),
    )
    # Rendered beforehand: the worker reads bodies already rendered, from the database.
    jobs = []
    for seq in range(events):
        endpoint = endpoints[seq % len(endpoints)]
        body = render(payload(seq, int(endpoint["inbox_id"])))
        jobs.append((str(endpoint["url"]), (str(endpoint["secret"]),), new_message_id(), body))
    outcomes: Counter[str] = Counter()
    sample: str | None = None
    next_job = 0

    async def sender() -> None:
        nonlocal next_job, sample
        while next_job < len(jobs):
            url, secrets, message_id, body = jobs[next_job]
            next_job += 1
            headers = signed_headers(secrets, message_id, body)
            outcome = await transport.post(url, body.encode(), headers)
            label = "succeeded" if outcome.succeeded else outcome.error_class or "failed"
            outcomes[label] += 1
            if not outcome.succeeded and sample is None:
                sample = f"{url}: {outcome.error_class} {outcome.error_message}"

    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(30.0 + events / 100.0):
            await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        await transport.close()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime + usage.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    return {
        "outcomes": dict(outcomes),
        "error_sample": sample,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "body_bytes": len(jobs[0][3]) if jobs else 0,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.delivery_client CONFIG.json OUT.json\n")
        return 2
    config = json.loads(Path(argv[0]).read_text())
    result = (uvloop.run if config.get("loop") == "uvloop" else asyncio.run)(run(config))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
