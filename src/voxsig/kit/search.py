"""LIKE patterns that match what the user typed, wildcards included, literally."""

from __future__ import annotations

ESCAPE = "\\"


def contains(text: str) -> str:
    """`%text%` with `%`, `_` and the escape character itself escaped (use escape=ESCAPE)."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"
