"""Asymmetric signatures over the wire: an endpoint with `signing: "asymmetric"` gets Standard
Webhooks `v1a` (ed25519) signatures that verify with its `whpk_` public key alone, checked with
PyNaCl (libsodium), not the `cryptography` that signs; rotation and a switch of signing keep the
old key signing beside the new one. A real Voxsig, a real receiver on 127.0.0.1, both databases.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from standardwebhooks.webhooks import Webhook as HmacVerifier

from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import logged_in
from tests.support.factories import new_conversation, post_message
from tests.support.receiver import Receiver

TOLERANCE = 300


def v1a_signatures(headers: dict[str, str]) -> list[bytes]:
    return [
        base64.b64decode(s.removeprefix("v1a,"))
        for s in headers["webhook-signature"].split(" ")
        if s.startswith("v1a,")
    ]


def verifies(public_key: str, body: bytes, headers: dict[str, str]) -> bool:
    """A receiver holding only the public key: some v1a signature of the header verifies
    `{webhook-id}.{webhook-timestamp}.{body}`, and the timestamp is recent."""
    assert public_key.startswith("whpk_")
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    content = f"{headers['webhook-id']}.{timestamp}.".encode() + body
    for signature in v1a_signatures(headers):
        try:
            key.verify(content, signature)
        except BadSignatureError:
            continue
        return True
    return False


def make(api: ApiClient, receiver: Receiver, path: str, **extra: Any) -> JSON:
    body = {"url": receiver.url(path), "subscriptions": ["message_created"], **extra}
    webhook: JSON = ok(api.post("webhooks", json=body))["payload"]["webhook"]
    return webhook


def asymmetric(webhook: JSON) -> str:
    """Its public key, checked to be what an asymmetric endpoint shows (no secret)."""
    assert webhook["signing"] == "asymmetric"
    assert webhook["secret"] is None
    public_key: str = webhook["public_key"]
    assert public_key.startswith("whpk_")
    assert len(base64.b64decode(public_key.removeprefix("whpk_"))) == 32
    return public_key


def test_an_asymmetric_endpoints_deliveries_verify_with_its_public_key_alone(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = make(api, receiver, "/v1a", signing="asymmetric")
    public_key = asymmetric(webhook)
    shown = ok(api.get(f"webhooks/{webhook['id']}"))["payload"]["webhook"]
    assert shown["public_key"] == public_key
    assert shown["secret"] is None
    listed = ok(api.get("webhooks"))["payload"]["webhooks"]
    assert [w["public_key"] for w in listed if w["id"] == webhook["id"]] == [public_key]

    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "signed with ed25519")
    got = receiver.wait_for(1, "/v1a", timeout=15)[0]
    assert got.json()["content"] == "signed with ed25519"
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 1
    assert signatures[0].startswith("v1a,")
    assert len(v1a_signatures(got.headers)[0]) == 64
    assert verifies(public_key, got.body, got.headers)

    # Tampered: one byte of the body, the timestamp, the id; or another endpoint's key.
    assert not verifies(public_key, got.body.replace(b"ed25519", b"ed25518"), got.headers)
    later = str(int(got.headers["webhook-timestamp"]) + 1)
    assert not verifies(public_key, got.body, {**got.headers, "webhook-timestamp": later})
    assert not verifies(public_key, got.body, {**got.headers, "webhook-id": "msg_forged"})
    other = asymmetric(make(api, receiver, "/other", signing="asymmetric"))
    assert other != public_key
    assert not verifies(other, got.body, got.headers)


def test_rotating_an_asymmetric_key_signs_with_both_keys(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = make(api, receiver, "/rotate-v1a", signing="asymmetric")
    old_key = asymmetric(webhook)
    rotated = ok(api.post(f"webhooks/{webhook['id']}/rotate_secret"))["payload"]["webhook"]
    new_key = asymmetric(rotated)
    assert new_key != old_key

    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "signed twice")
    got = receiver.wait_for(1, "/rotate-v1a", timeout=15)[0]
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2, got.headers["webhook-signature"]
    assert all(s.startswith("v1a,") for s in signatures)
    assert verifies(old_key, got.body, got.headers)
    assert verifies(new_key, got.body, got.headers)
    # Each signature is its own key's: one of them verifies with each key, not both.
    for key in (old_key, new_key):
        alone = [
            {**got.headers, "webhook-signature": signature}
            for signature in signatures
            if verifies(key, got.body, {**got.headers, "webhook-signature": signature})
        ]
        assert len(alone) == 1


def test_switching_to_asymmetric_keeps_the_v1_signature_beside_the_new_v1a(
    api: ApiClient, receiver: Receiver
) -> None:
    webhook = make(api, receiver, "/switch")
    assert webhook["signing"] == "symmetric"
    assert webhook["public_key"] is None
    old_secret = webhook["secret"]
    assert old_secret.startswith("whsec_")

    switched = ok(api.patch(f"webhooks/{webhook['id']}", json={"signing": "asymmetric"}))
    public_key = asymmetric(switched["payload"]["webhook"])
    setup = new_conversation(api)
    post_message(api, setup.conversation_id, "both kinds")
    got = receiver.wait_for(1, "/switch", timeout=15)[0]
    kinds = [s.split(",")[0] for s in got.headers["webhook-signature"].split(" ")]
    assert sorted(kinds) == ["v1", "v1a"], got.headers["webhook-signature"]
    # The receiver not yet updated still verifies with its whsec_ (it skips the v1a) ...
    assert HmacVerifier(old_secret).verify(got.body, got.headers)["content"] == "both kinds"
    # ... and the updated one with the public key alone.
    assert verifies(public_key, got.body, got.headers)

    # Asking again for what it already is rotates nothing.
    again = ok(api.patch(f"webhooks/{webhook['id']}", json={"signing": "asymmetric"}))
    assert again["payload"]["webhook"]["public_key"] == public_key

    # And back: a new whsec_ beside the ed25519 key that signed until now.
    back = ok(api.patch(f"webhooks/{webhook['id']}", json={"signing": "symmetric"}))
    new_secret = back["payload"]["webhook"]["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert back["payload"]["webhook"]["public_key"] is None
    assert back["payload"]["webhook"]["signing"] == "symmetric"
    post_message(api, setup.conversation_id, "back to v1")
    last = receiver.wait_for(2, "/switch", timeout=15)[1]
    assert last.json()["content"] == "back to v1"
    kinds = [s.split(",")[0] for s in last.headers["webhook-signature"].split(" ")]
    assert sorted(kinds) == ["v1", "v1a"], last.headers["webhook-signature"]
    assert HmacVerifier(new_secret).verify(last.body, last.headers)
    assert verifies(public_key, last.body, last.headers)
    with pytest.raises(Exception, match="No matching signature"):
        HmacVerifier(old_secret).verify(last.body, last.headers)


@pytest.mark.parametrize("signing", ["bogus", "", "Asymmetric", 1, None])
def test_an_unknown_signing_is_a_422_naming_it(
    api: ApiClient, receiver: Receiver, signing: Any
) -> None:
    made = api.post(
        "webhooks",
        json={
            "url": receiver.url("/bogus"),
            "subscriptions": ["message_created"],
            "signing": signing,
        },
    )
    assert made.status_code == 422, made.text
    assert made.json()["errors"][0]["field"] == "signing"
    webhook = make(api, receiver, "/bogus-update")
    if signing is None:  # null on update means "unchanged"
        kept = ok(api.patch(f"webhooks/{webhook['id']}", json={"signing": None}))
        assert kept["payload"]["webhook"]["secret"] == webhook["secret"]
        return
    changed = api.patch(f"webhooks/{webhook['id']}", json={"signing": signing})
    assert changed.status_code == 422, changed.text
    assert changed.json()["errors"][0]["field"] == "signing"
    assert "symmetric" in changed.json()["message"]


def test_the_dashboard_chooses_signing_and_format_and_shows_the_public_key(
    api: ApiClient, receiver: Receiver
) -> None:
    dashboard = logged_in(api)
    try:
        form = dashboard.page("/app/webhooks/new")
        for choice in (
            'value="voxsig"',
            'value="chatwoot"',
            'value="symmetric"',
            'value="asymmetric"',
        ):
            assert choice in form
        made = dashboard.post(
            "/app/webhooks",
            {
                "url": receiver.url("/dash"),
                "subscriptions": "message_created",
                "signing": "asymmetric",
                "payload_format": "chatwoot",
            },
        )
        assert made.status_code == 303, made.text
        webhook = ok(api.get("webhooks"))["payload"]["webhooks"][-1]
        public_key = asymmetric(webhook)
        assert webhook["payload_format"] == "chatwoot"
        shown = dashboard.page(made.headers["location"])
        assert "Its public key is below" in shown
        assert f'value="{public_key}"' in shown
        assert "whsk_" not in shown
        assert "How to verify" in shown
        assert "Rotate key" in shown
        assert '<option value="asymmetric" selected>' in shown
        assert '<option value="chatwoot" selected>' in shown

        # Back to symmetric on the edit form: a rotation, the secret shown, the old key signing.
        saved = dashboard.post(
            f"/app/webhooks/{webhook['id']}",
            {
                "url": receiver.url("/dash"),
                "subscriptions": "message_created",
                "signing": "symmetric",
                "payload_format": "voxsig",
            },
        )
        assert saved.status_code == 303, saved.text
        after = ok(api.get(f"webhooks/{webhook['id']}"))["payload"]["webhook"]
        assert after["signing"] == "symmetric"
        assert after["payload_format"] == "voxsig"
        shown = dashboard.page(f"/app/webhooks/{webhook['id']}")
        assert f'value="{after["secret"]}"' in shown
        assert "The previous key also signs deliveries until" in shown
        assert "Rotate secret" in shown
        setup = new_conversation(api)
        post_message(api, setup.conversation_id, "from the dashboard's switch")
        got = receiver.wait_for(1, "/dash", timeout=15)[0]
        assert HmacVerifier(after["secret"]).verify(got.body, got.headers)
        assert verifies(public_key, got.body, got.headers)

        # A form without the two fields (an older page) changes neither.
        dashboard.post(
            f"/app/webhooks/{webhook['id']}",
            {"url": receiver.url("/dash"), "subscriptions": "message_created", "name": "Old"},
        )
        kept = ok(api.get(f"webhooks/{webhook['id']}"))["payload"]["webhook"]
        assert (kept["name"], kept["secret"]) == ("Old", after["secret"])
        refused = dashboard.post(
            f"/app/webhooks/{webhook['id']}",
            {"url": receiver.url("/dash"), "subscriptions": "message_created", "signing": "rsa"},
        )
        assert refused.status_code == 200  # the form again, the problem next to the field
        assert 'id="f-signing-error">Input should be' in refused.text
        unchanged = ok(api.get(f"webhooks/{webhook['id']}"))["payload"]["webhook"]
        assert unchanged["signing"] == "symmetric"
    finally:
        dashboard.close()


def test_the_answers_fit_the_openapi_document(
    api: ApiClient, receiver: Receiver, openapi: dict[str, Any]
) -> None:
    fields = openapi["components"]["schemas"]["WebhookObject"]["properties"]
    assert fields["signing"]["enum"] == ["symmetric", "asymmetric"]
    assert "whsk_" in fields["secret"]["description"]
    assert "whpk_" in fields["public_key"]["description"]

    def documented(answer: JSON, model: str) -> None:
        schema = {"$ref": f"#/components/schemas/{model}", "components": openapi["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer)]
        assert errors == [], errors

    made = ok(
        api.post(
            "webhooks",
            json={
                "url": receiver.url("/doc"),
                "subscriptions": ["message_created"],
                "signing": "asymmetric",
            },
        )
    )
    documented(made, "WebhookEnvelope")
    documented(
        ok(api.post(f"webhooks/{made['payload']['webhook']['id']}/rotate_secret")),
        "WebhookEnvelope",
    )
    make(api, receiver, "/doc-symmetric")
    documented(ok(api.get("webhooks")), "WebhookList")
