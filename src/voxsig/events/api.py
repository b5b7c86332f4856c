"""GET /api/v1/webhook_events: every event an endpoint can subscribe to, with the JSON Schema of
its body in each payload format (events/schemas.py, the schemas the test suite validates every
delivered body against).

Public, like /openapi.json: it documents Voxsig itself and says nothing about any account, so an
integration (or its developer) reads it before it has a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from voxsig.events.names import ALL, DESCRIPTIONS, EventName
from voxsig.events.schemas import SCHEMAS
from voxsig.models.webhook import CHATWOOT_FORMAT, VOXSIG_FORMAT
from voxsig.openapi import GUARDED, Doc, ok

JsonSchema = Annotated[
    dict[str, Any], Field(description="A JSON Schema (draft 2020-12) of the event's body")
]


class EventSchemas(Doc):
    voxsig: JsonSchema = Field(description="The body sent to endpoints in the voxsig format")
    chatwoot: JsonSchema = Field(description="The body sent to endpoints in the chatwoot format")


class WebhookEvent(Doc):
    name: EventName
    description: str
    schemas: EventSchemas


class WebhookEventList(Doc):
    payload: list[WebhookEvent]


router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=GUARDED)

# Rendered once: the answer never changes while the process runs.
_BODY = {
    "payload": [
        {
            "name": name,
            "description": DESCRIPTIONS[name],
            "schemas": {f: SCHEMAS[name][f] for f in (VOXSIG_FORMAT, CHATWOOT_FORMAT)},
        }
        for name in ALL
    ]
}


@router.get("/webhook_events", responses=ok(WebhookEventList))
async def webhook_events() -> JSONResponse:
    """Every webhook event with the JSON Schema of its body in each payload format (no token
    needed: this is documentation)."""
    return JSONResponse(_BODY)
