"""create_app(): routers, error handlers, and the lifespan that owns the database (and worker)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from voxsig import __version__, live, metrics, openapi
from voxsig.agent_bots.api import router as agent_bots_router
from voxsig.config import Settings, get_settings
from voxsig.contacts.api import router as contacts_router
from voxsig.conversations.api import router as conversations_router
from voxsig.dashboard import router as dashboard_router
from voxsig.db import Database
from voxsig.errors import install_error_handlers
from voxsig.events.api import router as events_router
from voxsig.files.lifecycle import AfterCommit
from voxsig.files.local import LocalStorage
from voxsig.files.serve import router as files_router
from voxsig.files.stores import open_storage
from voxsig.gave_up import after_giving_up
from voxsig.inboxes.api import router as inboxes_router
from voxsig.kit.request_guard import RequestGuard
from voxsig.live import Hub
from voxsig.messages.api import router as messages_router
from voxsig.messages.attachments import streamed_limit
from voxsig.outbox.runtime import running_worker
from voxsig.public.api import router as public_router
from voxsig.users.api import router as users_router
from voxsig.views.attachments import session_info
from voxsig.webhooks.api import router as webhooks_router
from voxsig.widget.api import router as widget_router


def create_app(settings: Settings | None = None, *, sole_worker: bool = False) -> FastAPI:
    """`sole_worker`: this process holds SQLite's `voxsig.lock` (cli.py), so its worker
    releases the leases a previous process left before it claims."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url(), session_info(settings))
        hub = Hub()
        db.on_commit(hub.committed)
        app.state.db, app.state.hub = db, hub
        app.state.storage = storage = open_storage(settings)
        if isinstance(storage, LocalStorage):
            await storage.sweep_incoming()
        # A committed delete of a contact, inbox or account removes its messages' files.
        files_deleter = AfterCommit(storage)
        db.on_commit(files_deleter)
        try:
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(db.listening(live.CHANNEL, hub.notified))
                if settings.run_worker:
                    await stack.enter_async_context(
                        running_worker(
                            settings, db, sole_worker=sole_worker, gave_up=after_giving_up
                        )
                    )
                yield
        finally:
            await files_deleter.drain()
            await storage.close()
            await db.dispose()

    app = FastAPI(
        title="Voxsig",
        version=__version__,
        lifespan=lifespan,
        description="Customer messaging with a Chatwoot-compatible API and webhooks "
        "that are never lost.",
    )
    app.state.settings = settings
    # The responses exactly as the routes declare them (voxsig/openapi.py).
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for router in (
        users_router,
        inboxes_router,
        contacts_router,
        conversations_router,
        messages_router,
        public_router,
        webhooks_router,
        agent_bots_router,
        events_router,
        widget_router,
        files_router,
        dashboard_router,
    ):
        app.include_router(router)

    @app.get("/health", tags=["health"])
    async def health() -> JSONResponse:
        try:
            async with app.state.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means unhealthy, whatever its class
            return JSONResponse(
                {"status": "unavailable", "database": str(exc)[:200]}, status_code=503
            )
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(await metrics.render(app.state.db), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        RequestGuard,
        max_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        streams=streamed_limit(settings),
    )
    return app
