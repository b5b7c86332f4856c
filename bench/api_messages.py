"""api_messages: creating messages through the REST API, against a baseline measured alongside
(issue 7, benchmark 6); the method is METHOD below."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import baseline_app
from bench.common import (
    PROCESSES,
    BenchError,
    Server,
    Ui,
    api_conversations,
    http_json,
    run_loadgen,
    start_server,
    summarize,
    work_dir,
)
from bench.delivery_common import ALLOWED_NETWORKS, Receiver, start_receiver, voxsig_env
from bench.output import col, detail_table, dig, fmt, headline, results
from bench.spec import Benchmark, Options
from harness.database import count_rows, delivery_counts
from harness.processes import free_port, log_problems, log_tail, scrubbed_env
from harness.server import run_cli, voxsig_command
from voxsig.models import Delivery, Event, Message

DUMMY_TOKEN = "x" * 32  # the baseline ignores it; sent so both get requests of the same size
TARGET_RATIO = 0.8  # issue 7's: at least 0.8 of the baseline's rate, with one endpoint
DRAIN_WAIT = 15.0  # s after the load for the deliveries still pending (not measured)
RUNS = {
    "baseline": "baseline",
    "voxsig_no_webhook": "voxsig, no webhook",
    "voxsig_1_webhook": "voxsig, 1 webhook",
}

METHOD = """\
`POST /api/v1/accounts/{{a}}/conversations/{{id}}/messages` with `{{"content": "...",
"message_type": "outgoing"}}` and the `api_access_token` header, from `bench/loadgen.py` (its own
process, aiohttp): {clients} clients, each with a keep-alive connection and its own conversation,
send back to back (closed loop) for {warmup:g} s of warm-up and {seconds:g} s measured. Three
servers run one after the other, never at once, each on a fresh SQLite database: 1. the
baseline (`bench/baseline_app.py`, FastAPI and async SQLAlchemy on the engine
`voxsig.db.make_engine` makes, so the same SQLite driver, single pooled connection and pragmas,
in one process; it validates the body, inserts one message row and one outbox row, commits and
answers the message) gets `POST /conversations/{{i}}/messages` with the same body and header;
2. `voxsig serve` with no webhook: nothing is subscribed, so nothing is published (against 3,
this isolates the cost of publishing and delivering); 3. `voxsig serve` with one webhook
(created through the API, account-wide, subscribed to message_created) pointing at a receiver
(`bench/delivery_receiver.py`, {allowed_networks} allowed), so each request also stores an event
and a delivery, which the in-process worker sends during the load; afterwards the remaining
deliveries get up to {drain_wait:g} s to arrive (not measured). Setup (not measured): `voxsig
create-account`, an API inbox, one contact and one conversation per client. Rate: 2xx completed
in the measured period per second; latency per request, from the client; CPU ms/request: the
server process's CPU (worker included) over the requests it answered. Checks: every 2xx is a
stored message (baseline: and an outbox row; no webhook: and no event; 1 webhook: and exactly
one message_created event and one delivery, every arrival once, the first 50 signatures valid),
no failed request, no error line in the server log. Target: at least {target:g} of the
baseline's rate with one subscribed endpoint (not met if a check failed)."""


def _body(client: int) -> dict[str, Any]:
    return {"content": f"Hello from benchmark client {client}", "message_type": "outgoing"}


