"""scaleout: PostgreSQL with 1, 2 and 4 `voxsig worker` processes draining the same backlog
(issue 7, item 7).

A backlog is published once into a template database (100 account-wide webhooks, then
disabled); each run copies it (CREATE DATABASE ... TEMPLATE), starts N workers, waits until
each LISTENs, and enables the webhooks with one UPDATE and a NOTIFY, so every worker starts
draining at the same moment. Reported: deliveries/s (first -> last arrival), the ratio to one
worker, and the CPU the workers and PostgreSQL used.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common import Options, Ui
from bench.delivery_common import (
    TIMES,
    Ctx,
    Setup,
    add_shared_arguments,
    await_listeners,
    configure_shared,
    detail_table,
    drain_backlog,
    fail_on,
    fmt,
    groups_for,
    headline,
    logs_problems,
    number_list,
    postgres_cluster,
    postgres_statuses,
    results,
    session,
    set_webhooks_enabled,
    setup_account,
    start_workers,
    stop_all,
)

NAME = "scaleout"
DESCRIPTION = (
    "PostgreSQL with 1, 2 and 4 voxsig worker processes draining the same backlog: "
    "deliveries/s and how it grows"
)
TEMPLATE = "scaleout_backlog"


@dataclass(frozen=True)
class Params:
    deliveries: int = 10_000
    workers: tuple[int, ...] = (1, 2, 4)
    endpoints: int = 100
    rows_per_transaction: int = 1000


PARAMS = Params()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scaleout")
    group.add_argument(
        "--scaleout-deliveries",
        type=int,
        default=Params.deliveries,
        help=f"the backlog each worker count drains ({Params.deliveries})",
    )
    group.add_argument(
        "--scaleout-workers",
        default=",".join(map(str, Params.workers)),
        help="worker counts, comma-separated (1,2,4)",
    )
    add_shared_arguments(parser)


def configure(args: argparse.Namespace) -> None:
    global PARAMS
    configure_shared(args)
    workers = tuple(int(n) for n in number_list(args.scaleout_workers, "--scaleout-workers", 1, 16))
    n = PARAMS.endpoints
    if not n <= args.scaleout_deliveries <= 1_000_000:
        raise SystemExit(f"--scaleout-deliveries must be between {n} and 1000000")
    PARAMS = replace(
        PARAMS, deliveries=args.scaleout_deliveries // n * n, workers=tuple(sorted(set(workers)))
    )


def run_workers(ctx: Ctx, cluster: Any, setup: Setup, workers: int) -> dict[str, Any]:
    label = f"postgres, {workers} worker{'s' if workers > 1 else ''}"
    database = f"scaleout_{workers}w"
    with ctx.ui.step(f"{label}: copying the backlog into {database}"):
        cluster.psql(f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE}"')
    env = {"VOXSIG_DATABASE_URL": cluster.url(database)}
    procs, logs = start_workers(ctx, label, workers, database, **env)
    try:
        with ctx.ui.step(f"{label}: waiting until each LISTENs"):
            await_listeners(cluster, database, workers)
        ctx.receiver.reset(setup.secrets)
        summary = drain_backlog(
            ctx,
            label,
            PARAMS.deliveries,
            procs,
            groups_for(procs, ctx.receiver, cluster),
            postgres_statuses(cluster, database),
            lambda: set_webhooks_enabled(True, cluster=cluster, database=database),
        )
    finally:
        stop_all(ctx, label, procs)
    fail_on(label, logs_problems(logs))
    cluster.drop_database(database)
    summary["workers"] = workers
    return summary


# --- output ----------------------------------------------------------------------------------


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _table(runs: Mapping[int, Any]) -> tuple[Any, dict[str, Any]]:
    one = runs.get(PARAMS.workers[0], {}).get("deliveries_per_s")
    rows = []
    for workers, r in runs.items():
        cpu, rate = r["cpu_percent"], r["deliveries_per_s"]
        rows.append(
            [
                str(workers),
                fmt(rate),
                fmt(rate / one if one and rate else None, ".2f"),
                fmt(r["first_arrival_after_enable_s"], ".2f"),
                fmt(r["voxsig_cpu_ms_per_delivery"], ".2f"),
                "/".join(fmt(cpu.get(k)) for k in ("voxsig", "postgres", "receiver", "other")),
            ]
        )
    return detail_table(
        f"scaleout: {PARAMS.deliveries:,} pending deliveries over {PARAMS.endpoints} endpoints, "
        f"PostgreSQL, {_cores()} cores in all",
        [
            "workers",
            "deliv/s",
            f"{TIMES} {PARAMS.workers[0]} worker",
            "+first\ns",
            "workers CPU\nms/deliv",
            "CPU %\nwork/pg/recv/oth",
        ],
        rows,
        "deliv/s: first -> last arrival; +first: from the UPDATE and NOTIFY that made the "
        "backlog claimable to the first arrival; CPU: % of one core from the first to the last "
        "arrival (work: all the workers together; pg: the postmaster and its backends)",
    )


def _headline(runs: Mapping[int, Any], skipped: str | None) -> list[dict[str, Any]]:
    if skipped:
        return [
            headline(
                f"PostgreSQL, {w} worker{'s' if w > 1 else ''}", None, "deliveries/s", note=skipped
            )
            for w in PARAMS.workers
        ]
    one = runs.get(PARAMS.workers[0], {}).get("deliveries_per_s")
    rows = []
    for workers, r in runs.items():
        cpu = r["cpu_percent"]
        rate = r["deliveries_per_s"]
        ratio = round(rate / one, 2) if rate and one else None
        rows.append(
            headline(
                f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}",
                rate,
                "deliveries/s",
                note=f"{fmt(ratio, '.2f')}{TIMES} {PARAMS.workers[0]} worker; CPU, % of one core: "
                f"workers {fmt(cpu.get('voxsig'))}, PostgreSQL {fmt(cpu.get('postgres'))}, "
                f"receiver {fmt(cpu.get('receiver'))}, other {fmt(cpu.get('other'))} "
                f"({_cores()} cores in all, shared by all of them)",
            )
        )
    return rows


def _method() -> str:
    return (
        "A throwaway PostgreSQL cluster (tests.support.postgres: fsync and full_page_writes off, "
        "127.0.0.1). bench/delivery_publisher.py creates, in a template database, "
        f"{PARAMS.endpoints} account-wide webhooks (each event goes to every one) and publishes "
        f"{PARAMS.deliveries:,} deliveries through the service layer (events.publish.publish, "
        "1,000 per transaction) while no worker runs; the webhooks are then disabled (their "
        "deliveries stay pending, unclaimed). For each worker count N: CREATE DATABASE ... "
        "TEMPLATE copies that backlog, N `voxsig worker` processes (default settings, "
        "127.0.0.0/8 allowed) start, and once each LISTENs, one UPDATE enables the webhooks and "
        "a NOTIFY wakes them: all start draining at once. Rate: deliveries / (first -> last "
        "arrival at the receiver, aiohttp on uvloop, its own process); CPU from /proc for the "
        "workers, PostgreSQL (the postmaster and its backends), the receiver and the rest of the "
        f"machine, which has {_cores()} cores: the workers, PostgreSQL and the receiver share "
        "them, so beyond that more workers only compete. Checks: every delivery arrived once "
        "(two workers never sent the same), signatures verify, the database shows each "
        "succeeded after one attempt, no worker logged an error."
    )


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (tables, then notes)."""
    runs: dict[int, Any] = {}
    published: dict[str, Any] | None = None
    skipped = None
    with session(opts, ui, NAME) as ctx, postgres_cluster(ctx) as cluster:
        if cluster is None:
            skipped = "; ".join(ctx.notes)
        else:
            with ui.step(f"postgres: creating database {TEMPLATE}"):
                url = cluster.create_database(TEMPLATE)
            names = [f"s{i}" for i in range(PARAMS.endpoints)]
            events = PARAMS.deliveries // PARAMS.endpoints
            batch = max(1, PARAMS.rows_per_transaction // PARAMS.endpoints)
            setup, published = setup_account(
                ctx, "postgres", url, names, "account", publish=(events, batch)
            )
            set_webhooks_enabled(False, cluster=cluster, database=TEMPLATE)
            ctx.lap("publish")
            for workers in PARAMS.workers:
                runs[workers] = run_workers(ctx, cluster, setup, workers)
                ctx.lap(f"{workers}_workers")
    return results(
        ctx,
        opts,
        (NAME, DESCRIPTION, _method()),
        _headline(runs, skipped),
        _table(runs) if runs else None,
        {**asdict(PARAMS), "cores": _cores()},
        {"published": published, "runs": {str(w): r for w, r in runs.items()}},
        [(f"{w} worker{'s' if w > 1 else ''}", r["cpu_percent"]) for w, r in runs.items()],
    )
