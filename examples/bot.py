"""A small agent bot for Voxsig: it answers a conversation first and hands it to people.

    VOXSIG_URL=http://127.0.0.1:3000 BOT_TOKEN=… BOT_SECRET=whsec_… PORT=8001 \
        .venv/bin/python examples/bot.py

BOT_TOKEN and BOT_SECRET are the bot's `access_token` and `secret` (POST …/agent_bots answers
both); HOST defaults to 127.0.0.1. The bot listens for Voxsig's deliveries (its outgoing_url is
http://HOST:PORT/), refuses any whose Standard Webhooks signature does not verify (401), and
drops a delivery it has seen (Voxsig sends the same `webhook-id` on every retry). While a
conversation is pending (the bot's to answer):

- a contact's message gets a menu (an `input_select`): "Track my order" or "Talk to a person";
- choosing "Talk to a person", or writing "talk to a person", "human" or "agent", hands over:
  a short message, then the conversation is opened for the agents;
- choosing "Track my order" gets a canned answer.

Once the conversation is open the agents have it and the bot stays quiet. It answers each
delivery at once and calls Voxsig afterwards, in a thread of its own, so a slow Voxsig never
makes a delivery time out (a bot that does not answer within Voxsig's bot timeout is retried,
and then its conversation goes to people). Both payload formats are understood (`chatwoot`, a
bot's default, and `voxsig`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

log = logging.getLogger("bot")

TRACK, PERSON = "track_order", "talk_to_person"
MENU_TEXT = "Hi! How can I help you?"
MENU = [
    {"title": "Track my order", "value": TRACK},
    {"title": "Talk to a person", "value": PERSON},
]
TRACKING_TEXT = (
    "You can follow your order at https://shop.example/orders with the number in your "
    "confirmation email. Anything else? Write to me, or ask for a person."
)
HANDOVER_TEXT = "Connecting you to a person…"
# Words a contact may write instead of choosing "Talk to a person".
ASKS_FOR_PERSON = re.compile(r"\b(talk to a person|human|agent)\b", re.IGNORECASE)

# Voxsig's request bodies are at most 1 MiB; an event carries one with its conversation.
MAX_BODY_BYTES = 4 * 1024 * 1024
# How many webhook-ids (and answered menus) are remembered: retries come within minutes.
REMEMBERED = 10_000
# Seconds a peer may take to send its request, and Voxsig to answer an API call.
READ_TIMEOUT = 10
API_TIMEOUT = 10


class ConfigError(Exception):
    """A setting is missing or wrong: the message says which and what it should be."""


@dataclass(frozen=True)
class Config:
    voxsig_url: str
    token: str
    secret: str
    host: str
    port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        missing = [
            name for name in ("VOXSIG_URL", "BOT_TOKEN", "BOT_SECRET", "PORT") if not env.get(name)
        ]
        if missing:
            raise ConfigError(
                f"set {', '.join(missing)}: VOXSIG_URL is Voxsig's address (e.g. "
                "http://127.0.0.1:3000), BOT_TOKEN and BOT_SECRET the bot's access_token and "
                "secret (POST …/agent_bots answers both), PORT where this bot listens"
            )
        url = env["VOXSIG_URL"].rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"VOXSIG_URL must be an http:// or https:// address, not {url!r}")
        if not env["BOT_SECRET"].startswith("whsec_"):
            raise ConfigError(
                "BOT_SECRET must be the bot's whsec_… secret (a bot with asymmetric signing "
                "has a whpk_ public key instead: examples/receiver.py shows how to verify it)"
            )
        try:
            Webhook(env["BOT_SECRET"])
        except (ValueError, EmptyWebhookSecretError):
            raise ConfigError("BOT_SECRET is not a whole whsec_… secret: copy it again") from None
        port = env["PORT"]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"PORT must be a TCP port (1-65535), not {port!r}")
        host = env.get("HOST") or "127.0.0.1"
        return cls(url, env["BOT_TOKEN"], env["BOT_SECRET"], host, int(port))


class Recent:
    """A set of the latest keys, oldest forgotten first, safe across the server's threads."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self.keys: OrderedDict[object, None] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, key: object) -> bool:
        """True if the key is new (and now remembered), False if it was seen already."""
        with self.lock:
            if key in self.keys:
                return False
            self.keys[key] = None
            if len(self.keys) > self.size:
                self.keys.popitem(last=False)
            return True

    def forget(self, key: object) -> None:
        with self.lock:
            self.keys.pop(key, None)


