"""A web widget inbox's website URL: the address of the site the widget lives on, shown to
agents, to the widget and on the preview page. It is never fetched, so it needs no network
checks, only to be a real http(s) address of a host.

A URL typed without a scheme ("acme.example/shop") is the https:// one, as browsers' address
bars read it; anything that is still not an http(s) URL of a host is refused, with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from yarl import URL

LABEL = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MAX_LENGTH = 1024  # the column's


def normalise_website_url(raw: str) -> str:
    """The URL to store: `raw` with https:// when it had no scheme, or "" for none. Raises
    ValueError saying what is wrong with anything else."""
    text = raw.strip()
    if not text:
        return ""
    if text.startswith("//"):
        text = "https:" + text
    elif not SCHEME.match(text):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d)", text) and not _host_port(text):
            raise ValueError("must be an http:// or https:// address, like https://acme.example")
        text = "https://" + text
    try:
        url = URL(text)
        host = url.raw_host or ""
        url.host  # noqa: B018  (an xn-- label yarl cannot decode is refused here)
    except (ValueError, TypeError):  # UnicodeError (IDNA) is a ValueError
        raise ValueError(
            "is not a web address: write it like https://acme.example or acme.example"
        ) from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// address, like https://acme.example")
    if not _is_host(host):
        raise ValueError(
            f"has no valid host name ({host[:60] or 'none'}): write it like "
            "https://acme.example or acme.example"
        )
    if len(text) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters with its https://")
    return text


def website_host(stored: str) -> str:
    """The host to name the site by, "" when there is none; rows saved before normalisation may
    lack the scheme, so they are read as browsers read them."""
    text = stored.strip()
    if text and not SCHEME.match(text) and not text.startswith("//"):
        text = "//" + text
    try:
        return urlsplit(text).hostname or ""
    except ValueError:
        return ""


def _host_port(text: str) -> bool:
    """ "acme.example:8080/x" has a colon but no scheme: a host and a port."""
    head = text.split("/", 1)[0]
    name, _, port = head.rpartition(":")
    return bool(name) and port.isdigit()


def _is_host(host: str) -> bool:
    """An IP address, localhost, or a DNS name of at least two labels."""
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.lower().rstrip(".").split(".")
    if labels == ["localhost"]:
        return True
    return len(labels) >= 2 and all(LABEL.fullmatch(label) for label in labels)
