"""deliveries: webhook deliveries/s through the outbox, against the HTTP ceiling, and the delay
from commit to arrival.

One receiver process (bench/delivery_receiver.py, aiohttp) on 127.0.0.1 serves every phase:
1. Ceiling: bench/delivery_client.py, Voxsig's Transport, the same signed bodies, 256 in
   flight, nothing stored; once on asyncio's loop (as `voxsig worker` runs) and once on uvloop
   (as `voxsig serve` runs, through uvicorn).
2. Outbox: N events published by bench/delivery_publisher.py (a separate process) while no
   worker runs, then drained by (a) `voxsig serve` on SQLite (worker in-process), (b) one and
   (c) two `voxsig worker` processes on PostgreSQL. Rate: arrivals from first to last.
3. REST: `voxsig serve` on SQLite with a webhook subscribed to message_created, messages POSTed
   by bench/loadgen.py: API calls/s and deliveries/s.
4. Latency: a steady trickle (100 events/s for 10 s) committed by the publisher on SQLite under
   `voxsig serve` and on PostgreSQL under one `voxsig worker`, and sent through the REST API on
   SQLite; each body carries its sequence number and a timestamp, the receiver notes arrivals.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.api_messages import _create_account, _create_conversations
from bench.common import (
    HOST,
    PROCESSES,
    BenchError,
    Options,
    Server,
    Ui,
    child_env,
    cpu_seconds,
    free_port,
    http_json,
    log_problems,
    log_tail,
    percentile,
    run_loadgen,
    start_server,
    summarize,
    system_busy_seconds,
    venv_script,
    wait_for_quiet,
)
from bench.delivery_publisher import CONVERSATIONS

NAME = "deliveries"
DESCRIPTION = (
    "webhook deliveries/s through the outbox (SQLite serve, PostgreSQL 1 and 2 workers, REST "
    "API) vs. the HTTP ceiling; commit-to-arrival latency"
)
ALLOWED_NETWORKS = "127.0.0.0/8"
POLL = 0.1  # seconds between looks at the receiver's counts


@dataclass(frozen=True)
class Params:
    events: int = 5000
    endpoints: int = 16  # x VOXSIG_WEBHOOK_MAX_PER_ENDPOINT (16) = 256, the worker's max in flight
    concurrency: int = 256  # the ceiling's requests in flight (VOXSIG_WEBHOOK_MAX_IN_FLIGHT)
    batch: int = 500  # events published per transaction
    trickle_rate: float = 100.0
    trickle_seconds: float = 10.0
    postgres: bool = True


PARAMS = Params()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deliveries")
    group.add_argument("--events", type=int, default=Params.events, help="events per drain (5000)")
    group.add_argument(
        "--endpoints",
        type=int,
        default=Params.endpoints,
        help="webhook endpoints the events are spread over (16: 16 x 16 per endpoint = 256)",
    )
    group.add_argument(
        "--trickle-rate", type=float, default=Params.trickle_rate, help="events/s (100)"
    )
    group.add_argument(
        "--trickle-seconds",
        type=float,
        default=Params.trickle_seconds,
        help="seconds of trickle per latency run (10; 0 to skip)",
    )
    group.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")


def configure(args: argparse.Namespace) -> None:
    global PARAMS
    if not 1 <= args.events <= 200_000:
        raise SystemExit("--events must be between 1 and 200000")
    if not 1 <= args.endpoints <= 256:
        raise SystemExit("--endpoints must be between 1 and 256")
    if not 0 < args.trickle_rate <= 1000 or not 0 <= args.trickle_seconds <= 120:
        raise SystemExit("--trickle-rate must be in (0, 1000] and --trickle-seconds in [0, 120]")
    PARAMS = replace(
        PARAMS,
        events=args.events,
        endpoints=args.endpoints,
        trickle_rate=args.trickle_rate,
        trickle_seconds=args.trickle_seconds,
        postgres=not args.no_postgres,
    )


# --- the receiver and the helper processes ---------------------------------------------------


class Receiver:
    def __init__(self, server: Server) -> None:
        self.server = server

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/hook/{name}"

    def reset(self, secrets: Mapping[str, str]) -> None:
        http_json("POST", self.server.base_url + "/_reset", {"secrets": dict(secrets)})

    def stats(self, full: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = http_json(
            "GET", self.server.base_url + "/_stats" + ("?full=1" if full else "")
        )
        return result


@dataclass(frozen=True)
class Ctx:
    ui: Ui
    receiver: Receiver
    workdir: Path
    quiet_wait: float

    def quiet(self, label: str) -> float:
        """Waits (at most quiet_wait s) until the machine, but for the idle receiver, is quiet;
        returns the % of a core other processes used in the last second."""
        if self.quiet_wait <= 0:
            return 0.0
        return wait_for_quiet(self.ui, self.receiver.server, label, self.quiet_wait)


def _run_tool(
    ui: Ui, label: str, module: str, config: Mapping[str, Any], workdir: Path, timeout: float
) -> dict[str, Any]:
    """Runs `python -m module CONFIG OUT` to completion (at most `timeout` s); returns OUT."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    config_path = workdir / f"{slug}-config.json"
    out_path = workdir / f"{slug}-out.json"
    log = workdir / f"{slug}.log"
    config_path.write_text(json.dumps(config))
    with ui.step(label):
        proc = PROCESSES.start(
            [sys.executable, "-m", module, str(config_path), str(out_path)],
            env=child_env(),
            log=log,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{label}: did not finish within {timeout:.0f}s") from None
        finally:
            PROCESSES.stop(proc, grace=3.0)
        if proc.returncode != 0 or not out_path.exists():
            raise BenchError(f"{label} failed (code {proc.returncode}):\n{log_tail(log)}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


# --- CPU -------------------------------------------------------------------------------------

Groups = Mapping[str, Callable[[], Sequence[int]]]


def _children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def _postgres_pids(data_dir: Path) -> list[int]:
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *_children_of(postmaster)]


def _cpu(groups: Groups) -> dict[str, float]:
    snap = {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}
    snap["_busy"] = system_busy_seconds()
    snap["_wall"] = time.monotonic()
    return snap


def _cpu_use(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """% of one core per group between two snapshots, and `other` for the rest of the machine."""
    wall = after["_wall"] - before["_wall"]
    if wall <= 0:
        return {}
    used = {k: after[k] - before[k] for k in before if not k.startswith("_")}
    other = (after["_busy"] - before["_busy"]) - sum(used.values())
    percent = {k: round(100.0 * v / wall, 1) for k, v in used.items()}
    percent["other"] = round(100.0 * max(other, 0.0) / wall, 1)
    percent["cpu_s_voxsig"] = round(used.get("voxsig", 0.0), 3)
    return percent


# --- waiting for deliveries ------------------------------------------------------------------


def _await_arrivals(
    ui: Ui,
    label: str,
    receiver: Receiver,
    expected: int,
    procs: Sequence[subprocess.Popen[bytes]],
    groups: Groups,
    timeout: float,
) -> dict[str, Any]:
    """Waits until `expected` distinct deliveries arrived (at most `timeout` s after the first
    look). Returns the receiver's stats, plus the CPU used from the first arrival seen to the
    last (so the worker's start-up is not counted) and the arrivals in that window."""
    task = ui.timed_task(f"{label}: 0/{expected:,} delivered", total=expected)
    deadline = time.monotonic() + timeout
    first_cpu: dict[str, float] | None = None
    first_count = 0
    while True:
        stats = receiver.stats()
        if first_cpu is None and stats["count"] > 0:
            first_cpu, first_count = _cpu(groups), stats["count"]
        ui.progress.update(
            task,
            completed=min(stats["unique"], expected),
            description=f"{label}: {stats['unique']:,}/{expected:,} delivered",
        )
        if stats["unique"] >= expected:
            break
        for proc in procs:
            if proc.poll() is not None:
                raise BenchError(f"{label}: a Voxsig process exited (code {proc.returncode})")
        if time.monotonic() > deadline:
            raise BenchError(
                f"{label}: only {stats['unique']:,} of {expected:,} deliveries arrived "
                f"within {timeout:.0f}s"
            )
        time.sleep(POLL)
    last_cpu = _cpu(groups)
    ui.progress.stop_task(task)
    full = receiver.stats(full=True)
    full["cpu_percent"] = _cpu_use(first_cpu, last_cpu) if first_cpu else {}
    full["cpu_window_deliveries"] = full["count"] - first_count
    return full


def _sqlite_statuses(db: Path) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)
        try:
            rows = conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
            result = {str(s): int(n) for s, n in rows}
            (attempts,) = conn.execute("SELECT count(*) FROM delivery_attempts").fetchone()
        finally:
            conn.close()
        result["attempts"] = int(attempts)
        return result

    return count


def _postgres_statuses(cluster: Any, database: str) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        text = cluster.psql(
            "SELECT status, count(*) FROM deliveries GROUP BY status "
            "UNION ALL SELECT 'attempts', count(*) FROM delivery_attempts",
            database=database,
        )
        result = {}
        for line in str(text).splitlines():
            if "|" in line:
                status, n = line.split("|", 1)
                result[status] = int(n)
        return result

    return count


def _await_recorded(
    statuses: Callable[[], dict[str, int]], expected: int, timeout: float = 30.0
) -> tuple[dict[str, int], float | None]:
    """Waits until the database shows `expected` succeeded deliveries; returns the counts and
    the time.time() it first saw them (None if it never did)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = statuses()
        if counts.get("succeeded", 0) >= expected:
            return counts, time.time()
        if time.monotonic() > deadline:
            return counts, None
        time.sleep(POLL)


def _drain_summary(
    stats: Mapping[str, Any],
    published: Mapping[str, Any] | None,
    counts: Mapping[str, int] | None,
    recorded_at: float | None,
) -> dict[str, Any]:
    span = (stats["last"] or 0.0) - (stats["first"] or 0.0)
    cpu = stats["cpu_percent"]
    window = stats["cpu_window_deliveries"]
    voxsig_cpu = cpu.get("cpu_s_voxsig")
    per_second = stats.get("per_second", [])
    return {
        "deliveries": stats["count"],
        "unique": stats["unique"],
        "duplicates": stats["duplicates"],
        "first_to_last_s": round(span, 3),
        "deliveries_per_s": round(stats["count"] / span, 1) if span > 0 else None,
        "slowest_whole_second": min(per_second[1:-1]) if len(per_second) > 2 else None,
        "recorded_after_last_arrival_s": None
        if recorded_at is None or stats["last"] is None
        else round(max(0.0, recorded_at - stats["last"]), 2),
        "db_counts": dict(counts) if counts is not None else None,
        "voxsig_cpu_ms_per_delivery": round(1000.0 * voxsig_cpu / window, 3)
        if voxsig_cpu and window
        else None,
        "cpu_percent": {k: v for k, v in cpu.items() if k != "cpu_s_voxsig"},
        "signatures_verified": stats["verified"],
        "bad_signatures": stats["bad_signatures"],
        "bad_signature_sample": stats["bad_signature_sample"],
        "unsigned": stats["unsigned"],
        "endpoints_reached": stats["paths"],
        "per_second": per_second,
        "published": dict(published) if published is not None else None,
        "publish_events_per_s": round(published["published"] / published["seconds"], 1)
        if published and published["seconds"]
        else None,
    }


# --- latency ---------------------------------------------------------------------------------


def _ms(values: list[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if math.isnan(value) else round(value * 1000.0, 1)


def _latency(
    sent: Mapping[str, list[float]], by_seq: Mapping[str, list[float | None]], errors: int
) -> dict[str, Any]:
    """Per sequence number: arrival minus the sender's clock just before the commit (or the
    request), and minus its clock once the commit (or the response) returned."""
    before, after = [], []
    for seq, (t_before, t_after) in sent.items():
        arrived = by_seq.get(seq)
        if arrived is None:
            continue
        arrival, embedded = arrived
        assert arrival is not None
        before.append(arrival - (embedded if embedded is not None else t_before))
        after.append(arrival - t_after)
    before.sort()
    after.sort()
    return {
        "sent": len(sent),
        "send_errors": errors,
        "delivered": len(before),
        "missing": len(sent) - len(before),
        "from_embedded_ms": {p: _ms(before, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))}
        | {"max": _ms(before, 100)},
        "from_commit_returned_ms": {
            p: _ms(after, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))
        }
        | {"min": _ms(after, 0), "max": _ms(after, 100)},
    }


def _trickle(
    ctx: Ctx,
    label: str,
    secrets: Mapping[str, str],
    config: Mapping[str, Any],
    procs: Sequence[subprocess.Popen[bytes]],
    groups: Groups,
    rate: float,
) -> dict[str, Any]:
    ui, receiver = ctx.ui, ctx.receiver
    receiver.reset(secrets)
    other_before = ctx.quiet(label)
    cpu_before = _cpu(groups)
    out = _run_tool(
        ui,
        f"{label}: {rate:g} events/s for {PARAMS.trickle_seconds:g}s",
        "bench.delivery_publisher",
        {**config, "rate": rate, "seconds": PARAMS.trickle_seconds},
        ctx.workdir,
        timeout=PARAMS.trickle_seconds + 60.0,
    )
    sent: dict[str, list[float]] = out["sent"]
    try:
        stats = _await_arrivals(
            ui, f"{label}: arrivals", receiver, len(sent), procs, {}, timeout=20.0
        )
    except BenchError as exc:
        ui.console.print(f"[yellow]{exc}[/]")
        stats = receiver.stats(full=True)
    cpu_after = _cpu(groups)
    result = _latency(sent, stats["by_seq"], int(out["errors"]))
    voxsig_cpu = cpu_after["voxsig"] - cpu_before["voxsig"]
    # Over the whole trickle, the publisher's start-up included (Voxsig idles meanwhile).
    result["voxsig_cpu_ms_per_event"] = round(1000.0 * voxsig_cpu / len(sent), 2) if sent else None
    result["cpu_percent"] = _cpu_use(cpu_before, cpu_after)
    result["error_sample"] = out["error_sample"]
    result["rate"] = rate
    result["seconds"] = PARAMS.trickle_seconds
    result["other_cpu_percent_before"] = other_before
    result["duplicates"] = stats["duplicates"]
    return result


# --- phases ----------------------------------------------------------------------------------


def _endpoint_names() -> list[str]:
    return [str(i) for i in range(PARAMS.endpoints)]


def run_ceiling(ctx: Ctx, loop: str) -> dict[str, Any]:
    from voxsig.kit.tokens import new_webhook_secret

    receiver = ctx.receiver
    secrets = {n: str(new_webhook_secret()) for n in _endpoint_names()}
    endpoints = [
        {"name": n, "url": receiver.url(n), "secret": secret, "inbox_id": i + 1}
        for i, (n, secret) in enumerate(secrets.items())
    ]
    receiver.reset(secrets)
    other_before = ctx.quiet(f"ceiling ({loop})")
    before = cpu_seconds(receiver.server.proc.pid)
    out = _run_tool(
        ctx.ui,
        f"ceiling ({loop}): {PARAMS.events:,} signed POSTs, {PARAMS.concurrency} in flight",
        "bench.delivery_client",
        {
            "endpoints": endpoints,
            "events": PARAMS.events,
            "concurrency": PARAMS.concurrency,
            "loop": loop,
        },
        ctx.workdir,
        timeout=60.0 + PARAMS.events / 100.0,
    )
    receiver_cpu = cpu_seconds(receiver.server.proc.pid) - before
    stats = receiver.stats(full=True)
    stats["cpu_percent"] = {}
    stats["cpu_window_deliveries"] = 0
    summary = _drain_summary(stats, None, None, None)
    span = summary["first_to_last_s"]
    summary["client"] = out
    summary["voxsig_cpu_ms_per_delivery"] = round(1000.0 * out["cpu_s"] / PARAMS.events, 3)
    # The client's CPU over its sending (from its own rusage), the receiver's over the run.
    summary["cpu_percent"] = {
        "voxsig": round(100.0 * out["cpu_s"] / out["seconds"], 1) if out["seconds"] else None,
        "receiver": round(100.0 * receiver_cpu / span, 1) if span else None,
    }
    summary["errors"] = sum(n for k, n in out["outcomes"].items() if k != "succeeded")
    summary["other_cpu_percent_before"] = other_before
    return summary


def _setup_and_publish(
    ctx: Ctx, label: str, database_url: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    made = _run_tool(
        ctx.ui,
        f"{label}: {PARAMS.endpoints} webhooks, then publishing {PARAMS.events:,} events",
        "bench.delivery_publisher",
        {
            "mode": "prepare",
            "database_url": database_url,
            "allowed_networks": ALLOWED_NETWORKS,
            "endpoints": [[n, ctx.receiver.url(n)] for n in _endpoint_names()],
            "events": PARAMS.events,
            "batch": PARAMS.batch,
        },
        ctx.workdir,
        timeout=120.0 + PARAMS.events / 50.0,
    )
    published: dict[str, Any] = made["bulk"]
    if published["published"] != PARAMS.events:
        raise BenchError(f"{label}: published {published['published']} of {PARAMS.events}")
    secrets = {e["name"]: e["secret"] for e in made["endpoints"]}
    return made, published, secrets


def _trickle_config(mode: str, url: str, made: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mode": mode,
        "database_url": url,
        "account_id": made["account_id"],
        "inbox_ids": [e["inbox_id"] for e in made["endpoints"]],
    }


def _voxsig_env(**extra: str) -> dict[str, str]:
    return child_env(VOXSIG_WEBHOOK_ALLOWED_NETWORKS=ALLOWED_NETWORKS, **extra)


def _log_findings(summary: dict[str, Any], logs: Sequence[Path]) -> None:
    problems = [line for log in logs for line in log_problems(log)]
    summary["log_problem_lines"] = len(problems)
    summary["log_sample"] = "\n".join(log_tail(log, 20) for log in logs) if problems else None


def _server_groups(server: Server, receiver: Receiver) -> Groups:
    return {"voxsig": lambda: [server.proc.pid], "receiver": lambda: [receiver.server.proc.pid]}


def _drain_timeout() -> float:
    return 60.0 + PARAMS.events / 100.0


def run_sqlite(ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any] | None]:
    label = "sqlite serve"
    data_dir = ctx.workdir / "sqlite"
    data_dir.mkdir()
    db_path = data_dir / "voxsig.db"
    url = f"sqlite+aiosqlite:///{db_path}"
    made, published, secrets = _setup_and_publish(ctx, label, url)
    ctx.receiver.reset(secrets)
    port = free_port()
    log = ctx.workdir / "sqlite-serve.log"
    env = _voxsig_env(VOXSIG_DATA_DIR=str(data_dir), VOXSIG_PORT=str(port))
    other_before = ctx.quiet(label)
    with ctx.ui.step(f"{label}: starting `voxsig serve` (the worker drains the backlog)"):
        server = start_server(label, [str(venv_script("voxsig")), "serve"], env, port, log)
    latency = None
    try:
        stats = _await_arrivals(
            ctx.ui,
            label,
            ctx.receiver,
            PARAMS.events,
            [server.proc],
            _server_groups(server, ctx.receiver),
            _drain_timeout(),
        )
        counts, recorded_at = _await_recorded(_sqlite_statuses(db_path), PARAMS.events)
        summary = _drain_summary(stats, published, counts, recorded_at)
        summary["other_cpu_percent_before"] = other_before
        if PARAMS.trickle_seconds > 0:
            latency = _trickle(
                ctx,
                "latency sqlite, publisher process",
                secrets,
                _trickle_config("trickle", url, made),
                [server.proc],
                _server_groups(server, ctx.receiver),
                PARAMS.trickle_rate,
            )
    finally:
        with ctx.ui.step(f"{label}: stopping the server"):
            PROCESSES.stop(server.proc)
    _log_findings(summary, [log])
    return summary, latency


def run_postgres(
    ctx: Ctx, cluster: Any, workers: int, with_trickle: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    label = f"postgres, {workers} worker{'s' if workers > 1 else ''}"
    database = f"bench_{workers}w"
    with ctx.ui.step(f"{label}: creating database {database}"):
        url = cluster.create_database(database)
    made, published, secrets = _setup_and_publish(ctx, label, url)
    ctx.receiver.reset(secrets)
    env = _voxsig_env(VOXSIG_DATABASE_URL=url, VOXSIG_DATA_DIR=str(ctx.workdir / database))
    logs = [ctx.workdir / f"{database}-worker{i}.log" for i in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    latency = None
    other_before = ctx.quiet(label)
    try:
        with ctx.ui.step(f"{label}: starting {workers} x `voxsig worker`"):
            for log in logs:
                procs.append(
                    PROCESSES.start([str(venv_script("voxsig")), "worker"], env=env, log=log)
                )
        data_dir = cluster.data_dir
        receiver_pid = ctx.receiver.server.proc.pid
        groups = {
            "voxsig": lambda: [p.pid for p in procs],
            "postgres": lambda: _postgres_pids(data_dir),
            "receiver": lambda: [receiver_pid],
        }
        stats = _await_arrivals(
            ctx.ui, label, ctx.receiver, PARAMS.events, procs, groups, _drain_timeout()
        )
        counts, recorded_at = _await_recorded(_postgres_statuses(cluster, database), PARAMS.events)
        summary = _drain_summary(stats, published, counts, recorded_at)
        summary["other_cpu_percent_before"] = other_before
        if with_trickle and PARAMS.trickle_seconds > 0:
            latency = _trickle(
                ctx,
                "latency postgres, publisher process",
                secrets,
                _trickle_config("trickle", url, made),
                procs,
                groups,
                PARAMS.trickle_rate,
            )
    finally:
        with ctx.ui.step(f"{label}: stopping the workers"):
            for proc in procs:
                PROCESSES.stop(proc)
    _log_findings(summary, logs)
    summary["workers"] = workers
    return summary, latency


def run_rest(opts: Options, ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any] | None]:
    label = "rest"
    ui, receiver = ctx.ui, ctx.receiver
    data_dir = ctx.workdir / "rest"
    port = free_port()
    log = ctx.workdir / "rest-serve.log"
    env = _voxsig_env(VOXSIG_DATA_DIR=str(data_dir), VOXSIG_PORT=str(port))
    with ui.step(f"{label}: voxsig create-account"):
        account = _create_account(env)
    with ui.step(f"{label}: starting `voxsig serve`"):
        server = start_server(label, [str(venv_script("voxsig")), "serve"], env, port, log)
    latency = None
    try:
        api = f"{server.base_url}/api/v1/accounts/{account['account_id']}"
        headers = {"api_access_token": str(account["api_access_token"])}
        with ui.step(f"{label}: a webhook, an inbox and {opts.clients} conversations"):
            webhook = http_json(
                "POST",
                f"{api}/webhooks",
                {"url": receiver.url("api"), "subscriptions": ["message_created"]},
                headers,
            )["payload"]["webhook"]
            conversations = _create_conversations(server.base_url, account, opts.clients)
        secrets = {"api": str(webhook["secret"])}
        receiver.reset(secrets)
        targets = [
            {
                "method": "POST",
                "path": f"/api/v1/accounts/{account['account_id']}/conversations/{cid}/messages",
                "body": {"content": f"Hello from benchmark client {i}", "message_type": "outgoing"},
            }
            for i, cid in enumerate(conversations)
        ]
        load = run_loadgen(ui, label, server, targets, headers, opts, ctx.workdir)
        load_end = time.time()
        at_end = receiver.stats()
        created = int(load["ok_total"])
        stats = _await_arrivals(
            ui,
            f"{label}: remaining deliveries",
            receiver,
            created,
            [server.proc],
            _server_groups(server, receiver),
            60.0,
        )
        counts, recorded_at = _await_recorded(_sqlite_statuses(data_dir / "voxsig.db"), created)
        summary = _drain_summary(stats, None, counts, recorded_at)
        api_summary = summarize(load)
        summary["api"] = {
            k: api_summary[k]
            for k in (
                "requests_per_s",
                "latency_ms",
                "errors",
                "ok_total",
                "server_cpu_percent",
                "server_cpu_ms_per_request",
                "loadgen_cpu_percent",
                "other_cpu_percent",
                "other_cpu_percent_before",
            )
        }
        api_rate = created / float(load["wall_s"])
        summary["api"]["calls_per_s_whole_run"] = round(api_rate, 1)
        summary["messages_created"] = created
        summary["arrived_by_load_end"] = at_end["count"]
        summary["deliveries_per_s_during_load"] = round(at_end["count"] / float(load["wall_s"]), 1)
        summary["backlog_at_load_end"] = created - at_end["count"]
        summary["last_arrival_after_load_end_s"] = (
            round(stats["last"] - load_end, 2) if stats["last"] else None
        )
        summary["other_cpu_percent_before"] = api_summary["other_cpu_percent_before"]
        # Over the load: the server's CPU per API call, which includes delivering its event.
        summary["cpu_after_load_percent"] = summary["cpu_percent"]
        summary["voxsig_cpu_ms_per_delivery"] = api_summary["server_cpu_ms_per_request"]
        summary["cpu_percent"] = {
            "voxsig": api_summary["server_cpu_percent"],
            "loadgen": api_summary["loadgen_cpu_percent"],
            "other": api_summary["other_cpu_percent"],
        }
        if PARAMS.trickle_seconds > 0:
            # Open loop: above the API's capacity the queue, not the delivery, would be timed.
            rate = max(1.0, min(PARAMS.trickle_rate, round(api_rate / 2)))
            latency = _trickle(
                ctx,
                "latency sqlite, REST API",
                secrets,
                {
                    "mode": "api_trickle",
                    "base_url": api,
                    "token": account["api_access_token"],
                    "conversations": conversations,
                },
                [server.proc],
                _server_groups(server, receiver),
                rate,
            )
    finally:
        with ui.step(f"{label}: stopping the server"):
            PROCESSES.stop(server.proc)
    _log_findings(summary, [log])
    return summary, latency


# --- output ----------------------------------------------------------------------------------

LABELS = {
    "ceiling_asyncio": "ceiling, asyncio loop (no DB)",
    "ceiling_uvloop": "ceiling, uvloop (no DB)",
    "sqlite_serve": "SQLite, voxsig serve",
    "postgres_1_worker": "PostgreSQL, 1 voxsig worker",
    "postgres_2_workers": "PostgreSQL, 2 voxsig workers",
    "rest_api": "REST API -> SQLite serve",
}


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def _throughput_table(results: Mapping[str, Any], ceiling: float | None) -> Table:
    table = Table(
        title=f"deliveries: {PARAMS.events:,} events over {PARAMS.endpoints} endpoints, "
        "drained from a backlog (REST: while created)",
        caption="rate: arrivals first to last; x ceiling: of the faster ceiling; CPU: during "
        "the drain, % of one core (voxsig = the client / serve / the workers); REST: CPU per "
        "API call (its delivery included) and % over the load (oth: with the load generator)",
    )
    table.add_column("run", no_wrap=True)
    for column in ("deliveries", "deliv/s", "x ceiling", "recorded\n+s", "voxsig CPU\nms/deliv"):
        table.add_column(column, justify="right")
    table.add_column("CPU %\nvox/pg/recv/oth", justify="right")
    table.add_column("dup/bad", justify="right")
    for key, label in LABELS.items():
        r = results.get(key)
        if r is None:
            continue
        rate = r["deliveries_per_s"]
        cpu = r["cpu_percent"]
        oth = None if cpu.get("other") is None else cpu["other"] + cpu.get("loadgen", 0.0)
        table.add_row(
            label,
            f"{r['deliveries']:,}",
            _fmt(rate),
            _fmt(rate / ceiling if rate and ceiling else None, ".2f"),
            _fmt(r["recorded_after_last_arrival_s"], ".2f"),
            _fmt(r["voxsig_cpu_ms_per_delivery"], ".2f"),
            "/".join(
                _fmt(v) for v in (*(cpu.get(k) for k in ("voxsig", "postgres", "receiver")), oth)
            ),
            f"{r['duplicates']}/{r['bad_signatures']}",
        )
    return table


def _latency_table(latency: Mapping[str, Any]) -> Table:
    table = Table(
        title=f"commit -> arrival (ms): a steady trickle for {PARAMS.trickle_seconds:g}s, "
        "one transaction per event",
        caption="p50..max: receiver's clock minus the publisher's once its commit returned "
        "(REST: once the 2xx arrived); embedded: minus the clock in the payload, taken before "
        "the insert (REST: when the request was sent); CPU: Voxsig's per event (REST: with "
        "the API call)",
    )
    table.add_column("run", no_wrap=True)
    for column in ("ev/s", "arrived", "p50", "p90", "p99", "max", "embedded\np50/p99"):
        table.add_column(column, justify="right")
    table.add_column("CPU ms\n/event", justify="right")
    for label, r in latency.items():
        after, before = r["from_commit_returned_ms"], r["from_embedded_ms"]
        table.add_row(
            label,
            f"{r['rate']:g}",
            f"{r['delivered']}/{r['sent']}",
            *(_fmt(after[k], ",.0f") for k in ("p50", "p90", "p99", "max")),
            f"{_fmt(before['p50'], ',.0f')}/{_fmt(before['p99'], ',.0f')}",
            _fmt(r["voxsig_cpu_ms_per_event"], ".2f"),
        )
    return table


def _rest_line(rest: Mapping[str, Any]) -> str:
    api = rest["api"]
    return (
        f"REST: {api['calls_per_s_whole_run']:,.0f} API calls/s over the whole load "
        f"({api['requests_per_s']:,.0f}/s measured, p50 {api['latency_ms']['p50']} ms), "
        f"{rest['deliveries_per_s']:,.0f} deliveries/s first to last arrival but "
        f"{rest['deliveries_per_s_during_load']:,.0f}/s while the load ran: "
        f"{rest['backlog_at_load_end']} of {rest['messages_created']} not yet delivered when it "
        f"stopped, the last {rest['last_arrival_after_load_end_s']}s after it"
    )


def _warnings(results: Mapping[str, Any], latency: Mapping[str, Any]) -> list[str]:
    notes = []
    for key, r in results.items():
        if r.get("errors"):
            notes.append(f"{key}: {r['errors']} failed sends: {r['client']['error_sample']}")
        if r["duplicates"] or r["bad_signatures"] or r["unsigned"]:
            notes.append(
                f"{key}: {r['duplicates']} duplicate deliveries, {r['bad_signatures']} bad "
                f"signatures ({r['bad_signature_sample']}), {r['unsigned']} unsigned"
            )
        counts = r.get("db_counts")
        if counts is not None and set(counts) - {"succeeded", "attempts"}:
            notes.append(f"{key}: deliveries not all succeeded: {counts}")
        if counts is not None and counts.get("attempts") != counts.get("succeeded"):
            notes.append(f"{key}: attempts recorded differ from deliveries: {counts}")
        if r.get("recorded_after_last_arrival_s") is None and counts is not None:
            notes.append(f"{key}: the database did not show every delivery succeeded in time")
        if r.get("log_problem_lines"):
            notes.append(
                f"{key}: {r['log_problem_lines']} error lines in the logs:\n{r['log_sample']}"
            )
        other = r["cpu_percent"].get("other")
        if other is not None and other > 20:
            notes.append(
                f"{key}: other processes used {other}% of a core during the drain; "
                "run again on a quiet machine"
            )
    for key, r in latency.items():
        if r["missing"] or r["send_errors"]:
            notes.append(
                f"{key}: {r['missing']} of {r['sent']} trickled events never arrived, "
                f"{r['send_errors']} send errors ({r['error_sample']})"
            )
    return notes


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (tables, then notes)."""
    workdir = Path(tempfile.mkdtemp(prefix="voxsig-bench-deliveries-"))
    keep = opts.keep
    results: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    notes: list[str] = []
    cluster: Any = None
    started = time.monotonic()
    phase_seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        elapsed = time.monotonic() - started - sum(phase_seconds.values())
        phase_seconds[name] = round(elapsed, 1)

    try:
        port = free_port()
        with ui.step("receiver: starting"):
            receiver = Receiver(
                start_server(
                    "receiver",
                    [sys.executable, "-m", "bench.delivery_receiver", str(port)],
                    child_env(),
                    port,
                    workdir / "receiver.log",
                )
            )
        ctx = Ctx(ui, receiver, workdir, opts.quiet_wait)
        try:
            for loop in ("asyncio", "uvloop"):
                results[f"ceiling_{loop}"] = run_ceiling(ctx, loop)
            lap("ceilings")
            results["sqlite_serve"], trickle = run_sqlite(ctx)
            if trickle is not None:
                latency["SQLite serve, publisher process"] = trickle
            lap("sqlite")
            if PARAMS.postgres:
                from tests.support.postgres import PostgresCluster, PostgresUnavailable

                try:
                    with ui.step("postgres: initdb and start a throwaway cluster"):
                        cluster = PostgresCluster().start()
                except PostgresUnavailable as exc:
                    notes.append(f"PostgreSQL runs skipped: {str(exc).splitlines()[0]}")
                    cluster = None
                if cluster is not None:
                    results["postgres_1_worker"], trickle = run_postgres(
                        ctx, cluster, 1, with_trickle=True
                    )
                    if trickle is not None:
                        latency["PostgreSQL 1 worker, publisher process"] = trickle
                    results["postgres_2_workers"], _ = run_postgres(
                        ctx, cluster, 2, with_trickle=False
                    )
            lap("postgres")
            results["rest_api"], trickle = run_rest(opts, ctx)
            if trickle is not None:
                latency["SQLite serve, REST API"] = trickle
            lap("rest")
        finally:
            with ui.step("receiver: stopping"):
                PROCESSES.stop(receiver.server.proc)
    except BenchError:
        keep = True  # the logs tell why
        raise
    finally:
        if cluster is not None:
            cluster.destroy()
        if keep:
            ui.console.print(f"[dim]Data dirs and logs kept in {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ceilings = [results[k]["deliveries_per_s"] for k in ("ceiling_asyncio", "ceiling_uvloop")]
    ceiling = max((c for c in ceilings if c), default=None)
    for r in results.values():
        rate = r["deliveries_per_s"]
        r["ratio_to_ceiling"] = round(rate / ceiling, 3) if rate and ceiling else None
    notes = _warnings(results, latency) + notes
    output: list[Any] = [_throughput_table(results, ceiling)]
    if "rest_api" in results:
        output.append(_rest_line(results["rest_api"]))
    if latency:
        output.append(_latency_table(latency))
    output.extend(f"[yellow]note:[/] {n}" for n in notes)
    data = {
        "benchmark": NAME,
        "description": DESCRIPTION,
        "params": {
            **asdict(PARAMS),
            "rest_seconds": opts.seconds,
            "rest_warmup": opts.warmup,
            "rest_clients": opts.clients,
            "conversations": CONVERSATIONS,
            "allowed_networks": ALLOWED_NETWORKS,
            "receiver": f"aiohttp on uvloop, {HOST}",
        },
        "ceiling_deliveries_per_s": ceiling,
        "results": results,
        "latency": latency,
        "total_seconds": round(time.monotonic() - started, 1),
        "phase_seconds": phase_seconds,
        "notes": notes,
    }
    return data, output
