"""In-process: the URL normaliser (outbox/target.py) and the address rules (netguard.py).
The HTTP suite is tests/test_ssrf.py; these pin the pieces, and fuzz the normaliser so that no
URL string makes it raise anything but BadURL (a 422), finding 11."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from yarl import URL

from voxsig.outbox.netguard import is_allowed, parse_networks
from voxsig.outbox.target import BadURL, parse
from voxsig.outbox.transport import Blocked, GuardedSockets, Transport, classify
from voxsig.webhooks.schemas import WebhookCreate

LOOPBACK_SPELLINGS = [
    "127.0.0.\U0001fbf1",
    "\U0001fbf1\U0001fbf2\U0001fbf7.\U0001fbf0.\U0001fbf0.\U0001fbf1",
    "\U0001d7cf\U0001d7d0\U0001d7d5.0.0.\U0001d7cf",  # mathematical bold
    "\U0001d7ed\U0001d7ee\U0001d7f3.0.0.1",  # mathematical sans-serif bold
    "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",  # fullwidth, U+FF0E
    "\u00b9\u00b2\u2077.\u2070.\u2070.\u00b9",  # superscript
    "\u2081\u2082\u2087.0.0.1",  # subscript
    "\u2460\u2461\u2466.\u24ea.\u24ea.\u2460",  # circled
    "127\u30020\u30020\u30021",  # ideographic full stop
    "127\uff610\uff610\uff611",  # halfwidth ideographic full stop
    "127.0.0.1.",
    "127.0.0.\U0001fbf1.",
    "2130706433",
    "0x7f000001",
    "0X7F.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0177.1",
    "017700000001",
    "127.1",
    "127.0.1",
    "\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13",  # fullwidth 2130706433
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_an_ip_literal_127_0_0_1(host: str) -> None:
    target = parse(f"http://{host}:8799/x?q=1")
    assert target.ip == ipaddress.IPv4Address("127.0.0.1")
    assert target.text == "http://127.0.0.1:8799/x?q=1"
    assert not is_allowed(str(target.ip))
    assert is_allowed(str(target.ip), parse_networks("127.0.0.0/8"))


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_the_host_checked_is_the_host_the_client_connects_to(host: str) -> None:
    """yarl is what aiohttp sends with: its host for the stored URL is the vetted one."""
    target = parse(f"http://{host}/")
    assert URL(target.text).raw_host == target.host == "127.0.0.1"


def test_names_follow_uts46_as_the_client_does_not_idna_2003() -> None:
    assert "fa\u00df.example".encode("idna") == b"fass.example"  # Python's codec
    assert parse("http://fa\u00df.example/").host == "xn--fa-hia.example"  # what is sent to
    assert parse("http://\uff28\uff2f\uff2f\uff2b\uff33\uff0eexample/").host == "hooks.example"
    assert parse("http://HOOKS.Example./").host == "hooks.example."


@pytest.mark.parametrize(
    "url",
    [
        "http://a..example.com/",
        "http://" + "a" * 64 + ".example.com/",
        "http://" + ".".join(["a" * 63] * 4) + "/",  # 255 characters
        "http://example.com../",
        "http://./",
        "http://../",
        "http://127.0.0.1%2f/",
        "http://%31%32%37.0.0.1/",
        "http://a$b.example/",
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://1.2.3.256/",
        "http://1.16777216/",
        "http://4294967296/",
        "http://08.0.0.1/",
        "http://0x1g.0.0.1/",
        "http://a.1/",
        "http://example.0x/",
        "http://[fe80::1%25eth0]/",
        "http://xn--/",
        "http://xn--a.example/",
        "http://\u0661\u0662\u0667.0.0.1/",  # Arabic-Indic digits stay letters: not a number
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://[::1/",
        "ftp://example.com/",
        "javascript:alert(1)",
        "//example.com/",
        "/relative",
        "",
        "http://",
        "http://" + "a" * 2040 + ".example/",
    ],
)
def test_a_url_no_client_could_use_is_bad(url: str) -> None:
    with pytest.raises(BadURL):
        parse(url)
    with pytest.raises(ValidationError) as refused:
        WebhookCreate.model_validate({"url": url, "subscriptions": ["message_created"]})
    assert [err["loc"] for err in refused.value.errors()] == [("url",)]


def test_the_longest_name_is_accepted() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert parse(f"http://{name}/").host == name
    assert parse(f"http://{name}./").host == f"{name}."


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1 (finding 14)
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of the metadata address
        ("2002:808:808::", True),  # 6to4 of a public address
        ("2001:0:808:808::80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::8.8.8.8", True),
        ("::ffff:0:127.0.0.1", False),  # SIIT
        ("::ffff:0:8.8.8.8", True),
        ("64:ff9b::127.0.0.1", False),  # NAT64
        ("64:ff9b::8.8.8.8", True),
        ("64:ff9b:1::8.8.8.8", False),  # local-use NAT64: the operator's own networks
        ("2001:4860::5efe:a00:1", False),  # ISATAP, 10.0.0.1
        ("2001:4860::200:5efe:808:808", True),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("2606:4700:4700::1111", True),
        ("8.8.8.8", True),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.1.2.3", False),  # "this network"
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("not an address", False),
    ],
)
def test_which_addresses_are_reachable(address: str, allowed: bool) -> None:
    assert is_allowed(address) is allowed


def test_allowed_networks_also_open_their_ipv6_forms() -> None:
    loopback = parse_networks("127.0.0.0/8")
    assert is_allowed("::ffff:127.0.0.1", loopback)
    assert is_allowed("2002:7f00:1::", loopback)
    assert not is_allowed("::1", loopback)
    assert is_allowed("64:ff9b:1::a", parse_networks("64:ff9b:1::/48"))


# -- the transport's last check, below the URL pre-check -----------------------------------------


def test_the_socket_factory_refuses_a_forbidden_address() -> None:
    factory = GuardedSockets(())
    for address in [("127.0.0.1", 80), ("::ffff:127.0.0.1", 80, 0, 0), ("2002:7f00:1::", 80, 0, 0)]:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with pytest.raises(Blocked):
            factory((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address))
    allowed = GuardedSockets(parse_networks("127.0.0.0/8"))
    made = allowed((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80)))
    made.close()


def test_the_client_itself_refuses_an_ip_literal_that_skips_the_pre_check() -> None:
    """aiohttp never resolves an IP literal; the socket factory still sees the address."""

    async def run() -> str:
        transport = Transport()
        try:
            async with transport._client().post(URL("http://127.0.0.1:9/x")):
                return "sent"
        except Exception as exc:
            return classify(exc)[0]
        finally:
            await transport.close()

    assert asyncio.run(run()) == "ssrf_blocked"


def test_post_refuses_a_stored_url_in_any_spelling_of_loopback() -> None:
    async def run(url: str) -> str | None:
        transport = Transport()
        try:
            return (await transport.post(url, b"{}", {})).error_class
        finally:
            await transport.close()

    for host in [*LOOPBACK_SPELLINGS, "[2002:7f00:1::]", "a..b.example"]:
        assert asyncio.run(run(f"http://{host}:9/x")) == "ssrf_blocked", host


# -- fuzz: any string is either a Target or a BadURL, and parsing is idempotent -------------------

HOST_PIECES = [
    "a", "A", "0", "1", "9", "127", "255", "256", "0x", "0x7f", "0177", "08", "xn--", "xn--zca",
    "-", "_", "%", "%2e", "$", "@", ":", "[", "]", " ", "\t", "\x00", "ß", "ü", "\u200d",
    "\U0001fbf1", "\uff11", "\u00b9", "\u2460", "\U0001d7cf", "\u0661", "\u3002", "\uff0e",
    "\uff61", "\u2488", "\ufe52", "a" * 63, "a" * 64, "::", "::1", "ffff", "2002", "%25",
]  # fmt: skip
SEPARATORS = [".", "", "..", "\u3002", "\uff0e", "\uff61", ":", "/"]


def _fuzz_hosts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    hosts = []
    for _ in range(count):
        parts = [rng.choice(HOST_PIECES) for _ in range(rng.randint(1, 6))]
        host = ""
        for part in parts:
            host += part + rng.choice(SEPARATORS)
        hosts.append(host if rng.random() < 0.8 else f"[{host}]")
    return hosts


def _parses_or_refuses(url: str) -> None:
    try:
        target = parse(url)
    except BadURL:
        return
    again = parse(target.text)
    assert again == target, url
    assert target.host.isascii()
    assert len(target.text) <= 2048
    if target.ip is None:
        assert all(0 < len(label) <= 63 for label in target.host.rstrip(".").split("."))


@pytest.mark.parametrize("host", _fuzz_hosts(600, seed=11))
def test_odd_hosts_are_valid_or_bad_never_an_error(host: str) -> None:
    _parses_or_refuses(f"http://{host}:8080/x")
    _parses_or_refuses(f"https://{host}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text_as_a_host_is_valid_or_bad(host: str) -> None:
    _parses_or_refuses(f"http://{host}/")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_as_a_url_is_valid_or_bad(url: str) -> None:
    _parses_or_refuses(url)
