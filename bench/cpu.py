"""CPU time and resident memory of processes and process groups, from /proc."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# name -> the pids of that group now (looked up at each snapshot: workers' children come and go)
Groups = Mapping[str, Callable[[], Sequence[int]]]


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        # After the command (which may hold spaces): state is field 3, ppid 4, utime 14.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (0.0 if unreadable)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU time all processes on the machine have used (all cores), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0
    # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    values = [int(v) for v in first[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def children_of(parent: int) -> list[int]:
    found = ((e.name, _stat_fields(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit())
    return [int(pid) for pid, fields in found if fields is not None and int(fields[1]) == parent]


def with_children(pid: int) -> list[int]:
    return [pid, *children_of(pid)]


def single(pids: Mapping[str, int]) -> Groups:
    """Groups of one process each, by name."""

    def group(pid: int) -> Callable[[], Sequence[int]]:
        return lambda: [pid]

    return {name: group(pid) for name, pid in pids.items()}


def cpu_snapshot(groups: Groups) -> dict[str, float]:
    snap = {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}
    snap["_busy"] = system_busy_seconds()
    snap["_wall"] = time.monotonic()
    return snap


def cpu_use(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """% of one core per group between two snapshots, `other` for the rest of the machine, and
    the CPU seconds of each group (`s_<group>`)."""
    wall = after["_wall"] - before["_wall"]
    if wall <= 0:
        return {}
    used = {k: after[k] - before[k] for k in before if not k.startswith("_")}
    other = (after["_busy"] - before["_busy"]) - sum(used.values())
    percent = {k: round(100.0 * v / wall, 1) for k, v in used.items()}
    percent["other"] = round(100.0 * max(other, 0.0) / wall, 1)
    percent.update({f"s_{k}": round(v, 3) for k, v in used.items()})
    return percent


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class RssSampler:
    """Resident memory of some processes and their children, sampled with the arrival count
    at each call; children are looked up again once a second."""

    def __init__(self, pids: Callable[[], Sequence[int]]) -> None:
        self._roots = pids
        self._tree: list[int] = []
        self._tree_at = 0.0
        self.samples: list[tuple[float, int, float]] = []  # (monotonic, arrivals, MB)

    def __call__(self, stats: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if now - self._tree_at >= 1.0:
            self._tree = [p for root in self._roots() for p in with_children(root)]
            self._tree_at = now
        self.samples.append((now, int(stats["count"]), sum(rss_mb(p) for p in self._tree)))

    def summary(self, total: int) -> dict[str, Any]:
        if not self.samples:
            return {}

        def at(fraction: float) -> float | None:
            done = [mb for _, n, mb in self.samples if n >= fraction * total]
            return round(done[0], 1) if done else None

        return {
            "peak_mb": round(max(mb for _, _, mb in self.samples), 1),
            "at_start_mb": round(self.samples[0][2], 1),
            **{f"at_{p}pct_mb": at(p / 100.0) for p in (10, 50, 90)},
            "samples": len(self.samples),
        }
