"""What the delivery benchmarks measure and check: waiting for arrivals at the receiver and for
the database to record them, a drained backlog's and a steady trickle's figures, and the checks
that fail a run."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.common import BenchError, percentile
from bench.cpu import Groups, RssSampler, cpu_snapshot, cpu_use
from bench.delivery_common import (
    POLL,
    Ctx,
    Db,
    Setup,
    await_listeners,
    await_log,
    fail_on,
    run_tool,
    voxsig,
)
from harness.database import delivery_counts, set_webhooks_enabled
from harness.postgres import PostgresCluster

Procs = Sequence[subprocess.Popen[bytes]]


def await_arrivals(
    ctx: Ctx,
    label: str,
    expected: int,
    procs: Procs,
    groups: Groups,
    timeout: float,
    on_poll: Callable[[Mapping[str, Any]], None] | None = None,
    seqs: bool = False,
) -> dict[str, Any]:
    """Waits until `expected` distinct deliveries arrived (at most `timeout` s), failing if a
    Voxsig process exits. Returns the receiver's full stats, plus the CPU used (`cpu_percent`)
    from the first arrival seen to the last (so the start-up is not counted) and the number of
    arrivals in that window."""
    ui, receiver = ctx.ui, ctx.receiver
    task = ui.timed_task(f"{label}: 0/{expected:,} delivered", total=expected)
    deadline = time.monotonic() + timeout
    first_cpu: dict[str, float] | None = None
    first_count = 0
    try:
        while True:
            stats = receiver.stats()
            if on_poll is not None:
                on_poll(stats)
            if first_cpu is None and stats["count"] > 0:
                first_cpu, first_count = cpu_snapshot(groups), stats["count"]
            done = stats["unique"]
            description = f"{label}: {done:,}/{expected:,} delivered"
            ui.progress.update(task, completed=min(done, expected), description=description)
            if done >= expected:
                break
            for proc in procs:
                if proc.poll() is not None:
                    raise BenchError(f"{label}: a Voxsig process exited (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{label}: only {done:,} of {expected:,} deliveries arrived "
                    f"within {timeout:.0f}s"
                )
            time.sleep(POLL)
    finally:
        ui.progress.stop_task(task)
    last_cpu = cpu_snapshot(groups)
    full = receiver.stats(full=True, seqs=seqs)
    full["cpu_percent"] = cpu_use(first_cpu, last_cpu) if first_cpu else {}
    full["cpu_window_deliveries"] = full["count"] - first_count
    return full


def await_recorded(
    database_url: str, succeeded: int, timeout: float = 30.0
) -> tuple[dict[str, int], float | None]:
    """Waits until the database shows `succeeded` succeeded deliveries; returns the counts and
    the time.time() it first saw them (None if it never did)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = delivery_counts(database_url)
        if counts.get("succeeded", 0) >= succeeded:
            return counts, time.time()
        if time.monotonic() > deadline:
            return counts, None
        time.sleep(POLL)


def warm_up(ctx: Ctx, label: str, setup: Setup, procs: Procs) -> int:
    """One event per endpoint, published in one transaction, and waits until they all arrived:
    the Voxsig processes are then up, connected and warm. Returns the deliveries it made."""
    events = len(setup.endpoints)
    ctx.receiver.reset(setup.secrets)
    config = setup.publisher("bulk", events=events, batch=events)
    run_tool(ctx, f"{label}: warm-up, {events} events", config, 60.0)
    await_arrivals(ctx, f"{label}: warm-up", events * setup.fanout, procs, {}, 60.0)
    return events * setup.fanout


def drain_summary(
    stats: Mapping[str, Any],
    counts: Mapping[str, int] | None = None,
    recorded_at: float | None = None,
    since: float | None = None,
) -> dict[str, Any]:
    """The figures of one run: deliveries/s from the first arrival to the last (and, given
    `since`, e.g. when the first event was created, from then), CPU per delivery and % of a
    core per process group over the arrivals, how long after the last arrival the database
    showed them all succeeded."""
    first, last = stats["first"] or 0.0, stats["last"] or 0.0
    span = last - first
    cpu = stats["cpu_percent"]
    window = stats["cpu_window_deliveries"]
    voxsig_cpu = cpu.get("s_voxsig")
    per_second = stats.get("per_second", [])
    summary = {
        "deliveries": stats["count"],
        "unique": stats["unique"],
        "duplicates": stats["duplicates"],
        "first_to_last_s": round(span, 3),
        "deliveries_per_s": round(stats["count"] / span, 1) if span > 0 else None,
        "slowest_whole_second": min(per_second[1:-1]) if len(per_second) > 2 else None,
        "recorded_after_last_arrival_s": None
        if recorded_at is None or stats["last"] is None
        else round(max(0.0, recorded_at - last), 2),
        "db_counts": dict(counts) if counts is not None else None,
        "voxsig_cpu_ms_per_delivery": round(1000.0 * voxsig_cpu / window, 3)
        if voxsig_cpu and window
        else None,
        "cpu_percent": {k: v for k, v in cpu.items() if not k.startswith("s_")},
        "signatures_verified": stats["verified"],
        "bad_signatures": stats["bad_signatures"],
        "unsigned": stats["unsigned"],
        "endpoints_reached": stats["paths"],
        "hung": stats.get("hung", 0),
        "per_second": per_second,
    }
    if since is not None:
        end_to_end = last - since
        summary["end_to_end_s"] = round(end_to_end, 3)
        summary["end_to_end_deliveries_per_s"] = (
            round(stats["count"] / end_to_end, 1) if end_to_end > 0 else None
        )
    return summary


