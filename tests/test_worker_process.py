"""`voxsig worker` on its own beside `voxsig serve --no-worker`: deliveries still arrive at once,
woken by NOTIFY on PostgreSQL and by the watch on SQLite's data_version, not by the poll."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Backend
from tests.support.client import AccountCredentials, ApiClient, create_account, unique_email
from tests.support.receiver import Receiver
from tests.support.server import VoxsigServer, voxsig_command
from tests.test_webhook_events import new_conversation, subscribe


def token_for_new_agent(api: ApiClient, backend: Backend) -> ApiClient:
    """An agent (not administrator) of `api`'s account, with an API token of their own."""
    from voxsig.db import Database
    from voxsig.models import User
    from voxsig.users.service import issue_token

    added = api.post(
        "agents", json={"name": "Sam Agent", "email": unique_email("agent"), "role": "agent"}
    )
    assert added.status_code == 200, added.text
    user_id = added.json()["id"]

    async def run() -> str:
        db = Database(backend.database_url)
        try:
            async with db.transaction() as session:
                user = await session.get(User, user_id)
                assert user is not None
                return await issue_token(session, user)
        finally:
            await db.dispose()

    token = asyncio.run(run())
    creds = AccountCredentials(api.account_id, user_id, token, "", "")
    return ApiClient(api.url, creds)


@pytest.fixture
def split_deployment(backend: Backend, tmp_path: Path) -> Iterator[tuple[ApiClient, Path]]:
    """An API-only server and a separate worker process on a database of their own."""
    if backend.is_postgres:
        assert backend.cluster is not None
        url = backend.cluster.create_database(f"split_{uuid.uuid4().hex[:8]}")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'split.db'}"
    server = VoxsigServer(url, tmp_path / "api", {"VOXSIG_RUN_WORKER": "false"})
    server.start()
    log = (tmp_path / "worker.log").open("wb")
    # The worker must be woken by the other process's commits (NOTIFY on PostgreSQL, a change of
    # data_version on SQLite): a poll so slow that the test would time out first proves it.
    worker = subprocess.Popen(
        [*voxsig_command(), "worker"],
        env={**server.env, "VOXSIG_WORKER_POLL_SECONDS": "60"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    creds = create_account(url, "Split", unique_email())
    client = ApiClient(server.url, creds)
    try:
        yield client, tmp_path / "worker.log"
    finally:
        client.close()
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        server.stop()


def test_a_separate_worker_delivers(
    split_deployment: tuple[ApiClient, Path], receiver: Receiver, backend: Backend
) -> None:
    api, log = split_deployment
    subscribe(api, receiver, "/split", ["conversation_created", "message_created"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/messages", json={"content": "ping"})
    try:
        got = receiver.wait_for(2, "/split", timeout=15)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{log.read_text()}") from None
    assert {r.json()["event"] for r in got} == {"conversation_created", "message_created"}
