"""Bounds on free-form JSON (custom_attributes, content_attributes, submitted_values, any dict
or list in a request body): how deep and how large one value may be, checked without recursion
so that no input can exhaust the stack; and the reader of stored JSON columns, which cuts what
was stored deeper than anything the API can answer (rows written before these limits)."""

from __future__ import annotations

import json
from typing import Any

# A value's depth counts its containers: {} is 1, {"a": {}} is 2. Ten levels is far more
# than attributes need (the widget's browser details are 2, a cards message's actions 5).
MAX_DEPTH = 10
# The value as compact UTF-8 JSON. Per field and per stored (merged) value.
MAX_BYTES = 16 * 1024
# Stored values are cut below this many levels when read: above any legitimate value (a
# field's own limit plus the few levels the services add, e.g. {"submitted_values": …}) and
# well below what the response serializer and the templates survive (pydantic-core: 254).
READ_DEPTH = 32

NUL = "text must not contain the NUL character (\\u0000)"
TOO_DEEP = f"must not be nested more than {MAX_DEPTH} levels deep"
TOO_BIG = f"must be at most {MAX_BYTES // 1024} KiB as JSON"


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def depth_and_nul(value: Any, limit: int) -> tuple[int, bool]:
    """How deep `value` is (the walk stops once it is deeper than `limit`, so the answer is
    then limit + 1) and whether a string in it, key or value, holds a NUL."""
    deepest, nul = 0, False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            nul = nul or "\x00" in item
            continue
        children = _children(item)
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > limit:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest, nul


def encoded_size(value: Any) -> int:
    """Bytes of the value as compact JSON (lone surrogates, which the API accepts, count 3)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "surrogatepass"))


def problem(value: Any) -> str | None:
    """Why a value sent by a client cannot be stored (NUL, too deep, too big), or None."""
    depth, nul = depth_and_nul(value, MAX_DEPTH)
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if nul:
        return NUL
    if depth and encoded_size(value) > MAX_BYTES:
        return TOO_BIG
    return None


def size_problem(value: Any) -> str | None:
    """For a value a service merged from a stored one (read through load_stored, so bounded)
    and a sent one (checked by `problem`): only its size can be new."""
    return TOO_BIG if encoded_size(value) > MAX_BYTES else None


def cut(value: Any, room: int = READ_DEPTH) -> Any:
    """`value` with every container deeper than `room` levels replaced by null. Recursion is
    bounded by `room`."""
    children = _children(value)
    if children is None:
        return value
    if room <= 0:
        return None
    if isinstance(value, dict):
        return {key: cut(item, room - 1) for key, item in value.items()}
    return [cut(item, room - 1) for item in value]


def load_stored(text: str | bytes) -> Any:
    """The JSON columns' deserializer (both databases): a row stored too deep by older code
    reads as its first READ_DEPTH levels, and one too deep even to parse as {}, so no read of
    it can fail."""
    try:
        value = json.loads(text)
    except RecursionError:
        return {}
    # Every read of a JSON column passes here: a value can only be deeper than READ_DEPTH with
    # more opening brackets than that, which str.count finds far faster than a walk.
    opening = (
        text.count("[") + text.count("{")
        if isinstance(text, str)
        else (text.count(b"[") + text.count(b"{"))
    )
    if opening <= READ_DEPTH:
        return value
    depth, _ = depth_and_nul(value, READ_DEPTH)
    return cut(value) if depth > READ_DEPTH else value
