"""Which addresses a webhook may reach: public ones, plus the networks the operator allows.

Refused: loopback, private, link-local (cloud metadata 169.254.169.254 included), CGNAT,
multicast, reserved, unspecified and unique-local IPv6, also when hidden in an IPv4-mapped
(::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@lru_cache(maxsize=16)
def parse_networks(spec: str) -> tuple[IPNetwork, ...]:
    """`VOXSIG_WEBHOOK_ALLOWED_NETWORKS`: comma-separated CIDRs."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address really points at, if it wraps one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_allowed(address: str, allowed: tuple[IPNetwork, ...] = ()) -> bool:
    try:
        ip = embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    if any(ip.version == net.version and ip in net for net in allowed):
        return True
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
