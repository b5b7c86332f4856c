"""Signed attachment links: each tampering, expiry, malformed tokens, the path's shape."""

from __future__ import annotations

import re
from typing import Any

import pytest

from voxsig.files import links

SECRET = "s" * 48
NOW = 1_800_000_000
LATER = NOW + 7 * 86400


def token_for(attachment_id: int = 42, variant: links.Variant = "data") -> str:
    return links.sign(attachment_id, variant, LATER, SECRET)


def flip(char: str) -> str:
    return "A" if char != "A" else "B"


def test_a_fresh_token_verifies_until_its_expiry_and_not_after() -> None:
    token = token_for()
    assert re.fullmatch(rf"{LATER}\.[A-Za-z0-9_-]{{43}}", token)
    assert links.verify(token, 42, "data", NOW, SECRET)
    assert links.verify(token, 42, "data", LATER, SECRET)
    assert not links.verify(token, 42, "data", LATER + 1, SECRET)
    assert links.expires_of(token) == LATER


def test_tokens_are_not_guessable_from_each_other() -> None:
    tokens = {token_for(i, v) for i in (1, 2, 3) for v in ("data", "thumb")}
    assert len(tokens) == 6
    assert links.sign(42, "data", LATER, "another secret") != token_for()


def test_a_changed_id_fails() -> None:
    assert not links.verify(token_for(42), 43, "data", NOW, SECRET)


def test_a_changed_variant_fails() -> None:
    assert not links.verify(token_for(42, "data"), 42, "thumb", NOW, SECRET)
    assert not links.verify(token_for(42, "thumb"), 42, "data", NOW, SECRET)
    assert not links.verify(token_for(42), 42, "other", NOW, SECRET)


def test_a_changed_expiry_fails() -> None:
    token = token_for()
    signature = token.split(".")[1]
    assert not links.verify(f"{LATER + 86400}.{signature}", 42, "data", NOW, SECRET)
    assert not links.verify(f"0{LATER}.{signature}", 42, "data", NOW, SECRET)


def test_a_changed_signature_fails() -> None:
    token = token_for()
    for position in (len(str(LATER)) + 1, len(token) - 1):
        tampered = token[:position] + flip(token[position]) + token[position + 1 :]
        assert not links.verify(tampered, 42, "data", NOW, SECRET)


def test_another_secret_fails() -> None:
    assert not links.verify(token_for(), 42, "data", NOW, "another secret")
    assert not links.verify(token_for(), 42, "data", NOW, "")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        f"{LATER}.",
        f".{'A' * 43}",
        f"{LATER}.{'A' * 42}",
        f"{LATER}.{'A' * 44}",
        f"{LATER}.{'A' * 42}=",
        f"{LATER}.{'é' * 43}",
        f"{'9' * 400}.{'A' * 43}",
        f"-1.{'A' * 43}",
        f"{LATER}.{'A' * 43}\n",
        "\x00" * 60,
        None,
        42,
        b"bytes",
    ],
)
def test_malformed_tokens_are_false_never_an_exception(token: Any) -> None:
    assert links.verify(token, 42, "data", NOW, SECRET) is False


@pytest.mark.parametrize(("attachment_id", "variant"), [(0, "data"), (-1, "data"), (True, "data")])
def test_bad_ids_verify_false(attachment_id: Any, variant: str) -> None:
    assert links.verify(token_for(), attachment_id, variant, NOW, SECRET) is False


def test_sign_refuses_what_no_link_can_carry() -> None:
    with pytest.raises(ValueError, match="attachment_id"):
        links.sign(0, "data", LATER, SECRET)
    with pytest.raises(ValueError, match="variant"):
        links.sign(1, "original", LATER, SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expires_at"):
        links.sign(1, "data", 1.5, SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expires_at"):
        links.sign(1, "data", links.MAX_EXPIRES, SECRET)
    with pytest.raises(ValueError, match="secret"):
        links.sign(1, "data", LATER, "")


def test_the_path_carries_id_variant_token_and_a_safe_name() -> None:
    token = token_for()
    named = links.path(42, "data", token, "invoice 7.pdf")
    assert named == f"/files/42/data/{token}/invoice%207.pdf"
    assert links.path(42, "thumb", token) == f"/files/42/thumb/{token}/file"
    with pytest.raises(ValueError, match="token"):
        links.path(42, "data", "nope")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("   ", "file"),
        ("a\\b/c", "a_b_c"),
        ("x\x00y\r\nz\u202e.exe", "xyz.exe"),
        ("счёт.pdf", "%D1%81%D1%87%D1%91%D1%82.pdf"),
        ("a?b#c%d", "a%3Fb%23c%25d"),
    ],
)
def test_display_names_become_one_harmless_segment(name: str, expected: str) -> None:
    assert links.safe_name(name) == expected


def test_long_names_are_cut() -> None:
    assert links.safe_name("a" * 1000) == "a" * links.MAX_NAME