def drain_backlog(
    ctx: Ctx,
    label: str,
    expected: int,
    procs: Procs,
    groups: Groups,
    database_url: str,
    on_poll: Callable[[Mapping[str, Any]], None] | None = None,
    check_db: bool = True,
) -> dict[str, Any]:
    """Makes a published backlog claimable (enables the webhooks setup_account disabled) for
    workers that are already up and idle, waits until all `expected` deliveries arrived and
    the database shows them succeeded, and checks the arrivals and (unless the caller checks
    it itself) that the database shows nothing else."""
    other_before = ctx.quiet(label)
    if on_poll is not None:
        on_poll({"count": 0})  # the idle worker, before the backlog shows
    enabled_at = time.time()
    set_webhooks_enabled(database_url, True)
    stats = await_arrivals(ctx, label, expected, procs, groups, 60.0 + expected / 100.0, on_poll)
    counts, recorded_at = await_recorded(database_url, expected, timeout=60.0)
    problems = arrival_problems(stats, expected)
    fail_on(label, problems + (db_problems(counts, expected) if check_db else []))
    summary = drain_summary(stats, counts, recorded_at, since=enabled_at)
    summary["first_arrival_after_enable_s"] = round(stats["first"] - enabled_at, 3)
    summary["other_cpu_percent_before"] = other_before
    return summary


def drain_by_workers(
    ctx: Ctx,
    label: str,
    setup: Setup,
    size: int,
    database: Db,
    workers: int,
    cluster: PostgresCluster | None,
    memory: bool = False,
) -> dict[str, Any]:
    """`workers` `voxsig worker`s on `database`, once up
    (SQLite: the start line; PostgreSQL: each LISTENs), drain the backlog of `size` deliveries
    setup_account published (drain_backlog); with `memory`, their resident memory is sampled
    at each look at the receiver (cpu.RssSampler)."""
    with voxsig(ctx, label, database, workers) as running:
        procs = running.procs
        sampler = RssSampler(lambda: [p.pid for p in procs]) if memory else None
        with ctx.ui.step(f"{label}: waiting until the workers are up"):
            if cluster is None:
                await_log(running.logs[0], "delivery worker on", procs[0])
                time.sleep(1.0)  # its first look at the database comes just after the line
            else:
                await_listeners(cluster, database.name, workers)
        ctx.receiver.reset(setup.secrets)
        groups = ctx.groups(procs, cluster)
        summary = drain_backlog(ctx, label, size, procs, groups, database.url, sampler)
    if sampler is None:
        return summary
    start, samples = sampler.samples[0][0], sampler.samples
    rss = [[round(t - start, 2), n, round(mb, 1)] for t, n, mb in samples]
    return summary | {"memory": sampler.summary(size), "rss_samples": rss}


# --- checks ----------------------------------------------------------------------------------


def arrival_problems(stats: Mapping[str, Any], expected: int) -> list[str]:
    found = [
        (
            stats["unique"] != expected,
            f"{stats['unique']} distinct deliveries arrived, {expected} expected",
        ),
        (stats["duplicates"], f"{stats['duplicates']} deliveries arrived more than once"),
        (stats["unsigned"], f"{stats['unsigned']} deliveries arrived without a signature"),
        (
            stats["bad_signatures"],
            f"{stats['bad_signatures']} signatures did not verify: {stats['bad_signature_sample']}",
        ),
        (expected and not stats["verified"], "no signature was verified"),
    ]
    return [problem for failed, problem in found if failed]


