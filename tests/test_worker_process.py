"""`voxsig worker` on its own beside `voxsig serve --no-worker`: deliveries still arrive at once,
woken by NOTIFY on PostgreSQL and by the watch on SQLite's data_version, not by the poll."""

from __future__ import annotations

import pytest

from tests.support.client import ApiClient
from tests.support.deployment import DeployFactory, WorkerProcess
from tests.support.factories import new_conversation, subscribe
from tests.support.receiver import Receiver


@pytest.fixture
def split_deployment(deploy: DeployFactory) -> tuple[ApiClient, WorkerProcess]:
    """An API-only server and a separate worker process on a database of their own."""
    # The worker must be woken by the other process's commits (NOTIFY on PostgreSQL, a change of
    # data_version on SQLite): a poll so slow that the test would time out first proves it.
    deployment = deploy(worker_env={"VOXSIG_WORKER_POLL_SECONDS": "60"})
    worker = deployment.start_worker()
    return deployment.account(), worker


def test_a_separate_worker_delivers(
    split_deployment: tuple[ApiClient, WorkerProcess], receiver: Receiver
) -> None:
    api, worker = split_deployment
    subscribe(api, receiver, "/split", ["conversation_created", "message_created"])
    setup = new_conversation(api)
    api.post(f"conversations/{setup.conversation_id}/messages", json={"content": "ping"})
    try:
        got = receiver.wait_for(2, "/split", timeout=15)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{worker.log_tail()}") from None
    assert {r.json()["event"] for r in got} == {"conversation_created", "message_created"}
