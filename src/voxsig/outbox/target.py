"""A webhook URL as the HTTP client will see it, worked out once.

aiohttp sends with yarl, and yarl maps the host through UTS 46: Unicode digits and full stops
(segmented, mathematical, fullwidth, superscript, circled digits; U+3002, U+FF0E, U+FF61)
become ASCII, letters are lower-cased and IDNA-encoded. Any other mapping (Python's IDNA 2003
codec, `urlsplit`) can see another host than the one connected to, so `parse` asks yarl itself,
and the one host it returns is what is validated, stored, vetted and connected to.

On top of yarl, what aiohttp would otherwise hand to `getaddrinfo` as a name is made exact:
a host ending in a number is an IPv4 address (the WHATWG URL rule: `2130706433`, `0x7f.1`,
`0177.0.0.1` all mean 127.0.0.1) and is rewritten in dotted decimal; any other host must be
a DNS name of 1-63 character labels (letters, digits, `-`, `_`), at most 253 characters plus
one optional trailing dot.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from yarl import URL

from voxsig.outbox.netguard import IPAddress

MAX_URL = 2048
MAX_NAME = 253
LABEL = re.compile(r"[a-z0-9_-]{1,63}")
NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class BadURL(ValueError):
    """Not a URL a webhook can be sent to; the message completes "url ..."."""


@dataclass(frozen=True)
class Target:
    url: URL
    host: str  # ASCII: a DNS name, or an IP address without brackets
    ip: IPAddress | None  # set when the host is an IP address (aiohttp does not resolve it)

    @property
    def text(self) -> str:
        """The URL to store and show: exactly what `parse` of it gives back."""
        return str(self.url)


def parse(raw: str) -> Target:
    try:
        url = URL(raw)
        host = url.raw_host
        url.host  # noqa: B018  (decodes xn-- labels: a host yarl cannot show is refused here)
    except (ValueError, TypeError) as exc:  # UnicodeError (IDNA) is a ValueError
        raise BadURL(f"is not a valid URL: {_reason(exc)}") from exc
    if url.scheme not in ("http", "https") or not host:
        raise BadURL("must be an absolute http:// or https:// URL")
    if ":" in host:
        target = Target(url, host, _ipv6(host))
    else:
        labels = host.split(".")
        if labels[-1] == "" and len(labels) > 1:
            labels.pop()  # one trailing dot: a fully qualified name
        if NUMBER.fullmatch(labels[-1]):
            ip = _ipv4(labels)
            target = Target(url.with_host(str(ip)), str(ip), ip)
        else:
            _check_name(host, labels)
            target = Target(url, host, None)
    if len(target.text) > MAX_URL:
        raise BadURL(f"must be at most {MAX_URL} characters once normalised")
    return target


def normalise(raw: str) -> str:
    return parse(raw).text


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _ipv6(host: str) -> IPAddress:
    # A zone (fe80::1%25eth0) picks an interface of this machine: never a webhook's business.
    if "%" in host:
        raise BadURL("must not name an IPv6 zone (%)")
    try:
        return ipaddress.IPv6Address(host)
    except ValueError as exc:
        raise BadURL(f"host [{host[:60]}] is not a valid IPv6 address") from exc


def _ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """WHATWG's IPv4 parser: 1-4 parts, each decimal, 0x hex or 0-prefixed octal; the last
    part fills the remaining bytes."""
    invalid = BadURL(f"host {'.'.join(labels)} ends in a number but is not an IPv4 address")
    if len(labels) > 4:
        raise invalid
    numbers = [_number(label, invalid) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(label: str, invalid: BadURL) -> int:
    if not NUMBER.fullmatch(label):  # also keeps int()'s signs, spaces and "_" out
        raise invalid
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:] or "0", 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    try:
        return int(digits, base)
    except ValueError:  # 8 or 9 in an octal part
        raise invalid from None


def _check_name(host: str, labels: list[str]) -> None:
    bad = next((label for label in labels if not LABEL.fullmatch(label)), None)
    if bad is not None:
        what = "an empty label" if bad == "" else f"the label {bad[:70]!r}"
        raise BadURL(
            f"host {host[:100]} has {what}: a DNS name is labels of 1-63 letters, digits, "
            "'-' or '_', separated by single dots"
        )
    if len(".".join(labels)) > MAX_NAME:
        raise BadURL(f"host must be at most {MAX_NAME} characters")
