"""The agent dashboard: server-rendered pages (Jinja2), a little plain JavaScript, and live
updates over server-sent events. Routes are split by area; `router` holds them all."""

from __future__ import annotations

from fastapi import APIRouter

from voxsig.dashboard import (
    accounts,
    auth,
    bots,
    contacts,
    conversations,
    notifications,
    settings,
    static,
    stream,
    webhooks,
)

router = APIRouter()
for area in (auth, accounts, conversations, stream, contacts, settings, bots, webhooks, static):
    router.include_router(area.router)
router.include_router(notifications.router)
router.include_router(notifications.pages)

__all__ = ["router"]
