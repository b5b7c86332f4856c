"""The events: each renders its payload from the state about to be committed, then publishes
it. Services call these; nothing else builds webhook bodies.

Conversation events (typing included) are ordered with the conversation's other events;
contact events belong to the account (no inbox, no ordering key), as in Chatwoot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.events import names
from voxsig.live import Signal, signal
from voxsig.models import Account, Contact, ContactInbox, Conversation, Inbox, Message, User
from voxsig.models.message import ACTIVITY
from voxsig.outbox.endpoints import subscribers
from voxsig.outbox.publish import publish
from voxsig.views.formats import in_format
from voxsig.views.payloads import (
    account_json,
    contact_json,
    conversation_json,
    inbox_json,
    message_json,
    user_json,
)
from voxsig.views.snapshot import load_conversation, load_conversations, load_message_senders

# The status changes that are events of their own (Chatwoot's CONVERSATION_OPENED and _RESOLVED).
_BECAME = {"open": names.CONVERSATION_OPENED, "resolved": names.CONVERSATION_RESOLVED}


async def _wanted(session: AsyncSession, conversation: Conversation, *events: str) -> bool:
    """Skip loading and rendering when no endpoint listens: most changes have no subscriber."""
    for name in events:
        if await subscribers(session, conversation.account_id, conversation.inbox_id, name):
            return True
    return False


async def _live(
    session: AsyncSession,
    kind: str,
    conversation: Conversation,
    message_id: int | None = None,
    **typing: Any,
) -> None:
    """Live views update for every change, whoever subscribes to webhooks."""
    sig = Signal(
        kind,
        conversation.account_id,
        conversation.id,
        contact_inbox_id=conversation.contact_inbox_id,
        message_id=message_id,
        **typing,
    )
    await signal(session, sig)


async def _publish(
    session: AsyncSession, conversation: Conversation, name: str, body: dict[str, Any]
) -> None:
    """Publishes a conversation's event, ordered with the conversation's other events."""
    payload = {"event": name, **body}
    await publish(
        session,
        conversation.account_id,
        conversation.inbox_id,
        name,
        payload,
        conversation_id=conversation.id,
        in_format=in_format(name, payload),
    )


async def conversation_created(session: AsyncSession, conversation: Conversation) -> None:
    await _live(session, "conversation.created", conversation)
    if not await _wanted(session, conversation, names.CONVERSATION_CREATED):
        return
    conv = await load_conversation(session, conversation)
    await _publish(session, conversation, names.CONVERSATION_CREATED, conversation_json(conv))


async def conversation_changed(
    session: AsyncSession, conversation: Conversation, changes: dict[str, tuple[Any, Any]]
) -> None:
    """conversation_updated for any tracked change; conversation_status_changed as well when
    the status is among them, and conversation_opened or conversation_resolved (an agent bot's
    events, as Chatwoot's AgentBotListener sends them) for those two statuses."""
    if changes:
        await _live(session, "conversation.updated", conversation)
    became = _BECAME.get(conversation.status) if "status" in changes else None
    wanted = [names.CONVERSATION_UPDATED, names.CONVERSATION_STATUS_CHANGED]
    if not changes or not await _wanted(session, conversation, *wanted, *filter(None, [became])):
        return
    body = conversation_json(await load_conversation(session, conversation))

    def changed(keys: list[str]) -> list[dict[str, Any]]:
        return [
            {k: {"current_value": changes[k][1], "previous_value": changes[k][0]}} for k in keys
        ]

    if "status" in changes:
        await _publish(
            session,
            conversation,
            names.CONVERSATION_STATUS_CHANGED,
            {"changed_attributes": changed(["status"]), **body},
        )
    if became is not None:
        await _publish(session, conversation, became, body)
    await _publish(
        session,
        conversation,
        names.CONVERSATION_UPDATED,
        {"changed_attributes": changed(list(changes)), **body},
    )


async def _message_event(
    session: AsyncSession, name: str, message: Message, conversation: Conversation
) -> None:
    await _live(session, name.replace("_", ".", 1), conversation, message.id)
    if message.message_type == ACTIVITY or not await _wanted(session, conversation, name):
        return
    latest = message if name == names.MESSAGE_CREATED else None
    conv = (await load_conversations(session, [conversation], latest))[0]
    snap = (await load_message_senders(session, [message]))[0]
    body = message_json(snap, conv.account, conv.inbox, conversation, nested=conv)
    await _publish(session, conversation, name, body)


async def message_created(
    session: AsyncSession, message: Message, conversation: Conversation
) -> None:
    """Activity messages are not published (Chatwoot does the same)."""
    await _message_event(session, names.MESSAGE_CREATED, message, conversation)


async def message_updated(
    session: AsyncSession, message: Message, conversation: Conversation
) -> None:
    await _message_event(session, names.MESSAGE_UPDATED, message, conversation)


async def webwidget_triggered(
    session: AsyncSession, contact_inbox: ContactInbox, event_info: dict[str, Any]
) -> None:
    """A visitor opened the widget: `event_info` as the widget API assembled it."""
    inbox = await session.get(Inbox, contact_inbox.inbox_id)
    contact = await session.get(Contact, contact_inbox.contact_id)
    assert inbox is not None
    assert contact is not None
    account = await session.get(Account, inbox.account_id)
    assert account is not None
    if not await subscribers(session, account.id, inbox.id, names.WEBWIDGET_TRIGGERED):
        return
    latest = await session.scalar(
        select(Conversation)
        .where(Conversation.contact_inbox_id == contact_inbox.id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    current = conversation_json(await load_conversation(session, latest)) if latest else None
    payload = {
        "id": contact_inbox.id,
        "contact": contact_json(contact, account),
        "inbox": inbox_json(inbox),
        "account": account_json(account),
        "current_conversation": current,
        "source_id": contact_inbox.source_id,
        "event": names.WEBWIDGET_TRIGGERED,
        "event_info": event_info,
    }
    await publish(
        session,
        account.id,
        inbox.id,
        names.WEBWIDGET_TRIGGERED,
        payload,
        in_format=in_format(names.WEBWIDGET_TRIGGERED, payload),
    )


async def conversation_typing(
    session: AsyncSession,
    conversation: Conversation,
    on: bool,
    *,
    user: User | None = None,
    contact: Contact | None = None,
    is_private: bool = False,
) -> None:
    """An agent (`user`) or the contact started or stopped typing: nothing is stored but the
    event (Chatwoot's handle_typing_status: the conversation, the typer as `user`, and
    `is_private`), ordered with the conversation's other events, and a live signal."""
    name = names.CONVERSATION_TYPING_ON if on else names.CONVERSATION_TYPING_OFF
    await _live(
        session,
        "conversation." + name.removeprefix("conversation_"),
        conversation,
        user_id=user.id if user is not None else None,
        is_private=is_private,
    )
    if not await _wanted(session, conversation, name):
        return
    conv = await load_conversation(session, conversation)
    typer = user_json(user) if user is not None else None
    if typer is None:
        typer = contact_json(contact or conv.contact, conv.account)
    body = {"user": typer, "conversation": conversation_json(conv), "is_private": is_private}
    await _publish(session, conversation, name, body)


async def _contact_event(
    session: AsyncSession, name: str, contact: Contact, extra: dict[str, Any]
) -> None:
    """An account event (Chatwoot's deliver_account_webhooks): inbox_id None, so only the
    account's webhooks without an inbox filter subscribe (outbox.endpoints.subscribers)."""
    if not await subscribers(session, contact.account_id, None, name):
        return
    account = await session.get(Account, contact.account_id)
    assert account is not None
    payload = {"event": name, **extra, **contact_json(contact, account)}
    await publish(
        session, contact.account_id, None, name, payload, in_format=in_format(name, payload)
    )


async def contact_created(session: AsyncSession, contact: Contact) -> None:
    await _contact_event(session, names.CONTACT_CREATED, contact, {})


async def contact_updated(
    session: AsyncSession, contact: Contact, changes: dict[str, tuple[Any, Any]]
) -> None:
    """`changes`: attribute -> (previous, current) in the payload's JSON form; nothing is
    published when it is empty (Chatwoot returns when changed_attributes is blank)."""
    if not changes:
        return
    changed = [{k: {"current_value": v[1], "previous_value": v[0]}} for k, v in changes.items()]
    await _contact_event(session, names.CONTACT_UPDATED, contact, {"changed_attributes": changed})
