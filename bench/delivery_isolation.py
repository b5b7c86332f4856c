"""isolation: do endpoints that hang past the timeout slow the healthy ones down? (issue 7,
item 4); the method is METHOD below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.common import Ui
from bench.delivery_common import (
    ROWS_PER_TRANSACTION,
    Ctx,
    fail_on,
    session,
    setup_account,
    voxsig,
)
from bench.delivery_measure import (
    await_recorded,
    db_problems,
    drain_backlog,
    trickle,
)
from bench.output import TIMES, col, detail_table, fmt, headline, ratio
from bench.spec import Benchmark, Option, Options

TOLERANCE = 0.10  # the issue's: within 10%
PARTS = ("backlog", "latency")
ENDPOINTS = 20
HANGING_EVERY = 10  # every 10th endpoint hangs: 10%
TIMEOUT = 2.0  # VOXSIG_WEBHOOK_TIMEOUT, both runs
HANG = 30.0  # how long the receiver holds a hanging endpoint's request
RETRY_SCHEDULE = "600"  # VOXSIG_WEBHOOK_RETRY_SCHEDULE: no retry within the run
SETTINGS = {
    "VOXSIG_WEBHOOK_TIMEOUT": f"{TIMEOUT:g}",
    "VOXSIG_WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE,
}

METHOD = """\
Two runs of `voxsig serve` on a fresh SQLite database with {endpoints} webhooks, each scoped to
its own inbox (events go round robin, one delivery each), VOXSIG_WEBHOOK_TIMEOUT={timeout:g} and
VOXSIG_WEBHOOK_RETRY_SCHEDULE={retry_schedule} in both (so no retry falls in the measured
window; timeouts are counted), otherwise default settings: all endpoints healthy, then every
{hanging_every}th endpoint hanging (the receiver holds its requests {hang:g}s, past the timeout).
Each run: `bench/delivery_publisher.py` publishes a backlog of {isolation_backlog:,} events
through the service layer ({rows_per_transaction:,} per transaction) while no worker runs; the
webhooks are disabled (one UPDATE), the server started, and the webhooks enabled again, so its
idle worker finds the whole backlog at once and drains it: healthy deliveries / (first -> last
healthy arrival). Then, while the hanging endpoints still hold the slots the per-endpoint cap
gives them, a steady open-loop trickle of {isolation_rate:g} events/s for
{isolation_seconds:g}s, committed by the publisher in another process (at most 100 commits a
second): p50/p99/max of the healthy endpoints' commit -> arrival. Ratios: the hanging run's
figure over the healthy run's, in the same benchmark run (target: within 10%, i.e. throughput
≥ 0.9x and p99 ≤ 1.1x). Checks: every healthy delivery arrived once with a valid signature and
succeeded after one attempt; every hanging delivery is still pending and each of its attempts
is a recorded timeout; no error in the logs."""


def _hanging(index: int) -> bool:
    return index % HANGING_EVERY == 0


def run_one(ctx: Ctx, opts: Options, hanging: bool) -> dict[str, Any]:
    kind = "hanging" if hanging else "healthy"
    label = "10% hanging" if hanging else "all healthy"
    names = [f"{kind[0]}{i}" for i in range(ENDPOINTS)]
    hang = {n: HANG for i, n in enumerate(names) if hanging and _hanging(i)}
    rate, seconds = opts["isolation_rate"], opts["isolation_seconds"]
    size = opts["isolation_backlog"]

    def healthy(seq: int) -> bool:
        # Events go round robin over the endpoints: event `seq` to endpoint seq % ENDPOINTS.
        return not (hanging and _hanging(seq % ENDPOINTS))

    # The backlog is published (its webhooks disabled), the server started (its worker idle),
    # and the webhooks enabled again: the whole backlog is claimable at once.
    db = ctx.database(label, f"isolation-{kind}")
    setup, published = setup_account(ctx, label, db.url, names, "inbox", size)
    expected = sum(1 for seq in range(size) if healthy(seq))
    with voxsig(ctx, label, db, settings=SETTINGS) as running:
        procs, groups = running.procs, ctx.groups(running.procs)
        ctx.receiver.reset(setup.secrets, hang)
        part = f"{label}: backlog, healthy endpoints"
        # The database is checked below, once the trickle is done too.
        drain = drain_backlog(ctx, part, expected, procs, groups, db.url, check_db=False)
        # The trickle, while the hanging endpoints still hold the worker's slots they can.
        ctx.receiver.reset(setup.secrets, hang)
        config = setup.publisher("trickle")
        latency = trickle(ctx, label, config, procs, groups, rate, seconds, healthy)
        latency["hung"] = ctx.receiver.stats()["hung"]
        succeeded = expected + latency["events"]
        counts, _ = await_recorded(db.url, succeeded)
    # Hanging endpoints' deliveries stay pending (their attempts time out, the retry is 600 s
    # away); every attempt is either a success or a timeout.
    trickled = int(rate * seconds)  # as the publisher counts them
    hung_total = (trickled - latency["events"]) + (size - expected)
    timeouts = counts.get("error:timeout", 0)
    attempts = succeeded + timeouts
    fail_on(label, db_problems(counts, succeeded, attempts, hung_total, errors=["timeout"]))
    return {
        "hanging_endpoints": sorted(hang),
        "backlog": drain | {"published": published},
        "latency": latency,
        "timeouts_recorded": timeouts,
    }


def _hung(r: Mapping[str, Any]) -> str:
    return f"{r['backlog']['hung'] + r['latency']['hung']:,}"


COLUMNS = (
    ("run", lambda r: r["run"]),
    col("backlog\ndeliv/s", "backlog.deliveries_per_s"),
    col("CPU ms\n/deliv", "backlog.voxsig_cpu_ms_per_delivery", ".2f"),
    *(col(f"{k} ms", f"latency.ms.{k}", ",.1f") for k in ("p50", "p99", "max")),
    ("hung", _hung),
    col("timeouts\nrecorded", "timeouts_recorded", ","),
)


def _table(runs: Mapping[str, Any], opts: Options) -> Any:
    return detail_table(
        f"isolation: {ENDPOINTS} endpoints, timeout {TIMEOUT:g}s; figures of the healthy endpoints",
        COLUMNS,
        [r | {"run": label} for label, r in runs.items()],
        f"backlog: {opts['isolation_backlog']:,} events made claimable at once, healthy "
        "deliveries / (first -> last healthy arrival); CPU: voxsig serve's per healthy delivery "
        f"meanwhile; p50..max: a {opts['isolation_rate']:g} events/s trickle for "
        f"{opts['isolation_seconds']:g}s, commit -> arrival; hung: requests the receiver held "
        "past the timeout; timeouts recorded: failed attempts in the database when the run ended",
    )


def _headline(
    runs: Mapping[str, Any], opts: Options
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    base, hang = runs["all healthy"], runs["10% hanging"]
    rate_b, rate_h = base["backlog"]["deliveries_per_s"], hang["backlog"]["deliveries_per_s"]
    p99_b, p99_h = base["latency"]["ms"]["p99"], hang["latency"]["ms"]["p99"]
    ratios = {"deliveries_per_s": ratio(rate_h, rate_b), "p99": ratio(p99_h, p99_b)}
    hung = hang["backlog"]["hung"] + hang["latency"]["hung"]
    throughput, p99 = ratios["deliveries_per_s"], ratios["p99"]
    rows = [
        headline(
            f"Healthy endpoints' deliveries/s, 10% hanging: {TIMES} all healthy",
            throughput,
            TIMES,
            f"≥ {1 - TOLERANCE:g}",
            None if throughput is None else throughput >= 1 - TOLERANCE,
            f"{fmt(rate_h)} vs {fmt(rate_b)} deliveries/s draining a backlog of "
            f"{opts['isolation_backlog']:,} events; {hung:,} requests hung past the "
            f"{TIMEOUT:g}s timeout",
        ),
        headline(
            f"Healthy endpoints' p99 commit → arrival, 10% hanging: {TIMES} all healthy",
            p99,
            TIMES,
            f"≤ {1 + TOLERANCE:g}",
            None if p99 is None else p99 <= 1 + TOLERANCE,
            f"{fmt(p99_h, ',.1f')} vs {fmt(p99_b, ',.1f')} ms at {opts['isolation_rate']:g} "
            "events/s",
        ),
    ]
    return rows, ratios


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    runs: dict[str, Any] = {}
    with session(opts, ui, BENCHMARK.name) as ctx:
        runs["all healthy"] = run_one(ctx, opts, hanging=False)
        ctx.lap("healthy")
        runs["10% hanging"] = run_one(ctx, opts, hanging=True)
        ctx.lap("hanging")
    rows, ratios = _headline(runs, opts)
    cpu = [(f"{k}, {part}", r[part]["cpu_percent"]) for k, r in runs.items() for part in PARTS]
    return ctx.results(
        BENCHMARK, opts, rows, _table(runs, opts), {"ratios": ratios, "runs": runs}, cpu
    )


BENCHMARK = Benchmark(
    name="isolation",
    description="healthy endpoints' deliveries/s and p99 latency with 10% of the endpoints "
    "hanging past the timeout, as ratios to a run without them (SQLite)",
    method=METHOD,
    run=run,
    options=(
        Option("--isolation-rate", 100.0, "events/s of the latency trickle", 0.001, 2000),
        Option("--isolation-seconds", 8.0, "seconds of the latency trickle", 0.001, 120),
        Option(
            "--isolation-backlog",
            6000,
            "events (one delivery each) of the drained backlog",
            ENDPOINTS,
            200_000,
        ),
    ),
    facts={
        "endpoints": ENDPOINTS,
        "hanging_every": HANGING_EVERY,
        "timeout": TIMEOUT,
        "hang": HANG,
        "retry_schedule": RETRY_SCHEDULE,
        "rows_per_transaction": ROWS_PER_TRANSACTION,
    },
)
