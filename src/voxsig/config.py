"""Settings, read from the environment (prefix VOXSIG_) once per process."""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOXSIG_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 3000
    secret_key: str = ""
    max_body_bytes: int = 1024 * 1024
    # Comma-separated CIDRs that webhook targets may resolve into even though they are private.
    webhook_allowed_networks: str = ""
    run_worker: bool = Field(default=True)
    # Comma-separated IPs or CIDRs of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty: none is, and every address is the peer's own.
    trusted_proxies: str = ""
    # Seconds a client may take to send a request's headers, and then its whole body.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # Wrong passwords allowed per client address and per (email, address), refilled over
    # 15 minutes (users/attempts.py).
    login_failures_per_address: int = Field(default=50, ge=1)
    login_failures_per_pair: int = Field(default=10, ge=1)
    # Delivery (outbox/policy.py reads these).
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_connect_timeout: float = 5.0
    webhook_timeout: float = 15.0
    webhook_lease_seconds: float = 60.0
    webhook_disable_after: float = 5 * 86400
    webhook_retention_days: float = 30.0
    webhook_max_in_flight: int = 256
    webhook_max_per_endpoint: int = 16
    # An agent bot answers a waiting visitor, so it is given a short schedule: when it has not
    # answered after these retries (about a minute), its pending conversation goes to people.
    bot_retry_schedule: str = "3,10,20"
    bot_timeout: float = Field(default=5.0, gt=0)
    # Attachments (files/): where their bytes live, and what one message may carry. The store:
    # "" for files/ under the data dir, or s3://bucket/prefix with the endpoint and keys below.
    storage_url: str = ""
    storage_endpoint: str = ""
    storage_region: str = "us-east-1"
    storage_access_key: str = ""
    storage_secret_key: str = ""
    attachment_max_bytes: int = Field(default=40 * 1024 * 1024, ge=1)  # per file, as Chatwoot
    attachment_max_message_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    attachment_max_files: int = Field(default=10, ge=1)
    # How long a data_url or thumb_url works (re-signed on every API read).
    attachment_url_seconds: float = Field(default=7 * 86400, gt=0)
    # Comma-separated content types an attachment may be (from its content, files/kinds.py);
    # "" is the default list (images, audio, video, PDF, office documents, text, archives).
    attachment_allowed_types: str = ""
    # Days a message's files are kept (0: for ever); a purged file's message keeps its text.
    attachment_retention_days: float = Field(default=0, ge=0)
    # The address people and receivers reach this server at: the origin of every data_url.
    # "" is http://{host}:{port}; behind a proxy, set it (e.g. https://chat.example.com).
    public_url: str = ""
    worker_poll_seconds: float = 1.0
    # A worker whose heartbeat is older than this is dead: its leases are taken over at once.
    worker_takeover_seconds: float = Field(default=10.0, gt=0)
    # Open widget live streams (GET /api/v1/widget/live) per client address and per visitor:
    # an office behind one address has many visitors; one visitor, a few tabs.
    widget_live_streams_per_address: int = Field(default=100, ge=1)
    widget_live_streams_per_visitor: int = Field(default=8, ge=1)

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxsig.db').resolve()}"

    def trusted_proxy_list(self) -> list[str]:
        """VOXSIG_TRUSTED_PROXIES as networks; ValueError naming the first entry that is not
        an IP address or a CIDR."""
        networks = []
        for entry in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError as exc:
                raise ValueError(
                    f"VOXSIG_TRUSTED_PROXIES: {entry!r} is not an IP address or a CIDR"
                ) from exc
        return networks

    def resolved_public_url(self) -> str:
        """VOXSIG_PUBLIC_URL without its trailing slash, or this server's own address."""
        return (self.public_url.strip() or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_secret_key(self) -> str:
        """VOXSIG_SECRET_KEY, or a key generated once into the data dir and reused after."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
