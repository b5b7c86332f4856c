"""The soak's load, its own process: `python -m bench.soak_load CONFIG OUT`.

From `start_at` (time.time()) for `seconds`, open loop (each request sent on schedule, whether
or not the earlier ones are done, so a server that is down meanwhile gets the same schedule):

- REST: `rate` POST .../conversations/{id}/messages per second, round robin over the
  conversations;
- five (`visitors`) widget visitors: each opens the widget (POST config, POST events:
  webwidget_triggered) and then writes a message every `visitor_every` seconds;
- every `action_every` seconds, a toggle_status or an assignment (to the administrator, or
  none) of a random conversation, alternately.

OUT (JSON): per kind of request, the count by outcome (HTTP status, or the exception's class),
the ids of the messages that got a 2xx, and each failure with its time.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=30.0)


class Load:
    def __init__(self, config: dict[str, Any], http: aiohttp.ClientSession) -> None:
        self.config = config
        self.http = http
        self.api = f"{config['base_url']}/api/v1/accounts/{config['account_id']}"
        self.headers = {"api_access_token": config["token"]}
        self.outcomes: dict[str, Counter[str]] = {}
        self.message_ids: list[int] = []
        self.failures: list[tuple[float, str, str]] = []
        self.rng = random.Random(config["seed"])
        self.tasks: set[asyncio.Task[None]] = set()

    async def call(self, kind: str, method: str, url: str, body: Any = None, **kwargs: Any) -> Any:
        """One request; its outcome is counted, a 2xx answer returned (None otherwise)."""
        sent = time.time()
        try:
            async with self.http.request(method, url, json=body, **kwargs) as resp:
                data = await resp.json(content_type=None) if resp.status < 300 else None
                outcome = str(resp.status)
                if resp.status >= 300:
                    self.failures.append((sent, kind, f"{resp.status} {await resp.text()}"[:300]))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            outcome, data = type(exc).__name__, None
            self.failures.append((sent, kind, f"{outcome}: {exc}"[:300]))
        self.outcomes.setdefault(kind, Counter())[outcome] += 1
        return data

    def spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def message(self, n: int) -> None:
        conversations = self.config["conversations"]
        cid = conversations[n % len(conversations)]
        body = {"content": f"soak message {n}", "message_type": "outgoing"}
        url = f"{self.api}/conversations/{cid}/messages"
        made = await self.call("rest_message", "POST", url, body, headers=self.headers)
        if made is not None:
            self.message_ids.append(int(made["id"]))

    async def action(self, n: int) -> None:
        cid = self.rng.choice(self.config["conversations"])
        if n % 2 == 0:
            url = f"{self.api}/conversations/{cid}/toggle_status"
            await self.call("toggle_status", "POST", url, {}, headers=self.headers)
        else:
            assignee = self.config["assignee_id"] if n % 4 == 1 else None
            url = f"{self.api}/conversations/{cid}/assignments"
            body = {"assignee_id": assignee}
            await self.call("assignment", "POST", url, body, headers=self.headers)

    async def visitor(self, index: int, end: float) -> None:
        widget = f"{self.config['base_url']}/api/v1/widget"
        params = {"website_token": self.config["website_token"]}
        made = await self.call("widget_config", "POST", f"{widget}/config", {}, params=params)
        if made is None:
            return
        headers = {"X-Auth-Token": made["auth_token"]}
        opened = {"name": "webwidget.triggered"}
        await self.call(
            "widget_event", "POST", f"{widget}/events", opened, params=params, headers=headers
        )
        every = float(self.config["visitor_every"])
        n = 0
        # The visitors start spread over one period, not all at once.
        await asyncio.sleep(every * index / max(1, self.config["visitors"]))
        while time.time() < end:
            body = {"content": f"visitor {index} says {n}"}
            made = await self.call(
                "widget_message", "POST", f"{widget}/messages", body, params=params, headers=headers
            )
            if made is not None:
                self.message_ids.append(int(made["id"]))
            n += 1
            await asyncio.sleep(every)

    async def schedule(self, every: float, end: float, work: Any) -> None:
        """Calls work(n) every `every` seconds until `end`, each in its own task (open loop)."""
        start, n = time.time(), 0
        while (due := start + n * every) < end:
            await asyncio.sleep(max(0.0, due - time.time()))
            self.spawn(work(n))
            n += 1

    async def run(self) -> None:
        await asyncio.sleep(max(0.0, self.config["start_at"] - time.time()))
        end = time.time() + float(self.config["seconds"])
        await asyncio.gather(
            self.schedule(1.0 / float(self.config["rate"]), end, self.message),
            self.schedule(float(self.config["action_every"]), end, self.action),
            *(self.visitor(i, end) for i in range(int(self.config["visitors"]))),
        )
        if self.tasks:  # the last requests, each bounded by TIMEOUT
            await asyncio.wait(set(self.tasks))

    def result(self) -> dict[str, Any]:
        return {
            "outcomes": {kind: dict(c) for kind, c in self.outcomes.items()},
            "message_ids": self.message_ids,
            "failures": self.failures,
        }


async def soak(config: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
        load = Load(config, http)
        await load.run()
    return load.result()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.soak_load CONFIG OUT\n")
        return 2
    result = asyncio.run(soak(json.loads(Path(argv[0]).read_text())))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
