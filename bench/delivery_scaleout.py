"""scaleout: PostgreSQL with 1, 2 and 4 `voxsig worker` processes draining the same backlog
(issue 7, item 7); the method is METHOD below."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bench.common import Ui
from bench.delivery_common import (
    ROWS_PER_TRANSACTION,
    Ctx,
    Db,
    Setup,
    postgres_cluster,
    session,
    setup_account,
)
from bench.delivery_measure import drain_by_workers
from bench.output import TIMES, col, cpu_col, detail_table, fmt, headline, plural, ratio
from bench.spec import Benchmark, Option, Options
from harness.postgres import PostgresCluster

TEMPLATE = "scaleout_backlog"
ENDPOINTS = 100
CORES = len(os.sched_getaffinity(0))

METHOD = """\
A throwaway PostgreSQL cluster (`harness.postgres`: fsync and full_page_writes off, 127.0.0.1).
`bench/delivery_publisher.py` creates, in a template database, {endpoints} account-wide webhooks
(each event goes to every one) and publishes {scaleout_deliveries:,} deliveries through the
service layer (`outbox.publish.publish`, {rows_per_transaction:,} per transaction) while no
worker runs; the webhooks are then disabled (their deliveries stay pending, unclaimed). For each
worker count N of {scaleout_workers}: CREATE DATABASE ... TEMPLATE copies that backlog, N
`voxsig worker` processes (default settings, 127.0.0.0/8 allowed) start, and once each LISTENs,
one UPDATE enables the webhooks and a NOTIFY wakes them: all start draining at once. Rate:
deliveries / (first -> last arrival at the receiver), and its ratio to one worker; CPU from
/proc for the workers, PostgreSQL (the postmaster and its backends), the receiver and the rest
of the machine, which has {cores} cores: the workers, PostgreSQL and the receiver share them, so
beyond that more workers only compete. No target: the issue asks how it grows. Checks: every
delivery arrived once (two workers never sent the same), signatures verify, the database shows
each succeeded after one attempt, no worker logged an error."""


def run_workers(
    ctx: Ctx, cluster: PostgresCluster, setup: Setup, workers: int, deliveries: int
) -> dict[str, Any]:
    label = f"postgres, {plural(workers, 'worker')}"
    database = f"scaleout_{workers}w"
    with ctx.ui.step(f"{label}: copying the backlog into {database}"):
        cluster.psql(f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE}"')
    db = Db(database, cluster.url(database), {"VOXSIG_DATABASE_URL": cluster.url(database)})
    summary = drain_by_workers(ctx, label, setup, deliveries, db, workers, cluster)
    cluster.drop_database(database)
    return summary | {"workers": workers}


def _table(runs: Mapping[int, Any], deliveries: int) -> Any:
    first = next(iter(runs))
    one = runs[first]["deliveries_per_s"]

    def to_one(r: Mapping[str, Any]) -> str:
        return fmt(ratio(r["deliveries_per_s"] or None, one), ".2f")

    columns = (
        ("workers", lambda r: str(r["workers"])),
        col("deliv/s", "deliveries_per_s"),
        (f"{TIMES} {plural(first, 'worker')}", to_one),
        col("+first\ns", "first_arrival_after_enable_s", ".2f"),
        col("workers CPU\nms/deliv", "voxsig_cpu_ms_per_delivery", ".2f"),
        cpu_col("CPU %\nwork/pg/recv/oth", "voxsig", "postgres", "receiver", "other"),
    )
    return detail_table(
        f"scaleout: {deliveries:,} pending deliveries over {ENDPOINTS} endpoints, "
        f"PostgreSQL, {CORES} cores in all",
        columns,
        runs.values(),
        "deliv/s: first -> last arrival; +first: from the UPDATE and NOTIFY that made the "
        "backlog claimable to the first arrival; CPU: % of one core from the first to the last "
        "arrival (work: all the workers together; pg: the postmaster and its backends)",
    )


def _headline(
    runs: Mapping[int, Any], workers: list[int], skipped: str | None
) -> list[dict[str, Any]]:
    def row(count: int, rate: float | None, note: str) -> dict[str, Any]:
        return headline(f"PostgreSQL, {plural(count, 'worker')}", rate, "deliveries/s", note=note)

    if skipped:
        return [row(w, None, skipped) for w in workers]
    one, rows = runs[workers[0]]["deliveries_per_s"], []
    for count, r in runs.items():
        cpu, rate = r["cpu_percent"], r["deliveries_per_s"]
        note = (
            f"{fmt(ratio(rate, one, 2) if rate else None, '.2f')}{TIMES} "
            f"{plural(workers[0], 'worker')}; CPU, % of one core: "
            f"workers {fmt(cpu.get('voxsig'))}, "
            f"PostgreSQL {fmt(cpu.get('postgres'))}, receiver {fmt(cpu.get('receiver'))}, other "
            f"{fmt(cpu.get('other'))} ({CORES} cores in all, shared by all of them)"
        )
        rows.append(row(count, rate, note))
    return rows


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    deliveries = opts["scaleout_deliveries"] // ENDPOINTS * ENDPOINTS
    workers = sorted(set(opts["scaleout_workers"]))
    runs: dict[int, Any] = {}
    published, skipped = None, None
    with session(opts, ui, BENCHMARK.name) as ctx, postgres_cluster(ctx, opts) as cluster:
        if cluster is None:
            skipped = "; ".join(ctx.notes)
        else:
            with ui.step(f"postgres: creating database {TEMPLATE}"):
                url = cluster.create_database(TEMPLATE)
            names = [f"s{i}" for i in range(ENDPOINTS)]
            backlog = deliveries // ENDPOINTS
            setup, published = setup_account(ctx, "postgres", url, names, "account", backlog)
            ctx.lap("publish")
            for count in workers:
                runs[count] = run_workers(ctx, cluster, setup, count, deliveries)
                ctx.lap(f"{count}_workers")
    return ctx.results(
        BENCHMARK,
        opts,
        _headline(runs, workers, skipped),
        _table(runs, deliveries) if runs else None,
        {"published": published, "runs": {str(w): r for w, r in runs.items()}},
        [(f"{plural(w, 'worker')}", r["cpu_percent"]) for w, r in runs.items()],
    )


BENCHMARK = Benchmark(
    name="scaleout",
    description="PostgreSQL with 1, 2 and 4 voxsig worker processes draining the same backlog: "
    "deliveries/s and how it grows",
    method=METHOD,
    run=run,
    options=(
        Option(
            "--scaleout-deliveries",
            10_000,
            "the backlog each worker count drains",
            ENDPOINTS,
            1_000_000,
        ),
        Option("--scaleout-workers", (1, 2, 4), "worker counts, comma-separated", 1, 16),
    ),
    facts={"endpoints": ENDPOINTS, "rows_per_transaction": ROWS_PER_TRANSACTION, "cores": CORES},
)
