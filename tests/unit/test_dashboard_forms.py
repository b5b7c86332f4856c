"""Reading posted forms: ids as the dashboard's selects post them."""

from __future__ import annotations

from starlette.datastructures import FormData

from voxsig.dashboard.forms import number
from voxsig.kit.schema import MAX_ID


def test_a_posted_id_is_read_up_to_the_largest_id() -> None:
    # User ids are random up to MAX_ID: most have ten digits (an assignee picked in the select).
    assert number(FormData({"id": "2043530077"}), "id") == 2043530077
    assert number(FormData({"id": str(MAX_ID)}), "id") == MAX_ID
    assert number(FormData({"id": " 42 "}), "id") == 42


def test_anything_else_is_no_id() -> None:
    for value in (str(MAX_ID + 1), "99999999999", "", "me", "-1", "1.5", "²", "١٢"):
        assert number(FormData({"id": value}), "id") is None, value
    assert number(FormData({}), "id") is None
