"""docs/benchmarks.md, generated from bench/results/<name>-latest.json of every registered
benchmark (`python -m bench` after its runs, or `python -m bench --report` alone).

The text depends only on those files (and the list of benchmarks), so a diff of the document
shows what changed in the figures. What it reads from a benchmark's results, all optional:

- `headline`: [{"figure", "value", "unit", "target", "met", "note"}, ...], the figures that
  matter, each against its target (`met`: true, false, or null when there is no target);
- `method`: one paragraph, how it is measured;
- `table`: {"title", "columns": [...], "rows": [[...], ...], "caption"}, the key detail table;
- `notes`: warnings of the run; `timestamp`, `machine`, `total_seconds`, `description`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ROOT

DOC = ROOT / "docs" / "benchmarks.md"
NOT_RUN = "not run yet"
MACHINE_FIELDS = [
    ("cpu_model", "CPU model"),
    ("nproc", "CPUs (nproc)"),
    ("cpus_usable", "CPUs usable"),
    ("mem_total_mb", "Memory"),
    ("python", "Python"),
    ("python_implementation", "Python implementation"),
    ("platform", "Platform"),
]


def load_latest(name: str, results_dir: Path = RESULTS_DIR) -> dict[str, Any] | None:
    """The latest results of a benchmark, or None if there are none (or they are unreadable)."""
    try:
        data = json.loads((results_dir / f"{name}-latest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- formatting ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    width = len(columns)
    lines = [_row(columns), "|" + "---|" * width]
    for row in rows:
        cells = list(row)[:width]
        lines.append(_row(cells + [""] * (width - len(cells))))
    return lines


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        if size < 1:
            return f"{value:.3g}"
        if size >= 100:
            return f"{value:,.0f}"
        if size >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def value_with_unit(value: Any, unit: Any) -> str:
    text = number(value)
    if value is None or not unit:
        return text
    return f"{text} {unit}"


def met_mark(met: Any) -> str:
    if met is True:
        return "✓"
    if met is False:
        return "✗"
    return "-"


def when(stamp: Any) -> str:
    """20261125T170352Z -> 2026-11-25 17:03 UTC (anything else as it is)."""
    text = str(stamp or "")
    if len(text) == 16 and text[8] == "T" and text.endswith("Z"):
        return f"{text[0:4]}-{text[4:6]}-{text[6:8]} {text[9:11]}:{text[11:13]} UTC"
    return text or "unknown time"


def _machine_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "mem_total_mb" and isinstance(value, int):
        return f"{value / 1024:.1f} GiB"
    return str(value)


def _headlines(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = data.get("headline")
    if not isinstance(items, list):
        return []
    return [h for h in items if isinstance(h, Mapping)]


def _notes(data: Mapping[str, Any]) -> list[str]:
    """The first line of each note of the run (log excerpts stay in the JSON)."""
    notes = data.get("notes")
    if not isinstance(notes, list):
        return []
    return [str(n).strip().splitlines()[0] for n in notes if str(n).strip()]


def _provenance(data: Mapping[str, Any]) -> str:
    machine = data.get("machine")
    if not isinstance(machine, Mapping):
        machine = {}
    parts = [f"Measured {when(data.get('timestamp'))}"]
    commit = machine.get("git_commit")
    if commit:
        dirty = machine.get("src_modified")
        state = ", `src/` modified" if dirty is True else ", `src/` clean" if dirty is False else ""
        parts.append(f"at commit `{str(commit)[:10]}`{state}")
    load = machine.get("loadavg_at_start")
    if isinstance(load, list) and load:
        parts.append(f"load average {number(load[0])} at start")
    if isinstance(data.get("total_seconds"), int | float):
        parts.append(f"took {float(data['total_seconds']):,.0f} s")
    return ", ".join(parts) + "."


# --- sections --------------------------------------------------------------------------------


def _summary(benchmarks: Sequence[tuple[str, str]], found: Mapping[str, Any]) -> list[str]:
    rows: list[list[Any]] = []
    for name, _ in benchmarks:
        data = found.get(name)
        if data is None:
            rows.append([f"[{name}](#{name})", NOT_RUN, "", "", "", ""])
            continue
        heads = _headlines(data)
        measured = when(data.get("timestamp"))
        notes = len(_notes(data))
        if notes:
            measured += f" ({notes} note{'s' if notes > 1 else ''})"
        if not heads:
            rows.append([f"[{name}](#{name})", "(no headline figures)", "", "", "", measured])
        for i, h in enumerate(heads):
            # The benchmark and its date once, on its first row.
            rows.append(
                [
                    f"[{name}](#{name})" if i == 0 else "",
                    h.get("figure"),
                    value_with_unit(h.get("value"), h.get("unit")),
                    h.get("target") or "-",
                    met_mark(h.get("met")),
                    measured if i == 0 else "",
                ]
            )
    return _table(["benchmark", "figure", "value", "target", "met", "measured"], rows)


def _benchmark_section(name: str, description: str, data: Mapping[str, Any] | None) -> list[str]:
    lines = [f"## {name}", ""]
    desc = (data or {}).get("description") or description
    if desc:
        lines += [f"*{_cell(desc)}*", ""]
    if data is None:
        lines += [
            f"{NOT_RUN.capitalize()}: `make bench BENCH_ARGS={name}` measures it.",
            "",
        ]
        return lines
    lines += [_provenance(data), ""]
    method = data.get("method")
    if isinstance(method, str) and method.strip():
        lines += [" ".join(method.split()), ""]
    heads = _headlines(data)
    if heads:
        rows = [
            [
                h.get("figure"),
                value_with_unit(h.get("value"), h.get("unit")),
                h.get("target") or "-",
                met_mark(h.get("met")),
                h.get("note") or "",
            ]
            for h in heads
        ]
        lines += [*_table(["figure", "value", "target", "met", "note"], rows), ""]
    table = data.get("table")
    if isinstance(table, Mapping) and isinstance(table.get("columns"), list):
        if table.get("title"):
            lines += [f"**{_cell(table['title'])}**", ""]
        rows = [r for r in table.get("rows") or [] if isinstance(r, list)]
        lines += [*_table(table["columns"], rows), ""]
        if table.get("caption"):
            lines += [" ".join(str(table["caption"]).split()), ""]
    firsts = _notes(data)
    if firsts:
        lines += ["Notes of that run:", ""]
        lines += [f"- {_cell(n)}" for n in firsts]
        lines.append("")
    lines += [f"All figures: `bench/results/{name}-latest.json`.", ""]
    return lines


def _machine(benchmarks: Sequence[tuple[str, str]], found: Mapping[str, Any]) -> list[str]:
    machines = {
        name: found[name]["machine"]
        for name, _ in benchmarks
        if name in found and isinstance(found[name].get("machine"), Mapping)
    }
    lines = ["## The machine", ""]
    if not machines:
        none = "No benchmark has run yet." if not found else "No machine in the results."
        return [*lines, none, ""]
    shared, varying = [], []
    for key, label in MACHINE_FIELDS:
        values = {_machine_value(key, m.get(key)) for m in machines.values()}
        if len(values) == 1:
            shared.append(f"- {label}: {values.pop()}")
        else:
            varying.append((key, label))
    lines += [*shared, ""]
    columns = ["benchmark", "measured", *(label for _, label in varying)]
    columns += ["load average (1, 5, 15 min) at start", "git commit", "`src/` modified"]
    rows = []
    for name, m in machines.items():
        load = m.get("loadavg_at_start")
        commit = m.get("git_commit")
        rows.append(
            [
                name,
                when(found[name].get("timestamp")),
                *(_machine_value(key, m.get(key)) for key, _ in varying),
                ", ".join(number(x) for x in load) if isinstance(load, list) else "-",
                f"`{str(commit)[:10]}`" if commit else "-",
                number(m.get("src_modified")),
            ]
        )
    lines += [*_table(columns, rows), ""]
    lines += [
        "Load averages count every process on the machine. Benchmarks that measure CPU use also "
        "report what other processes used during each run, and warn when that skewed it.",
        "",
    ]
    return lines


def _reproduce(benchmarks: Sequence[tuple[str, str]]) -> list[str]:
    names = "\n".join(f"- `{name}`: {_cell(desc)}" for name, desc in benchmarks)
    return [
        "## How to reproduce",
        "",
        "From a clone, on Linux with Python 3.11 or newer:",
        "",
        "```sh",
        "make bench                                          # install-dev, then every benchmark",
        'make bench BENCH_ARGS="api_messages --seconds 10"   # one benchmark, with options',
        ".venv/bin/python -m bench --list                    # the benchmarks",
        ".venv/bin/python -m bench --help                    # every option",
        ".venv/bin/python -m bench --report                  # only regenerate this file",
        "```",
        "",
        "Common options: `--seconds` (measured period), `--warmup`, `--clients` (concurrent "
        "connections), `--quiet-wait` (before each measured part, wait up to this many seconds "
        "for other processes to stop using the CPU; `0` to start at once), `--keep` (keep data "
        "dirs and logs). Each run writes `bench/results/<name>-<UTC timestamp>.json` and "
        "`<name>-latest.json`, then regenerates this file from the latest results of every "
        "benchmark; one not run in that invocation keeps its previous figures and date. "
        "Method details: `bench/README.md`.",
        "",
        "The benchmarks:",
        "",
        names,
        "",
    ]


def render(benchmarks: Sequence[tuple[str, str]], results_dir: Path = RESULTS_DIR) -> str:
    """The document, from the latest results of `benchmarks` ((name, description) pairs)."""
    found = {
        name: data for name, _ in benchmarks if (data := load_latest(name, results_dir)) is not None
    }
    heads = [h for data in found.values() for h in _headlines(data)]
    targets = [h for h in heads if h.get("met") is not None]
    met = sum(1 for h in targets if h.get("met") is True)
    missing = [name for name, _ in benchmarks if name not in found]
    stamps = sorted(str(d.get("timestamp")) for d in found.values() if d.get("timestamp"))
    summary = f"{met} of {len(targets)} headline targets met" if targets else "No target yet"
    if stamps and stamps[0] == stamps[-1]:
        summary += f"; measured {when(stamps[0])}"
    elif stamps:
        summary += f"; measured between {when(stamps[0])} and {when(stamps[-1])}"
    if missing:
        summary += f"; {NOT_RUN}: {', '.join(missing)}"
    lines = [
        "# Voxsig benchmarks",
        "",
        f"{summary}.",
        "",
        "Generated by `python -m bench` from `bench/results/*-latest.json`: do not edit by hand "
        "(`python -m bench --report` regenerates it).",
        "",
        "## Headline figures",
        "",
        *_summary(benchmarks, found),
        "",
        "✓ target met, ✗ missed, - no target (a figure recorded for reference). A run's notes "
        "(in its section) say what may have skewed it, such as other processes using the CPU.",
        "",
    ]
    for name, description in benchmarks:
        lines += _benchmark_section(name, description, found.get(name))
    lines += _machine(benchmarks, found)
    lines += _reproduce(benchmarks)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(
    benchmarks: Sequence[tuple[str, str]], path: Path = DOC, results_dir: Path = RESULTS_DIR
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(benchmarks, results_dir))
    return path