def db_problems(
    counts: Mapping[str, int] | None,
    succeeded: int,
    attempts: int | None = None,
    pending: int = 0,
    errors: Iterable[str] = (),
) -> list[str]:
    """The database must show `succeeded` succeeded and `pending` pending deliveries (nothing
    else), `attempts` attempts (default: one per success) and failed attempts only of the
    classes in `errors`."""
    if counts is None:
        return ["the database was not read"]
    problems = []
    want = {"succeeded": succeeded, "attempts": succeeded if attempts is None else attempts}
    if pending:
        want["pending"] = pending
    for key, n in want.items():
        if counts.get(key, 0) != n:
            problems.append(f"database: {counts.get(key, 0)} {key}, {n} expected ({counts})")
    allowed = {*want, *(f"error:{e}" for e in errors)}
    extra = {k: n for k, n in counts.items() if k not in allowed and n}
    if extra:
        problems.append(f"database: unexpected {extra}")
    return problems


# --- latency ---------------------------------------------------------------------------------


def ms(values: Sequence[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if math.isnan(value) else round(value * 1000.0, 1)


def spread(values: Iterable[float], *points: str) -> dict[str, float | None]:
    """Milliseconds at the named points (p50, p99, min, max...) of seconds `values`."""
    ordered = sorted(values)
    named = {"min": 0.0, "max": 100.0}
    return {p: ms(ordered, named[p] if p in named else float(p[1:])) for p in points}


def latency_summary(
    sent: Mapping[str, Sequence[float]],
    by_seq: Mapping[str, Sequence[float | None]],
    include: Callable[[int], bool] = lambda _seq: True,
) -> dict[str, Any]:
    """Per sequence number (those `include` accepts): arrival minus the sender's clock once its
    commit (or the request's 2xx) returned, and minus the clock embedded in the payload (taken
    before the insert, or when the request was sent)."""
    after, before = [], []
    wanted = [seq for seq in sent if include(int(seq))]
    for seq in wanted:
        t_before, t_after = sent[seq]
        arrived = by_seq.get(seq)
        if arrived is None:
            continue
        arrival, embedded = arrived
        assert arrival is not None
        before.append(arrival - (embedded if embedded is not None else t_before))
        after.append(arrival - t_after)
    return {
        "events": len(wanted),
        "delivered": len(after),
        "missing": len(wanted) - len(after),
        "ms": spread(after, "p50", "p90", "p99", "min", "max"),
        "from_embedded_ms": spread(before, "p50", "p99", "max"),
    }


def trickle(
    ctx: Ctx,
    label: str,
    config: Mapping[str, Any],
    procs: Procs,
    groups: Groups,
    rate: float,
    seconds: float,
    include: Callable[[int], bool] = lambda _seq: True,
) -> dict[str, Any]:
    """A steady open-loop trickle of `rate` events/s for `seconds` by the publisher (mode
    `trickle`, or `api` through the REST API); the receiver must be reset before. Fails
    if an event (that `include` accepts) does not arrive within 60 s."""
    other_before = ctx.quiet(label)
    cpu_before = cpu_snapshot(groups)
    # The sender ends before the window does: its CPU (its own rusage) is taken out of `other`.
    config = {**config, "rate": rate, "seconds": seconds}
    out = run_tool(ctx, f"{label}: {rate:g} events/s for {seconds:g}s", config, seconds + 60.0)
    sent: dict[str, list[float]] = out["sent"]
    if out["errors"]:
        raise BenchError(f"{label}: {out['errors']} requests failed: {out['error_sample']}")
    expected = sum(1 for seq in sent if include(int(seq)))
    stats = await_arrivals(ctx, f"{label}: arrivals", expected, procs, {}, 60.0, seqs=True)
    cpu_after = cpu_snapshot(groups)
    fail_on(label, arrival_problems(stats, expected))
    result = latency_summary(sent, stats["by_seq"], include)
    result |= {"rate": rate, "seconds": seconds}
    # How long each commit (or API call) took, as the sender saw it.
    result["send_ms"] = spread(
        (after - before for before, after in sent.values()), "p50", "p99", "max"
    )
    stamps = sorted(t_after for _, t_after in sent.values())
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    result["achieved_rate"] = round((len(stamps) - 1) / span, 1) if span > 0 else None
    voxsig_cpu = cpu_after.get("voxsig", 0.0) - cpu_before.get("voxsig", 0.0)
    # Over the whole trickle, the publisher's start-up included (Voxsig idles meanwhile).
    result["voxsig_cpu_ms_per_event"] = round(1000.0 * voxsig_cpu / len(sent), 2) if sent else None
    cpu = cpu_use(cpu_before, cpu_after)
    wall = cpu_after["_wall"] - cpu_before["_wall"]
    sender = 100.0 * float(out.get("cpu_s", 0.0)) / wall if wall > 0 else 0.0
    cpu["sender"] = round(sender, 1)
    if "other" in cpu:
        cpu["other"] = round(max(0.0, cpu["other"] - sender), 1)
    result["cpu_percent"] = {k: v for k, v in cpu.items() if not k.startswith("s_")}
    result["other_cpu_percent_before"] = other_before
    return result
