"""An agent bot's JSON: Chatwoot's (_agent_bot.json.jbuilder), with what its endpoint adds:
the format and signing of what it receives, the secret or public key that verifies it, and the
endpoint itself (health, backlog) when it has an outgoing_url."""

from __future__ import annotations

from typing import Any

from voxsig.models import AgentBot, Webhook
from voxsig.models.webhook import ASYMMETRIC, CHATWOOT_FORMAT, SYMMETRIC
from voxsig.outbox.signing import public_key, signing_of

JSON = dict[str, Any]


def agent_bot_json(
    bot: AgentBot,
    endpoint: Webhook | None,
    endpoint_answer: JSON | None,
    inbox_ids: list[int],
) -> JSON:
    """Administrators only see it, and see its token (Chatwoot shows it them too)."""
    asymmetric = endpoint is not None and signing_of(endpoint.secret) == ASYMMETRIC
    return {
        "id": bot.id,
        "name": bot.name,
        "description": bot.description,
        "thumbnail": bot.avatar_url,
        "avatar_url": bot.avatar_url,
        "outgoing_url": endpoint.url if endpoint else "",
        "bot_type": bot.bot_type,
        "bot_config": bot.bot_config or {},
        "account_id": bot.account_id,
        "system_bot": False,
        "payload_format": endpoint.payload_format if endpoint else CHATWOOT_FORMAT,
        "signing": endpoint.signing if endpoint else SYMMETRIC,
        "secret": None if endpoint is None or asymmetric else endpoint.secret,
        "public_key": public_key(endpoint.secret) if endpoint and asymmetric else None,
        "inbox_ids": inbox_ids,
        "access_token": bot.access_token,
        "webhook": endpoint_answer,
    }


def inbox_bot_json(bot: AgentBot | None) -> JSON:
    """GET …/inboxes/{id}/agent_bot: Chatwoot's `{"agent_bot": {}}` when the inbox has none;
    the token is not in it (any member may ask)."""
    if bot is None:
        return {"agent_bot": {}}
    return {
        "agent_bot": {
            "id": bot.id,
            "name": bot.name,
            "description": bot.description,
            "thumbnail": bot.avatar_url,
            "bot_type": bot.bot_type,
            "bot_config": bot.bot_config or {},
            "account_id": bot.account_id,
            "system_bot": False,
        }
    }
