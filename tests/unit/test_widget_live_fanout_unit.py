"""The widget stream's fan-out, in process: a signal reaches only the queues of the visitor it
concerns, and a stream handed another visitor's signal drops it without touching the database."""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from voxsig.live import Hub, Signal
from voxsig.widget.live import StreamSlots, Watch, render


class NoDatabase:
    """A Database that fails the test on any use."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the stream used the database ({name})")


def signal(contact_inbox_id: int, kind: str = "conversation.created") -> Signal:
    return Signal(kind, account_id=1, conversation_id=7, contact_inbox_id=contact_inbox_id)


def test_the_hub_hands_a_signal_only_to_its_visitor_and_the_account() -> None:
    async def run() -> list[int]:
        hub = Hub()
        async with (
            hub.watch(1) as dashboard,
            hub.watch_visitor(5) as mine,
            hub.watch_visitor(6) as theirs,
        ):
            hub.publish(signal(5))
            return [dashboard.qsize(), mine.qsize(), theirs.qsize()]

    assert asyncio.run(run()) == [1, 1, 0]


def test_another_visitors_signal_costs_no_query() -> None:
    db: Any = NoDatabase()
    for kind in ("conversation.created", "conversation.updated", "message.created"):
        assert asyncio.run(render(db, Watch(link_id=5), signal(6, kind))) is None


def test_stream_slots() -> None:
    slots = StreamSlots(2)
    assert slots.take("a")
    assert slots.take("a")
    assert not slots.take("a")
    assert slots.take("b")
    slots.give_back("a")
    assert slots.held("a") == 1
    assert slots.take("a")
    slots.give_back("a")
    slots.give_back("a")
    assert slots.held("a") == 0
