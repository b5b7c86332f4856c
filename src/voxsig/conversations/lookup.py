"""Finding conversations and what they hold: by number, by contact, their labels, and the agent
an assignment names."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid, NotFound
from voxsig.models import AccountUser, Contact, Conversation, ConversationLabel, User

_BY_DISPLAY_ID = select(Conversation).where(
    Conversation.account_id == bindparam("account_id"),
    Conversation.display_id == bindparam("display_id"),
)  # on every conversation route: built once


async def get_conversation(session: AsyncSession, account_id: int, display_id: int) -> Conversation:
    conversation = await session.scalar(
        _BY_DISPLAY_ID, {"account_id": account_id, "display_id": display_id}
    )
    if conversation is None:
        raise NotFound(f"No conversation {display_id} in this account", field="conversation_id")
    return conversation


async def conversations_of_contact(session: AsyncSession, contact: Contact) -> list[Conversation]:
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.contact_id == contact.id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    )
    return list(rows)


async def labels_of(session: AsyncSession, conversation: Conversation) -> list[str]:
    rows = await session.scalars(
        select(ConversationLabel.title)
        .where(ConversationLabel.conversation_id == conversation.id)
        .order_by(ConversationLabel.title)
    )
    return list(rows)


async def check_assignee(session: AsyncSession, account_id: int, user_id: int) -> User:
    user = await session.scalar(
        select(User)
        .join(AccountUser, AccountUser.user_id == User.id)
        .where(AccountUser.account_id == account_id, User.id == user_id)
    )
    if user is None:
        raise Invalid(f"No agent {user_id} in this account", field="assignee_id")
    return user
