"""The soak's figures, from what it found (bench/soak.py): per receiver, the delivery log held
against the receiver's record; the restarts; the load's answers; memory. Then its checks, its
headline and detail table, and what it prints."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from bench import output
from bench.common import QUIET_PERCENT
from bench.output import col, detail_table, fmt, headline, plural
from bench.spec import Benchmark, Options

RESEND_TARGET = 10.0  # s from a restart to the first re-send; the lease (60 s) must not be waited
SERIES_POINTS = 12  # memory samples shown in the headline and the printed table
# A request sent this long before a kill, or until this long after the server answers again, may
# fail because of the restart; outside such windows a failed request is a finding.
BEFORE_KILL, AFTER_READY = 5.0, 2.0
Record = Sequence[Any]  # [arrived, webhook-id, status answered, signature ok], from a receiver


@dataclass
class Found:
    """What the run found (bench/soak.py fills it)."""

    load: dict[str, Any]
    at_end: dict[str, Any]  # soak.Run.figures() when the load ended
    final: dict[str, Any]  # the same after the drain
    drained: dict[str, Any]
    kills: list[dict[str, Any]]
    gone: dict[str, Any]
    samples: list[dict[str, Any]]
    hooks: dict[str, int]  # receiver -> webhook id
    wal_mb: float
    missing_messages: list[int]
    log_problems: list[str]
    log_tail: str
    quiet_percent: float
    opened_at: float | None


def _receiver(
    name: str,
    row: Mapping[str, Any],
    records: Sequence[Record],
    kills: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One receiver's figures at one moment: its webhook's row of soak_db.snapshot and what it
    recorded."""
    accepted: dict[str, list[float]] = {}
    for arrived, message_id, status, _ in records:
        if 200 <= status < 300:
            accepted.setdefault(str(message_id), []).append(float(arrived))
    duplicated = [times for times in accepted.values() if len(times) > 1]

    def at_kill(times: list[float]) -> bool:
        return any(min(times) < k["at"] and max(times) >= k["spawned"] for k in kills)

    status, attempts = row.get("status", {}), row.get("attempts", {})
    lost = sorted(set(row.get("succeeded_ids", ())) - set(accepted))
    return {
        "deliveries": sum(status.values()),
        **{s: status.get(s, 0) for s in ("succeeded", "failed", "pending")},
        "requests": len(records),
        "answers": dict(Counter(str(r[2]) for r in records)),
        "received": len(accepted),
        "duplicated": len(duplicated),
        "duplicated_extra_requests": sum(len(t) - 1 for t in duplicated),
        "duplicated_at_kill": sum(1 for t in duplicated if at_kill(t)),
        "lost": len(lost),
        "lost_sample": lost[:5],
        "bad_signatures": sum(1 for r in records if not r[3]),
        "attempts": sum(attempts.values()),
        "attempts_by_class": attempts,
        # Recorded by a claim that finds a lease ended without an outcome (0 where the code
        # does not record them yet).
        "interrupted": attempts.get("interrupted", 0),
        "unqueued_events": row.get("unqueued", 0),
        "leased_at_kills": [len(k["leased"].get(name, ())) for k in kills],
    }


def _receivers(found: Found) -> dict[str, dict[str, Any]]:
    moments = (("at_end", found.at_end), ("final", found.final))
    return {
        name: {
            moment: _receiver(name, at["db"].get(wid, {}), at["records"].get(name, []), found.kills)
            for moment, at in moments
        }
        for name, wid in found.hooks.items()
    }


def _restart(kill: Mapping[str, Any], records: Mapping[str, Sequence[Record]]) -> dict[str, Any]:
    """How soon after a restart what the killed server had leased arrived again."""
    leased = {mid for ids in kill["leased"].values() for mid in ids}
    spawned = kill["spawned"]
    back: dict[str, tuple[float, str]] = {}
    for name, recs in records.items():
        for arrived, mid, *_ in recs:
            if mid in leased and arrived >= spawned and arrived < back.get(mid, (math.inf, ""))[0]:
                back[mid] = (float(arrived), name)
    first = min(back.values(), default=None)
    return {
        "t": kill["t"],
        "ready_s": round(kill["ready"] - spawned, 2),
        "leased": len(leased),
        "leased_by_receiver": {n: len(ids) for n, ids in kill["leased"].items()},
        "first_resend_s": None if first is None else round(first[0] - spawned, 2),
        "first_resend_receiver": None if first is None else first[1],
        "resent": len(back),
        "last_resend_s": round(max(t for t, _ in back.values()) - spawned, 2) if back else None,
    }


