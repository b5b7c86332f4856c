"""backlog: draining 100,000 pending deliveries, and the worker's memory meanwhile (issue 7,
item 5); the method is METHOD below."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from bench.common import BenchError, Ui
from bench.delivery_common import (
    ROWS_PER_TRANSACTION,
    Ctx,
    postgres_cluster,
    session,
    setup_account,
)
from bench.delivery_measure import drain_by_workers
from bench.output import TIMES, col, cpu_col, detail_table, fmt, headline, ratio
from bench.spec import Benchmark, Option, Options
from harness.postgres import PostgresCluster

TARGET_MB = 200.0  # the issue's: peak memory under 200 MB
GROWTH = 0.10  # "must not grow with the backlog": the large peak within 10% of the small one
ENDPOINTS = 100
# The memory columns: header -> figure.
MEMORY = {"RSS MB\nidle": "at_start_mb", "10%": "at_10pct_mb", "50%": "at_50pct_mb"}
MEMORY |= {"90%": "at_90pct_mb", "peak": "peak_mb"}

METHOD = """\
For each backlog size (first `--backlog-small`, {backlog_small:,}, then `--backlog`,
{backlog:,} pending deliveries; 0 skips the small one), a fresh {backlog_database} database:
`bench/delivery_publisher.py` creates {endpoints} account-wide webhooks (each event goes to
every one) and publishes size/{endpoints} events through the service layer
(`outbox.publish.publish`, {rows_per_transaction:,} deliveries per transaction) while no worker
runs. The webhooks are then disabled (one UPDATE; a disabled endpoint's deliveries stay pending
and are not claimed), one `voxsig worker` (default settings, 127.0.0.0/8 allowed) is started and
waited for (SQLite: its start line; PostgreSQL: it LISTENs), and one UPDATE enables the webhooks
again, making the whole backlog claimable at once, as when a receiver that was down comes back
(on SQLite the worker notices the commit through `PRAGMA data_version`, on PostgreSQL a NOTIFY
follows). Drain rate: deliveries / (first -> last arrival at the receiver). Memory: VmRSS of the
worker process and its children from /proc at every look at the receiver (~0.1 s), with the
number arrived then; reported idle, at 10/50/90% arrived and the peak (target < 200 MB); the
large backlog's peak must stay within 10% of the small one's (memory must not grow with the
backlog). Checks: every delivery arrived once with a valid signature, the database shows each
succeeded after one attempt, the worker's log holds no error."""


def run_size(ctx: Ctx, size: int, cluster: PostgresCluster | None) -> dict[str, Any]:
    label, database = f"backlog of {size:,}", f"backlog_{size}"
    names = [f"b{i}" for i in range(ENDPOINTS)]
    events = size // ENDPOINTS
    db = ctx.database(label, database, cluster)
    setup, published = setup_account(ctx, label, db.url, names, "account", events)
    assert published is not None
    summary = drain_by_workers(ctx, label, setup, size, db, 1, cluster, memory=True)
    return summary | {
        "published": published,
        "publish_deliveries_per_s": ratio(size, published["seconds"], 1),
        "events": events,
        "endpoints": ENDPOINTS,
    }


COLUMNS = (
    ("backlog", lambda r: f"{r['size']:,}"),
    col("drain\ndeliv/s", "deliveries_per_s"),
    col("+first\ns", "first_arrival_after_enable_s", ".2f"),
    col("CPU ms\n/deliv", "voxsig_cpu_ms_per_delivery", ".2f"),
    cpu_col("CPU %\nwork/recv/oth", "voxsig", "receiver", "other"),
    *(col(header, f"memory.{key}", ".1f") for header, key in MEMORY.items()),
    col("published\ndeliv/s", "publish_deliveries_per_s"),
)


def _table(runs: Mapping[int, Any], database: str) -> Any:
    return detail_table(
        f"backlog: drained by one `voxsig worker` ({database}), {ENDPOINTS} endpoints",
        COLUMNS,
        [r | {"size": size} for size, r in runs.items()],
        "drain: deliveries / (first -> last arrival); +first: from the UPDATE that made the "
        "backlog claimable to the first arrival; CPU: % of one core from the first to the last "
        "arrival; RSS: the worker's resident memory (MB), idle before the backlog showed, when "
        "10/50/90% had arrived, and its peak; published: the service layer's rate filling the "
        "backlog (no worker running)",
    )