class ApiError(Exception):
    """Voxsig refused a call, or could not be reached."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bot's token to wherever it points: treat it as an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Voxsig:
    """The few calls the bot makes, with its own token (Chatwoot's bot routes)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.opener = urllib.request.build_opener(_NoRedirects)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        # The scheme is http(s): Config.from_env checked it.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"api_access_token": self.token, "content-type": "application/json"},
        )
        try:
            with self.opener.open(request, timeout=API_TIMEOUT) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read(300).decode(errors="replace")
            raise ApiError(f"POST {path} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ApiError(f"POST {path} failed: {error}") from None

    def conversation_path(self, account_id: int, conversation_id: int) -> str:
        return f"/api/v1/accounts/{account_id}/conversations/{conversation_id}"


@dataclass(frozen=True)
class Conversation:
    """Where an event happened: the account and the conversation's display id."""

    account_id: int
    id: int
    status: str


def _integer(value: Any) -> int | None:
    # bool is an int to Python, and True is no id.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def conversation_of(event: dict[str, Any]) -> Conversation | None:
    account, conversation = event.get("account"), event.get("conversation")
    if not isinstance(account, dict) or not isinstance(conversation, dict):
        return None
    account_id, display_id = _integer(account.get("id")), _integer(conversation.get("id"))
    if account_id is None or display_id is None:
        return None
    return Conversation(account_id, display_id, str(conversation.get("status", "")))


def _message_type(event: dict[str, Any]) -> str:
    """ "incoming" or "outgoing" in the chatwoot format, 0 or 1 in the voxsig one."""
    names = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}
    value = event.get("message_type")
    if isinstance(value, int) and not isinstance(value, bool):
        return names.get(value, "")
    return value if isinstance(value, str) else ""


def chosen(event: dict[str, Any]) -> str | None:
    """The value of the option the contact chose on the bot's menu, if this event brings it.
    The widget sends `[{"title", "value"}]`; a hand-written client may send only one of them."""
    if event.get("content_type") != "input_select" or _message_type(event) != "outgoing":
        return None
    attributes = event.get("content_attributes")
    values = attributes.get("submitted_values") if isinstance(attributes, dict) else None
    if not isinstance(values, list) or not values or not isinstance(values[0], dict):
        return None
    choice = values[0].get("value") or values[0].get("title")
    if not isinstance(choice, str):
        return None
    titles = {item["title"].lower(): item["value"] for item in MENU}
    return titles.get(choice.lower(), choice)


