"""deliveries: end-to-end webhook throughput against the HTTP ceiling (issue 7, items 1 and 2);
the method is METHOD below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.common import BenchError, Ui
from bench.cpu import cpu_seconds
from bench.delivery_common import (
    ALLOWED_NETWORKS,
    ROWS_PER_TRANSACTION,
    Ctx,
    fail_on,
    finish_tool,
    run_tool,
    session,
    setup_account,
    spawn_tool,
    voxsig,
)
from bench.delivery_measure import (
    arrival_problems,
    await_arrivals,
    await_recorded,
    db_problems,
    drain_summary,
)
from bench.output import TIMES, col, cpu_col, detail_table, fmt, headline, plural, ratio
from bench.spec import Benchmark, Option, Options

TARGET = 0.6  # the issue's: end-to-end deliveries/s at least 0.6 x the ceiling
SOURCES = {"service": "Service layer (bulk)", "rest": "REST API"}
CEILING_ENDPOINTS = 16
CONCURRENCY = 256  # the ceiling's requests in flight (VOXSIG_WEBHOOK_MAX_IN_FLIGHT)

METHOD = """\
Ceiling: Voxsig's HTTP client alone. `bench/delivery_client.py` (its own process) sends
{cell_deliveries:,} message_created bodies (~1.7 KB, the shape Voxsig renders), each signed with
`outbox.signing` and its own `webhook-id` and a fresh timestamp, through Voxsig's
`outbox.transport.Transport` (allowed networks {allowed_networks}, the default timeouts),
{concurrency} in flight (`VOXSIG_WEBHOOK_MAX_IN_FLIGHT`) over {ceiling_endpoints} endpoints,
nothing stored; once on asyncio's loop (as `voxsig worker` runs) and once on uvloop (as `voxsig
serve` runs). The faster is the ceiling. End to end, for {endpoint_counts} account-wide
endpoints (every event goes to each): `voxsig serve` on a fresh SQLite database (default
settings), {clients} conversations made through the API, then {cell_deliveries:,} deliveries'
worth of events created while the worker runs, (a) by `bench/delivery_publisher.py` in another
process through the service layer (`outbox.publish.publish`, ~{rows_per_transaction:,}
deliveries per transaction; the worker learns of another process's commit through SQLite's
`data_version`), (b) through the REST API (POST .../messages from up to {clients} clients, at
most {rest_events:,} calls: with one endpoint the API, not the worker, sets the pace; the
worker is woken in-process after each commit). Rate: deliveries / (the creator's clock before
its first event -> the last arrival), as a ratio to the ceiling measured in the same run. The
note names the limit: creation-bound (the last arrival soon after the last event was created)
or delivery-bound, with Voxsig's CPU. Checks: each delivery arrived once, signatures verify, the
database shows each succeeded after one attempt, the logs hold no error."""


def run_ceiling(ctx: Ctx, opts: Options, loop: str) -> dict[str, Any]:
    from voxsig.outbox.signing import new_secret

    receiver, count = ctx.receiver, opts["cell_deliveries"]
    names = [f"c{i}" for i in range(CEILING_ENDPOINTS)]
    secrets = {n: new_secret() for n in names}
    endpoints = [
        {"name": n, "url": receiver.url(n), "secret": secrets[n], "inbox_id": i + 1}
        for i, n in enumerate(names)
    ]
    receiver.reset(secrets)
    other_before = ctx.quiet(f"ceiling ({loop})")
    before = cpu_seconds(receiver.pid)
    out = run_tool(
        ctx,
        f"ceiling ({loop}): {count:,} signed POSTs, {CONCURRENCY} in flight",
        {"endpoints": endpoints, "events": count, "concurrency": CONCURRENCY, "loop": loop},
        timeout=60.0 + count / 100.0,
        module="client",
    )
    receiver_cpu = cpu_seconds(receiver.pid) - before
    stats = receiver.stats(full=True) | {"cpu_percent": {}, "cpu_window_deliveries": 0}
    errors = sum(n for k, n in out["outcomes"].items() if k != "succeeded")
    problems = arrival_problems(stats, count)
    if errors:
        problems.append(f"{errors} sends failed: {out['error_sample']}")
    fail_on(f"ceiling ({loop})", problems)
    summary = drain_summary(stats)
    span = summary["first_to_last_s"]
    summary["client"] = out
    summary["voxsig_cpu_ms_per_delivery"] = round(1000.0 * out["cpu_s"] / count, 3)
    # The client's CPU over its sending (from its own rusage), the receiver's over the run.
    summary["cpu_percent"] = {
        "voxsig": round(100.0 * out["cpu_s"] / out["seconds"], 1) if out["seconds"] else None,
        "receiver": round(100.0 * receiver_cpu / span, 1) if span else None,
    }
    summary["other_cpu_percent_before"] = other_before
    return summary


def _limit(summary: Mapping[str, Any], source: str, endpoints: int) -> str:
    """What the rate of a cell was bound by, as the figures show it."""
    creator = summary["creator"]
    tail = summary["last_arrival"] - creator["finished_at"]
    if source == "rest":
        made = f"the API made {creator['calls_per_s']:,.0f} calls/s"
    else:
        made = f"publishing ran at {creator['events_per_s']:,.0f} events/s"
    made += f" (x {endpoints} = {creator['deliveries_per_s']:,.0f} deliveries/s)"
    if summary["end_to_end_s"] and tail < 0.2 * summary["end_to_end_s"]:
        return f"creation-bound: {made}, the last arrival {tail:.2f}s after the last creation"
    return (
        f"delivery-bound: the last arrival {tail:.2f}s after the last creation; {made}; "
        f"voxsig serve at {fmt(summary['cpu_percent'].get('voxsig'))}% of a core, "
        f"{fmt(summary['voxsig_cpu_ms_per_delivery'], '.2f')} ms CPU/delivery"
        + (" (one endpoint: at most 16 in flight)" if endpoints == 1 else "")
    )


def run_endpoints(ctx: Ctx, opts: Options, endpoints: int) -> dict[str, dict[str, Any]]:
    """One `voxsig serve` with `endpoints` account-wide webhooks; the service-layer cell, then
    the REST cell, each with --cell-deliveries deliveries."""
    label = plural(endpoints, "endpoint")
    db = ctx.database(label, f"e2e-{endpoints}")
    names = [f"n{endpoints}-{i}" for i in range(endpoints)]
    setup, _ = setup_account(ctx, label, db.url, names, "account")
    per_event = max(1, opts["cell_deliveries"] // endpoints)
    per_source = {"service": per_event, "rest": min(per_event, opts["rest_events"])}
    clients = min(opts.clients, per_source["rest"])
    cells: dict[str, dict[str, Any]] = {}
    recorded = 0
    with voxsig(ctx, label, db) as running:
        assert running.server is not None
        with ctx.ui.step(f"{label}: {clients} conversations through the API"):
            api = setup.api(running.server, clients)
        for source, name in SOURCES.items():
            cell, events = f"{label}, {name}", per_source[source]
            expected = events * endpoints
            ctx.receiver.reset(setup.secrets)
            other_before = ctx.quiet(cell)
            if source == "service":
                batch = max(1, ROWS_PER_TRANSACTION // endpoints)
                config = setup.publisher("bulk", events=events, batch=batch)
            else:
                config = {**api, "mode": "api", "count": events, "clients": clients}
            tool = spawn_tool(cell, "bench.delivery_publisher", config, ctx.workdir)
            groups = ctx.groups(running.procs, creator=tool)
            timeout = 60.0 + expected / 50.0
            stats = await_arrivals(ctx, cell, expected, running.procs, groups, timeout)
            creator = finish_tool(tool, 60.0)
            recorded += expected
            counts, recorded_at = await_recorded(db.url, recorded)
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
            cells[f"{source}_{endpoints}"] = summary
    return cells


COLUMNS = (
    ("run", lambda r: r["run"]),
    col("deliveries", "deliveries"),
    col("end to end\ndeliv/s", "end_to_end_deliveries_per_s"),
    col(f"{TIMES} ceiling", "ratio_to_ceiling", ".2f"),
    col("worker\ndeliv/s", "deliveries_per_s"),
    col("created\ndeliv/s", "creator.deliveries_per_s"),
    col("recorded\n+s", "recorded_after_last_arrival_s", ".2f"),
    col("voxsig CPU\nms/deliv", "voxsig_cpu_ms_per_delivery", ".2f"),
    cpu_col("CPU %\nvox/recv/\ncreat/oth", "voxsig", "receiver", "creator", "other"),
)


def _table(ceilings: Mapping[str, Any], cells: Mapping[str, Any], ceiling: float) -> Any:
    items = [
        r
        | {
            "run": f"ceiling, {loop} (no DB)",
            "ratio_to_ceiling": ratio(r["deliveries_per_s"], ceiling),
        }
        for loop, r in ceilings.items()
    ]
    items += [
        r | {"run": f"{SOURCES[r['source']]}, {plural(r['endpoints'], 'endpoint')}"}
        for r in cells.values()
    ]
    return detail_table(
        "deliveries: created while `voxsig serve` (SQLite) delivers them, vs. the ceiling",
        COLUMNS,
        items,
        "end to end: deliveries / (first event created -> last arrival); worker: first -> last "
        "arrival; created: the creator's own rate in deliveries/s (events x endpoints); recorded: "
        "how long after the last arrival the database showed every delivery succeeded; CPU: % of "
        "one core from the first to the last arrival (voxsig: the client, or voxsig serve with "
        "its API and worker; creat: the publisher or the REST client; oth: all else)",
    )


def _headline(
    ceilings: Mapping[str, Any], cells: Mapping[str, Any], ceiling: float
) -> list[dict[str, Any]]:
    by_loop = ", ".join(
        f"{loop} {r['deliveries_per_s']:,.0f}/s ({r['voxsig_cpu_ms_per_delivery']:.2f} ms CPU "
        "per POST)"
        for loop, r in ceilings.items()
    )
    rows = [
        headline(
            f"Ceiling: Voxsig's HTTP client alone, {CONCURRENCY} in flight",
            ceiling,
            "deliveries/s",
            note=f"{by_loop}; no database, the same signed bodies and receiver",
        )
    ]
    for r in cells.values():
        value = r["ratio_to_ceiling"]
        rows.append(
            headline(
                f"{SOURCES[r['source']]}, {plural(r['endpoints'], 'endpoint')}: {TIMES} ceiling",
                value,
                TIMES,
                f"≥ {TARGET}",
                None if value is None else value >= TARGET,
                f"{fmt(r['end_to_end_deliveries_per_s'])} deliveries/s end to end; {r['limit']}",
            )
        )
    return rows


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    ceilings: dict[str, Any] = {}
    cells: dict[str, Any] = {}
    with session(opts, ui, BENCHMARK.name) as ctx:
        for loop in ("asyncio", "uvloop"):
            ceilings[loop] = run_ceiling(ctx, opts, loop)
        ctx.lap("ceiling")
        for endpoints in opts["endpoint_counts"]:
            cells.update(run_endpoints(ctx, opts, endpoints))
            ctx.lap(f"{endpoints}_endpoints")
    ceiling = max((r["deliveries_per_s"] or 0.0 for r in ceilings.values()), default=0.0)
    if not ceiling:
        raise BenchError("the ceiling run delivered nothing")
    for r in cells.values():
        r["ratio_to_ceiling"] = ratio(r["end_to_end_deliveries_per_s"], ceiling)
    cpu = [(f"ceiling, {k}", r["cpu_percent"]) for k, r in ceilings.items()]
    cpu += [(key, r["cpu_percent"]) for key, r in cells.items()]
    return ctx.results(
        BENCHMARK,
        opts,
        _headline(ceilings, cells, ceiling),
        _table(ceilings, cells, ceiling),
        {"ceiling_deliveries_per_s": ceiling, "ceilings": ceilings, "cells": cells},
        cpu,
    )


BENCHMARK = Benchmark(
    name="deliveries",
    description="end-to-end webhook deliveries/s (service layer and REST API, 1/10/100 "
    "endpoints, SQLite) as a ratio to the HTTP client's ceiling",
    method=METHOD,
    run=run,
    options=(
        Option(
            "--cell-deliveries",
            4000,
            "deliveries per end-to-end cell, and the ceiling's POSTs",
            1,
            200_000,
        ),
        Option("--rest-events", 600, "at most this many API calls per REST cell", 1, 100_000),
        Option(
            "--endpoint-counts",
            (1, 10, 100),
            "subscribed endpoints per cell, comma-separated",
            1,
            500,
        ),
    ),
    facts={
        "ceiling_endpoints": CEILING_ENDPOINTS,
        "concurrency": CONCURRENCY,
        "rows_per_transaction": ROWS_PER_TRANSACTION,
        "allowed_networks": ALLOWED_NETWORKS,
        "receiver": "aiohttp on uvloop, 127.0.0.1",
    },
)
