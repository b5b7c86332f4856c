"""kit.json_limits and the request-body base class, in process: the walk never recurses, the
limits are exact, and the reader of stored JSON survives any depth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from voxsig.kit import json_limits
from voxsig.kit.json_limits import MAX_BYTES, MAX_DEPTH, READ_DEPTH
from voxsig.kit.schema import Body


def deep(levels: int, leaf: Any = None) -> Any:
    """`levels` containers, alternating dicts and lists; deep(1) is {} or [leaf]."""
    value: Any = {} if leaf is None else [leaf]
    for n in range(levels - 1):
        value = {"k": value} if n % 2 else [value]
    return value


def deep_text(levels: int) -> str:
    return "[" * levels + "]" * levels


class Attributes(Body):
    custom_attributes: dict[str, Any] | None = None
    tags: list[Any] | None = None
    name: str | None = None


class Outer(Body):
    inner: Attributes
    content: str = ""


@pytest.mark.parametrize("levels", [1, 2, MAX_DEPTH])
def test_depth_within_the_limit_passes(levels: int) -> None:
    assert json_limits.problem(deep(levels)) is None


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300, 5_000, 200_000])
def test_any_depth_over_the_limit_is_refused_without_recursion(levels: int) -> None:
    value = deep(levels)
    assert json_limits.depth_and_nul(value, MAX_DEPTH)[0] == MAX_DEPTH + 1
    assert json_limits.problem(value) == json_limits.TOO_DEEP


def test_scalars_and_strings_have_depth_zero() -> None:
    for value in (None, 1, 2.5, True, "text"):
        assert json_limits.depth_and_nul(value, MAX_DEPTH) == (0, False)
        assert json_limits.problem(value) is None


@pytest.mark.parametrize(
    "value", ["a\x00b", {"k\x00": 1}, {"k": ["x", {"y": "\x00"}]}, ["ok", "\x00"]]
)
def test_nul_anywhere_is_refused(value: Any) -> None:
    assert json_limits.problem(value) == json_limits.NUL


def test_size_is_the_compact_utf8_json() -> None:
    overhead = len('{"k":""}')
    assert json_limits.problem({"k": "x" * (MAX_BYTES - overhead)}) is None
    assert json_limits.problem({"k": "x" * (MAX_BYTES - overhead + 1)}) == json_limits.TOO_BIG
    # Two bytes per "é": the limit is on bytes, not characters.
    assert json_limits.problem({"k": "é" * (MAX_BYTES // 2)}) == json_limits.TOO_BIG
    assert json_limits.encoded_size({"k": "\ud800"}) == len('{"k":""}') + 3


def test_the_body_names_the_field_and_checks_every_dict_and_list() -> None:
    with pytest.raises(ValidationError) as caught:
        Attributes.model_validate({"custom_attributes": deep(MAX_DEPTH + 1)})
    assert caught.value.errors()[0]["loc"] == ("custom_attributes",)
    with pytest.raises(ValidationError) as caught:
        Attributes.model_validate({"tags": deep(400)})
    assert caught.value.errors()[0]["loc"] == ("tags",)
    with pytest.raises(ValidationError):
        Attributes.model_validate({"name": "a\x00"})
    # Ignored fields are not judged (they are not stored).
    assert Attributes.model_validate({"other": deep(900)}).custom_attributes is None


def test_a_nested_body_is_checked_field_by_field_not_as_a_whole() -> None:
    long = "x" * (3 * MAX_BYTES)
    made = Outer.model_validate({"inner": {"name": "n"}, "content": long})
    assert made.content == long
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"inner": {"custom_attributes": deep(MAX_DEPTH + 1)}})
    assert caught.value.errors()[0]["loc"] == ("inner", "custom_attributes")


@pytest.mark.parametrize("levels", [READ_DEPTH, READ_DEPTH + 1, 300, 900])
def test_stored_values_read_back_cut_to_the_read_depth(levels: int) -> None:
    text = '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)
    value = json_limits.load_stored(text)
    depth = json_limits.depth_and_nul(value, 10_000)[0]
    assert depth == min(levels, READ_DEPTH)
    assert json.dumps(value)  # serializable: the answers that show it cannot fail


def test_a_stored_value_too_deep_to_parse_reads_as_empty() -> None:
    assert json_limits.load_stored(deep_text(100_000)) == {}


def test_ordinary_stored_values_are_read_unchanged() -> None:
    value = {"browser": {"name": "Firefox", "list": [1, 2, {"x": None}]}, "n": 1.5}
    assert json_limits.load_stored(json.dumps(value)) == value
    assert json_limits.load_stored(b'["a", "b"]') == ["a", "b"]
