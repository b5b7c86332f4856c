"""Smoke tests: the server is up, authentication and tenancy hold, bodies are bounded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx

from tests.conftest import Backend
from tests.support.client import ApiClient, unique_email

MIB = 1024 * 1024


def test_health_reports_ok(backend: Backend) -> None:
    response = httpx.get(f"{backend.url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_profile_without_token_is_401_with_message(api: ApiClient) -> None:
    response = httpx.get(f"{api.url}/api/v1/profile")
    assert response.status_code == 401
    assert response.json()["message"]


def test_profile_with_wrong_token_is_401(api: ApiClient) -> None:
    response = httpx.get(f"{api.url}/api/v1/profile", headers={"api_access_token": api.token + "x"})
    assert response.status_code == 401
    assert response.json()["message"]


def test_profile_with_token_lists_the_account(api: ApiClient) -> None:
    response = api.get("/api/v1/profile")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == api.user_id
    assert api.account_id in [account["id"] for account in body["accounts"]]


def test_another_accounts_inboxes_are_404(
    api: ApiClient, make_account: Callable[..., ApiClient]
) -> None:
    other = make_account()
    response = api.get(f"/api/v1/accounts/{other.account_id}/inboxes")
    assert response.status_code == 404
    assert other.get("inboxes").status_code == 200


def test_create_web_widget_inbox(api: ApiClient) -> None:
    response = api.post(
        "inboxes",
        json={
            "name": "Site",
            "channel": {"type": "web_widget", "website_url": "https://example.com"},
        },
    )
    assert response.status_code == 200, response.text
    inbox = response.json()
    assert inbox["channel_type"] == "Channel::WebWidget"
    assert inbox["website_token"]
    listed = api.get("inboxes").json()["payload"]
    assert [i["id"] for i in listed] == [inbox["id"]]


def test_oversized_body_is_413(api: ApiClient) -> None:
    body = b'{"name": "' + b"x" * (2 * MIB) + b'"}'
    response = api.post("inboxes", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["message"]


def test_oversized_streamed_body_is_413(api: ApiClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(32):
            yield b"x" * (64 * 1024)
        yield b'"}'

    # No Content-Length (chunked): the limit must hold while reading, not only on the header.
    response = api.post("inboxes", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_malformed_json_is_a_client_error_with_json(api: ApiClient) -> None:
    response = api.post(
        "inboxes", content=b'{"name": "Site", ', headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"]


def test_cli_create_account_prints_a_working_token(backend: Backend) -> None:
    email = unique_email("cli")
    result = backend.cli(
        "create-account",
        "--name",
        "Cli Co",
        "--email",
        email,
        "--password",
        "a-long-password",
        "--user-name",
        "Cli Admin",
    )
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    profile = httpx.get(
        f"{backend.url}/api/v1/profile", headers={"api_access_token": made["api_access_token"]}
    )
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == made["user_id"]
    assert [a["id"] for a in profile.json()["accounts"]] == [made["account_id"]]
