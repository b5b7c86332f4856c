"""isolation: do endpoints that hang past the timeout slow the healthy ones down? (issue 7, item 4).

Two runs of `voxsig serve` on SQLite with 20 inbox-scoped webhooks (one delivery per event, round
robin), VOXSIG_WEBHOOK_TIMEOUT=2 and a retry schedule of 600 s (no retry falls in the measured
window) in both: first all healthy, then with 10% of the endpoints hanging (the receiver holds
their requests for 30 s, far past the timeout). Each run: a backlog published while no worker runs,
made claimable at once for the server's idle worker and drained (throughput: healthy deliveries /
first -> last healthy arrival), then a steady trickle (latency: p50/p99 commit -> arrival of the
healthy endpoints' events) while the hanging endpoints still hold what slots they may. Reported:
the hanging run's healthy figures as ratios to the all-healthy run's.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common import Options, Ui
from bench.delivery_common import (
    TIMES,
    Ctx,
    await_recorded,
    db_problems,
    detail_table,
    drain_backlog,
    fail_on,
    fmt,
    groups_for,
    headline,
    logs_problems,
    results,
    session,
    set_webhooks_enabled,
    setup_account,
    sqlite_statuses,
    sqlite_url,
    start_serve,
    stop_all,
    trickle,
)

NAME = "isolation"
DESCRIPTION = (
    "healthy endpoints' deliveries/s and p99 latency with 10% of the endpoints hanging past "
    "the timeout, as ratios to a run without them (SQLite)"
)
TOLERANCE = 0.10  # the issue's: within 10%
PARTS = ("backlog", "latency")


@dataclass(frozen=True)
class Params:
    endpoints: int = 20
    hanging_every: int = 10  # every 10th endpoint hangs: 10%
    timeout: float = 2.0  # VOXSIG_WEBHOOK_TIMEOUT, both runs
    hang: float = 30.0  # how long the receiver holds a hanging endpoint's request
    retry_schedule: str = "600"  # VOXSIG_WEBHOOK_RETRY_SCHEDULE: no retry within the run
    rate: float = 100.0  # the trickle's events/s
    seconds: float = 8.0
    backlog: int = 6000  # events (= deliveries) drained
    rows_per_transaction: int = 1000


PARAMS = Params()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("isolation")
    group.add_argument(
        "--isolation-rate",
        type=float,
        default=Params.rate,
        help=f"events/s of the latency trickle ({Params.rate:g})",
    )
    group.add_argument(
        "--isolation-seconds",
        type=float,
        default=Params.seconds,
        help=f"seconds of the latency trickle ({Params.seconds:g})",
    )
    group.add_argument(
        "--isolation-backlog",
        type=int,
        default=Params.backlog,
        help=f"events (one delivery each) of the drained backlog ({Params.backlog})",
    )


def configure(args: argparse.Namespace) -> None:
    global PARAMS
    if not 0 < args.isolation_rate <= 2000 or not 0 < args.isolation_seconds <= 120:
        raise SystemExit("--isolation-rate must be in (0, 2000], --isolation-seconds in (0, 120]")
    if not PARAMS.endpoints <= args.isolation_backlog <= 200_000:
        raise SystemExit(f"--isolation-backlog must be between {PARAMS.endpoints} and 200000")
    PARAMS = replace(
        PARAMS,
        rate=args.isolation_rate,
        seconds=args.isolation_seconds,
        backlog=args.isolation_backlog,
    )


def _hanging(index: int) -> bool:
    return index % PARAMS.hanging_every == 0


def run_one(ctx: Ctx, hanging: bool) -> dict[str, Any]:
    kind = "hanging" if hanging else "healthy"
    label = "10% hanging" if hanging else "all healthy"
    data_dir = ctx.workdir / f"isolation-{kind}"
    names = [f"{kind[0]}{i}" for i in range(PARAMS.endpoints)]
    hang = {n: PARAMS.hang for i, n in enumerate(names) if hanging and _hanging(i)}
    # Events go round robin over the endpoints: event `seq` to endpoint seq % endpoints.
    n = PARAMS.endpoints

    def healthy(seq: int) -> bool:
        return not (hanging and _hanging(seq % n))

    # The backlog is published, the webhooks disabled, the server started (its worker idle),
    # and the webhooks enabled again: the whole backlog is claimable at once.
    backlog = (PARAMS.backlog, PARAMS.rows_per_transaction)
    setup, published = setup_account(
        ctx, label, sqlite_url(data_dir), names, "inbox", publish=backlog
    )
    db = data_dir / "voxsig.db"
    set_webhooks_enabled(False, db=db)
    expected = sum(1 for seq in range(PARAMS.backlog) if healthy(seq))
    server = start_serve(
        ctx,
        label,
        data_dir,
        VOXSIG_WEBHOOK_TIMEOUT=f"{PARAMS.timeout:g}",
        VOXSIG_WEBHOOK_RETRY_SCHEDULE=PARAMS.retry_schedule,
    )
    procs = [server.proc]
    try:
        groups = groups_for(procs, ctx.receiver)
        ctx.receiver.reset(setup.secrets, hang)
        drain = drain_backlog(
            ctx,
            f"{label}: backlog, healthy endpoints",
            expected,
            procs,
            groups,
            sqlite_statuses(db),
            lambda: set_webhooks_enabled(True, db=db),
            check_db=False,  # below, once the trickle is done too
        )
        # The trickle, while the hanging endpoints still hold the worker's slots they can.
        ctx.receiver.reset(setup.secrets, hang)
        config = setup.publisher("trickle")
        latency = trickle(ctx, label, config, procs, groups, PARAMS.rate, PARAMS.seconds, healthy)
        latency["hung"] = ctx.receiver.stats()["hung"]
        succeeded = expected + latency["events"]
        counts, _ = await_recorded(sqlite_statuses(db), succeeded)
    finally:
        stop_all(ctx, label, procs)
    # Hanging endpoints' deliveries stay pending (their attempts time out, the retry is 600 s
    # away); every attempt is either a success or a timeout.
    trickled = int(PARAMS.rate * PARAMS.seconds)  # as the publisher counts them
    hung_total = (trickled - latency["events"]) + (PARAMS.backlog - expected)
    problems = logs_problems([server.log]) + db_problems(
        counts,
        succeeded,
        attempts=succeeded + counts.get("error:timeout", 0),
        pending=hung_total,
        errors=["timeout"],
    )
    fail_on(label, problems)
    drain["published"] = published
    return {
        "hanging_endpoints": sorted(hang),
        "backlog": drain,
        "latency": latency,
        "timeouts_recorded": counts.get("error:timeout", 0),
    }


# --- output ----------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _table(runs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    rows = []
    for label, r in runs.items():
        lat, drain = r["latency"]["ms"], r["backlog"]
        rows.append(
            [
                label,
                fmt(drain["deliveries_per_s"]),
                fmt(drain["voxsig_cpu_ms_per_delivery"], ".2f"),
                *(fmt(lat[k], ",.1f") for k in ("p50", "p99", "max")),
                f"{drain['hung'] + r['latency']['hung']:,}",
                f"{r['timeouts_recorded']:,}",
            ]
        )
    return detail_table(
        f"isolation: {PARAMS.endpoints} endpoints, timeout {PARAMS.timeout:g}s; figures of the "
        "healthy endpoints",
        [
            "run",
            "backlog\ndeliv/s",
            "CPU ms\n/deliv",
            "p50 ms",
            "p99 ms",
            "max ms",
            "hung",
            "timeouts\nrecorded",
        ],
        rows,
        f"backlog: {PARAMS.backlog:,} events made claimable at once, healthy "
        "deliveries / (first -> last healthy arrival); CPU: voxsig serve's per healthy delivery "
        f"meanwhile; p50..max: a {PARAMS.rate:g} events/s trickle for {PARAMS.seconds:g}s, "
        "commit -> arrival; hung: requests the receiver held past the timeout; timeouts "
        "recorded: failed attempts in the database when the run ended",
    )


def _headline(runs: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    base, hang = runs["all healthy"], runs["10% hanging"]
    rate_b = base["backlog"]["deliveries_per_s"]
    rate_h = hang["backlog"]["deliveries_per_s"]
    p99_b, p99_h = base["latency"]["ms"]["p99"], hang["latency"]["ms"]["p99"]
    ratios = {"deliveries_per_s": _ratio(rate_h, rate_b), "p99": _ratio(p99_h, p99_b)}
    hung = hang["backlog"]["hung"] + hang["latency"]["hung"]
    rows = [
        headline(
            f"Healthy endpoints' deliveries/s, 10% hanging: {TIMES} all healthy",
            ratios["deliveries_per_s"],
            TIMES,
            f"≥ {1 - TOLERANCE:g}",
            None
            if ratios["deliveries_per_s"] is None
            else ratios["deliveries_per_s"] >= 1 - TOLERANCE,
            f"{fmt(rate_h)} vs {fmt(rate_b)} deliveries/s draining a backlog of "
            f"{PARAMS.backlog:,} events; {hung:,} requests hung past the {PARAMS.timeout:g}s "
            "timeout",
        ),
        headline(
            f"Healthy endpoints' p99 commit → arrival, 10% hanging: {TIMES} all healthy",
            ratios["p99"],
            TIMES,
            f"≤ {1 + TOLERANCE:g}",
            None if ratios["p99"] is None else ratios["p99"] <= 1 + TOLERANCE,
            f"{fmt(p99_h, ',.1f')} vs {fmt(p99_b, ',.1f')} ms at {PARAMS.rate:g} events/s",
        ),
    ]
    return rows, ratios


def _method() -> str:
    return (
        f"Two runs of `voxsig serve` on a fresh SQLite database with {PARAMS.endpoints} webhooks, "
        "each scoped to its own inbox (events go round robin, one delivery each), "
        f"VOXSIG_WEBHOOK_TIMEOUT={PARAMS.timeout:g} and "
        f"VOXSIG_WEBHOOK_RETRY_SCHEDULE={PARAMS.retry_schedule} in both (so no retry falls in the "
        "measured window; timeouts are counted), otherwise default settings: all endpoints "
        "healthy, then every 10th endpoint hanging (the receiver holds its requests "
        f"{PARAMS.hang:g}s, past the timeout). Each run: bench/delivery_publisher.py publishes a "
        f"backlog of {PARAMS.backlog:,} events through the service layer (1,000 per transaction) "
        "while no worker runs; the webhooks are disabled (one UPDATE), the server started, and "
        "the webhooks enabled again, so its idle worker finds the whole backlog at once and "
        "drains it: healthy deliveries / (first -> last healthy arrival). Then, while the "
        "hanging endpoints still hold the slots they may, a steady open-loop trickle of "
        f"{PARAMS.rate:g} events/s for {PARAMS.seconds:g}s (at most 100 commits a second, so "
        f"{math.ceil(PARAMS.rate / 100)} event(s) per transaction, committed by the publisher in "
        "another process): p50/p99 of the healthy endpoints' commit -> arrival. Ratios: the "
        "hanging run's figure over the healthy run's, in the same benchmark run. Checks: every "
        "healthy delivery arrived once with a valid signature and succeeded after one attempt; "
        "every hanging delivery is still pending and each of its attempts is a recorded timeout; "
        "no error in the logs."
    )


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    """Runs the benchmark; returns its JSON data and what to print (tables, then notes)."""
    runs: dict[str, Any] = {}
    with session(opts, ui, NAME) as ctx:
        runs["all healthy"] = run_one(ctx, hanging=False)
        ctx.lap("healthy")
        runs["10% hanging"] = run_one(ctx, hanging=True)
        ctx.lap("hanging")
    rows, ratios = _headline(runs)
    return results(
        ctx,
        opts,
        (NAME, DESCRIPTION, _method()),
        rows,
        _table(runs),
        asdict(PARAMS),
        {"ratios": ratios, "runs": runs},
        [(f"{k}, {part}", r[part]["cpu_percent"]) for k, r in runs.items() for part in PARTS],
    )
