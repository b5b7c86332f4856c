"""Server-sent events for the dashboard: the account's live signals, as they are committed.

Typing signals go as `typing` events (kind, conversation row id, the agent's user_id or null
for the contact, is_private), which the conversation page shows without fetching anything.
Any other signal only says which conversation changed; the page then fetches itself again and swaps
its live regions, so what an agent sees is always rendered by the same code as on a reload.

The stream holds no database connection (SQLite has one for everything) and ends after
STREAM_SECONDS: the browser reconnects at once (EventSource does), and a server shutting down
waits for no stream longer than that. Each time its stream opens (the first time too) a page
refreshes itself once, so a signal sent before it listened, or in a gap, is not missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from voxsig.dashboard.web import web_session
from voxsig.live import Hub
from voxsig.users.sessions import live_session

router = APIRouter(include_in_schema=False)

STREAM_SECONDS = 25.0
KEEPALIVE_SECONDS = 10.0
TYPING = ("conversation.typing_on", "conversation.typing_off")


async def _allowed(request: Request) -> int | None:
    """The account the session may watch, checked in a transaction of its own that ends
    before streaming starts."""
    web = web_session(request)
    if web.token is None:
        return None
    async with request.app.state.db.transaction() as session:
        live = await live_session(session, web.token)
    return None if live is None else live.account.id


async def _events(hub: Hub, account_id: int) -> AsyncIterator[str]:
    async with hub.watch(account_id) as queue:
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                sig = await asyncio.wait_for(queue.get(), min(left, KEEPALIVE_SECONDS))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            data = {
                "kind": sig.kind,
                "conversation_id": sig.conversation_id,
                "message_id": sig.message_id,
            }
            if sig.kind in TYPING:
                # Its own event type: it changes nothing a page shows when reloaded, so the
                # pages' refresh and the notifications (on "message" events) never see it.
                data.update(user_id=sig.user_id, is_private=sig.is_private)
                yield f"event: typing\ndata: {json.dumps(data)}\n\n"
                continue
            yield f"data: {json.dumps(data)}\n\n"


@router.get("/app/live")
async def live(request: Request) -> Response:
    account_id = await _allowed(request)
    if account_id is None:
        return Response("Log in first", status_code=401, media_type="text/plain")
    return StreamingResponse(
        _events(request.app.state.hub, account_id),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
