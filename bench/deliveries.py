"""deliveries: end-to-end webhook throughput against the HTTP ceiling (issue 7, items 1 and 2).

One receiver process (bench/delivery_receiver.py, aiohttp on uvloop, 127.0.0.1) serves it all.
1. Ceiling: bench/delivery_client.py, Voxsig's own Transport, the same signed bodies, 256 in
   flight, nothing stored; once on asyncio's loop (as `voxsig worker` runs) and once on uvloop
   (as `voxsig serve` runs, through uvicorn). The faster one is the ceiling.
2. End to end: `voxsig serve` on SQLite with 1, 10 and 100 account-wide webhooks, each event
   going to every one of them; a fixed number of deliveries per cell, created while the worker
   runs (a) by bench/delivery_publisher.py through the service layer (`events.publish.publish`,
   about 1,000 deliveries per transaction) and (b) through the REST API (POST .../messages from
   `--clients` clients). Rate: deliveries / (first event created -> last arrival), as a ratio
   to the ceiling.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common import HOST, BenchError, Options, Ui, cpu_seconds
from bench.delivery_common import (
    TIMES,
    Ctx,
    add_shared_arguments,
    arrival_problems,
    await_arrivals,
    await_recorded,
    configure_shared,
    create_conversations,
    db_problems,
    detail_table,
    drain_summary,
    fail_on,
    finish_tool,
    fmt,
    groups_for,
    headline,
    logs_problems,
    number_list,
    results,
    run_tool,
    session,
    setup_account,
    spawn_tool,
    sqlite_statuses,
    sqlite_url,
    start_serve,
    stop_all,
)

NAME = "deliveries"
DESCRIPTION = (
    "end-to-end webhook deliveries/s (service layer and REST API, 1/10/100 endpoints, SQLite) "
    "as a ratio to the HTTP client's ceiling"
)
TARGET = 0.6  # the issue's: end-to-end deliveries/s at least 0.6 x the ceiling
SOURCES = {"service": "Service layer (bulk)", "rest": "REST API"}


@dataclass(frozen=True)
class Params:
    deliveries: int = 4000  # per cell, and the ceiling's POSTs
    endpoint_counts: tuple[int, ...] = (1, 10, 100)
    ceiling_endpoints: int = 16
    concurrency: int = 256  # the ceiling's requests in flight (VOXSIG_WEBHOOK_MAX_IN_FLIGHT)
    rows_per_transaction: int = 1000  # deliveries per publishing transaction (service layer)
    rest_events: int = 600  # at most this many API calls per REST cell (the API bounds them)


PARAMS = Params()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deliveries")
    group.add_argument(
        "--cell-deliveries",
        type=int,
        default=Params.deliveries,
        help=f"deliveries per end-to-end cell, and the ceiling's POSTs ({Params.deliveries})",
    )
    group.add_argument(
        "--rest-events",
        type=int,
        default=Params.rest_events,
        help=f"at most this many API calls per REST cell ({Params.rest_events})",
    )
    group.add_argument(
        "--endpoint-counts",
        default=",".join(map(str, Params.endpoint_counts)),
        help="subscribed endpoints per cell, comma-separated (1,10,100)",
    )
    add_shared_arguments(parser)


def configure(args: argparse.Namespace) -> None:
    global PARAMS
    configure_shared(args)
    counts = tuple(int(n) for n in number_list(args.endpoint_counts, "--endpoint-counts", 1, 500))
    if not 1 <= args.cell_deliveries <= 200_000:
        raise SystemExit("--cell-deliveries must be between 1 and 200000")
    if not 1 <= args.rest_events <= 100_000:
        raise SystemExit("--rest-events must be between 1 and 100000")
    PARAMS = replace(
        PARAMS,
        deliveries=args.cell_deliveries,
        endpoint_counts=counts,
        rest_events=args.rest_events,
    )


# --- 1. the ceiling --------------------------------------------------------------------------


def run_ceiling(ctx: Ctx, loop: str) -> dict[str, Any]:
    from voxsig.kit.tokens import new_webhook_secret

    receiver = ctx.receiver
    names = [f"c{i}" for i in range(PARAMS.ceiling_endpoints)]
    secrets = {n: str(new_webhook_secret()) for n in names}
    endpoints = [
        {"name": n, "url": receiver.url(n), "secret": secrets[n], "inbox_id": i + 1}
        for i, n in enumerate(names)
    ]
    receiver.reset(secrets)
    other_before = ctx.quiet(f"ceiling ({loop})")
    before = cpu_seconds(receiver.pid)
    out = run_tool(
        ctx,
        f"ceiling ({loop}): {PARAMS.deliveries:,} signed POSTs, {PARAMS.concurrency} in flight",
        "bench.delivery_client",
        {
            "endpoints": endpoints,
            "events": PARAMS.deliveries,
            "concurrency": PARAMS.concurrency,
            "loop": loop,
        },
        timeout=60.0 + PARAMS.deliveries / 100.0,
    )
    receiver_cpu = cpu_seconds(receiver.pid) - before
    stats = receiver.stats(full=True)
    stats["cpu_percent"] = {}
    stats["cpu_window_deliveries"] = 0
    errors = sum(n for k, n in out["outcomes"].items() if k != "succeeded")
    problems = arrival_problems(stats, PARAMS.deliveries)
    if errors:
        problems.append(f"{errors} sends failed: {out['error_sample']}")
    fail_on(f"ceiling ({loop})", problems)
    summary = drain_summary(stats)
    span = summary["first_to_last_s"]
    summary["client"] = out
    summary["voxsig_cpu_ms_per_delivery"] = round(1000.0 * out["cpu_s"] / PARAMS.deliveries, 3)
    # The client's CPU over its sending (from its own rusage), the receiver's over the run.
    summary["cpu_percent"] = {
        "voxsig": round(100.0 * out["cpu_s"] / out["seconds"], 1) if out["seconds"] else None,
        "receiver": round(100.0 * receiver_cpu / span, 1) if span else None,
    }
    summary["other_cpu_percent_before"] = other_before
    return summary


# --- 2. end to end ---------------------------------------------------------------------------


def _limit(summary: Mapping[str, Any], source: str, endpoints: int) -> str:
    """What the rate of a cell was bound by, as the figures show it."""
    creator = summary["creator"]
    e2e = summary["end_to_end_s"]
    tail = summary["last_arrival"] - creator["finished_at"]
    if source == "rest":
        made = f"the API made {creator['calls_per_s']:,.0f} calls/s"
    else:
        made = f"publishing ran at {creator['events_per_s']:,.0f} events/s"
    made += f" (x {endpoints} = {creator['deliveries_per_s']:,.0f} deliveries/s)"
    cpu = summary["cpu_percent"].get("voxsig")
    if e2e and tail < 0.2 * e2e:
        return f"creation-bound: {made}, the last arrival {tail:.2f}s after the last creation"
    return (
        f"delivery-bound: the last arrival {tail:.2f}s after the last creation; {made}; "
        f"voxsig serve at {fmt(cpu)}% of a core, "
        f"{fmt(summary['voxsig_cpu_ms_per_delivery'], '.2f')} ms CPU/delivery"
        + (" (one endpoint: at most 16 in flight)" if endpoints == 1 else "")
    )


def run_endpoints(ctx: Ctx, opts: Options, endpoints: int) -> dict[str, dict[str, Any]]:
    """One `voxsig serve` with `endpoints` account-wide webhooks; the service-layer cell, then
    the REST cell, each with PARAMS.deliveries deliveries."""
    label = f"{endpoints} endpoint{'s' if endpoints > 1 else ''}"
    data_dir = ctx.workdir / f"e2e-{endpoints}"
    url = sqlite_url(data_dir)
    names = [f"n{endpoints}-{i}" for i in range(endpoints)]
    setup, _ = setup_account(ctx, label, url, names, "account")
    per_source = {
        "service": max(1, PARAMS.deliveries // endpoints),
        "rest": min(max(1, PARAMS.deliveries // endpoints), PARAMS.rest_events),
    }
    clients = min(opts.clients, per_source["rest"])
    server = start_serve(ctx, label, data_dir)
    results: dict[str, dict[str, Any]] = {}
    recorded = 0
    try:
        with ctx.ui.step(f"{label}: {clients} conversations through the API"):
            conversations = create_conversations(
                server.base_url, setup, setup.inbox_ids[0], clients
            )
        for source in SOURCES:
            cell = f"{label}, {SOURCES[source]}"
            events = per_source[source]
            expected = events * endpoints
            ctx.receiver.reset(setup.secrets)
            other_before = ctx.quiet(cell)
            if source == "service":
                batch = max(1, PARAMS.rows_per_transaction // endpoints)
                config = setup.publisher("bulk", events=events, batch=batch)
            else:
                config = {
                    "mode": "api_burst",
                    "base_url": f"{server.base_url}/api/v1/accounts/{setup.account_id}",
                    "token": setup.token,
                    "conversations": conversations,
                    "count": events,
                    "clients": clients,
                }
            tool = spawn_tool(cell, "bench.delivery_publisher", config, ctx.workdir)
            groups = groups_for([server.proc], ctx.receiver, creator=tool)
            stats = await_arrivals(
                ctx, cell, expected, [server.proc], groups, 60.0 + expected / 50.0
            )
            creator = finish_tool(tool, 60.0)
            recorded += expected
            counts, recorded_at = await_recorded(sqlite_statuses(data_dir / "voxsig.db"), recorded)
            problems = arrival_problems(stats, expected) + db_problems(counts, recorded)
            if creator.get("errors"):
                problems.append(f"{creator['errors']} API calls failed: {creator['error_sample']}")
            fail_on(cell, problems)
            seconds = creator["finished_at"] - creator["started_at"]
            made = creator["ok"] if source == "rest" else creator["published"]
            creator["events_per_s"] = round(made / seconds, 1) if seconds > 0 else None
            creator["deliveries_per_s"] = round(made * endpoints / seconds, 1) if seconds else None
            summary = drain_summary(stats, counts, recorded_at, since=creator["started_at"])
            summary |= {
                "source": source,
                "endpoints": endpoints,
                "events": events,
                "creator": creator,
                "last_arrival": stats["last"],
                "other_cpu_percent_before": other_before,
            }
            summary["limit"] = _limit(summary, source, endpoints)
            results[f"{source}_{endpoints}"] = summary
    finally:
        stop_all(ctx, label, [server.proc])
    fail_on(label, logs_problems([server.log]))
    return results


# --- output ----------------------------------------------------------------------------------


def _table(
    ceilings: Mapping[str, Any], cells: Mapping[str, Any], ceiling: float | None
) -> tuple[Any, dict[str, Any]]:
    def cpu(r: Mapping[str, Any]) -> str:
        c = r["cpu_percent"]
        return "/".join(fmt(c.get(k)) for k in ("voxsig", "receiver", "creator", "other"))

    rows = [
        [
            f"ceiling, {loop} (no DB)",
            f"{r['deliveries']:,}",
            "-",
            fmt(r["deliveries_per_s"] / ceiling if ceiling else None, ".2f"),
            fmt(r["deliveries_per_s"]),
            "-",
            "-",
            fmt(r["voxsig_cpu_ms_per_delivery"], ".2f"),
            cpu(r),
        ]
        for loop, r in ceilings.items()
    ]
    for r in cells.values():
        rows.append(
            [
                f"{SOURCES[r['source']]}, {r['endpoints']} "
                f"endpoint{'s' if r['endpoints'] > 1 else ''}",
                f"{r['deliveries']:,}",
                fmt(r["end_to_end_deliveries_per_s"]),
                fmt(r["ratio_to_ceiling"], ".2f"),
                fmt(r["deliveries_per_s"]),
                fmt(r["creator"]["deliveries_per_s"]),
                fmt(r["recorded_after_last_arrival_s"], ".2f"),
                fmt(r["voxsig_cpu_ms_per_delivery"], ".2f"),
                cpu(r),
            ]
        )
    return detail_table(
        "deliveries: created while `voxsig serve` (SQLite) delivers them, vs. the ceiling",
        [
            "run",
            "deliveries",
            "end to end\ndeliv/s",
            f"{TIMES} ceiling",
            "worker\ndeliv/s",
            "created\ndeliv/s",
            "recorded\n+s",
            "voxsig CPU\nms/deliv",
            "CPU %\nvox/recv/\ncreat/oth",
        ],
        rows,
        "end to end: deliveries / (first event created -> last arrival); worker: first -> last "
        "arrival; created: the creator's own rate in deliveries/s (events x endpoints); recorded: "
        "how long after the last arrival the database showed every delivery succeeded; CPU: % of "
        "one core from the first to the last arrival (voxsig: the client, or voxsig serve with "
        "its API and worker; creat: the publisher or the REST client; oth: all else)",
    )


def _headline(
    ceilings: Mapping[str, Any], cells: Mapping[str, Any], ceiling: float | None
) -> list[dict[str, Any]]:
    by_loop = ", ".join(
        f"{loop} {r['deliveries_per_s']:,.0f}/s ({r['voxsig_cpu_ms_per_delivery']:.2f} ms CPU "
        "per POST)"
        for loop, r in ceilings.items()
    )
    rows = [
        headline(
            f"Ceiling: Voxsig's HTTP client alone, {PARAMS.concurrency} in flight",
            ceiling,
            "deliveries/s",
            note=f"{by_loop}; no database, the same signed bodies and receiver",
        )
    ]
    for r in cells.values():
        n = r["endpoints"]
        ratio = r["ratio_to_ceiling"]
        rows.append(
            headline(
                f"{SOURCES[r['source']]}, {n} endpoint{'s' if n > 1 else ''}: {TIMES} ceiling",
                ratio,
                TIMES,
                f"≥ {TARGET}",
                None if ratio is None else ratio >= TARGET,
                f"{fmt(r['end_to_end_deliveries_per_s'])} deliveries/s end to end; {r['limit']}",
            )
        )
    return rows


def _method() -> str:
    return (
        f"Ceiling: bench/delivery_client.py (its own process) sends N = {PARAMS.deliveries:,} "
        "message_created bodies (~1.7 KB, the shape Voxsig renders), each signed with "
        "webhooks.signing and its own webhook-id, through Voxsig's webhooks.transport.Transport "
        "with 256 in flight and nothing stored, once on asyncio and once on uvloop; the faster "
        "is the ceiling. End to end: for 1, 10 and 100 account-wide webhooks (every event goes "
        "to each), `voxsig serve` runs on a fresh SQLite database (default settings, 127.0.0.0/8 "
        "allowed) while N deliveries' worth of events are created (REST: at most "
        f"{PARAMS.rest_events:,} API calls, as the API bounds that rate), first by "
        "bench/delivery_publisher.py in another process through the service layer "
        "(events.publish.publish, ~1,000 deliveries per transaction; the worker finds a commit "
        "made by another process through SQLite's data_version), then through the REST API (POST "
        ".../messages from up to --clients clients, the worker woken in-process after each "
        "commit). The rate is N / (the creator's clock before its first event -> the receiver's "
        "last arrival), both on this machine's clock, as a ratio to the ceiling measured in the "
        "same run. The receiver (aiohttp on uvloop, 127.0.0.1, its own process) answers 200 at "
        "once. Every run checks that each delivery arrived once, signatures verify, the database "
        "shows each succeeded after one attempt and the logs hold no error."
    )


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (tables, then notes)."""
    ceilings: dict[str, Any] = {}
    cells: dict[str, Any] = {}
    with session(opts, ui, NAME) as ctx:
        for loop in ("asyncio", "uvloop"):
            ceilings[loop] = run_ceiling(ctx, loop)
        ctx.lap("ceiling")
        for endpoints in PARAMS.endpoint_counts:
            cells.update(run_endpoints(ctx, opts, endpoints))
            ctx.lap(f"{endpoints}_endpoints")
    ceiling = max((r["deliveries_per_s"] or 0.0 for r in ceilings.values()), default=0.0) or None
    if ceiling is None:
        raise BenchError("the ceiling run delivered nothing")
    for r in cells.values():
        rate = r["end_to_end_deliveries_per_s"]
        r["ratio_to_ceiling"] = round(rate / ceiling, 3) if rate else None
    cpu = [(f"ceiling, {k}", r["cpu_percent"]) for k, r in ceilings.items()]
    cpu += [(key, r["cpu_percent"]) for key, r in cells.items()]
    return results(
        ctx,
        opts,
        (NAME, DESCRIPTION, _method()),
        _headline(ceilings, cells, ceiling),
        _table(ceilings, cells, ceiling),
        {**asdict(PARAMS), "clients": opts.clients, "receiver": f"aiohttp on uvloop, {HOST}"},
        {"ceiling_deliveries_per_s": ceiling, "ceilings": ceilings, "cells": cells},
        cpu,
    )
