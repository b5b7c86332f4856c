"""The SSRF guard over HTTP (issue 11, findings 1, 11, 14). A Voxsig that may NOT reach loopback
(VOXSIG_WEBHOOK_ALLOWED_NETWORKS empty, unlike the default test server) with its in-process
worker, a resolver the test can change under it (tests/support/fake_dns), and a real receiver
on 127.0.0.1 that must receive nothing. Every host form the HTTP client (yarl/aiohttp) would
turn into a loopback address is refused on save (REST create and PATCH, the dashboard form)
and, when it is in the database anyway or DNS changes later, at send time by the guard (the
delivery log shows `ssrf_blocked`, never the receiver's answer)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import SRC, VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient, create_account, unique_email
from tests.support.receiver import Receiver

FAKE_DNS = Path(__file__).parent / "support" / "fake_dns"
PUBLIC = "93.184.216.34"  # a public address: what a name resolves to when it is saved
EVENT = "conversation_created"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# Hosts the client reaches as 127.0.0.1 (or another refused address). "{port}" is the receiver.
LOOPBACK_FORMS = {
    "segmented digit one (the report)": "127.0.0.\U0001fbf1",
    "segmented digits": "\U0001fbf1\U0001fbf2\U0001fbf7.\U0001fbf0.\U0001fbf0.\U0001fbf1",
    "mathematical bold digits": "\U0001d7cf\U0001d7d0\U0001d7d5.\U0001d7ce.\U0001d7ce.\U0001d7cf",
    "mathematical monospace digits": "\U0001d7f7\U0001d7f8\U0001d7fd.0.0.\U0001d7f7",
    "fullwidth digits and full stops": "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",
    "superscript digits": "\u00b9\u00b2\u2077.\u2070.\u2070.\u00b9",
    "circled digits": "\u2460\u2461\u2466.\u24ea.\u24ea.\u2460",
    "ideographic full stops": "127\u30020\u30020\u30021",
    "halfwidth ideographic full stops": "127\uff610\uff610\uff611",
    "trailing dot": "127.0.0.1.",
    "decimal integer": "2130706433",
    "hex integer": "0x7f000001",
    "hex and short": "0x7f.1",
    "octal": "0177.0.0.1",
    "short form": "127.1",
    "fullwidth letters": "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",
    "upper case name": "LOCALHOST",
    "IPv6 loopback": "[::1]",
    "IPv4-mapped": "[::ffff:127.0.0.1]",
    "IPv4-compatible": "[::127.0.0.1]",
    "SIIT": "[::ffff:0:127.0.0.1]",
    "6to4 (finding 14)": "[2002:7f00:1::]",
    "Teredo, client 127.0.0.1": "[2001:0:808:808::80ff:fffe]",
    "local-use NAT64": "[64:ff9b:1::7f00:1]",
    "NAT64": "[64:ff9b::127.0.0.1]",
}
# Hosts that are no URL a client could use: a 422 naming url, never a 500 (finding 11).
MALFORMED = {
    "empty label": "a..example.com",
    "label over 63": "a" * 64 + ".example.com",
    "two trailing dots": "example.com..",
    "percent in host": "127.0.0.1%2f",
    "ends in a bad number": "1.2.3.4.5",
    "octal 8": "08.0.0.1",
    "IPv6 zone": "[fe80::1%25eth0]",
    "bad punycode": "xn--",
}


@dataclass
class Guarded:
    """The guarded Voxsig, its database and the resolver the test controls."""

    server: VoxsigServer
    database_url: str
    dns_file: Path

    def resolve(self, table: dict[str, list[str]]) -> None:
        """From now on, these names resolve to these addresses ([] = not at all)."""
        scratch = self.dns_file.with_suffix(".tmp")
        scratch.write_text(json.dumps(table))
        os.replace(scratch, self.dns_file)

    def account(self) -> ApiClient:
        credentials = create_account(self.database_url, "SSRF", unique_email())
        return ApiClient(self.server.url, credentials)


@pytest.fixture(scope="module")
def guarded(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    work = tmp_path_factory.mktemp(f"ssrf-{backend.name}")
    pg_name = "voxsig_ssrf"
    if backend.cluster is not None:
        backend.cluster.drop_database(pg_name)
        url = backend.cluster.create_database(pg_name)
    else:
        url = f"sqlite+aiosqlite:///{work / 'voxsig.db'}"
    dns_file = work / "dns.json"
    dns_file.write_text("{}")
    env = {
        "VOXSIG_WEBHOOK_ALLOWED_NETWORKS": "",
        "VOXSIG_WORKER_POLL_SECONDS": "0.2",
        "VOXSIG_WEBHOOK_RETRY_SCHEDULE": "600",
        "FAKE_DNS_FILE": str(dns_file),
        "PYTHONPATH": os.pathsep.join([str(SRC), str(FAKE_DNS)]),
    }
    server = VoxsigServer(url, work / "server", env)
    server.start()
    try:
        yield Guarded(server, url, dns_file)
    finally:
        server.stop()
        if backend.cluster is not None:
            backend.cluster.drop_database(pg_name)


@pytest.fixture
def api(guarded: Guarded) -> Iterator[ApiClient]:
    guarded.resolve({})
    client = guarded.account()
    yield client
    client.close()


def url_on(host: str, receiver: Receiver, path: str = "/ssrf") -> str:
    return f"http://{host}:{receiver.port}{path}"


def create(api: ApiClient, url: str) -> httpx.Response:
    return api.post("webhooks", json={"url": url, "subscriptions": [EVENT]})


def assert_refused_url(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["url"], response.text


def fire_event(api: ApiClient) -> None:
    inbox = api.post("inboxes", json={"name": "Hooks", "channel": {"type": "api"}})
    assert inbox.status_code == 200, inbox.text
    contact = api.post("contacts", json={"name": "Bob", "inbox_id": inbox.json()["id"]})
    assert contact.status_code == 200, contact.text
    contact_id = contact.json()["payload"]["contact"]["id"]
    made = api.post(
        "conversations", json={"inbox_id": inbox.json()["id"], "contact_id": contact_id}
    )
    assert made.status_code == 200, made.text


def first_attempt(api: ApiClient, webhook_id: int, logs: Callable[[], str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = api.get(f"webhooks/{webhook_id}/deliveries").json()["payload"]
        if listed:
            detail = api.get(f"webhooks/{webhook_id}/deliveries/{listed[0]['id']}").json()
            attempts: list[dict[str, Any]] = detail["payload"]["attempts"]
            if attempts:
                return attempts[0]
        time.sleep(0.2)
    raise AssertionError(f"no attempt for webhook {webhook_id} within 30 s\n{logs()}")


def assert_blocked_at_send(
    api: ApiClient, guarded: Guarded, receiver: Receiver, webhook_ids: dict[str, int]
) -> None:
    fire_event(api)
    for label, webhook_id in webhook_ids.items():
        attempt = first_attempt(api, webhook_id, guarded.server.log_tail)
        assert attempt["error_class"] == "ssrf_blocked", (label, attempt)
        assert attempt["response_status"] is None, (label, attempt)
        assert attempt["response_body"] == "", (label, attempt)
    assert receiver.requests() == [], "a webhook reached the receiver on loopback"
    assert "Traceback" not in guarded.server.log_tail(400)


def store_unchecked(database_url: str, account_id: int, urls: dict[str, str]) -> dict[str, int]:
    """Webhooks written straight into the database, past the save-time check (as stored before
    this fix): the send-time guard alone must hold."""
    from voxsig.db import Database
    from voxsig.models import Webhook
    from voxsig.outbox.signing import new_secret

    async def run() -> dict[str, int]:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                rows = {
                    label: Webhook(
                        account_id=account_id,
                        url=url,
                        subscriptions=[EVENT],
                        secret=new_secret(),
                    )
                    for label, url in urls.items()
                }
                session.add_all(rows.values())
                await session.flush()
                return {label: row.id for label, row in rows.items()}
        finally:
            await db.dispose()

    return asyncio.run(run())


# -- on save: REST create and PATCH -------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_FORMS.values(), ids=LOOPBACK_FORMS.keys())
def test_a_loopback_host_in_any_form_is_refused_on_create(
    api: ApiClient, receiver: Receiver, host: str
) -> None:
    response = create(api, url_on(host, receiver))
    assert_refused_url(response)
    assert "VOXSIG_WEBHOOK_ALLOWED_NETWORKS" in response.json()["message"]
    assert api.get("webhooks").json()["payload"]["webhooks"] == []


@pytest.mark.parametrize("host", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_host_is_a_422_naming_url_not_a_500(
    api: ApiClient, guarded: Guarded, host: str
) -> None:
    assert_refused_url(create(api, f"http://{host}/hook"))
    assert "Traceback" not in guarded.server.log_tail(200)


def test_patch_refuses_what_create_refuses(api: ApiClient, guarded: Guarded) -> None:
    guarded.resolve({"hooks.example": [PUBLIC]})
    made = create(api, "http://hooks.example/in")
    assert made.status_code == 200, made.text
    webhook = made.json()["payload"]["webhook"]
    for host in [*LOOPBACK_FORMS.values(), *MALFORMED.values()]:
        response = api.patch(f"webhooks/{webhook['id']}", json={"url": f"http://{host}:9/x"})
        assert_refused_url(response)
    shown = api.get(f"webhooks/{webhook['id']}").json()["payload"]["webhook"]
    assert shown["url"] == "http://hooks.example/in"


def test_the_stored_url_is_the_normalised_one(api: ApiClient, guarded: Guarded) -> None:
    # Fullwidth letters and full stops: what yarl (the client) sends to is hooks.example.
    guarded.resolve({"hooks.example": [PUBLIC]})
    made = create(api, "http://\uff28\uff2f\uff2f\uff2b\uff33\uff0eexample/in")
    assert made.status_code == 200, made.text
    assert made.json()["payload"]["webhook"]["url"] == "http://hooks.example/in"
    # ... so the same endpoint written another way is the same URL.
    assert_refused_url(create(api, "http://HOOKS.example/in"))


# -- at send time: what got into the database anyway, and DNS that changes ---------------------


def test_hosts_stored_before_the_fix_are_refused_when_sent(
    api: ApiClient, guarded: Guarded, receiver: Receiver
) -> None:
    urls = {label: url_on(host, receiver, "/stored") for label, host in LOOPBACK_FORMS.items()}
    urls.update({label: f"http://{host}/stored" for label, host in MALFORMED.items()})
    ids = store_unchecked(guarded.database_url, api.account_id, urls)
    assert_blocked_at_send(api, guarded, receiver, ids)


def test_a_name_that_turns_to_loopback_after_saving_is_refused_when_sent(
    api: ApiClient, guarded: Guarded, receiver: Receiver
) -> None:
    # DNS rebinding: public when saved; and a name that did not resolve yet when saved.
    guarded.resolve({"rebind.example": [PUBLIC], "later.example": []})
    ids = {}
    for name in ("rebind.example", "later.example"):
        made = create(api, url_on(name, receiver, "/dns"))
        assert made.status_code == 200, made.text
        ids[name] = made.json()["payload"]["webhook"]["id"]
    guarded.resolve({"rebind.example": ["127.0.0.1"], "later.example": ["127.0.0.1", "::1"]})
    assert_blocked_at_send(api, guarded, receiver, ids)


def test_a_name_resolving_to_a_private_address_when_saved_is_refused(
    api: ApiClient, guarded: Guarded, receiver: Receiver
) -> None:
    guarded.resolve({"inside.example": ["10.0.0.7"]})
    assert_refused_url(create(api, url_on("inside.example", receiver)))
    assert_refused_url(create(api, url_on("INSIDE\uff0eexample.", receiver)))


def test_the_name_resolved_on_save_is_the_clients_uts46_name_not_idna_2003s(
    api: ApiClient, guarded: Guarded, receiver: Receiver
) -> None:
    # IDNA 2003 (Python's codec, what the save check used) maps "faß" to "fass"; UTS 46 as the
    # client applies it keeps the ß: xn--fa-hia. Only the client's name is loopback here.
    guarded.resolve({"fass.example": [PUBLIC], "xn--fa-hia.example": ["127.0.0.1"]})
    assert_refused_url(create(api, url_on("fa\u00df.example", receiver)))
    ids = store_unchecked(
        guarded.database_url, api.account_id, {"faß": url_on("fa\u00df.example", receiver)}
    )
    assert_blocked_at_send(api, guarded, receiver, ids)


# -- the dashboard form ---------------------------------------------------------------------


class Dashboard:
    """Cookies and the CSRF token of one logged-in session, over plain HTTP."""

    def __init__(self, api: ApiClient) -> None:
        self.http = httpx.Client(base_url=api.url, timeout=30.0)
        self.token = self._token("/")
        login = self.http.post(
            "/login",
            data={
                "csrf_token": self.token,
                "email": api.credentials.email,
                "password": api.credentials.password,
            },
        )
        assert login.status_code == 303, login.text
        self.token = self._token("/app/webhooks/new")

    def _token(self, path: str) -> str:
        found = CSRF.search(self.http.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, url: str) -> httpx.Response:
        return self.http.post(
            path, data={"csrf_token": self.token, "url": url, "subscriptions": EVENT}
        )


def assert_form_refused(response: httpx.Response, host: str) -> None:
    """The form again, as a page (not JSON), with the error next to the URL field."""
    assert response.status_code == 200, (host, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html"), host
    assert '-url-error"' in response.text, (host, response.text[:2000])


def test_the_dashboard_form_refuses_the_same_urls(
    api: ApiClient, guarded: Guarded, receiver: Receiver
) -> None:
    guarded.resolve({"hooks.example": [PUBLIC]})
    dashboard = Dashboard(api)
    try:
        hosts = [*LOOPBACK_FORMS.values(), *MALFORMED.values()]
        for host in hosts:
            assert_form_refused(dashboard.post("/app/webhooks", url_on(host, receiver)), host)
        assert api.get("webhooks").json()["payload"]["webhooks"] == []

        made = dashboard.post("/app/webhooks", "http://HOOKS\u3002example/in")
        assert made.status_code == 303, made.text[:300]
        [webhook] = api.get("webhooks").json()["payload"]["webhooks"]
        assert webhook["url"] == "http://hooks.example/in"
        for host in hosts:
            response = dashboard.post(f"/app/webhooks/{webhook['id']}", url_on(host, receiver))
            assert_form_refused(response, host)
        assert api.get(f"webhooks/{webhook['id']}").json()["payload"]["webhook"]["url"] == (
            "http://hooks.example/in"
        )
    finally:
        dashboard.http.close()
    assert receiver.requests() == []
    assert "Traceback" not in guarded.server.log_tail(400)
