"""The widget's live stream at scale (issue 11, finding 10): a signal costs database work only
in the streams of the visitor it concerns, however many other visitors of the account have a
stream open; open streams are capped per address and per visitor (429 beyond)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.factories import widget_inbox
from tests.support.widget import LiveStream, WidgetVisitor

LOADS = re.compile(r"^voxsig_widget_live_loads_total (\S+)$", re.MULTILINE)
OTHER_STREAMS = 25
NEW_CONVERSATIONS = 10


def loads(base_url: str) -> float:
    """How many signals widget streams have loaded from the database (GET /metrics)."""
    found = LOADS.search(httpx.get(f"{base_url}/metrics").text)
    assert found, "no voxsig_widget_live_loads_total in /metrics"
    return float(found.group(1))


def test_a_signal_costs_work_only_in_the_concerned_stream(api: ApiClient, backend: Backend) -> None:
    inbox = widget_inbox(api)
    made: list[WidgetVisitor] = []
    streams: list[LiveStream] = []

    def visitor() -> WidgetVisitor:
        made.append(WidgetVisitor(backend.url, inbox["website_token"]).start())
        return made[-1]

    try:
        for _ in range(OTHER_STREAMS):
            streams.append(LiveStream(visitor()))
        watcher = visitor()
        watched = LiveStream(watcher)
        streams.append(watched)
        before = loads(backend.url)
        # New conversations of visitors without a stream concern no open stream at all.
        for _ in range(NEW_CONVERSATIONS):
            visitor().say("hello")
        message = watcher.say("mine")
        kinds = sorted(watched.next()[0] for _ in range(2))
        assert kinds == ["conversation.created", "message.created"]
        agent = api.get("conversations", params={"status": "all"})
        assert agent.status_code == 200  # the account's API is unaffected
        reply = api.post(
            f"conversations/{message['conversation_id']}/messages", json={"content": "hi"}
        )
        assert reply.status_code == 200, reply.text
        kind, data = watched.next()
        assert (kind, data["content"]) == ("message.created", "hi")
        # Three signals of the watcher's own, loaded once each by its one stream; the other
        # streams' visitors and the new conversations loaded nothing (before: one transaction
        # in every open stream for every conversation.created).
        assert loads(backend.url) - before == 3
        assert all(s.events.empty() for s in streams)
    finally:
        for stream in streams:
            stream.close()
        for one in made:
            one.close()


# -- caps --------------------------------------------------------------------------------------

PER_ADDRESS, PER_VISITOR = 3, 2


@pytest.fixture
def capped(backend: Backend, tmp_path: Path) -> Iterator[tuple[VoxsigServer, ApiClient]]:
    """Voxsig with small caps on open live streams, on an empty database of its own."""
    database = f"voxsig_live_caps_{uuid.uuid4().hex[:10]}"
    if backend.cluster is not None:
        url = backend.cluster.create_database(database)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}"
    env = {
        "VOXSIG_WIDGET_LIVE_STREAMS_PER_ADDRESS": str(PER_ADDRESS),
        "VOXSIG_WIDGET_LIVE_STREAMS_PER_VISITOR": str(PER_VISITOR),
        "VOXSIG_TRUSTED_PROXIES": "127.0.0.1",  # X-Forwarded-For names the test's addresses
    }
    server = VoxsigServer(url, tmp_path, extra_env=env)
    try:
        server.start()
        credentials = create_account(url, "Capped", unique_email(), user_name="Ada Admin")
        client = ApiClient(server.url, credentials)
        yield server, client
        client.close()
    finally:
        server.stop()
        if backend.cluster is not None:
            backend.cluster.drop_database(database)


def refused(visitor: WidgetVisitor, what: str) -> None:
    response = visitor.open_stream()
    try:
        assert response.status_code == 429, "the stream was opened"
        response.read()
        body: dict[str, Any] = response.json()
        assert body["error"] == "rate_limited"
        assert f"live streams open for this {what}" in body["message"], body
        assert body["errors"] == []
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        response.close()


def test_open_streams_are_capped_per_visitor_and_per_address(
    capped: tuple[VoxsigServer, ApiClient],
) -> None:
    server, api = capped
    token = widget_inbox(api)["website_token"]
    address = "10.77.0.1"
    alice, bob, carol = (WidgetVisitor(server.url, token, ip=address).start() for _ in range(3))
    elsewhere = WidgetVisitor(server.url, token).start()
    streams = [LiveStream(alice) for _ in range(PER_VISITOR)]
    try:
        refused(alice, "visitor")  # her tabs are capped, whatever her address
        alice.ip = "10.77.0.2"
        refused(alice, "visitor")
        streams.append(LiveStream(bob))  # the address's third and last stream
        refused(carol, "address")
        streams.append(LiveStream(elsewhere))  # another address is not affected
        # A closed stream gives its slots back (once the server sees the client gone).
        streams.pop(0).close()
        deadline = time.monotonic() + 20
        while True:
            response = carol.open_stream()
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            response.close()
            time.sleep(0.2)
        assert response.status_code == 200  # and the refused requests held no slot
        response.close()
    finally:
        for stream in streams:
            stream.close()
        for one in (alice, bob, carol, elsewhere):
            one.close()