def _headline(runs: Mapping[int, Any], database: str) -> list[dict[str, Any]]:
    sizes = list(runs)
    big = runs[sizes[-1]]
    mem = big["memory"]
    peak = mem.get("peak_mb")
    steps = " / ".join(fmt(mem.get(f"at_{p}pct_mb"), ".0f") for p in (10, 50, 90))
    rows = [
        headline(
            f"Drain rate, {sizes[-1]:,} pending deliveries",
            big["deliveries_per_s"],
            "deliveries/s",
            note=f"one `voxsig worker` on {database}, {ENDPOINTS} endpoints; "
            f"{big['first_to_last_s']:.0f}s first to last arrival, "
            f"{fmt(big['voxsig_cpu_ms_per_delivery'], '.2f')} ms worker CPU per delivery",
        ),
        headline(
            f"Worker peak memory, {sizes[-1]:,} backlog",
            peak,
            "MB",
            f"< {TARGET_MB:g} MB",
            None if peak is None else peak < TARGET_MB,
            f"resident, sampled every ~0.1s; {fmt(mem.get('at_start_mb'), '.0f')} MB idle, "
            f"{steps} MB at 10/50/90% drained",
        ),
    ]
    if len(sizes) > 1:
        small = runs[sizes[0]]
        small_peak = small["memory"].get("peak_mb")
        growth = ratio(peak, small_peak) if peak else None
        rate_ratio = ratio(big["deliveries_per_s"], small["deliveries_per_s"], 2)
        rows.append(
            headline(
                f"Worker peak memory, {sizes[-1]:,} vs {sizes[0]:,} backlog",
                growth,
                TIMES,
                f"≤ {1 + GROWTH:g}",
                None if growth is None else growth <= 1 + GROWTH,
                f"{fmt(peak, '.0f')} vs {fmt(small_peak, '.0f')} MB; the large backlog drained "
                f"at {fmt(rate_ratio, '.2f')}{TIMES} the small one's rate "
                f"({fmt(small['deliveries_per_s'])} deliveries/s)",
            )
        )
    return rows


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    if opts["backlog_small"] > opts["backlog"]:
        raise BenchError("--backlog-small must not be larger than --backlog")
    # Whole events: each has one delivery per endpoint.
    sizes = [
        max(ENDPOINTS, s // ENDPOINTS * ENDPOINTS)
        for s in (opts["backlog_small"], opts["backlog"])
        if s
    ]
    database = opts["backlog_database"]
    runs: dict[int, Any] = {}
    with session(opts, ui, BENCHMARK.name) as ctx:
        on_postgres = postgres_cluster(ctx, opts) if database == "postgres" else nullcontext()
        with on_postgres as cluster:
            if database == "postgres" and cluster is None:
                raise BenchError(f"--backlog-database postgres: {'; '.join(ctx.notes)}")
            for size in sizes:
                runs[size] = run_size(ctx, size, cluster)
                ctx.lap(f"backlog_{size}")
    return ctx.results(
        BENCHMARK,
        opts,
        _headline(runs, database),
        _table(runs, database),
        {"runs": {str(size): r for size, r in runs.items()}},
        [(f"backlog of {size:,}", r["cpu_percent"]) for size, r in runs.items()],
        params={"sizes": sizes},
    )


BENCHMARK = Benchmark(
    name="backlog",
    description="draining 100,000 pending deliveries (one voxsig worker): deliveries/s, and the "
    "worker's peak memory at a 10,000 and a 100,000 backlog",
    method=METHOD,
    run=run,
    options=(
        Option("--backlog", 100_000, "pending deliveries to drain", ENDPOINTS, 1_000_000),
        Option(
            "--backlog-small",
            10_000,
            "a smaller backlog drained first, to compare with; 0: none",
            0,
            1_000_000,
        ),
        Option(
            "--backlog-database",
            "sqlite",
            "where the backlog waits",
            choices=("sqlite", "postgres"),
        ),
    ),
    facts={"endpoints": ENDPOINTS, "rows_per_transaction": ROWS_PER_TRANSACTION},
)