class Bot:
    """What the bot does with each verified event, one at a time (in the worker thread)."""

    def __init__(self, voxsig: Voxsig) -> None:
        self.voxsig = voxsig
        # A menu is answered once; an edit of the message later must not act again.
        self.answered = Recent()

    def handle(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        conversation = conversation_of(event)
        if conversation is None or name not in ("message_created", "message_updated"):
            log.info("%s: nothing to do", name)
            return
        if conversation.status != "pending":
            log.info(
                "conversation %s is %s: the agents have it", conversation.id, conversation.status
            )
            return
        if name == "message_created":
            self.on_message(conversation, event)
        else:
            self.on_answer(conversation, event)

    def on_message(self, conversation: Conversation, event: dict[str, Any]) -> None:
        if _message_type(event) != "incoming" or event.get("private"):
            return  # the bot's own messages, the agents' and activity lines come back too
        content = event.get("content")
        if isinstance(content, str) and ASKS_FOR_PERSON.search(content):
            log.info("conversation %s: the contact asked for a person", conversation.id)
            self.hand_over(conversation)
        else:
            self.show_menu(conversation)

    def on_answer(self, conversation: Conversation, event: dict[str, Any]) -> None:
        choice, menu_id = chosen(event), event.get("id")
        if choice is None or not self.answered.add(menu_id):
            return
        log.info("conversation %s: the contact chose %r", conversation.id, choice)
        try:
            self.follow(conversation, choice)
        except ApiError:
            self.answered.forget(menu_id)  # not acted on: a redelivery may try again
            raise

    def follow(self, conversation: Conversation, choice: str) -> None:
        if choice == PERSON:
            self.hand_over(conversation)
        elif choice == TRACK:
            self.say(conversation, "the tracking answer", TRACKING_TEXT)
        else:
            self.show_menu(conversation)  # not one of ours: ask again

    def say(self, conversation: Conversation, what: str, content: str, **extra: Any) -> None:
        path = self.voxsig.conversation_path(conversation.account_id, conversation.id)
        sent = self.voxsig.post(f"{path}/messages", {"content": content, **extra})
        message_id = sent.get("id") if isinstance(sent, dict) else None
        log.info("conversation %s: sent %s (message %s)", conversation.id, what, message_id)

    def show_menu(self, conversation: Conversation) -> None:
        self.say(
            conversation,
            "the menu",
            MENU_TEXT,
            content_type="input_select",
            content_attributes={"items": MENU},
        )

    def hand_over(self, conversation: Conversation) -> None:
        self.say(conversation, "the handover message", HANDOVER_TEXT)
        path = self.voxsig.conversation_path(conversation.account_id, conversation.id)
        self.voxsig.post(f"{path}/toggle_status", {"status": "open"})
        log.info("conversation %s: handed over to the agents", conversation.id)


class BotServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: Config, bot: Bot) -> None:
        super().__init__((config.host, config.port), DeliveryHandler)
        self.verifier = Webhook(config.secret)
        self.bot = bot
        self.seen = Recent()
        # One worker: a conversation's events are acted on in the order they arrived.
        self.work = ThreadPoolExecutor(max_workers=1)

    def act(self, delivery_id: str, event: dict[str, Any]) -> None:
        try:
            self.bot.handle(event)
            log.info("%s: done", delivery_id)
        except ApiError as error:
            log.error("%s: %s", delivery_id, error)
            self.seen.forget(delivery_id)  # so a redelivery from Voxsig's log tries again
        except Exception:
            log.exception("%s: could not handle the event", delivery_id)
            self.seen.forget(delivery_id)


class DeliveryHandler(BaseHTTPRequestHandler):
    server: BotServer
    timeout = READ_TIMEOUT  # a peer that stalls mid-request does not hold a thread for ever

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        try:
            event = self.server.verifier.verify(body, dict(self.headers))
        except (WebhookVerificationError, ValueError) as error:
            # ValueError: a malformed signature header, base64 or body, which the library
            # raises as such rather than as a failed verification.
            log.warning("refused a delivery whose signature does not verify: %s", error)
            self.answer(401)
            return
        delivery_id = self.headers["webhook-id"]
        if not isinstance(event, dict):
            log.info("%s: not an event object, ignored", delivery_id)
            self.answer(204)
            return
        if not self.server.seen.add(delivery_id):
            log.info("%s: %s again, skipped", delivery_id, event.get("event"))
            self.answer(204)
            return
        log.info("%s: %s verified", delivery_id, event.get("event"))
        self.answer(204)  # at once: the API calls happen after, in the worker
        self.server.work.submit(self.server.act, delivery_id, event)

    def read_body(self) -> bytes | None:
        """The request's body, or None once a refusal has been sent."""
        length = self.headers.get("content-length", "")
        if not length.isdigit():
            self.answer(411)
            return None
        if int(length) > MAX_BODY_BYTES:
            self.answer(413)
            return None
        return self.rfile.read(int(length))

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # each delivery is logged once, by do_POST


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = Config.from_env(os.environ)
    except ConfigError as error:
        sys.exit(f"bot.py: {error}")
    server = BotServer(config, Bot(Voxsig(config.voxsig_url, config.token)))
    log.info(
        "listening on http://%s:%s/ for Voxsig at %s", config.host, config.port, config.voxsig_url
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.work.shutdown(wait=True)


if __name__ == "__main__":
    main()
