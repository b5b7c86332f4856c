"""Contacts within one account, and the contact_inbox that ties a contact to an inbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxsig.errors import Invalid, Unauthorized
from voxsig.events import emit
from voxsig.files.lifecycle import forget_contact_files
from voxsig.kit.json_limits import size_problem
from voxsig.kit.search import ESCAPE, contains
from voxsig.kit.signatures import hmac_matches
from voxsig.kit.tokens import new_uuid
from voxsig.models import Contact, ContactInbox, Inbox
from voxsig.tenancy import owned

PAGE_SIZE = 15
UNIQUE_FIELDS = ("email", "identifier", "phone_number")
# The attributes whose changes fire contact_updated, as the contact's payload names them
# (avatar is the column avatar_url), in the order reported.
TRACKED = {
    "name": "name",
    "email": "email",
    "phone_number": "phone_number",
    "identifier": "identifier",
    "avatar": "avatar_url",
    "custom_attributes": "custom_attributes",
    "additional_attributes": "additional_attributes",
}


def _tracked(contact: Contact) -> dict[str, Any]:
    """The tracked attributes in their payload form (views.payloads.contact_json)."""
    values = {key: getattr(contact, column) for key, column in TRACKED.items()}
    values["custom_attributes"] = values["custom_attributes"] or {}
    values["additional_attributes"] = values["additional_attributes"] or {}
    return values


async def _report(session: AsyncSession, contact: Contact, before: dict[str, Any]) -> None:
    """contact_updated with what really changed since `before` (nothing, no event)."""
    after = _tracked(contact)
    changes = {k: (before[k], after[k]) for k in TRACKED if before[k] != after[k]}
    await emit.contact_updated(session, contact, changes)


async def get_contact(session: AsyncSession, account_id: int, contact_id: int) -> Contact:
    return await owned(session, Contact, account_id, contact_id)


def _search(account_id: int, q: str | None) -> Any:
    query = select(Contact).where(Contact.account_id == account_id)
    if q:
        pattern = contains(q.lower())
        query = query.where(
            or_(
                func.lower(Contact.name).like(pattern, escape=ESCAPE),
                func.lower(Contact.email).like(pattern, escape=ESCAPE),
                Contact.phone_number.like(contains(q), escape=ESCAPE),
                func.lower(Contact.identifier).like(pattern, escape=ESCAPE),
            )
        )
    return query


async def list_contacts(
    session: AsyncSession, account_id: int, page: int, q: str | None = None
) -> tuple[int, list[Contact]]:
    query = _search(account_id, q)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Contact.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    return total, list(rows)


async def _check_unique(
    session: AsyncSession,
    account_id: int,
    fields: dict[str, Any],
    contact_id: int | None = None,
    keys: tuple[str, ...] = UNIQUE_FIELDS,
) -> None:
    """Agents' rule: no two contacts share an e-mail, phone or identifier. Anonymous contacts
    do not count (a stranger typing a customer's e-mail must not block agents from using it)."""
    for key in keys:
        value = fields.get(key)
        if not value:
            continue
        column = getattr(Contact, key)
        query = select(Contact.id).where(
            Contact.account_id == account_id, column == value, Contact.anonymous.is_(False)
        )
        if contact_id is not None:
            query = query.where(Contact.id != contact_id)
        if await session.scalar(query.limit(1)):
            raise Invalid(f"{key.replace('_', ' ').capitalize()} has already been taken", field=key)


def _unique_keys(anonymous: bool, by_visitor: bool) -> tuple[str, ...]:
    """What a write is checked against other contacts for. A visitor's own e-mail and phone
    never are: "already taken" would tell a stranger who is a customer. An anonymous contact's
    identifier is only a claim, so it is not checked either; a verified one is."""
    if anonymous:
        return ()
    return ("identifier",) if by_visitor else UNIQUE_FIELDS


async def create_contact(
    session: AsyncSession,
    account_id: int,
    fields: dict[str, Any],
    *,
    anonymous: bool = False,
    by_visitor: bool = False,
) -> Contact:
    """A contact; `anonymous` for one a stranger makes, `by_visitor` when the values come from
    the (verified) customer rather than an agent."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if fields.get("email"):
        fields["email"] = fields["email"].lower()
    await _check_unique(session, account_id, fields, keys=_unique_keys(anonymous, by_visitor))
    contact = Contact(account_id=account_id, anonymous=anonymous, **fields)
    session.add(contact)
    await session.flush()
    await emit.contact_created(session, contact)
    return contact


async def update_contact(
    session: AsyncSession, contact: Contact, fields: dict[str, Any], *, by_visitor: bool = False
) -> Contact:
    """Applies `fields`; `by_visitor` when the contact itself writes (widget, public API)."""
    if fields.get("email"):
        fields["email"] = fields["email"].lower()
    keys = _unique_keys(contact.anonymous, by_visitor)
    await _check_unique(session, contact.account_id, fields, contact.id, keys)
    before = _tracked(contact)
    for key, value in fields.items():
        if key in ("custom_attributes", "additional_attributes"):
            value = {**getattr(contact, key), **(value or {})}
            # Each request is within the limit; what they add up to must be as well.
            if reason := size_problem(value):
                raise Invalid(f"{reason} (with the attributes already stored)", field=key)
        elif value is None and key in ("name", "avatar_url"):
            value = ""  # null clears them, as it clears the nullable fields (never stored null)
        setattr(contact, key, value)
    await session.flush()
    await _report(session, contact, before)
    return contact


async def replace_attributes(
    session: AsyncSession, contact: Contact, key: str, value: dict[str, Any]
) -> None:
    """Sets `custom_attributes` or `additional_attributes` to exactly `value` (removing keys,
    which update_contact's merge cannot), with contact_updated if that changed them."""
    assert key in ("custom_attributes", "additional_attributes"), key
    before = _tracked(contact)
    setattr(contact, key, value)
    await session.flush()
    await _report(session, contact, before)


# additional_attributes key of an anonymous contact whose browser later logged in (verified):
# the id of the customer's contact. Agents see it; the contact stays apart (docs/security.md).
IDENTIFIED_AS = "identified_as"


async def note_identified_as(session: AsyncSession, anonymous: Contact, customer: Contact) -> None:
    noted = {**(anonymous.additional_attributes or {}), IDENTIFIED_AS: customer.id}
    await replace_attributes(session, anonymous, "additional_attributes", noted)


async def identified_as(session: AsyncSession, contact: Contact) -> Contact | None:
    """The customer an anonymous contact's browser logged in as, if it did (and still exists)."""
    target = (contact.additional_attributes or {}).get(IDENTIFIED_AS)
    if not contact.anonymous or not isinstance(target, int) or isinstance(target, bool):
        return None
    return await session.scalar(
        select(Contact).where(Contact.id == target, Contact.account_id == contact.account_id)
    )


async def before_login(session: AsyncSession, customer: Contact) -> list[Contact]:
    """The anonymous contacts (chats before a login) whose browsers later logged in as
    `customer`, newest first."""
    if customer.anonymous:
        return []
    rows = await session.scalars(
        select(Contact)
        .where(
            Contact.account_id == customer.account_id,
            Contact.anonymous.is_(True),
            Contact.additional_attributes[IDENTIFIED_AS].as_integer() == customer.id,
        )
        .order_by(Contact.id.desc())
        .limit(20)
    )
    return list(rows)


async def delete_contact(session: AsyncSession, contact: Contact) -> None:
    await forget_contact_files(session, contact.id)  # its messages' files go after the commit
    await session.delete(contact)
    await session.flush()


async def link_to_inbox(
    session: AsyncSession,
    contact: Contact,
    inbox: Inbox,
    source_id: str | None = None,
    hmac_verified: bool = False,
) -> ContactInbox:
    """The contact's identity in `inbox`: `source_id` if given (unique there), else a UUID."""
    if source_id:
        taken = await session.scalar(
            select(ContactInbox).where(
                ContactInbox.inbox_id == inbox.id, ContactInbox.source_id == source_id
            )
        )
        if taken is not None:
            if taken.contact_id == contact.id:
                return taken
            raise Invalid(
                "source_id is already used by another contact of this inbox", field="source_id"
            )
    link = ContactInbox(
        contact_id=contact.id,
        inbox_id=inbox.id,
        source_id=source_id or new_uuid(),
        hmac_verified=hmac_verified,
    )
    session.add(link)
    await session.flush()
    return link


async def find_contact_inbox(
    session: AsyncSession, inbox_id: int, source_id: str
) -> ContactInbox | None:
    return await session.scalar(
        select(ContactInbox).where(
            ContactInbox.inbox_id == inbox_id, ContactInbox.source_id == source_id
        )
    )


async def contact_inbox_for(
    session: AsyncSession, contact_id: int, inbox_id: int
) -> ContactInbox | None:
    return await session.scalar(
        select(ContactInbox)
        .where(ContactInbox.contact_id == contact_id, ContactInbox.inbox_id == inbox_id)
        .order_by(ContactInbox.id.desc())
        .limit(1)
    )


async def verified_customer(
    session: AsyncSession, account_id: int, identifier: str
) -> Contact | None:
    """The contact a verified login with `identifier` is: never an anonymous one, whose
    identifier is only what some visitor typed."""
    return await session.scalar(
        select(Contact)
        .where(
            Contact.account_id == account_id,
            Contact.identifier == identifier,
            Contact.anonymous.is_(False),
        )
        .order_by(Contact.id)
        .limit(1)
    )


async def verified_link(session: AsyncSession, contact: Contact, inbox: Inbox) -> ContactInbox:
    """The contact's verified contact_inbox in `inbox`, made if none. Only verified logins
    ever get a token for it: a link a visitor used before verifying is never reused, so
    nothing an unverified token can read ever becomes the customer's."""
    link = await session.scalar(
        select(ContactInbox)
        .where(
            ContactInbox.contact_id == contact.id,
            ContactInbox.inbox_id == inbox.id,
            ContactInbox.hmac_verified.is_(True),
        )
        .order_by(ContactInbox.id.desc())
        .limit(1)
    )
    return link or await link_to_inbox(session, contact, inbox, hmac_verified=True)


async def inbox_links(
    session: AsyncSession, contacts: Sequence[Contact]
) -> dict[int, list[tuple[ContactInbox, Inbox]]]:
    if not contacts:
        return {}
    rows = await session.execute(
        select(ContactInbox, Inbox)
        .join(Inbox, Inbox.id == ContactInbox.inbox_id)
        .where(ContactInbox.contact_id.in_([c.id for c in contacts]))
        .order_by(ContactInbox.id)
    )
    out: dict[int, list[tuple[ContactInbox, Inbox]]] = {}
    for link, inbox in rows:
        out.setdefault(link.contact_id, []).append((link, inbox))
    return out


def verify_identity(inbox: Inbox, identifier: str | None, identifier_hash: str | None) -> bool:
    """Identity verification (public API and widget): True for a correct
    HMAC-SHA256(inbox.hmac_token, identifier); a wrong hash is always refused, and no hash is
    refused when the inbox requires verification."""
    if identifier and identifier_hash:
        if hmac_matches(inbox.hmac_token, identifier, identifier_hash):
            return True
        raise Unauthorized("identifier_hash does not match the identifier")
    if inbox.hmac_mandatory:
        raise Unauthorized(
            "This inbox requires identity verification: send identifier and identifier_hash"
        )
    return False
