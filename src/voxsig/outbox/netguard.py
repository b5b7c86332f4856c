"""Which addresses a webhook may reach: public ones, plus the networks the operator allows.

Refused: loopback, private, link-local (cloud metadata 169.254.169.254 included), CGNAT,
multicast, reserved, unspecified and unique-local IPv6. An IPv6 address that carries an IPv4
one is judged by that IPv4 address too: translated forms (IPv4-mapped ::ffff:a.b.c.d,
IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d, NAT64 64:ff9b::a.b.c.d) stand for it, and
tunnelled forms (6to4 2002:aabb:ccdd::/48, Teredo 2001::/32, ISATAP ::5efe:a.b.c.d) lead to
it, so 6to4 of 127.0.0.1 is refused like 127.0.0.1. Local-use NAT64 (64:ff9b:1::/48, RFC 8215)
translates into the operator's own networks and is refused unless allowed.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Forms whose last 32 bits are the IPv4 address the packet goes to.
TRANSLATED = tuple(
    ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # bits 64-95 of an ISATAP interface identifier


@lru_cache(maxsize=16)
def parse_networks(spec: str) -> tuple[IPNetwork, ...]:
    """`VOXSIG_WEBHOOK_ALLOWED_NETWORKS`: comma-separated CIDRs."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


def translated_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is a translated form."""
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in TRANSLATED):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def tunnelled_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a tunnelled IPv6 address leads to (6to4, Teredo, ISATAP)."""
    found = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo is not None:
        found.extend(ip.teredo)  # the server, and the client (stored XOR 0xffffffff)
    if (int(ip) >> 32) & 0xFFFFFFFF in ISATAP_IDS:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _public(ip: IPAddress) -> bool:
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and ip not in LOCAL_NAT64


def _in(ip: IPAddress, allowed: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in allowed)


def address_allowed(ip: IPAddress, allowed: tuple[IPNetwork, ...] = ()) -> bool:
    if _in(ip, allowed):
        return True
    inner = translated_ipv4(ip)
    if inner is not None:
        return _in(inner, allowed) or _public(inner)
    if not _public(ip):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(_in(v4, allowed) or _public(v4) for v4 in tunnelled_ipv4(ip))
    return True


def is_allowed(address: str, allowed: tuple[IPNetwork, ...] = ()) -> bool:
    """`address` as a resolver or a socket gives it (an IPv6 zone, `%eth0`, is ignored)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return address_allowed(ip, allowed)
