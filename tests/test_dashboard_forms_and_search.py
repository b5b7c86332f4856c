"""Issue 14, point 5 over HTTP: a website URL without a scheme (https:// prepended, garbage
refused naming the field, the preview naming the real domain), the first-run form showing every
field's error at once, and conversation search covering every status by default."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import VoxsigServer
from tests.conftest import Backend
from tests.support.client import ApiClient, error, fields_of, ok
from tests.support.dashboard import Dashboard, logged_in
from tests.support.factories import create_conversation, new_contact, widget_inbox

# -- the website URL (5b) -----------------------------------------------------------------------


def test_a_website_url_without_a_scheme_is_https_and_the_preview_names_it(
    api: ApiClient,
) -> None:
    inbox = widget_inbox(api, website_url="acme-outfitters.example/shop")
    assert inbox["website_url"] == "https://acme-outfitters.example/shop"
    preview = httpx.get(inbox["widget_preview_url"], timeout=10)
    assert preview.status_code == 200
    assert '<span class="logo">acme-outfitters.example</span>' in preview.text
    assert "your-website.example" not in preview.text

    path = f"inboxes/{inbox['id']}"
    assert ok(api.patch(path, json={"website_url": "shop.example"}))["website_url"] == (
        "https://shop.example"
    )
    nested = {"channel": {"website_url": "http://localhost:8080/demo"}}
    assert ok(api.patch(path, json=nested))["website_url"] == "http://localhost:8080/demo"
    assert ok(api.patch(path, json={"website_url": ""}))["website_url"] == ""
    config = httpx.post(
        f"{api.url}/api/v1/widget/config",
        params={"website_token": inbox["website_token"]},
        headers={"X-Forwarded-For": "10.9.8.7"},
        timeout=10,
    )
    assert ok(config)["website_channel_config"]["website_url"] == ""


@pytest.mark.parametrize(
    "garbage",
    ["not a url", "javascript:alert(1)", "ftp://files.example", "http://", "https://acme"],
)
def test_a_website_url_that_is_no_web_address_is_a_422_naming_it(
    api: ApiClient, garbage: str
) -> None:
    body = {"name": "Site", "channel": {"type": "web_widget", "website_url": garbage}}
    refused = error(api.post("inboxes", json=body), 422)
    assert fields_of(refused) == ["channel.website_url"], refused
    inbox = widget_inbox(api)
    refused = error(api.patch(f"inboxes/{inbox['id']}", json={"website_url": garbage}), 422)
    assert fields_of(refused) == ["website_url"], refused
    assert ok(api.get(f"inboxes/{inbox['id']}"))["website_url"] == "https://shop.example"
    too_long = "a" * 1015 + ".example"  # 1023 characters: 1031 with its https://
    refused = error(api.patch(f"inboxes/{inbox['id']}", json={"website_url": too_long}), 422)
    assert fields_of(refused) == ["website_url"], refused


def test_the_inbox_forms_normalise_and_refuse_like_the_api(api: ApiClient) -> None:
    dashboard = logged_in(api)
    try:
        created = dashboard.post(
            "/app/settings/inboxes",
            {"channel": "web_widget", "name": "Website", "website_url": "acme.example"},
        )
        assert created.status_code == 303, created.text
        page = dashboard.page(created.headers["location"])
        assert 'value="https://acme.example"' in page
        inbox_id = int(created.headers["location"].rsplit("/", 1)[1])
        refused = dashboard.post(
            f"/app/settings/inboxes/{inbox_id}",
            {"name": "Website", "website_url": "not a url", "widget_color": "#1f93ff"},
        )
        assert refused.status_code == 200
        shown = html.unescape(refused.text)
        assert 'id="f-website_url-error"' in shown
        assert "has no valid host name" in shown
    finally:
        dashboard.close()
    assert ok(api.get(f"inboxes/{inbox_id}"))["website_url"] == "https://acme.example"


# -- the first run (5c) -------------------------------------------------------------------------


@pytest.fixture
def empty_server(backend: Backend, tmp_path: Path) -> Iterator[VoxsigServer]:
    """Voxsig on a database without any account: `/` is the onboarding form."""
    database = f"voxsig_onboarding_{uuid.uuid4().hex[:10]}"
    if backend.cluster is not None:
        url = backend.cluster.create_database(database)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'voxsig.db'}"
    server = VoxsigServer(url, tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if backend.cluster is not None:
            backend.cluster.drop_database(database)


def field_errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="f-([a-z_]+)-error">([^<]*)</p>', page))


def test_onboarding_shows_every_fields_error_at_once(empty_server: VoxsigServer) -> None:
    dashboard = Dashboard(empty_server.url)
    try:
        dashboard.refresh_token("/")
        empty = {"account_name": "", "name": "", "email": "", "password": ""}
        answer = dashboard.post("/onboarding", empty)
        assert answer.status_code == 200
        errors = field_errors(answer.text)
        assert set(errors) == {"account_name", "name", "email", "password"}, errors
        assert 'aria-invalid="true"' in answer.text

        typed = {
            "account_name": "A" * 300,
            "name": "Ada Admin",
            "email": "ada.example.com",
            "password": "short",
        }
        answer = dashboard.post("/onboarding", typed)
        assert answer.status_code == 200
        errors = field_errors(html.unescape(answer.text))
        assert set(errors) == {"account_name", "email", "password"}, errors
        assert 'value="Ada Admin"' in answer.text  # what was right is kept
        assert 'value="ada.example.com"' in answer.text

        good = {**typed, "account_name": "Acme", "email": "ada@example.com"}
        done = dashboard.post("/onboarding", {**good, "password": "a-long-password"})
        assert done.status_code == 303, done.text
    finally:
        dashboard.close()


# -- search (5d) --------------------------------------------------------------------------------


def test_search_covers_every_status_and_shows_each_rows_status(api: ApiClient) -> None:
    inbox = widget_inbox(api)
    name = f"Zed {uuid.uuid4().hex[:6]}"
    numbers = {}
    for status in ("open", "resolved", "pending"):
        contact = new_contact(api, inbox["id"], name=f"{name} {status}")["contact"]
        numbers[status] = create_conversation(api, inbox["id"], contact["id"], status=status)["id"]
    other = new_contact(api, inbox["id"], name="Somebody Else")["contact"]
    create_conversation(api, inbox["id"], other["id"])

    def rows(page: str) -> dict[int, str]:
        """conversation number -> the status its row shows."""
        found = re.findall(
            r'<span class="num">#(\d+)</span>.*?<span class="badge status-([a-z]+)">',
            page,
            re.S,
        )
        return {int(n): s for n, s in found}

    dashboard = logged_in(api)
    try:
        listed = dashboard.page("/app/conversations")  # the Open tab
        assert 'name="tab" value="open"' in listed  # the search form says where it was sent
        # What the search form sends from the Open tab: every status, each row with its own.
        found = dashboard.page(f"/app/conversations?tab=open&assignee=all&q={name}")
        assert rows(found) == {n: s for s, n in numbers.items()}
        assert "in every status" in found
        assert re.search(r'href="[^"]*status=all[^"]*" aria-current="page"', found)
        # A tab chosen while searching narrows it down, and says so.
        narrowed = dashboard.page(f"/app/conversations?status=open&q={name}")
        assert rows(narrowed) == {numbers["open"]: "open"}
        assert "among open conversations only" in narrowed
        # Without a search the Open tab is the default, as before.
        assert "Somebody Else" in listed
        assert f"#{numbers['resolved']}<" not in listed
    finally:
        dashboard.close()
