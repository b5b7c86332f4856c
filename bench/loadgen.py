"""Load generator, run as its own process: `python -m bench.loadgen CONFIG.json OUT.json`.

N clients (one keep-alive connection each) send requests back to back: first for a warm-up
period, whose requests are not measured, then for a timed period. A request belongs to the
phase in which it completes; the latency of every request completed in the timed period is
recorded. Once the timed period is over the clients start no new request, and those in flight
are awaited (and counted as "drain"). While it runs, one JSON line a half-second goes to
stdout ({"elapsed", "ok", "errors"}) so the parent can show progress.

CONFIG is JSON:
    {"base_url": "http://127.0.0.1:PORT", "headers": {...},
     "targets": [{"method": "POST", "path": "/...", "body": {...}}, ...],
     "clients": 50, "warmup": 3.0, "seconds": 10.0, "request_timeout": 30.0}
Client i sends to targets[i % len(targets)]. OUT gets the raw measured latencies and counts.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ERROR_SAMPLE_CHARS = 300


@dataclass
class Phase:
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": dict(self.errors)}


@dataclass
class Recorder:
    measure_start: float
    measure_end: float
    warmup: Phase = field(default_factory=Phase)
    measured: Phase = field(default_factory=Phase)
    drain: Phase = field(default_factory=Phase)
    latencies_ms: list[float] = field(default_factory=list)
    # Completions per whole second of the timed period, to spot stalls.
    per_second: Counter[int] = field(default_factory=Counter)
    error_sample: str | None = None

    def phase(self, done: float) -> Phase:
        if done < self.measure_start:
            return self.warmup
        if done < self.measure_end:
            return self.measured
        return self.drain

    def record(self, started: float, done: float, error: str | None) -> None:
        phase = self.phase(done)
        if error is None:
            phase.ok += 1
        else:
            phase.errors[error] += 1
        if phase is self.measured:
            self.latencies_ms.append((done - started) * 1000.0)
            self.per_second[int(done - self.measure_start)] += 1

    @property
    def total_ok(self) -> int:
        return self.warmup.ok + self.measured.ok + self.drain.ok

    @property
    def total_errors(self) -> int:
        return sum(sum(p.errors.values()) for p in (self.warmup, self.measured, self.drain))


async def client(
    session: aiohttp.ClientSession,
    url: str,
    method: str,
    body: bytes | None,
    rec: Recorder,
) -> None:
    while True:
        started = time.perf_counter()
        if started >= rec.measure_end:
            return
        error: str | None = None
        try:
            async with session.request(method, url, data=body) as resp:
                payload = await resp.read()
                if not 200 <= resp.status < 300:
                    error = f"HTTP {resp.status}"
                    if rec.error_sample is None:
                        text = payload[:ERROR_SAMPLE_CHARS].decode("utf-8", "replace")
                        rec.error_sample = f"{method} {url} -> {resp.status}: {text}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
            if rec.error_sample is None:
                rec.error_sample = f"{method} {url} -> {error}: {exc}"[:ERROR_SAMPLE_CHARS]
            # A refused or reset connection fails fast: do not spin on it.
            await asyncio.sleep(0.05)
        rec.record(started, time.perf_counter(), error)


async def report_progress(rec: Recorder, started: float) -> None:
    while True:
        line = {
            "elapsed": round(time.perf_counter() - started, 3),
            "ok": rec.total_ok,
            "errors": rec.total_errors,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await asyncio.sleep(0.5)


async def run(config: dict[str, Any]) -> dict[str, Any]:
    clients = int(config["clients"])
    warmup = float(config["warmup"])
    seconds = float(config["seconds"])
    request_timeout = float(config.get("request_timeout", 30.0))
    headers = {"content-type": "application/json", **config.get("headers", {})}
    targets: list[dict[str, Any]] = config["targets"]
    base_url = str(config["base_url"]).rstrip("/")

    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        started = time.perf_counter()
        rec = Recorder(measure_start=started + warmup, measure_end=started + warmup + seconds)
        ticker = asyncio.create_task(report_progress(rec, started))
        tasks = []
        for i in range(clients):
            target = targets[i % len(targets)]
            body = target.get("body")
            data = None if body is None else json.dumps(body).encode()
            url = base_url + str(target["path"])
            method = str(target.get("method", "POST"))
            tasks.append(asyncio.create_task(client(session, url, method, data, rec)))
        try:
            # Bounded: no client starts a request after measure_end, and each request times out.
            async with asyncio.timeout(warmup + seconds + request_timeout + 10.0):
                await asyncio.gather(*tasks)
        finally:
            for task in (*tasks, ticker):
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
        finished = time.perf_counter()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "clients": clients,
        "warmup_s": warmup,
        "seconds": seconds,
        "measured": rec.measured.as_json(),
        "warmup": rec.warmup.as_json(),
        "drain": rec.drain.as_json(),
        "ok_total": rec.total_ok,
        "errors_total": rec.total_errors,
        "drain_s": round(finished - rec.measure_end, 3),
        "latencies_ms": rec.latencies_ms,
        "per_second": [rec.per_second.get(s, 0) for s in range(int(seconds + 0.999))],
        "error_sample": rec.error_sample,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": round(finished - started, 3),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.loadgen CONFIG.json OUT.json\n")
        return 2
    config = json.loads(Path(argv[0]).read_text())
    try:
        import uvloop  # the servers use it too (via uvicorn); it also spares the loadgen's CPU
    except ImportError:
        result = asyncio.run(run(config))
    else:
        result = uvloop.run(run(config))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
