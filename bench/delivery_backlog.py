"""backlog: draining 100,000 pending deliveries, and the worker's memory meanwhile (issue 7,
item 5).

A backlog is published through the service layer (100 account-wide webhooks, so each event
has 100 deliveries, 1,000 deliveries per transaction) while no worker runs; then the webhooks
are disabled, one `voxsig worker` is started and found idle, and one UPDATE enables them all
again, which makes the whole backlog claimable at once (as when a receiver that was down comes
back). Reported: the drain rate (first -> last arrival), and the worker's resident memory
sampled every ~100 ms from /proc (with its children, if any): idle, at 10%, 50% and 90%
drained, and its peak, for a smaller backlog first (10,000) and then the large one, so that
growth with the backlog would show.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common import BenchError, Options, Ui
from bench.delivery_common import (
    TIMES,
    Ctx,
    RssSampler,
    await_listeners,
    await_log,
    detail_table,
    drain_backlog,
    fail_on,
    fmt,
    groups_for,
    headline,
    logs_problems,
    postgres_cluster,
    postgres_statuses,
    results,
    session,
    set_webhooks_enabled,
    setup_account,
    sqlite_statuses,
    sqlite_url,
    start_workers,
    stop_all,
)

NAME = "backlog"
DESCRIPTION = (
    "draining 100,000 pending deliveries (one voxsig worker): deliveries/s, and the worker's "
    "peak memory at a 10,000 and a 100,000 backlog"
)
TARGET_MB = 200.0  # the issue's: peak memory under 200 MB
GROWTH = 0.10  # "must not grow with the backlog": the large peak within 10% of the small one


@dataclass(frozen=True)
class Params:
    sizes: tuple[int, ...] = (10_000, 100_000)  # deliveries; the last is the headline's
    endpoints: int = 100
    rows_per_transaction: int = 1000
    database: str = "sqlite"


PARAMS = Params()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backlog")
    group.add_argument(
        "--backlog",
        type=int,
        default=Params.sizes[-1],
        help=f"pending deliveries to drain ({Params.sizes[-1]})",
    )
    group.add_argument(
        "--backlog-small",
        type=int,
        default=Params.sizes[0],
        help=f"a smaller backlog drained first, to compare with ({Params.sizes[0]}; 0: none)",
    )
    group.add_argument(
        "--backlog-database",
        choices=("sqlite", "postgres"),
        default=Params.database,
        help=f"where the backlog waits ({Params.database})",
    )


def configure(args: argparse.Namespace) -> None:
    global PARAMS
    n = PARAMS.endpoints
    if not n <= args.backlog <= 1_000_000 or not 0 <= args.backlog_small <= args.backlog:
        raise SystemExit(f"--backlog must be in [{n}, 1000000], --backlog-small in [0, --backlog]")
    sizes = tuple(s for s in (args.backlog_small, args.backlog) if s)
    # Whole events: each has one delivery per endpoint.
    sizes = tuple(max(n, s // n * n) for s in sizes)
    PARAMS = replace(PARAMS, sizes=sizes, database=args.backlog_database)


def run_size(ctx: Ctx, size: int, cluster: Any) -> dict[str, Any]:
    label = f"backlog of {size:,}"
    names = [f"b{i}" for i in range(PARAMS.endpoints)]
    events = size // PARAMS.endpoints
    batch = max(1, PARAMS.rows_per_transaction // PARAMS.endpoints)
    if cluster is None:
        data_dir = ctx.workdir / f"backlog-{size}"
        url = sqlite_url(data_dir)
        env = {"VOXSIG_DATA_DIR": str(data_dir)}
        where: dict[str, Any] = {"db": data_dir / "voxsig.db"}
        statuses = sqlite_statuses(data_dir / "voxsig.db")
    else:
        database = f"backlog_{size}"
        with ctx.ui.step(f"{label}: creating database {database}"):
            url = cluster.create_database(database)
        env = {"VOXSIG_DATABASE_URL": url}
        where = {"cluster": cluster, "database": database}
        statuses = postgres_statuses(cluster, database)
    setup, published = setup_account(ctx, label, url, names, "account", publish=(events, batch))
    assert published is not None
    set_webhooks_enabled(False, **where)
    procs, logs = start_workers(ctx, label, 1, f"backlog-{size}", **env)
    sampler = RssSampler(lambda: [p.pid for p in procs])
    try:
        with ctx.ui.step(f"{label}: waiting for the worker to be up"):
            if cluster is None:
                await_log(logs[0], "delivery worker on", procs[0])
                time.sleep(1.0)  # its first look at the database comes just after the line
            else:
                await_listeners(cluster, where["database"], 1)
        ctx.receiver.reset(setup.secrets)
        summary = drain_backlog(
            ctx,
            label,
            size,
            procs,
            groups_for(procs, ctx.receiver, cluster),
            statuses,
            lambda: set_webhooks_enabled(True, **where),
            sampler,
        )
    finally:
        stop_all(ctx, label, procs)
    fail_on(label, logs_problems(logs))
    summary["memory"] = sampler.summary(size)
    summary["rss_samples"] = [
        [round(t - sampler.samples[0][0], 2), n, round(mb, 1)] for t, n, mb in sampler.samples
    ]
    summary["published"] = published
    published_s = published["seconds"]
    summary["publish_deliveries_per_s"] = round(size / published_s, 1) if published_s else None
    summary["events"] = events
    summary["endpoints"] = PARAMS.endpoints
    return summary


# --- output ----------------------------------------------------------------------------------


def _table(runs: Mapping[int, Any]) -> tuple[Any, dict[str, Any]]:
    rows = []
    for size, r in runs.items():
        mem, cpu = r["memory"], r["cpu_percent"]
        rows.append(
            [
                f"{size:,}",
                fmt(r["deliveries_per_s"]),
                fmt(r["first_arrival_after_enable_s"], ".2f"),
                fmt(r["voxsig_cpu_ms_per_delivery"], ".2f"),
                "/".join(fmt(cpu.get(k)) for k in ("voxsig", "receiver", "other")),
                *(
                    fmt(mem.get(k), ".1f")
                    for k in ("at_start_mb", "at_10pct_mb", "at_50pct_mb", "at_90pct_mb", "peak_mb")
                ),
                fmt(r["publish_deliveries_per_s"]),
            ]
        )
    return detail_table(
        f"backlog: drained by one `voxsig worker` ({PARAMS.database}), "
        f"{PARAMS.endpoints} endpoints",
        [
            "backlog",
            "drain\ndeliv/s",
            "+first\ns",
            "CPU ms\n/deliv",
            "CPU %\nwork/recv/oth",
            "RSS MB\nidle",
            "10%",
            "50%",
            "90%",
            "peak",
            "published\ndeliv/s",
        ],
        rows,
        "drain: deliveries / (first -> last arrival); +first: from the UPDATE that made the "
        "backlog claimable to the first arrival; CPU: % of one core from the first to the last "
        "arrival; RSS: the worker's resident memory (MB), idle before the backlog showed, when "
        "10/50/90% had arrived, and its peak; published: the service layer's rate filling the "
        "backlog (no worker running)",
    )


def _headline(runs: Mapping[int, Any]) -> list[dict[str, Any]]:
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
            note=f"one `voxsig worker` on {PARAMS.database}, {PARAMS.endpoints} endpoints; "
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
        growth = round(peak / small_peak, 3) if peak and small_peak else None
        rate_ratio = (
            round(big["deliveries_per_s"] / small["deliveries_per_s"], 2)
            if big["deliveries_per_s"] and small["deliveries_per_s"]
            else None
        )
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


def _method() -> str:
    return (
        f"For each backlog size, a fresh {PARAMS.database} database: bench/delivery_publisher.py "
        f"creates {PARAMS.endpoints} account-wide webhooks (each event goes to every one) and "
        "publishes size/100 events through the service layer (events.publish.publish, 1,000 "
        "deliveries per transaction) while no worker runs. The webhooks are then disabled (one "
        "UPDATE; a disabled endpoint's deliveries stay pending and are not claimed), one `voxsig "
        "worker` (default settings, 127.0.0.0/8 allowed) is started and waited for, and one "
        "UPDATE enables the webhooks again, making the whole backlog claimable at once, as when "
        "a receiver that was down comes back (on SQLite the worker notices the commit through "
        "PRAGMA data_version, on PostgreSQL a NOTIFY follows). Drain rate: deliveries / (first "
        "-> last arrival at the receiver, aiohttp on uvloop, 127.0.0.1). Memory: VmRSS of the "
        "worker process and its children from /proc at every look at the receiver (~0.1 s), with "
        "the number arrived then; reported idle, at 10/50/90% arrived and the peak, for a "
        "smaller backlog first, so that growth with the backlog shows. Checks: every delivery "
        "arrived once with a valid signature, the database shows each succeeded after one "
        "attempt, the worker's log holds no error."
    )


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (tables, then notes)."""
    runs: dict[int, Any] = {}
    with session(opts, ui, NAME) as ctx:
        if PARAMS.database == "postgres":
            with postgres_cluster(ctx) as cluster:
                if cluster is None:
                    raise BenchError(f"--backlog-database postgres: {'; '.join(ctx.notes)}")
                for size in PARAMS.sizes:
                    runs[size] = run_size(ctx, size, cluster)
                    ctx.lap(f"backlog_{size}")
        else:
            for size in PARAMS.sizes:
                runs[size] = run_size(ctx, size, None)
                ctx.lap(f"backlog_{size}")
    return results(
        ctx,
        opts,
        (NAME, DESCRIPTION, _method()),
        _headline(runs),
        _table(runs),
        asdict(PARAMS),
        {"runs": {str(size): r for size, r in runs.items()}},
        [(f"backlog of {size:,}", r["cpu_percent"]) for size, r in runs.items()],
    )
