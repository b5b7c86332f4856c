"""Rate limits for strangers: every request of the public client API per client address (the
widget's numbers), and new contacts per address, shared by both ways a stranger makes one (the
public API's POST contacts and the widget's first POST config): each writes a contact and a
contact_inbox, so one script must not make them by the thousand. Typing toggles, which queue
deliveries, are limited per visitor (both ways too), and so are messages with files, each of
which may fill the store with up to a message's worth of bytes.

The buckets live on the app (`kit/ratelimit.py`: per process, bounded memory). A route that
checks them must use `LimitedRoute`, which adds `Retry-After` to the 429.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from voxsig.kit.ratelimit import RateLimited, TokenBuckets, check

PER_ADDRESS = (600, 10.0)  # burst, then requests per second (the widget's per-IP limit)
# An office behind one address starts a few new visitors a minute; a script, thousands.
NEW_CONTACTS = (100, 1.0)
# Typing toggles per visitor (contact_inbox): each one queues a delivery per subscribed
# endpoint, and a debounced client sends about two per burst of typing.
TYPING = (20, 0.5)
# Messages with files per visitor (contact_inbox), on top of the request limits: a person
# sends a few screenshots in a row, not a file a second for minutes.
UPLOADS = (20, 0.2)


@dataclass
class Limits:
    per_address: TokenBuckets
    new_contacts: TokenBuckets
    typing: TokenBuckets
    uploads: TokenBuckets


def _limits(request: Request) -> Limits:
    limits: Limits | None = getattr(request.app.state, "public_limits", None)
    if limits is None:
        limits = Limits(
            TokenBuckets(*PER_ADDRESS),
            TokenBuckets(*NEW_CONTACTS),
            TokenBuckets(*TYPING),
            TokenBuckets(*UPLOADS),
        )
        request.app.state.public_limits = limits
    return limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def check_address(request: Request) -> None:
    """Any public API request: before any database work."""
    check(_limits(request).per_address, client_address(request), "address")


def check_new_contact(request: Request) -> None:
    """A stranger is about to make a contact (429 past the limit)."""
    wait = _limits(request).new_contacts.take(client_address(request))
    if wait > 0:
        raise RateLimited(wait, "Too many new contacts from this address")


def check_typing(request: Request, contact_inbox_id: int) -> None:
    """A visitor toggles typing (public API and widget): 429 past the limit."""
    wait = _limits(request).typing.take(str(contact_inbox_id))
    if wait > 0:
        raise RateLimited(wait, "Too many typing updates from this contact")


def check_upload(request: Request, contact_inbox_id: int) -> None:
    """A visitor sends a message as multipart/form-data (public API and widget), before its
    body is read: 429 past the limit."""
    wait = _limits(request).uploads.take(str(contact_inbox_id))
    if wait > 0:
        raise RateLimited(wait, "Too many messages with files from this contact")
