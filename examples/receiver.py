"""A minimal webhook receiver that verifies Voxsig's signatures.

    pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python examples/receiver.py 8000

Prints one line per verified event; answers 401 to anything whose signature does not verify.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

verifier = Webhook(os.environ["WEBHOOK_SECRET"])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = verifier.verify(body, dict(self.headers))
        except WebhookVerificationError as exc:
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
