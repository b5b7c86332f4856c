"""The README's example receiver verifies real deliveries (and refuses a forged one)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness.processes import free_port
from tests.support.client import ApiClient
from tests.support.factories import new_conversation

EXAMPLE = Path(__file__).parents[1] / "examples" / "receiver.py"


def test_example_receiver_verifies_voxsig_deliveries(api: ApiClient) -> None:
    port = free_port()
    made = api.post(
        "webhooks",
        json={"url": f"http://127.0.0.1:{port}/voxsig", "subscriptions": ["conversation_created"]},
    )
    secret = made.json()["payload"]["webhook"]["secret"]
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        text=True,
        stdout=subprocess.PIPE,
        env={"WEBHOOK_SECRET": secret},
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        forged = httpx.post(
            f"http://127.0.0.1:{port}/voxsig",
            content=b"{}",
            headers={
                "webhook-id": "msg_x",
                "webhook-timestamp": "1",
                "webhook-signature": "v1,AAAA",
            },
        )
        assert forged.status_code == 401
        assert proc.stdout.readline().startswith("refused")
        new_conversation(api)
        line = proc.stdout.readline()
        assert '"event": "conversation_created"' in line
    finally:
        proc.kill()
        proc.wait()


def test_example_receiver_verifies_v1a_with_the_public_key_alone(api: ApiClient) -> None:
    port = free_port()
    made = api.post(
        "webhooks",
        json={
            "url": f"http://127.0.0.1:{port}/voxsig",
            "subscriptions": ["conversation_created"],
            "signing": "asymmetric",
        },
    )
    public_key = made.json()["payload"]["webhook"]["public_key"]
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        text=True,
        stdout=subprocess.PIPE,
        env={"WEBHOOK_PUBLIC_KEY": public_key},
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        forged = httpx.post(
            f"http://127.0.0.1:{port}/voxsig",
            content=b'{"event": "conversation_created"}',
            headers={
                "webhook-id": "msg_x",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1a," + "A" * 86 + "==",
            },
        )
        assert forged.status_code == 401
        assert proc.stdout.readline().startswith("refused: No matching signature")
        new_conversation(api)
        line = proc.stdout.readline()
        assert '"event": "conversation_created"' in line
    finally:
        proc.kill()
        proc.wait()
