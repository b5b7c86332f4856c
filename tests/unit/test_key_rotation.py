"""webhooks.deliveries.rotate_secret: a new key of the endpoint's kind (or of the kind it switches
to), with the old one kept signing for 24 hours, each signing in its own kind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from voxsig.kit.clock import utcnow
from voxsig.models import Webhook
from voxsig.outbox.signing import new_secret, signature_header
from voxsig.webhooks.deliveries import ROTATION_OVERLAP, rotate_secret


def endpoint(signing: str) -> Webhook:
    kind = "asymmetric" if signing == "asymmetric" else "symmetric"
    return Webhook(url="http://127.0.0.1:9/x", secret=new_secret(kind), signing=kind)


@pytest.mark.parametrize(
    ("before", "switch", "after", "prefix"),
    [
        ("symmetric", None, "symmetric", "whsec_"),
        ("asymmetric", None, "asymmetric", "whsk_"),
        ("symmetric", "asymmetric", "asymmetric", "whsk_"),
        ("asymmetric", "symmetric", "symmetric", "whsec_"),
    ],
)
def test_a_rotation_keeps_the_old_key_signing_for_24_hours(
    before: str, switch: str | None, after: str, prefix: str
) -> None:
    webhook = endpoint(before)
    old = webhook.secret
    start = utcnow()
    rotate_secret(webhook, switch)  # type: ignore[arg-type]
    assert webhook.signing == after
    assert webhook.secret.startswith(prefix)
    assert webhook.secret != old
    assert webhook.previous_secret == old
    expires = webhook.previous_secret_expires_at
    assert expires is not None
    assert timedelta(hours=24) == ROTATION_OVERLAP
    assert start + ROTATION_OVERLAP <= expires <= utcnow() + ROTATION_OVERLAP

    # The worker signs with both until then (outbox.endpoints.to_send; tests/unit/test_claims).
    assert webhook.previous_secret is not None
    header = signature_header([webhook.secret, webhook.previous_secret], "msg_1", start, "{}")
    new_version = "v1a" if after == "asymmetric" else "v1"
    old_version = "v1a" if before == "asymmetric" else "v1"
    assert [s.split(",")[0] for s in header.split(" ")] == [new_version, old_version]
