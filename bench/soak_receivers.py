"""The soak's five webhook receivers, one process: `python -m bench.soak_receivers CONFIG`.

CONFIG (JSON): {"control_port": N, "seed": N, "receivers": {name: {"kind": K, "port": N}}}.
Each receiver is an aiohttp server of its own on 127.0.0.1 (its own port, so "down" can be a
closed port); what it answers depends on its kind:

- healthy: 200 at once;
- flaky: 500 for a random half of the requests (seeded), else 200;
- slow: 200 after SLOW_SECONDS;
- down: its port stays closed (connection refused) until `POST /_open/{name}`, then 200;
- gone_once: 410 to its first request, then 200.

Every request is recorded: its `webhook-id`, when it arrived (time.time(), comparable with the
bench's clock), the status answered, and whether its Standard Webhooks signature verified
against the secret given to `POST /_secrets` ({name: secret}). A 2xx is recorded just before it
is sent, so a delivery Voxsig saw succeed is always in the record.

Control port: `GET /health`, `POST /_secrets`, `POST /_open/{name}`, `GET /_counts` (requests
and accepted per receiver), `GET /_records` (every request).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook as Verifier

HOST = "127.0.0.1"
SLOW_SECONDS = 3.0
KINDS = ("healthy", "flaky", "slow", "down", "gone_once")


@dataclass
class Receiver:
    name: str
    kind: str
    port: int
    verifier: Verifier | None = None
    # One row per request: [arrived, webhook-id, status answered, signature ok].
    records: list[list[Any]] = field(default_factory=list)
    requests: int = 0
    runner: web.AppRunner | None = None

    def status(self, rng: random.Random) -> int:
        if self.kind == "flaky":
            return 500 if rng.random() < 0.5 else 200
        if self.kind == "gone_once" and self.requests == 1:
            return 410
        return 200

    def verified(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.verifier is None:
            return False
        try:
            self.verifier.verify(body, headers, json_parse=False)
        except Exception:  # any failure to verify is a finding, not a crash
            return False
        return True


class Receivers:
    def __init__(self, config: dict[str, Any]) -> None:
        self.rng = random.Random(config["seed"])
        self.all = {
            name: Receiver(name, spec["kind"], int(spec["port"]))
            for name, spec in config["receivers"].items()
        }

    def hook(self, receiver: Receiver) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            arrived = time.time()
            receiver.requests += 1
            status = receiver.status(self.rng)
            if receiver.kind == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            ok = receiver.verified(body, dict(request.headers))
            receiver.records.append([arrived, request.headers.get("webhook-id"), status, ok])
            return web.Response(status=status)

        return handle

    async def open(self, receiver: Receiver) -> None:
        if receiver.runner is not None:
            return
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self.hook(receiver))
        receiver.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await receiver.runner.setup()
        await web.TCPSite(receiver.runner, HOST, receiver.port, backlog=1024).start()

    def control(self) -> web.Application:
        async def health(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        async def secrets(request: web.Request) -> web.Response:
            for name, secret in (await request.json()).items():
                self.all[name].verifier = Verifier(secret)
            return web.json_response({"ok": True})

        async def open_one(request: web.Request) -> web.Response:
            await self.open(self.all[request.match_info["name"]])
            return web.json_response({"ok": True})

        async def counts(_request: web.Request) -> web.Response:
            return web.json_response(
                {
                    n: {
                        "requests": r.requests,
                        "accepted": sum(1 for rec in r.records if 200 <= rec[2] < 300),
                    }
                    for n, r in self.all.items()
                }
            )

        async def records(_request: web.Request) -> web.Response:
            return web.json_response({n: r.records for n, r in self.all.items()})

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_post("/_secrets", secrets)
        app.router.add_post("/_open/{name}", open_one)
        app.router.add_get("/_counts", counts)
        app.router.add_get("/_records", records)
        return app


async def serve(config: dict[str, Any]) -> None:
    receivers = Receivers(config)
    for receiver in receivers.all.values():
        if receiver.kind != "down":
            await receivers.open(receiver)
    runner = web.AppRunner(receivers.control(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, HOST, int(config["control_port"])).start()
    await asyncio.Event().wait()  # until SIGTERM (the parent stops us)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m bench.soak_receivers CONFIG\n")
        return 2
    config = json.loads(Path(argv[0]).read_text())
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
