"""A resolver a test can change under a running Voxsig: put this folder on the server's
PYTHONPATH and FAKE_DNS_FILE in its environment. The file is JSON, {"name": ["address", ...]},
read at every lookup; a listed name with no address does not resolve (as NXDOMAIN), names not
listed go to the real resolver. This is how a test makes a name that resolves to a public
address (or to nothing) when the webhook is saved, and to loopback when it is sent.

uvloop resolves in C (libuv asks libc directly), past socket.getaddrinfo: it is hidden, so the
server runs asyncio's own loop, whose resolver calls socket.getaddrinfo at every lookup."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

_FILE = os.environ.get("FAKE_DNS_FILE")
_real_getaddrinfo = socket.getaddrinfo


def _table() -> dict[str, list[str]]:
    assert _FILE is not None
    with open(_FILE, encoding="utf-8") as handle:
        table: dict[str, list[str]] = json.load(handle)
    return table


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
    if isinstance(host, str):
        host = host.encode("idna")  # what socket.getaddrinfo does with a str (IDNA 2003)
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else ""
    addresses = _table().get(name.lower().rstrip("."))
    if addresses is None:
        return _real_getaddrinfo(host, port, *args, **kwargs)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    found: list[Any] = []
    for address in addresses:
        found.extend(_real_getaddrinfo(address, port, *args, **kwargs))
    return found


if _FILE:
    sys.modules["uvloop"] = None  # type: ignore[assignment]  (import uvloop now fails)
    socket.getaddrinfo = _getaddrinfo
