"""SQLAlchemy tables. Imports nothing from the domain packages."""

from voxsig.models.account import Account
from voxsig.models.agent_bot import AgentBot
from voxsig.models.attachment import Attachment
from voxsig.models.base import Base
from voxsig.models.contact import Contact, ContactInbox
from voxsig.models.conversation import Conversation, ConversationLabel
from voxsig.models.inbox import Inbox
from voxsig.models.invitation import Invitation
from voxsig.models.message import Message
from voxsig.models.session import DashboardSession
from voxsig.models.user import AccessToken, AccountUser, User
from voxsig.models.webhook import Delivery, DeliveryAttempt, Event, Webhook, Worker

__all__ = [
    "AccessToken",
    "Account",
    "AccountUser",
    "AgentBot",
    "Attachment",
    "Base",
    "Contact",
    "ContactInbox",
    "Conversation",
    "ConversationLabel",
    "DashboardSession",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "Inbox",
    "Invitation",
    "Message",
    "User",
    "Webhook",
    "Worker",
]
