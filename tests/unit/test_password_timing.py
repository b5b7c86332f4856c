"""A login for an email without a usable password costs one argon2 verification, as a real one
does: timing must not tell an unknown email, or an invited user who has not chosen a password
yet, from a user with a password."""

from __future__ import annotations

import asyncio

import pytest

from voxsig.dashboard import auth
from voxsig.models import User
from voxsig.users.passwords import hash_password
from voxsig.users.service import UNSET_PASSWORD


def _verified_hashes(monkeypatch: pytest.MonkeyPatch, user: User | None) -> list[str]:
    seen: list[str] = []

    def record(password_hash: str, password: str) -> bool:
        seen.append(password_hash)
        return False

    monkeypatch.setattr(auth, "verify_password", record)
    assert asyncio.run(auth._password_matches(user, "a-guess-at-it")) is False
    return seen


@pytest.mark.parametrize(
    "user",
    [None, User(name="Invited", email="i@example.org", password_hash=UNSET_PASSWORD + "x")],
    ids=["unknown email", "no password chosen yet"],
)
def test_a_login_without_a_usable_password_still_runs_argon2(
    monkeypatch: pytest.MonkeyPatch, user: User | None
) -> None:
    (verified,) = _verified_hashes(monkeypatch, user)
    assert verified.startswith("$argon2id$")


def test_a_user_with_a_password_is_verified_against_their_own_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = hash_password("their-own-password")
    user = User(name="Ada", email="a@example.org", password_hash=own)
    assert _verified_hashes(monkeypatch, user) == [own]
