"""The test infrastructure itself: the receiver scripts replies, servers survive SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient
from tests.support.receiver import Receiver, Reply


def test_receiver_records_and_scripts_replies(receiver: Receiver) -> None:
    receiver.respond("/hook", 500, Reply(429, headers={"Retry-After": "1"}))
    statuses = [httpx.post(receiver.url(), content=f'{{"n": {n}}}').status_code for n in range(3)]
    assert statuses == [500, 429, 200]
    got = receiver.wait_for(3, "/hook")
    assert [r.json()["n"] for r in got] == [0, 1, 2]
    assert got[0].method == "POST"
    assert got[0].headers["content-length"] == "8"
    assert got[0].at <= got[1].at <= got[2].at


def test_receiver_wait_for_shows_what_arrived(receiver: Receiver) -> None:
    httpx.post(receiver.url("/other"), content=b"hello")
    with pytest.raises(AssertionError, match=r"(?s)got 0.*POST /other -> 200: hello"):
        receiver.wait_for(1, "/hook", timeout=0.2)


def test_receiver_delays_replies(receiver: Receiver) -> None:
    receiver.respond("/slow", 200, delay=0.3)
    started = time.monotonic()
    assert httpx.get(receiver.url("/slow")).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_data_survives_sigkill_of_the_server(api: ApiClient, backend: Backend) -> None:
    created = api.post("inboxes", json={"name": "Kept", "channel": {"type": "api"}})
    assert created.status_code == 200, created.text
    api.drop_connections()
    backend.server.kill()
    backend.server.start()
    listed = api.get("inboxes")
    assert [i["name"] for i in listed.json()["payload"]] == ["Kept"]


def test_server_recovers_after_postgres_restarts(api: ApiClient, backend: Backend) -> None:
    if backend.cluster is None:
        pytest.skip("a PostgreSQL drill")
    backend.cluster.restart()
    assert api.get("/api/v1/profile").status_code == 200


def test_serve_restarts_on_its_port_right_after_a_crash(tmp_path: Path) -> None:
    server = VoxsigServer(f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}", tmp_path).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/health").status_code == 200  # a keep-alive connection stays
            server.kill()
        server.start(timeout=10)
    finally:
        server.stop()