def _load(load: Mapping[str, Any], kills: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for outcomes in load["outcomes"].values():
        total.update(outcomes)
    windows = [(k["at"] - BEFORE_KILL, k["ready"] + AFTER_READY) for k in kills]
    outside = [f for f in load["failures"] if not any(a <= f[0] <= b for a, b in windows)]

    def answered(digit: str) -> int:
        return sum(n for k, n in total.items() if k.startswith(digit))

    return {
        "sent": sum(total.values()),
        "2xx": answered("2"),
        "4xx": answered("4"),
        "5xx": answered("5"),
        "unanswered": sum(n for k, n in total.items() if not k[:1].isdigit()),
        "by_kind": load["outcomes"],
        "messages_2xx": len(load["message_ids"]),
        "failed_outside_restarts": len(outside),
        "failure_sample": [f[2] for f in (outside or load["failures"])[:3]],
    }


def _memory(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    alive = [s for s in samples if s["rss_mb"] > 0]
    if not alive:
        return {"samples": []}
    step = max(1, math.ceil(len(alive) / SERIES_POINTS))
    shown = alive[::step]
    if shown[-1] is not alive[-1]:
        shown.append(alive[-1])
    rss = [s["rss_mb"] for s in alive]
    return {
        "min_mb": min(rss),
        "max_mb": max(rss),
        "first_mb": rss[0],
        "last_mb": rss[-1],
        "wal_max_mb": max(s["wal_mb"] for s in alive),
        "series": shown,
        "samples": list(samples),
    }


def summarize(found: Found) -> dict[str, Any]:
    return {
        "receivers": _receivers(found),
        "restarts": [_restart(k, found.final["records"]) for k in found.kills],
        "load": _load(found.load, found.kills),
        "memory": _memory(found.samples),
        "wal_mb_at_end": found.wal_mb,
        "drain": found.drained,
        "gone_once": found.gone,
        "down_opened_at_s": found.opened_at,
        "kills_at_s": [k["t"] for k in found.kills],
        "missing_messages": len(found.missing_messages),
        "missing_sample": found.missing_messages[:5],
        "log_problem_lines": len(found.log_problems),
        "log_problems_sample": found.log_problems[:5],
        "log_tail": found.log_tail if found.log_problems else None,
        "other_cpu_percent_before": found.quiet_percent,
    }


def _total(figures: Mapping[str, Any], key: str, moment: str = "final") -> int:
    return sum(int(r[moment][key]) for r in figures["receivers"].values())


def problems(figures: Mapping[str, Any]) -> list[str]:
    """What fails the benchmark."""
    found = []
    for name, r in figures["receivers"].items():
        for moment in ("at_end", "final"):
            if lost := r[moment]["lost"]:
                sample = ", ".join(r[moment]["lost_sample"])
                found.append(
                    f"{name}: {lost} succeeded deliveries never arrived ({moment}: {sample})"
                )
        if bad := r["final"]["bad_signatures"]:
            found.append(f"{name}: {bad} requests whose signature did not verify")
    load = figures["load"]
    if load["5xx"]:
        found.append(f"{load['5xx']} API requests answered 5xx: {load['failure_sample']}")
    if figures["missing_messages"]:
        found.append(
            f"{figures['missing_messages']} messages answered 2xx are not in the database: "
            f"{figures['missing_sample']}"
        )
    if lines := figures["log_problem_lines"]:
        found.append(f"{lines} error lines in the server log; its end:\n{figures['log_tail']}")
    return found


def _notes(figures: Mapping[str, Any]) -> list[str]:
    notes = []
    load, gone = figures["load"], figures["gone_once"]
    if load["failed_outside_restarts"]:
        notes.append(
            f"{load['failed_outside_restarts']} API requests failed outside the restarts: "
            f"{load['failure_sample']}"
        )
    if load["4xx"]:
        notes.append(f"{load['4xx']} API requests answered 4xx: {load['failure_sample']}")
    if "disabled_seen" not in gone:
        notes.append("gone_once: Voxsig never disabled the endpoint after its 410")
    elif gone.get("recover_since") is None:
        notes.append("gone_once: re-enabling it answered no recover_since")
    for name, r in figures["receivers"].items():
        final = r["final"]
        if (odd := final["duplicated"] - final["duplicated_at_kill"]) > 0:
            notes.append(f"{name}: {plural(odd, 'duplicate')} not explained by a kill")
        if final["unqueued_events"]:
            notes.append(f"{name}: {final['unqueued_events']} events of the run have no delivery")
    for i, restart in enumerate(figures["restarts"], 1):
        if (left := restart["leased"] - restart["resent"]) > 0:
            notes.append(
                f"restart {i}: {left} of {restart['leased']} leased deliveries not re-sent"
            )
    if (other := figures["other_cpu_percent_before"]) > QUIET_PERCENT:
        notes.append(
            f"other processes used {other:.0f}% of a core as the load started; the timings may "
            "be skewed, run again on a quiet machine"
        )
    return notes


def _pending(r: Mapping[str, Any]) -> str:
    return f"{r['at_end']['pending']:,} → {r['final']['pending']:,}"


def _duplicated(r: Mapping[str, Any]) -> str:
    final = r["final"]
    return f"{final['duplicated']:,} ({final['duplicated_at_kill']:,})"


COLUMNS = (
    ("receiver", lambda r: r["name"]),
    col("deliveries", "final.deliveries", ","),
    col("received", "final.received", ","),
    ("duplicated\n(at a kill)", _duplicated),
    col("lost", "final.lost", ","),
    col("failed", "final.failed", ","),
    ("pending\nload end →\ndrained", _pending),
    col("attempts", "final.attempts", ","),
    col("interrupted", "final.interrupted", ","),
    ("leased\nat kill", lambda r: "/".join(str(n) for n in r["final"]["leased_at_kills"]) or "-"),
    col("events with\nno delivery", "final.unqueued_events", ","),
)


def _table(figures: Mapping[str, Any], opts: Options) -> Any:
    drain = figures["drain"]
    return detail_table(
        f"soak: {opts['soak_seconds']:g} s at {opts['soak_rate']:g} messages/s, "
        f"{plural(len(figures['restarts']), 'SIGKILL')}, per receiver after a "
        f"{drain['seconds']:g} s drain",
        COLUMNS,
        [r | {"name": name} for name, r in figures["receivers"].items()],
        "deliveries: rows for the receiver's webhook; received: distinct webhook-ids it answered "
        "2xx; duplicated: webhook-ids it answered 2xx more than once (in brackets: of those, sent "
        "before a kill and again after the restart); lost: succeeded in the delivery log, never "
        "answered 2xx (must be 0); pending: when the load ended, then after the drain; attempts "
        "and interrupted (a lease that ended without an outcome): delivery_attempts rows; leased "
        "at kill: its deliveries under a lease when the server was killed; events with no "
        "delivery: events of the run its webhook never got a delivery row for.",
    )


def _series(memory: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{s['t']:g}s {s['rss_mb']:.0f}" + ("*" if s["restarts"] else "") for s in memory["series"]
    )


def _by_receiver(restart: Mapping[str, Any]) -> str:
    return ", ".join(f"{n} {c}" for n, c in restart["leased_by_receiver"].items()) or "none"


def _headline(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    receivers, load, memory = figures["receivers"], figures["load"], figures["memory"]

    def per(key: str) -> str:
        return ", ".join(
            f"{n} {r['final'][key]:,}" for n, r in receivers.items() if r["final"][key]
        )

    restarts = figures["restarts"]
    firsts = [r["first_resend_s"] for r in restarts]
    worst = None if not firsts or None in firsts else max(firsts)
    resend_note = "; ".join(
        f"killed at {r['t']:g} s with {r['leased']} leased ({_by_receiver(r)}); healthy "
        f"{r['ready_s']:g} s after the restart, first re-send at "
        f"{fmt(r['first_resend_s'], '.2f')} s ({r['first_resend_receiver']}), "
        f"{r['resent']} re-sent by {fmt(r['last_resend_s'], '.1f')} s"
        for r in restarts
    )
    lost = _total(figures, "lost") + _total(figures, "lost", "at_end")
    dups, at_kill = _total(figures, "duplicated"), _total(figures, "duplicated_at_kill")
    drain = figures["drain"]
    return [
        headline(
            "Deliveries lost (succeeded in the log, never received)",
            lost,
            "",
            "0",
            lost == 0,
            "all receivers, when the load ended and after the drain",
        ),
        headline(
            "Restart to first re-send of a delivery leased at the kill",
            None if worst is None else f"{worst:.2f}",  # text: the terminal would round to 0 dp
            "s",
            f"< {RESEND_TARGET:g} s",
            None if worst is None else worst < RESEND_TARGET,
            resend_note,
        ),
        headline(
            "Deliveries duplicated (one webhook-id answered 2xx twice)",
            dups,
            "",
            note=f"{at_kill} of them sent before a kill and again after; {per('duplicated')}",
        ),
        headline(
            "Deliveries failed after the drain",
            _total(figures, "failed"),
            "",
            note=per("failed") or "none",
        ),
        headline(
            "Deliveries pending after the drain",
            _total(figures, "pending"),
            "",
            note=f"{per('pending') or 'none'}; drain {drain['seconds']:g} s, "
            f"{_total(figures, 'pending', 'at_end'):,} pending when the load ended",
        ),
        headline(
            "API requests answered 5xx",
            load["5xx"],
            "",
            "0",
            load["5xx"] == 0,
            f"{load['sent']:,} sent, {load['2xx']:,} 2xx, {load['4xx']} 4xx, "
            f"{load['unanswered']} unanswered (the server was down), "
            f"{load['failed_outside_restarts']} failed outside the restarts",
        ),
        headline(
            "Messages answered 2xx missing from the database",
            figures["missing_messages"],
            "",
            "0",
            figures["missing_messages"] == 0,
            f"of {load['messages_2xx']:,} (REST and widget)",
        ),
        headline(
            "Error lines in the server log",
            figures["log_problem_lines"],
            "",
            "0",
            figures["log_problem_lines"] == 0,
        ),
        headline(
            "Server memory (VmRSS), peak",
            memory.get("max_mb"),
            "MB",
            note=f"min {fmt(memory.get('min_mb'), '.0f')} MB; MB at seconds into the run "
            f"(* after a restart): {_series(memory)}"
            if memory.get("series")
            else "",
        ),
        headline(
            "WAL size at the end",
            figures["wal_mb_at_end"],
            "MB",
            note=f"peak {fmt(memory.get('wal_max_mb'), '.2f')} MB in the samples",
        ),
    ]


def _memory_table(memory: Mapping[str, Any]) -> Table:
    table = Table(title="soak: the server's memory and the WAL over time")
    for column in ("s into the run", "VmRSS MB", "WAL MB", "accepted", "restarts"):
        table.add_column(column, justify="right")
    for s in memory["series"]:
        cells = (f"{s['t']:g}", f"{s['rss_mb']:.1f}", f"{s['wal_mb']:.2f}", f"{s['accepted']:,}")
        table.add_row(*cells, str(s["restarts"]))
    return table


def results(
    bench: Benchmark, opts: Options, figures: dict[str, Any], total_seconds: float
) -> tuple[dict[str, Any], list[Any]]:
    data, shown = output.results(
        bench,
        opts,
        _headline(figures),
        _table(figures, opts),
        figures,
        _notes(figures),
        total_seconds=total_seconds,
    )
    shown.insert(1, _memory_table(figures["memory"]))
    return data, shown
