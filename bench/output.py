"""What a benchmark prints and records: its headline rows against their targets, its detail
table (for the terminal, and as text for bench/report.py), and its results' JSON data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from bench.spec import Benchmark, Options

TIMES = "\u00d7"  # the unit of ratios in the headline rows


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def verdict(met: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[met]


def headline(
    figure: str,
    value: float | int | str | None,
    unit: str,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One row of a benchmark's `headline` (what bench/report.py puts in docs/benchmarks.md)."""
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "target": target,
        "met": met,
        "note": note,
    }


# A detail table's column: its header and how a row's item gives its cell.
Column = tuple[str, Callable[[Any], str]]


def dig(item: Any, path: str) -> Any:
    """item["a"]["b"] for path "a.b"; None where a key is missing."""
    for key in path.split("."):
        item = item.get(key) if isinstance(item, Mapping) else None
    return item


def col(header: str, path: str, spec: str = ",.0f") -> Column:
    """A column of one figure, formatted with `spec`."""
    return header, lambda item: fmt(dig(item, path), spec)


def cpu_col(header: str, *groups: str, path: str = "cpu_percent") -> Column:
    """A column of several groups' CPU use, "12/3/40"."""
    return header, lambda item: "/".join(fmt(dig(item, f"{path}.{g}")) for g in groups)


def detail_table(
    title: str, columns: Sequence[Column], items: Iterable[Any], caption: str
) -> tuple[Table, dict[str, Any]]:
    """A benchmark's detail table, a row per item: for the terminal (rich, the first column
    left, the others right, FAILED cells red) and for its results (`table`, as plain text)."""
    headers = [header for header, _ in columns]
    rows = [[cell(item) for _, cell in columns] for item in items]
    table = Table(title=title, caption=caption)
    for i, column in enumerate(headers):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(f"[red]{c}[/]" if c.startswith("FAILED") else c for c in row))

    def plain(cell: str) -> str:
        return " ".join(Text.from_markup(cell).plain.split())

    data = {
        "title": title,
        "columns": [plain(c) for c in headers],
        "rows": [[plain(c) for c in row] for row in rows],
        "caption": caption,
    }
    return table, data


def headline_table(title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("figure", ratio=3)
    for column in ("value", "target"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("met", justify="center", no_wrap=True)
    table.add_column("note", ratio=5)
    for row in rows:
        value = row["value"]
        spec = {TIMES: ",.2f", "x baseline": ",.2f", "ms": ",.1f"}.get(row["unit"], ",.0f")
        shown = value if isinstance(value, str) else fmt(value, spec)
        table.add_row(
            row["figure"],
            f"{shown} {row['unit']}".strip(),
            row["target"] or "-",
            verdict(row["met"]),
            row["note"],
        )
    return table


def results(
    bench: Benchmark,
    opts: Options,
    rows: list[dict[str, Any]],
    table: tuple[Table, dict[str, Any]] | None,
    figures: Mapping[str, Any],
    notes: Iterable[str],
    **extra: Any,
) -> tuple[dict[str, Any], list[Any]]:
    """A benchmark's JSON data and what it prints: its detail table, its headline rows, then
    its notes. `extra`: more top-level keys (params beyond the benchmark's own, phases...)."""
    notes = list(notes)
    output: list[Any] = [] if table is None else [table[0]]
    output.append(headline_table(f"{bench.name}: headline", rows))
    output.extend(f"[yellow]note:[/] {n}" for n in notes)
    data = {
        "benchmark": bench.name,
        "description": bench.description,
        "method": bench.render_method(opts),
        "headline": rows,
        "table": None if table is None else table[1],
        "params": bench.params(opts) | extra.pop("params", {}),
        **figures,
        **extra,
        "notes": notes,
    }
    return data, output
