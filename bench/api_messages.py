"""api_messages: creating messages through the REST API, against a baseline measured alongside.

1. Baseline (bench/baseline_app.py) started alone; the load generator sends
   POST /conversations/{i}/messages from N clients; the server is stopped.
2. Voxsig, no webhook: `voxsig create-account`, `voxsig serve` (SQLite in a fresh data dir), an
   API inbox, one contact and one conversation per client; then the same load on
   POST /api/v1/accounts/{a}/conversations/{id}/messages; the server is stopped. Nothing is
   subscribed, so nothing is published: this run isolates the cost of publishing.
3. Voxsig, 1 webhook: as 2, plus one webhook subscribed to message_created that points at a
   receiver process (bench/delivery_receiver.py, 127.0.0.1), so every message publishes one event
   and one delivery, which the in-process worker sends while the load runs. After the load, the
   remaining deliveries get a few seconds to arrive; then the server is stopped.
No two servers run at once. Afterwards the rows in each database are counted: every 2xx must be a
stored message (and, with the webhook, one message_created event and one delivery).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from bench.common import (
    PROCESSES,
    ROOT,
    BenchError,
    Options,
    Server,
    Ui,
    child_env,
    free_port,
    http_json,
    log_problems,
    log_tail,
    run_loadgen,
    start_server,
    summarize,
    venv_script,
    work_dir,
)

NAME = "api_messages"
DESCRIPTION = (
    "POST a message to a conversation through the REST API, no webhook and 1 webhook "
    "(vs. a minimal baseline)"
)
# The baseline ignores it; sent so both servers receive requests of the same size.
DUMMY_TOKEN = "x" * 32
ALLOWED_NETWORKS = "127.0.0.0/8"
# Issue 7: at least 0.8 of the baseline's rate, with one subscribed endpoint.
TARGET_RATIO = 0.8
# After the load, how long the deliveries still pending may take to arrive (not measured).
DRAIN_WAIT = 15.0
RUNS = {
    "baseline": "baseline",
    "voxsig_no_webhook": "voxsig, no webhook",
    "voxsig_1_webhook": "voxsig, 1 webhook",
}
HEADLINE_RUN = "voxsig_1_webhook"
MESSAGE_CREATED = "WHERE name = 'message_created'"
METHOD = (
    "`bench/loadgen.py` (its own process, aiohttp) runs {clients} clients, each with a "
    "keep-alive connection, sending `POST /api/v1/accounts/{{a}}/conversations/{{id}}/messages` "
    "back to back (closed loop; one conversation per client) for {warmup:g} s of warm-up and "
    "{seconds:g} s measured. Three servers run one after the other, never at once, each on a "
    "fresh SQLite database: the baseline (`bench/baseline_app.py`: FastAPI and async "
    "SQLAlchemy on the engine `voxsig.db.make_engine` makes, so the same SQLite driver, single "
    "pooled connection and pragmas, in one process; it validates the body, inserts one message "
    "row and one outbox row, commits and answers the message), "
    "then `voxsig serve` with no webhook (nothing published), then `voxsig serve` with one "
    "webhook subscribed to message_created pointing at a local receiver "
    "(`bench/delivery_receiver.py`), so each request also stores an event and a delivery, which "
    "the in-process worker sends during the load. Rate is 2xx completed in the measured period "
    "per second; latency is per request, from the client; CPU ms/request is the server "
    "process's CPU (worker included) over the requests it answered. Checks: every 2xx is a "
    "stored message (with the webhook: one event and one delivery each), no error, no error "
    "line in the server log. The target, at least {target:g} of the baseline's rate with one "
    "subscribed endpoint, is issue 7's."
)


def _body(client: int) -> dict[str, Any]:
    return {"content": f"Hello from benchmark client {client}", "message_type": "outgoing"}


def _count_rows(db: Path, table: str, where: str = "") -> int:
    with sqlite3.connect(db, timeout=30.0) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()  # noqa: S608
    conn.close()
    return int(count)


def _delivery_statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30.0) as conn:
        rows = conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
    conn.close()
    return {str(status): int(count) for status, count in sorted(rows)}


def _stop(ui: Ui, server: Server) -> None:
    with ui.step(f"{server.name}: stopping the server"):
        PROCESSES.stop(server.proc)


def _finish(summary: dict[str, Any], load: dict[str, Any], stored: int, log: Path) -> None:
    summary["stored_messages"] = stored
    summary["stored_matches_2xx"] = stored == load["ok_total"]
    problems = log_problems(log)
    summary["server_log_problem_lines"] = len(problems)
    summary["server_log_sample"] = log_tail(log, 20) if problems else None


def run_baseline(opts: Options, ui: Ui, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / "baseline"
    log = workdir / "baseline-server.log"
    port = free_port()
    env = child_env(BENCH_DATA_DIR=str(data_dir), BENCH_PORT=str(port))
    with ui.step("baseline: starting the server"):
        server = start_server(
            "baseline",
            [sys.executable, "-m", "bench.baseline_app"],
            env,
            port,
            log,
        )
    try:
        targets = [
            {"method": "POST", "path": f"/conversations/{i + 1}/messages", "body": _body(i)}
            for i in range(opts.clients)
        ]
        load = run_loadgen(
            ui, "baseline", server, targets, {"api_access_token": DUMMY_TOKEN}, opts, workdir
        )
    finally:
        _stop(ui, server)
    summary = summarize(load)
    db = data_dir / "baseline.db"
    _finish(summary, load, _count_rows(db, "messages"), log)
    summary["stored_outbox_rows"] = _count_rows(db, "outbox")
    summary["checks_ok"] = (
        summary["stored_matches_2xx"]
        and summary["stored_outbox_rows"] == load["ok_total"]
        and not summary["errors"]
        and not summary["errors_outside_window"]
        and not summary["server_log_problem_lines"]
    )
    return summary


def _create_account(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(venv_script("voxsig")),
            "create-account",
            "--name",
            "Bench",
            "--email",
            "bench@example.com",
            "--password",
            "bench-password-1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"voxsig create-account failed:\n{done.stderr.strip()}")
    account: dict[str, Any] = json.loads(done.stdout)
    return account


def _create_conversations(base_url: str, account: dict[str, Any], count: int) -> list[int]:
    api = f"{base_url}/api/v1/accounts/{account['account_id']}"
    headers = {"api_access_token": str(account["api_access_token"])}
    inbox = http_json(
        "POST", f"{api}/inboxes", {"name": "API", "channel": {"type": "api"}}, headers
    )
    ids = []
    for i in range(count):
        contact = http_json(
            "POST", f"{api}/contacts", {"name": f"Customer {i}", "inbox_id": inbox["id"]}, headers
        )
        conversation = http_json(
            "POST",
            f"{api}/conversations",
            {"inbox_id": inbox["id"], "contact_id": contact["payload"]["contact"]["id"]},
            headers,
        )
        ids.append(int(conversation["id"]))
    return ids


def _receiver_stats(receiver: Server) -> dict[str, Any]:
    stats: dict[str, Any] = http_json("GET", receiver.base_url + "/_stats")
    return stats


def _await_arrivals(ui: Ui, label: str, receiver: Server, expected: int) -> float | None:
    """Waits (at most DRAIN_WAIT s) until the receiver has `expected` arrivals; returns how
    long that took, or None if they did not all arrive."""
    started = time.monotonic()
    with ui.step(f"{label}: waiting for the remaining deliveries"):
        while True:
            if _receiver_stats(receiver)["count"] >= expected:
                return round(time.monotonic() - started, 2)
            if time.monotonic() - started > DRAIN_WAIT:
                return None
            time.sleep(0.2)


def run_voxsig(
    opts: Options, ui: Ui, workdir: Path, label: str, receiver: Server | None
) -> dict[str, Any]:
    data_dir = workdir / label
    db = data_dir / "voxsig.db"
    log = workdir / f"{label}-server.log"
    port = free_port()
    # The same environment for both Voxsig runs; only the webhook differs.
    env = child_env(
        VOXSIG_DATA_DIR=str(data_dir),
        VOXSIG_PORT=str(port),
        VOXSIG_WEBHOOK_ALLOWED_NETWORKS=ALLOWED_NETWORKS,
    )
    with ui.step(f"{label}: create-account"):
        account = _create_account(env)
    with ui.step(f"{label}: starting the server (voxsig serve)"):
        server = start_server(label, [str(venv_script("voxsig")), "serve"], env, port, log)
    webhook: dict[str, Any] = {}
    try:
        api = f"{server.base_url}/api/v1/accounts/{account['account_id']}"
        headers = {"api_access_token": str(account["api_access_token"])}
        setup = f"{label}: creating an inbox and {opts.clients} conversations"
        if receiver is not None:
            setup = f"{label}: a webhook, an inbox and {opts.clients} conversations"
        with ui.step(setup):
            if receiver is not None:
                created = http_json(
                    "POST",
                    f"{api}/webhooks",
                    {"url": f"{receiver.base_url}/hook/api", "subscriptions": ["message_created"]},
                    headers,
                )["payload"]["webhook"]
                http_json(
                    "POST",
                    receiver.base_url + "/_reset",
                    {"secrets": {"api": str(created["secret"])}},
                )
            conversations = _create_conversations(server.base_url, account, opts.clients)
        before = _count_rows(db, "messages")
        events_before = _count_rows(db, "events")
        created_before = _count_rows(db, "events", MESSAGE_CREATED)
        deliveries_before = _count_rows(db, "deliveries")
        prefix = f"/api/v1/accounts/{account['account_id']}/conversations"
        targets = [
            {"method": "POST", "path": f"{prefix}/{cid}/messages", "body": _body(i)}
            for i, cid in enumerate(conversations)
        ]
        helpers = {} if receiver is None else {"receiver": receiver.proc.pid}
        load = run_loadgen(ui, label, server, targets, headers, opts, workdir, helpers)
        if receiver is not None:
            webhook["arrived_at_load_end"] = _receiver_stats(receiver)["count"]
            webhook["all_arrived_after_load_s"] = _await_arrivals(
                ui, label, receiver, int(load["ok_total"])
            )
            stats = _receiver_stats(receiver)
            webhook.update(
                arrived=stats["count"],
                duplicates=stats["duplicates"],
                signatures_verified=stats["verified"],
                bad_signatures=stats["bad_signatures"],
                bad_signature_sample=stats["bad_signature_sample"],
            )
    finally:
        _stop(ui, server)
    summary = summarize(load)
    stored = _count_rows(db, "messages") - before
    _finish(summary, load, stored, log)
    summary["conversations"] = len(conversations)
    ok_total = int(load["ok_total"])
    events = _count_rows(db, "events") - events_before
    deliveries = _count_rows(db, "deliveries") - deliveries_before
    checks = [
        summary["stored_matches_2xx"],
        not summary["errors"],
        not summary["errors_outside_window"],
        not summary["server_log_problem_lines"],
    ]
    if receiver is None:
        summary["published_events"] = events
        checks.append(events == 0 and deliveries == 0)
    else:
        webhook["events"] = events
        webhook["message_created_events"] = (
            _count_rows(db, "events", MESSAGE_CREATED) - created_before
        )
        webhook["deliveries"] = deliveries
        webhook["events_match_2xx"] = webhook["message_created_events"] == ok_total == events
        webhook["deliveries_match_2xx"] = deliveries == ok_total
        webhook["deliveries_by_status_at_stop"] = _delivery_statuses(db)
        summary["webhook"] = webhook
        checks += [
            webhook["events_match_2xx"],
            webhook["deliveries_match_2xx"],
            not webhook["duplicates"],
            not webhook["bad_signatures"],
        ]
    summary["checks_ok"] = all(checks)
    return summary


def _start_receiver(ui: Ui, workdir: Path) -> Server:
    port = free_port()
    with ui.step("receiver: starting"):
        return start_server(
            "receiver",
            [sys.executable, "-m", "bench.delivery_receiver", str(port)],
            child_env(),
            port,
            workdir / "receiver.log",
        )


# --- output ----------------------------------------------------------------------------------


def _num(value: float | None, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def _cpu_cell(r: dict[str, Any]) -> str:
    receiver = (r.get("helpers_cpu_percent") or {}).get("receiver")
    values = [r["server_cpu_percent"], r["loadgen_cpu_percent"], receiver, r["other_cpu_percent"]]
    return "/".join(_num(v, ".0f") for v in values)


def _arrived_cell(r: dict[str, Any]) -> str:
    webhook = r.get("webhook")
    if webhook is None:
        return "-"
    return f"{webhook['arrived']:,} of {webhook['deliveries']:,}"


# (column, its header in the terminal's narrower table)
COLUMNS = [
    ("server", "server"),
    ("req/s", "req/s"),
    ("x baseline", "x base-\nline"),
    ("p50 ms", "p50\nms"),
    ("p99 ms", "p99\nms"),
    ("errors", "err-\nors"),
    ("server CPU ms/req", "server\nCPU\nms/req"),
    ("checks", "checks"),
    ("deliveries arrived", "deliv-\neries\narrived"),
    ("CPU % srv/gen/rcv/oth", "CPU %\nsrv/gen/\nrcv/oth"),
]


def _rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, r in results.items():
        lat = r["latency_ms"]
        rows.append(
            [
                RUNS.get(name, name),
                _num(r["requests_per_s"]),
                _num(r.get("ratio_to_baseline"), ".2f"),
                *(_num(lat[k]) for k in ("p50", "p99")),
                str(r["errors"] + r["errors_outside_window"]),
                _num(r["server_cpu_ms_per_request"], ".2f"),
                "ok" if r["checks_ok"] else "FAILED",
                _arrived_cell(r),
                _cpu_cell(r),
            ]
        )
    return rows


def _title(opts: Options) -> str:
    return (
        f"api_messages: {opts.clients} clients, {opts.warmup:g}s warm-up, "
        f"{opts.seconds:g}s measured"
    )


CAPTION = (
    "x baseline: rate / the baseline's rate. Server CPU ms/req includes the in-process worker "
    "delivering. Checks: every 2xx is a stored message (baseline: and an outbox row; no "
    "webhook: and no event; 1 webhook: and one message_created event and one delivery), no "
    "failed request, no error in the server log. Deliveries arrived: at the receiver, by the "
    "time the server stopped (the load's warm-up included). CPU %: of one core, used by the "
    "server, the load generator, the webhook receiver and all else during the load."
)


def _table(results: dict[str, dict[str, Any]], opts: Options) -> Table:
    table = Table(title=_title(opts), box=box.SIMPLE_HEAD)
    for i, (_, header) in enumerate(COLUMNS):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for row in _rows(results):
        table.add_row(*(f"[red]{c}[/]" if c == "FAILED" else c for c in row))
    return table


def _warnings(results: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for name, r in results.items():
        label = RUNS.get(name, name)
        if r["errors"] or r["errors_outside_window"]:
            notes.append(
                f"{label}: {r['errors']} failed requests in the measured window "
                f"({r['errors_by_kind']}), {r['errors_outside_window']} outside it; "
                f"first: {r['error_sample']}"
            )
        if not r["stored_matches_2xx"]:
            notes.append(
                f"{label}: {r['stored_messages']} messages stored but {r['ok_total']} "
                "requests answered 2xx"
            )
        if "stored_outbox_rows" in r and r["stored_outbox_rows"] != r["ok_total"]:
            notes.append(
                f"{label}: {r['stored_outbox_rows']} outbox rows for {r['ok_total']} 2xx answers"
            )
        if r.get("published_events"):
            notes.append(f"{label}: {r['published_events']} events published with no webhook")
        webhook = r.get("webhook")
        if webhook is not None:
            if not webhook["events_match_2xx"] or not webhook["deliveries_match_2xx"]:
                notes.append(
                    f"{label}: {webhook['events']} events ({webhook['message_created_events']} "
                    f"message_created) and {webhook['deliveries']} deliveries for "
                    f"{r['ok_total']} 2xx answers"
                )
            if webhook["duplicates"] or webhook["bad_signatures"]:
                notes.append(
                    f"{label}: the receiver saw {webhook['duplicates']} duplicates and "
                    f"{webhook['bad_signatures']} bad signatures "
                    f"({webhook['bad_signature_sample']})"
                )
            if webhook["all_arrived_after_load_s"] is None:
                notes.append(
                    f"{label}: {webhook['arrived']:,} of {r['ok_total']:,} deliveries had arrived "
                    f"{DRAIN_WAIT:g}s after the load (not a failure: the rest were pending)"
                )
        if r["server_log_problem_lines"]:
            notes.append(
                f"{label}: {r['server_log_problem_lines']} error lines in the server log; "
                f"its end:\n{r['server_log_sample']}"
            )
        other = r["other_cpu_percent"]
        if other is not None and other > 20:
            notes.append(
                f"{label}: other processes used {other}% of a CPU during the run; the figures "
                "are skewed, run again on a quiet machine"
            )
    if not results["baseline"]["requests_per_s"]:
        notes.append("no ratio: the baseline completed no request")
    return notes


def _headline(results: dict[str, dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
    base = results["baseline"]
    hook = results[HEADLINE_RUN]
    bare = results["voxsig_no_webhook"]
    ratio = hook.get("ratio_to_baseline")
    checked = hook["checks_ok"] and base["checks_ok"]
    at = f"{opts.clients} clients, SQLite"
    lat, base_lat = hook["latency_ms"], base["latency_ms"]
    return [
        {
            "figure": "Message creation with 1 webhook: rate vs. baseline",
            "value": ratio,
            "unit": "x baseline",
            "target": f">= {TARGET_RATIO:g}",
            "met": None if ratio is None else bool(ratio >= TARGET_RATIO and checked),
            "note": f"{hook['requests_per_s']:,.0f} vs. {base['requests_per_s']:,.0f} req/s, "
            f"{at}" + ("" if checked else "; checks FAILED"),
        },
        {
            "figure": "Message creation with 1 webhook: requests/s",
            "value": hook["requests_per_s"],
            "unit": "req/s",
            "target": None,
            "met": None,
            "note": f"{at}; baseline {base['requests_per_s']:,.0f} req/s",
        },
        {
            "figure": "Message creation with 1 webhook: p50 latency",
            "value": lat["p50"],
            "unit": "ms",
            "target": None,
            "met": None,
            "note": f"baseline {_num(base_lat['p50'])} ms",
        },
        {
            "figure": "Message creation with 1 webhook: p99 latency",
            "value": lat["p99"],
            "unit": "ms",
            "target": None,
            "met": None,
            "note": f"baseline {_num(base_lat['p99'])} ms",
        },
        {
            "figure": "Message creation with 1 webhook: server CPU per request",
            "value": hook["server_cpu_ms_per_request"],
            "unit": "ms",
            "target": None,
            "met": None,
            "note": f"delivery included; baseline {_num(base['server_cpu_ms_per_request'], '.2f')}"
            " ms",
        },
        {
            "figure": "Message creation, no webhook: rate vs. baseline",
            "value": bare.get("ratio_to_baseline"),
            "unit": "x baseline",
            "target": None,
            "met": None,
            "note": f"{bare['requests_per_s']:,.0f} req/s, p99 {_num(bare['latency_ms']['p99'])} "
            f"ms, {_num(bare['server_cpu_ms_per_request'], '.2f')} ms CPU/req; nothing published",
        },
    ]


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (a table, then notes)."""
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    with work_dir(opts, ui, NAME) as workdir:
        results["baseline"] = run_baseline(opts, ui, workdir)
        results["voxsig_no_webhook"] = run_voxsig(opts, ui, workdir, "voxsig_no_webhook", None)
        receiver = _start_receiver(ui, workdir)
        try:
            results["voxsig_1_webhook"] = run_voxsig(
                opts, ui, workdir, "voxsig_1_webhook", receiver
            )
        finally:
            with ui.step("receiver: stopping"):
                PROCESSES.stop(receiver.proc)
    base_rate = results["baseline"]["requests_per_s"]
    base_cpu = results["baseline"]["server_cpu_ms_per_request"]
    for r in results.values():
        rate, cpu = r["requests_per_s"], r["server_cpu_ms_per_request"]
        r["ratio_to_baseline"] = round(rate / base_rate, 3) if base_rate else None
        cpu_ratio = round(cpu / base_cpu, 3) if base_cpu and cpu else None
        r["cpu_per_request_ratio_to_baseline"] = cpu_ratio
    notes = _warnings(results)
    hook = results[HEADLINE_RUN]
    data = {
        "benchmark": NAME,
        "description": DESCRIPTION,
        "method": METHOD.format(
            clients=opts.clients, warmup=opts.warmup, seconds=opts.seconds, target=TARGET_RATIO
        ),
        "headline": _headline(results, opts),
        "table": {
            "title": _title(opts),
            "columns": [column for column, _ in COLUMNS],
            "rows": _rows(results),
            "caption": CAPTION,
        },
        "params": {
            "seconds": opts.seconds,
            "warmup": opts.warmup,
            "clients": opts.clients,
            "conversations": opts.clients,
            "database": "sqlite",
            "server_processes": 1,
            "baseline_engine": "voxsig.db.make_engine",
            "webhook_subscriptions": ["message_created"],
            "allowed_networks": ALLOWED_NETWORKS,
            "receiver": "bench/delivery_receiver.py, aiohttp on uvloop, 127.0.0.1",
            "quiet_wait": opts.quiet_wait,
        },
        "results": results,
        "ratio_to_baseline": hook["ratio_to_baseline"],
        "cpu_per_request_ratio_to_baseline": hook["cpu_per_request_ratio_to_baseline"],
        "target_ratio": TARGET_RATIO,
        "total_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
    }
    return data, [
        _table(results, opts),
        f"[dim]{CAPTION}[/]",
        *(f"[yellow]note:[/] {n}" for n in notes),
    ]