def _load(
    opts: Options,
    ui: Ui,
    workdir: Path,
    server: Server,
    paths: list[str],
    headers: dict[str, str],
    receiver: Receiver | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The load on `server` (one target path per client); with a receiver, the wait for the
    remaining deliveries and what arrived; then the server is stopped."""
    label = server.name
    targets = [{"method": "POST", "path": p, "body": _body(i)} for i, p in enumerate(paths)]
    helpers = {} if receiver is None else {"receiver": receiver.pid}
    try:
        load = run_loadgen(ui, label, server, targets, headers, opts, workdir, helpers)
        if receiver is None:
            return load, {}
        at_end = receiver.stats()["count"]
        drained = _await_arrivals(ui, label, receiver, int(load["ok_total"]))
        return load, {"arrived_at_load_end": at_end, "all_arrived_after_load_s": drained}
    finally:
        with ui.step(f"{label}: stopping the server"):
            PROCESSES.stop(server.proc)


def _checked(load: dict[str, Any], stored: int, log: Path, *checks: bool) -> dict[str, Any]:
    summary = summarize(load)
    problems = log_problems(log)
    summary |= {
        "stored_messages": stored,
        "stored_matches_2xx": stored == load["ok_total"],
        "server_log_problem_lines": len(problems),
        "server_log_sample": log_tail(log, 20) if problems else None,
    }
    failed = summary["errors"] or summary["errors_outside_window"] or problems
    summary["checks_ok"] = summary["stored_matches_2xx"] and not failed and all(checks)
    return summary


def run_baseline(opts: Options, ui: Ui, workdir: Path) -> dict[str, Any]:
    data_dir, log, port = workdir / "baseline", workdir / "baseline-server.log", free_port()
    env = scrubbed_env(BENCH_DATA_DIR=str(data_dir), BENCH_PORT=str(port))
    with ui.step("baseline: starting the server"):
        args = [sys.executable, "-m", "bench.baseline_app"]
        server = start_server("baseline", args, env, port, log)
    paths = [f"/conversations/{i + 1}/messages" for i in range(opts.clients)]
    load, _ = _load(opts, ui, workdir, server, paths, {"api_access_token": DUMMY_TOKEN})
    url = f"sqlite+aiosqlite:///{data_dir / 'baseline.db'}"
    outbox = count_rows(url, baseline_app.OutboxEvent)
    summary = _checked(load, count_rows(url, baseline_app.Message), log, outbox == load["ok_total"])
    return summary | {"stored_outbox_rows": outbox}


def _account(env: dict[str, str]) -> dict[str, Any]:
    args = ["--name", "Bench", "--email", "bench@example.com", "--password", "bench-password-1"]
    done = run_cli(env, "create-account", *args)
    if done.returncode != 0:
        raise BenchError(f"voxsig create-account failed:\n{done.stderr.strip()}")
    account: dict[str, Any] = json.loads(done.stdout)
    return account


def _await_arrivals(ui: Ui, label: str, receiver: Receiver, expected: int) -> float | None:
    """Waits (at most DRAIN_WAIT s) until the receiver has `expected` arrivals; returns how
    long that took, or None if they did not all arrive."""
    started = time.monotonic()
    with ui.step(f"{label}: waiting for the remaining deliveries"):
        while receiver.stats()["count"] < expected:
            if time.monotonic() - started > DRAIN_WAIT:
                return None
            time.sleep(0.2)
    return round(time.monotonic() - started, 2)


def run_voxsig(
    opts: Options, ui: Ui, workdir: Path, label: str, receiver: Receiver | None
) -> dict[str, Any]:
    data_dir, log, port = workdir / label, workdir / f"{label}-server.log", free_port()
    url = f"sqlite+aiosqlite:///{data_dir / 'voxsig.db'}"
    # The same environment for both Voxsig runs; only the webhook differs.
    env = voxsig_env(VOXSIG_DATA_DIR=str(data_dir), VOXSIG_PORT=str(port))
    with ui.step(f"{label}: create-account"):
        account = _account(env)
    with ui.step(f"{label}: starting the server (voxsig serve)"):
        server = start_server(label, [*voxsig_command(), "serve"], env, port, log)
    api = f"{server.base_url}/api/v1/accounts/{account['account_id']}"
    headers = {"api_access_token": str(account["api_access_token"])}
    setup = f"{label}: {'a webhook, ' if receiver else ''}an inbox and {opts.clients} conversations"
    with ui.step(setup):
        if receiver is not None:
            hook = {"url": receiver.url("api"), "subscriptions": ["message_created"]}
            created = http_json("POST", f"{api}/webhooks", hook, headers)["payload"]["webhook"]
            receiver.reset({"api": str(created["secret"])})
        inbox = {"name": "API", "channel": {"type": "api"}}
        inbox_id = http_json("POST", f"{api}/inboxes", inbox, headers)["id"]
        conversations = api_conversations(api, headers, inbox_id, opts.clients)

    def counts() -> tuple[int, ...]:
        created = Event.name == "message_created"
        tables = ((Message,), (Event,), (Event, created), (Delivery,))
        return tuple(count_rows(url, *table) for table in tables)

    before = counts()
    paths = [
        f"{api.removeprefix(server.base_url)}/conversations/{c}/messages" for c in conversations
    ]
    load, webhook = _load(opts, ui, workdir, server, paths, headers, receiver)
    messages, events, created, deliveries = (a - b for a, b in zip(counts(), before, strict=True))
    ok_total = int(load["ok_total"])
    if receiver is None:
        summary = _checked(load, messages, log, events == 0 and deliveries == 0)
        return summary | {"published_events": events, "conversations": len(conversations)}
    stats = receiver.stats()
    webhook |= {k: stats[k] for k in ("duplicates", "bad_signatures", "bad_signature_sample")}
    webhook |= {
        "arrived": stats["count"],
        "signatures_verified": stats["verified"],
        "events": events,
        "message_created_events": created,
        "deliveries": deliveries,
        "events_match_2xx": created == ok_total == events,
        "deliveries_match_2xx": deliveries == ok_total,
        "deliveries_by_status_at_stop": delivery_counts(url, statuses_only=True),
    }
    checks = ("events_match_2xx", "deliveries_match_2xx")
    clean = not webhook["duplicates"] and not webhook["bad_signatures"]
    summary = _checked(load, messages, log, *(webhook[c] for c in checks), clean)
    return summary | {"webhook": webhook, "conversations": len(conversations)}


def _cpu(r: dict[str, Any]) -> str:
    groups = ("server_cpu_percent", "loadgen_cpu_percent", "helpers_cpu_percent.receiver")
    return "/".join(fmt(dig(r, path)) for path in (*groups, "other_cpu_percent"))


def _arrived(r: dict[str, Any]) -> str:
    hook = r.get("webhook")
    return "-" if hook is None else f"{hook['arrived']:,} of {hook['deliveries']:,}"


COLUMNS = (
    ("server", lambda r: RUNS.get(r["name"], r["name"])),
    col("req/s", "requests_per_s", ",.1f"),
    col("x\nbaseline", "ratio_to_baseline", ".2f"),
    col("p50\nms", "latency_ms.p50", ",.1f"),
    col("p99\nms", "latency_ms.p99", ",.1f"),
    ("errors", lambda r: str(r["errors"] + r["errors_outside_window"])),
    col("server\nCPU\nms/req", "server_cpu_ms_per_request", ".2f"),
    ("checks", lambda r: "ok" if r["checks_ok"] else "FAILED"),
    ("deliveries\narrived", _arrived),
    ("CPU %\nsrv/gen/\nrcv/oth", _cpu),
)


def _table(found: dict[str, dict[str, Any]], opts: Options) -> Any:
    return detail_table(
        f"api_messages: {opts.clients} clients, {opts.warmup:g}s warm-up, "
        f"{opts.seconds:g}s measured",
        COLUMNS,
        [r | {"name": name} for name, r in found.items()],
        "x baseline: rate / the baseline's rate. Server CPU ms/req includes the in-process worker "
        "delivering. Checks: every 2xx is a stored message (baseline: and an outbox row; no "
        "webhook: and no event; 1 webhook: and one message_created event and one delivery), no "
        "failed request, no error in the server log. Deliveries arrived: at the receiver, by the "
        "time the server stopped (the load's warm-up included). CPU %: of one core, used by the "
        "server, the load generator, the webhook receiver and all else during the load.",
    )


def _problems(r: dict[str, Any]) -> list[str]:
    """What went wrong in one server's run, for the notes."""
    ok, hook, found = r["ok_total"], r.get("webhook"), []
    if r["errors"] or r["errors_outside_window"]:
        found.append(
            f"{r['errors']} failed requests in the measured window ({r['errors_by_kind']}), "
            f"{r['errors_outside_window']} outside it; first: {r['error_sample']}"
        )
    if not r["stored_matches_2xx"]:
        found.append(f"{r['stored_messages']} messages stored but {ok} requests answered 2xx")
    if r.get("stored_outbox_rows", ok) != ok:
        found.append(f"{r.get('stored_outbox_rows')} outbox rows for {ok} 2xx answers")
    if r.get("published_events"):
        found.append(f"{r.get('published_events')} events published with no webhook")
    if hook is not None and not (hook["events_match_2xx"] and hook["deliveries_match_2xx"]):
        found.append(
            f"{hook['events']} events ({hook['message_created_events']} message_created) "
            f"and {hook['deliveries']} deliveries for {ok} 2xx answers"
        )
    if hook is not None and (hook["duplicates"] or hook["bad_signatures"]):
        found.append(
            f"the receiver saw {hook['duplicates']} duplicates and {hook['bad_signatures']} "
            f"bad signatures ({hook['bad_signature_sample']})"
        )
    if hook is not None and hook["all_arrived_after_load_s"] is None:
        found.append(
            f"{hook['arrived']:,} of {ok:,} deliveries had arrived {DRAIN_WAIT:g}s after the "
            "load (not a failure: the rest were pending)"
        )
    if r["server_log_problem_lines"]:
        found.append(
            f"{r['server_log_problem_lines']} error lines in the server log; its end:\n"
            f"{r['server_log_sample']}"
        )
    if (r["other_cpu_percent"] or 0) > 20:
        found.append(
            f"other processes used {r['other_cpu_percent']}% of a CPU during the run; the "
            "figures are skewed, run again on a quiet machine"
        )
    return found


def _notes(found: dict[str, dict[str, Any]]) -> list[str]:
    notes = [f"{RUNS.get(n, n)}: {text}" for n, r in found.items() for text in _problems(r)]
    if not found["baseline"]["requests_per_s"]:
        notes.append("no ratio: the baseline completed no request")
    return notes


def _headline(found: dict[str, dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
    base, hook, bare = found["baseline"], found["voxsig_1_webhook"], found["voxsig_no_webhook"]
    value = hook.get("ratio_to_baseline")
    checked = hook["checks_ok"] and base["checks_ok"]
    at = f"{opts.clients} clients, SQLite"
    lat, base_lat = hook["latency_ms"], base["latency_ms"]
    figure = "Message creation with 1 webhook"
    rows = [
        headline(
            f"{figure}: rate vs. baseline",
            value,
            "x baseline",
            f">= {TARGET_RATIO:g}",
            None if value is None else bool(value >= TARGET_RATIO and checked),
            f"{hook['requests_per_s']:,.0f} vs. {base['requests_per_s']:,.0f} req/s, {at}"
            + ("" if checked else "; checks FAILED"),
        )
    ]
    cpu = f"delivery included; baseline {fmt(base['server_cpu_ms_per_request'], '.2f')} ms"
    plain = [
        (
            "requests/s",
            hook["requests_per_s"],
            "req/s",
            f"{at}; baseline {base['requests_per_s']:,.0f} req/s",
        ),
        ("p50 latency", lat["p50"], "ms", f"baseline {fmt(base_lat['p50'], ',.1f')} ms"),
        ("p99 latency", lat["p99"], "ms", f"baseline {fmt(base_lat['p99'], ',.1f')} ms"),
        ("server CPU per request", hook["server_cpu_ms_per_request"], "ms", cpu),
    ]
    rows += [headline(f"{figure}: {name}", v, unit, note=note) for name, v, unit, note in plain]
    note = (
        f"{bare['requests_per_s']:,.0f} req/s, p99 {fmt(bare['latency_ms']['p99'], ',.1f')} ms, "
        f"{fmt(bare['server_cpu_ms_per_request'], '.2f')} ms CPU/req; nothing published"
    )
    figure = "Message creation, no webhook: rate vs. baseline"
    return [*rows, headline(figure, bare.get("ratio_to_baseline"), "x baseline", note=note)]


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    started = time.monotonic()
    found: dict[str, dict[str, Any]] = {}
    with work_dir(opts, ui, BENCHMARK.name) as workdir:
        found["baseline"] = run_baseline(opts, ui, workdir)
        found["voxsig_no_webhook"] = run_voxsig(opts, ui, workdir, "voxsig_no_webhook", None)
        receiver = start_receiver(ui, workdir)
        try:
            found["voxsig_1_webhook"] = run_voxsig(opts, ui, workdir, "voxsig_1_webhook", receiver)
        finally:
            with ui.step("receiver: stopping"):
                PROCESSES.stop(receiver.server.proc)
    base_rate = found["baseline"]["requests_per_s"]
    base_cpu = found["baseline"]["server_cpu_ms_per_request"]
    for r in found.values():
        rate, cpu = r["requests_per_s"], r["server_cpu_ms_per_request"]
        r["ratio_to_baseline"] = round(rate / base_rate, 3) if base_rate else None
        r["cpu_per_request_ratio_to_baseline"] = (
            round(cpu / base_cpu, 3) if base_cpu and cpu else None
        )
    hook = found["voxsig_1_webhook"]
    return results(
        BENCHMARK,
        opts,
        _headline(found, opts),
        _table(found, opts),
        {
            "results": found,
            "ratio_to_baseline": hook["ratio_to_baseline"],
            "cpu_per_request_ratio_to_baseline": hook["cpu_per_request_ratio_to_baseline"],
            "target_ratio": TARGET_RATIO,
        },
        _notes(found),
        params={"seconds": opts.seconds, "warmup": opts.warmup, "conversations": opts.clients},
        total_seconds=round(time.monotonic() - started, 1),
    )


BENCHMARK = Benchmark(
    name="api_messages",
    description="POST a message to a conversation through the REST API, no webhook and 1 webhook "
    "(vs. a minimal baseline)",
    method=METHOD,
    run=run,
    facts={
        "target": TARGET_RATIO,
        "drain_wait": DRAIN_WAIT,
        "database": "sqlite",
        "server_processes": 1,
        "baseline_engine": "voxsig.db.make_engine",
        "webhook_subscriptions": ["message_created"],
        "allowed_networks": ALLOWED_NETWORKS,
        "receiver": "bench/delivery_receiver.py, aiohttp on uvloop, 127.0.0.1",
    },
)
