"""The `voxsig` command's errors: one readable line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from harness.server import run_cli, voxsig_env
from tests.support.client import unique_email


def env_for(tmp_path: Path, database_url: str | None = None, port: int = 3000) -> dict[str, str]:
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}"
    return voxsig_env(url, tmp_path / "data", port)


def create(env: dict[str, str], email: str) -> tuple[int, str, str]:
    done = run_cli(
        env, "create-account", "--name", "Acme", "--email", email, "--password", "long-enough-pw"
    )
    return done.returncode, done.stdout, done.stderr


def test_create_account_twice_with_one_email_is_a_readable_error(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    email = unique_email()
    code, out, _ = create(env, email)
    assert code == 0
    assert set(json.loads(out)) == {"account_id", "user_id", "api_access_token"}
    code, out, err = create(env, email)
    assert code != 0
    assert out == ""
    assert "already exists" in err
    assert "Traceback" not in err


def test_a_short_password_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        env_for(tmp_path),
        "create-account",
        "--name",
        "Acme",
        "--email",
        unique_email(),
        "--password",
        "short",
    )
    assert done.returncode != 0
    assert "8 characters" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_database_url_says_what_to_check(tmp_path: Path) -> None:
    env = env_for(tmp_path, "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere")
    done = run_cli(env, "migrate", timeout=60)
    assert done.returncode != 0
    assert "VOXSIG_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(env_for(tmp_path, port=port), "serve", timeout=60)
    assert done.returncode != 0
    assert f"port {port}" in done.stderr
    assert "VOXSIG_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_storage_url_says_what_to_set(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"VOXSIG_STORAGE_URL": "ftp://user:hunter2@files.example/box"}
    done = run_cli(env, "serve", timeout=60)
    assert done.returncode != 0
    assert "unknown store scheme 'ftp'" in done.stderr
    assert "VOXSIG_STORAGE_URL" in done.stderr
    assert "s3://bucket/prefix" in done.stderr
    assert "hunter2" not in done.stderr  # the rest of the URL may hold credentials
    assert "Traceback" not in done.stderr


def test_an_s3_store_without_credentials_names_the_setting(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"VOXSIG_STORAGE_URL": "s3://bucket/prefix"}
    done = run_cli(env, "worker", timeout=60)
    assert done.returncode != 0
    assert "VOXSIG_STORAGE_ACCESS_KEY must be set" in done.stderr
    assert "Traceback" not in done.stderr
