"""How the transport (outbox/transport.py) classifies what a POST came to: each error class
produced for real, against a server or a closed port on 127.0.0.1 (the loopback network is
allowed here, as an operator would allow a private network, except where the guard is the
point; `receiver` is the suite's fixture, tests/conftest.py). The IP-literal and
socket-factory checks are pinned in test_netguard.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from tests.support.receiver import Receiver, Reply
from voxsig.outbox.netguard import parse_networks
from voxsig.outbox.transport import BODY_KEEP, Limits, Outcome, Transport

pytestmark = pytest.mark.anyio
LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    client = Transport(LOOPBACK, Limits(connect_timeout=1.0, total_timeout=0.2))
    try:
        yield client
    finally:
        await client.close()


async def post(transport: Transport, url: str) -> Outcome:
    return await transport.post(url, b'{"event":"message_created"}', {"webhook-id": "msg_1"})


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_2xx_is_a_success_with_no_error(transport: Transport, receiver: Receiver) -> None:
    receiver.respond("/hook", Reply(204))
    outcome = await post(transport, receiver.url())
    assert outcome.succeeded
    assert (outcome.status, outcome.error_class, outcome.error_message) == (204, None, None)
    assert receiver.requests()[0].headers["webhook-id"] == "msg_1"


@pytest.mark.parametrize("status", [302, 410, 429, 500])
async def test_any_other_answer_is_http_status(
    transport: Transport, receiver: Receiver, status: int
) -> None:
    """Redirects included: they are never followed, so a 302 is an answer like any other."""
    receiver.respond(
        "/hook", Reply(status, headers={"Location": "http://127.0.0.1:9/", "Retry-After": "30"})
    )
    outcome = await post(transport, receiver.url())
    assert not outcome.succeeded
    assert (outcome.status, outcome.error_class) == (status, "http_status")
    assert outcome.error_message == f"HTTP {status}"
    assert outcome.headers["Retry-After"] == "30"  # what policy.retry_after reads
    assert len(receiver.requests()) == 1


async def test_only_the_start_of_a_long_body_is_kept(
    transport: Transport, receiver: Receiver
) -> None:
    receiver.respond("/hook", Reply(500, body=b"x" * (BODY_KEEP * 3)))
    outcome = await post(transport, receiver.url())
    assert outcome.body == "x" * BODY_KEEP


async def test_no_answer_within_the_total_timeout_is_timeout(
    transport: Transport, receiver: Receiver
) -> None:
    receiver.respond("/hook", Reply(200, delay=1.0))
    outcome = await post(transport, receiver.url())
    assert (outcome.status, outcome.error_class) == (None, "timeout")
    assert 150 <= outcome.duration_ms < 1000


async def test_a_refused_connection_is_connection(transport: Transport) -> None:
    outcome = await post(transport, f"http://127.0.0.1:{closed_port()}/hook")
    assert (outcome.status, outcome.error_class) == (None, "connection")
    assert outcome.error_message


async def test_a_name_that_does_not_resolve_is_dns(transport: Transport) -> None:
    outcome = await post(transport, "http://voxsig-unit-test.invalid/hook")
    assert (outcome.status, outcome.error_class) == (None, "dns")


async def test_a_name_resolving_only_to_forbidden_addresses_is_ssrf_blocked(
    receiver: Receiver,
) -> None:
    """The resolver's check: `localhost` is a name, not an IP literal, so only DNS tells."""
    guarded = Transport((), Limits(connect_timeout=1.0, total_timeout=2.0))
    try:
        outcome = await post(guarded, f"http://localhost:{receiver.port}/hook")
    finally:
        await guarded.close()
    assert (outcome.status, outcome.error_class) == (None, "ssrf_blocked")
    assert "localhost resolves to" in (outcome.error_message or "")
    assert receiver.requests() == []


async def test_a_stored_url_that_no_longer_parses_is_ssrf_blocked(transport: Transport) -> None:
    outcome = await post(transport, "http://a..b.example/hook")
    assert outcome.error_class == "ssrf_blocked"
    assert (outcome.error_message or "").startswith("The URL host a..b.example")


async def test_tls_with_a_server_that_speaks_plain_http_is_tls(
    transport: Transport, receiver: Receiver
) -> None:
    outcome = await post(transport, f"https://127.0.0.1:{receiver.port}/hook")
    assert (outcome.status, outcome.error_class) == (None, "tls")


async def test_no_failure_escapes_as_an_exception(transport: Transport) -> None:
    """Every failure is an outcome: the worker records it as an attempt."""
    results = await asyncio.gather(
        post(transport, f"http://127.0.0.1:{closed_port()}/"),
        post(transport, "http://voxsig-unit-test.invalid/"),
        post(transport, "not a url"),
    )
    assert [o.error_class for o in results] == ["connection", "dns", "ssrf_blocked"]
