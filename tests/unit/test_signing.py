"""outbox/signing.py: secrets of both kinds, `v1` and `v1a` signatures side by side, and each
verified by another implementation than the one that signs (standardwebhooks' HMAC for `v1`,
PyNaCl, i.e. libsodium, for `v1a`; Voxsig signs ed25519 with `cryptography`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from standardwebhooks.webhooks import Webhook as HmacVerifier

from voxsig.outbox import signing

MOMENT = datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)
BODY = '{"event":"message_created","content":"hello"}'


def verify_v1a(public_key: str, signature: str, message_id: str, timestamp: int, body: str) -> None:
    """What a receiver does with the public key alone; raises BadSignatureError."""
    assert public_key.startswith("whpk_")
    version, _, encoded = signature.partition(",")
    assert version == "v1a"
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    key.verify(f"{message_id}.{timestamp}.{body}".encode(), base64.b64decode(encoded))


def test_the_reference_librarys_vector_signs_the_same() -> None:
    # The Standard Webhooks Go library's own asymmetric signing test: its key is the base64 of a
    # 32-byte seed (ed25519.NewKeyFromSeed), so the same whsk_ must give the same signature.
    secret = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
    moment = datetime.fromtimestamp(1614265330, UTC)
    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", moment, '{"test": 2432232314}') == (
        "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFi"
        "L8Ag=="
    )


def test_new_secrets_of_each_kind() -> None:
    symmetric, asymmetric = signing.new_secret(), signing.new_secret("asymmetric")
    assert symmetric.startswith("whsec_")
    assert len(base64.b64decode(symmetric.removeprefix("whsec_"))) == 32
    assert asymmetric.startswith("whsk_")
    assert len(base64.b64decode(asymmetric.removeprefix("whsk_"))) == 32  # the seed
    assert signing.new_secret("symmetric").startswith("whsec_")
    assert signing.new_secret("asymmetric") != asymmetric
    assert signing.signing_of(symmetric) == "symmetric"
    assert signing.signing_of(asymmetric) == "asymmetric"


def test_the_public_key_is_the_seeds_ed25519_public_key() -> None:
    secret = signing.new_secret("asymmetric")
    public = signing.public_key(secret)
    assert public.startswith("whpk_")
    raw = base64.b64decode(public.removeprefix("whpk_"))
    assert len(raw) == 32
    seed = base64.b64decode(secret.removeprefix("whsk_"))
    assert raw == bytes(SigningKey(seed).verify_key)
    assert signing.public_key(secret) == public
    assert signing.public_key(signing.new_secret("asymmetric")) != public


def test_a_symmetric_secret_has_no_public_key() -> None:
    with pytest.raises(ValueError, match="whsk_"):
        signing.public_key(signing.new_secret())
    with pytest.raises(ValueError, match="32-byte"):
        signing.public_key("whsk_" + base64.b64encode(b"short").decode())


def test_v1a_verifies_with_the_public_key_and_nothing_else() -> None:
    secret = signing.new_secret("asymmetric")
    public = signing.public_key(secret)
    header = signing.signature_header([secret], "msg_1", MOMENT, BODY)
    assert header.startswith("v1a,")
    assert " " not in header
    assert len(base64.b64decode(header.removeprefix("v1a,"))) == 64
    timestamp = int(MOMENT.timestamp())
    verify_v1a(public, header, "msg_1", timestamp, BODY)
    for message_id, moment, body in [
        ("msg_1", timestamp, BODY.replace("hello", "hellO")),
        ("msg_1", timestamp + 1, BODY),
        ("msg_2", timestamp, BODY),
    ]:
        with pytest.raises(BadSignatureError):
            verify_v1a(public, header, message_id, moment, body)
    other = signing.public_key(signing.new_secret("asymmetric"))
    with pytest.raises(BadSignatureError):
        verify_v1a(other, header, "msg_1", timestamp, BODY)


def test_a_v1_and_a_v1a_sit_side_by_side_each_verifying_with_its_own_key() -> None:
    old, new = signing.new_secret(), signing.new_secret("asymmetric")
    headers = signing.signed_headers([new, old], "msg_side", BODY)
    assert headers["webhook-id"] == "msg_side"
    assert headers["content-type"] == "application/json"
    v1a, v1 = headers["webhook-signature"].split(" ")
    assert v1a.startswith("v1a,")
    assert v1.startswith("v1,")
    # A v1 receiver that knows nothing of v1a still verifies (it skips what is not v1).
    assert HmacVerifier(old).verify(BODY, headers) == {
        "event": "message_created",
        "content": "hello",
    }
    verify_v1a(signing.public_key(new), v1a, "msg_side", int(headers["webhook-timestamp"]), BODY)


def test_two_asymmetric_keys_during_a_rotation_both_sign() -> None:
    old, new = signing.new_secret("asymmetric"), signing.new_secret("asymmetric")
    first, second = signing.signature_header([new, old], "msg_rot", MOMENT, BODY).split(" ")
    timestamp = int(MOMENT.timestamp())
    verify_v1a(signing.public_key(new), first, "msg_rot", timestamp, BODY)
    verify_v1a(signing.public_key(old), second, "msg_rot", timestamp, BODY)
    with pytest.raises(BadSignatureError):
        verify_v1a(signing.public_key(old), first, "msg_rot", timestamp, BODY)


def test_the_ed25519_key_is_built_once_per_secret_not_per_delivery() -> None:
    secret = signing.new_secret("asymmetric")
    signing._private_key.cache_clear()
    for n in range(50):
        signing.signature_header([secret], f"msg_{n}", MOMENT, BODY)
    info = signing._private_key.cache_info()
    assert (info.misses, info.hits) == (1, 49)
