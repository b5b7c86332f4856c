"""A minimal webhook receiver that verifies Voxsig's signatures.

    pip install standardwebhooks cryptography
    WEBHOOK_SECRET=whsec_... python examples/receiver.py 8000      # a symmetric endpoint (v1)
    WEBHOOK_PUBLIC_KEY=whpk_... python examples/receiver.py 8000  # an asymmetric one (v1a)

Prints one line per verified event; answers 401 to anything whose signature does not verify.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

TOLERANCE = 5 * 60  # seconds: refuse replays of old deliveries


class PublicKeyVerifier:
    """Standard Webhooks v1a: each `v1a,<base64>` in webhook-signature is the ed25519 signature
    of `{webhook-id}.{webhook-timestamp}.{body}`; the whpk_ public key alone verifies it."""

    def __init__(self, public_key: str) -> None:
        raw = base64.b64decode(public_key.removeprefix("whpk_"))
        self.key = Ed25519PublicKey.from_public_bytes(raw)

    def verify(self, body: bytes, headers: dict[str, str]) -> Any:
        headers = {k.lower(): v for k, v in headers.items()}
        msg_id = headers.get("webhook-id")
        timestamp = headers.get("webhook-timestamp")
        if not (msg_id and timestamp and headers.get("webhook-signature")):
            raise WebhookVerificationError("Missing required headers")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
            raise WebhookVerificationError("Message timestamp too old or too new")
        signed = f"{msg_id}.{timestamp}.".encode() + body
        for versioned in headers["webhook-signature"].split(" "):
            version, _, signature = versioned.partition(",")
            if version != "v1a":
                continue  # during a switch of signing, a v1 signature may sit beside it
            try:
                self.key.verify(base64.b64decode(signature), signed)
            except (InvalidSignature, binascii.Error, ValueError):
                continue
            return json.loads(body)
        raise WebhookVerificationError("No matching signature found")


verifier: Webhook | PublicKeyVerifier = (
    PublicKeyVerifier(os.environ["WEBHOOK_PUBLIC_KEY"])
    if os.environ.get("WEBHOOK_PUBLIC_KEY")
    else Webhook(os.environ["WEBHOOK_SECRET"])
)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = verifier.verify(body, dict(self.headers))
        # A malformed webhook-signature header is a ValueError in standardwebhooks.
        except (WebhookVerificationError, ValueError) as exc:
            print(f"refused: {exc}", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        # webhook-id is the same on every retry: use it to drop duplicates.
        summary = {"id": self.headers["webhook-id"], "event": event["event"]}
        if "changed_attributes" in event:
            summary["changed"] = event["changed_attributes"]
        print(json.dumps(summary), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
