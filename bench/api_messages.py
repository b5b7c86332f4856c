"""api_messages: creating messages through the REST API, against a baseline measured alongside.

1. Baseline (bench/baseline_app.py) started alone; the load generator sends
   POST /conversations/{i}/messages from N clients; the server is stopped.
2. Voxsig: `voxsig create-account`, `voxsig serve` (SQLite in a fresh data dir), an API inbox,
   one contact and one conversation per client; then the same load on
   POST /api/v1/accounts/{a}/conversations/{id}/messages; the server is stopped.
The two never run at once. Afterwards the rows in each database are counted: every 2xx must be
a stored message.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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
)

NAME = "api_messages"
DESCRIPTION = "POST a message to a conversation through the REST API (vs. a minimal baseline)"
# The baseline ignores it; sent so both servers receive requests of the same size.
DUMMY_TOKEN = "x" * 32


def _body(client: int) -> dict[str, Any]:
    return {"content": f"Hello from benchmark client {client}", "message_type": "outgoing"}


def _count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db, timeout=30.0) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    conn.close()
    return int(count)


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
    _finish(summary, load, _count_rows(data_dir / "baseline.db", "messages"), log)
    summary["stored_outbox_rows"] = _count_rows(data_dir / "baseline.db", "outbox")
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


def run_voxsig(opts: Options, ui: Ui, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / "voxsig"
    log = workdir / "voxsig-server.log"
    port = free_port()
    env = child_env(VOXSIG_DATA_DIR=str(data_dir), VOXSIG_PORT=str(port))
    with ui.step("voxsig: create-account"):
        account = _create_account(env)
    with ui.step("voxsig: starting the server (voxsig serve)"):
        server = start_server("voxsig", [str(venv_script("voxsig")), "serve"], env, port, log)
    try:
        with ui.step(f"voxsig: creating an inbox and {opts.clients} conversations"):
            conversations = _create_conversations(server.base_url, account, opts.clients)
        before = _count_rows(data_dir / "voxsig.db", "messages")
        prefix = f"/api/v1/accounts/{account['account_id']}/conversations"
        targets = [
            {"method": "POST", "path": f"{prefix}/{cid}/messages", "body": _body(i)}
            for i, cid in enumerate(conversations)
        ]
        headers = {"api_access_token": str(account["api_access_token"])}
        load = run_loadgen(ui, "voxsig", server, targets, headers, opts, workdir)
    finally:
        _stop(ui, server)
    summary = summarize(load)
    stored = _count_rows(data_dir / "voxsig.db", "messages") - before
    _finish(summary, load, stored, log)
    summary["conversations"] = len(conversations)
    return summary


def _table(
    results: dict[str, dict[str, Any]],
    ratio: float | None,
    cpu_ratio: float | None,
    opts: Options,
) -> Table:
    caption = "CPU %: of one core, used by the server, the load generator, and all else"
    if cpu_ratio is not None:
        caption = f"Voxsig spends {cpu_ratio:.2f}x the baseline's CPU per request. {caption}"
    if ratio is not None:
        caption = f"Voxsig's rate is {ratio:.2f}x the baseline's. {caption}"
    table = Table(
        title=f"api_messages: {opts.clients} clients, {opts.warmup:g}s warm-up, "
        f"{opts.seconds:g}s measured",
        caption=caption,
    )
    table.add_column("server", no_wrap=True)
    for column in ("req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="right")
    table.add_column("server CPU\nms/req", justify="right")
    table.add_column("stored\n= 2xx", justify="center")
    table.add_column("CPU %\nsrv/gen/oth", justify="right")
    for name, r in results.items():
        lat = r["latency_ms"]
        table.add_row(
            name,
            f"{r['requests_per_s']:,.1f}",
            *(f"{lat[k]:.1f}" if lat[k] is not None else "-" for k in ("p50", "p90", "p99", "max")),
            f"[red]{r['errors']}[/]" if r["errors"] else "0",
            "-"
            if r["server_cpu_ms_per_request"] is None
            else f"{r['server_cpu_ms_per_request']:.2f}",
            "[green]yes[/]" if r["stored_matches_2xx"] else "[red]no[/]",
            "/".join(
                "-" if r[k] is None else f"{r[k]:.0f}"
                for k in ("server_cpu_percent", "loadgen_cpu_percent", "other_cpu_percent")
            ),
        )
    return table


def _warnings(results: dict[str, dict[str, Any]], ratio: float | None) -> list[str]:
    notes = []
    for name, r in results.items():
        if r["errors"] or r["errors_outside_window"]:
            notes.append(
                f"{name}: {r['errors']} failed requests in the measured window "
                f"({r['errors_by_kind']}), {r['errors_outside_window']} outside it; "
                f"first: {r['error_sample']}"
            )
        if not r["stored_matches_2xx"]:
            notes.append(
                f"{name}: {r['stored_messages']} messages stored but {r['ok_total']} "
                "requests answered 2xx"
            )
        if r["server_log_problem_lines"]:
            notes.append(
                f"{name}: {r['server_log_problem_lines']} error lines in the server log; "
                f"its end:\n{r['server_log_sample']}"
            )
        if r["other_cpu_percent"] is not None and r["other_cpu_percent"] > 20:
            notes.append(
                f"{name}: other processes used {r['other_cpu_percent']}% of a CPU during the "
                "run; the figures are skewed, run again on a quiet machine"
            )
    if ratio is None:
        notes.append("no ratio: the baseline completed no request")
    return notes


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (a table, then notes)."""
    workdir = Path(tempfile.mkdtemp(prefix="voxsig-bench-"))
    keep = opts.keep
    try:
        results = {
            "baseline": run_baseline(opts, ui, workdir),
            "voxsig": run_voxsig(opts, ui, workdir),
        }
    except BenchError:
        keep = True  # the logs tell why
        raise
    finally:
        if keep:
            ui.console.print(f"[dim]Data dirs and logs kept in {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    base_rate = results["baseline"]["requests_per_s"]
    ratio = results["voxsig"]["requests_per_s"] / base_rate if base_rate else None
    base_cpu = results["baseline"]["server_cpu_ms_per_request"]
    vox_cpu = results["voxsig"]["server_cpu_ms_per_request"]
    cpu_ratio = vox_cpu / base_cpu if base_cpu and vox_cpu else None
    notes = _warnings(results, ratio)
    data = {
        "benchmark": NAME,
        "description": DESCRIPTION,
        "params": {
            "seconds": opts.seconds,
            "warmup": opts.warmup,
            "clients": opts.clients,
            "conversations": opts.clients,
            "database": "sqlite",
            "server_processes": 1,
            "quiet_wait": opts.quiet_wait,
        },
        "results": results,
        "ratio_to_baseline": None if ratio is None else round(ratio, 3),
        "cpu_per_request_ratio_to_baseline": None if cpu_ratio is None else round(cpu_ratio, 3),
        "notes": notes,
    }
    return data, [
        _table(results, ratio, cpu_ratio, opts),
        *(f"[yellow]note:[/] {n}" for n in notes),
    ]
