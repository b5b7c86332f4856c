"""The `voxsig` command: serve, worker, migrate, create-account."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from voxsig import __version__
from voxsig.config import Settings, get_settings

cli = typer.Typer(
    help="Voxsig: customer messaging with webhooks that are never lost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
# The request line and headers together, as received: twice what the request guard accepts
# once parsed (32 KiB), so the guard's 431 with its JSON body is what clients normally see.
HEADER_BLOCK_BYTES = 64 * 1024


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _migrate_or_fail(url: str) -> None:
    from voxsig.migrate import upgrade

    try:
        upgrade(url)
    except Exception as exc:  # any driver error: tell the user what to fix, not a traceback
        fail(
            f"cannot prepare the database at {_redact(url)}: {_first_line(exc)}\n"
            "Check VOXSIG_DATABASE_URL (e.g. postgresql+asyncpg://user:pass@host/db) "
            "and that the database server is running."
        )


def _storage_or_fail(settings: Settings) -> None:
    """A wrong file store setting is the user's to fix: said before serving, not a traceback
    from the app's start-up. Opening a store connects to nothing (an S3 client is made on first
    use), so the one made here is simply dropped; the app opens its own."""
    from voxsig.files.stores import StorageUnavailable, open_storage

    try:
        open_storage(settings)
    except (StorageUnavailable, ValueError) as exc:
        fail(
            f"cannot open the file store: {exc}\n"
            "Leave VOXSIG_STORAGE_URL empty to keep attachments on local disk (under "
            "VOXSIG_DATA_DIR/files), or set it to s3://bucket/prefix together with "
            "VOXSIG_STORAGE_ENDPOINT, VOXSIG_STORAGE_REGION, VOXSIG_STORAGE_ACCESS_KEY and "
            "VOXSIG_STORAGE_SECRET_KEY."
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


_LOCKS: list[object] = []  # open lock files, held until the process exits


def _lock_sqlite_worker(url: str) -> bool:
    """On SQLite, one process at a time may run a delivery worker on a database: a second would
    send alongside the first with nothing to coordinate them (PostgreSQL has row locks). The
    lock is an flock on voxsig.lock beside the database file, released by the kernel when the
    process exits, however it exits. True if this process now holds it (on SQLite): it is the
    only one that can hold a lease on this database."""
    import fcntl

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    directory = Path(parsed.database).resolve().parent
    directory.mkdir(parents=True, exist_ok=True)
    handle = (directory / "voxsig.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        fail(
            f"another Voxsig process is using {directory}; stop it or use PostgreSQL for "
            "several processes (an API-only `voxsig serve --no-worker` may run beside it)"
        )
    _LOCKS.append(handle)
    return True


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: connections left in TIME_WAIT by a crash must not block a restart.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is already in use. Stop what runs there, or choose "
                    f"another port: VOXSIG_PORT=3001 voxsig serve"
                )
            fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@cli.command()
def serve(
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only; run `voxsig worker` apart")
    ] = False,
) -> None:
    """Apply migrations, then serve the API (and, by default, the delivery worker)."""
    import uvicorn

    from voxsig.app import create_app
    from voxsig.kit.header_deadline import protocol_class

    settings = get_settings()
    if no_worker:
        settings.run_worker = False
    url = settings.resolved_database_url()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sole_worker = settings.run_worker and _lock_sqlite_worker(url)
    _migrate_or_fail(url)
    _storage_or_fail(settings)
    settings.resolved_secret_key()
    try:
        proxies = settings.trusted_proxy_list()
    except ValueError as exc:
        fail(str(exc))
    if os.environ.get("FORWARDED_ALLOW_IPS") and not proxies:
        err.print(
            "[yellow]warning:[/] FORWARDED_ALLOW_IPS is ignored; set VOXSIG_TRUSTED_PROXIES "
            "to your proxies' addresses instead"
        )
    _check_port_free(settings.host, settings.port)
    base = f"http://{settings.host}:{settings.port}"
    err.print(
        f"[bold green]Voxsig {__version__}[/] serving on [bold]{base}[/] (database: {_redact(url)})"
    )
    err.print(
        f"Next: open [bold]{base}[/] in your browser to create your account (first run) or log "
        "in.\nFor scripts: .venv/bin/voxsig create-account --name 'Acme' --email "
        "you@example.com --password 'a-long-password' prints an API token; "
        f"API docs at {base}/docs"
    )
    uvicorn.run(
        create_app(settings, sole_worker=sole_worker),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Live streams (widget, dashboard) stay open; do not let them hold a shutdown for long.
        timeout_graceful_shutdown=5,
        # X-Forwarded-For/-Proto only from the proxies the operator named: uvicorn's default
        # (believe 127.0.0.1) lets anyone behind a same-host proxy that does not set the header
        # choose the address every per-address limit sees.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        # Slow clients: headers complete within header_timeout (uvicorn has no such deadline;
        # kit/header_deadline.py), bodies within body_timeout (kit/request_guard.py), an idle
        # kept-alive connection closed after 5 s, and no header block over 64 KiB.
        http=protocol_class(settings.header_timeout, HEADER_BLOCK_BYTES),
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=HEADER_BLOCK_BYTES,
    )


@cli.command()
def worker() -> None:
    """Run the delivery worker alone (several may run side by side on PostgreSQL)."""
    from voxsig.gave_up import after_giving_up
    from voxsig.outbox.runtime import run_forever
    from voxsig.views.attachments import session_info

    settings = get_settings()
    url = settings.resolved_database_url()
    sole_worker = _lock_sqlite_worker(url)
    _migrate_or_fail(url)
    _storage_or_fail(settings)  # the attachment retention deletes files from it
    err.print(f"[bold green]Voxsig {__version__}[/] delivery worker on {_redact(url)}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_forever(
                settings,
                sole_worker=sole_worker,
                gave_up=after_giving_up,
                session_info=session_info(settings),
            )
        )


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate_or_fail(settings.resolved_database_url())
    err.print("database is up to date")


@cli.command("create-account")
def create_account(
    name: Annotated[str, typer.Option(help="The account (business) name")],
    email: Annotated[str, typer.Option(help="The first administrator's email")],
    password: Annotated[str, typer.Option(help="The administrator's password (8+ characters)")],
    user_name: Annotated[str | None, typer.Option(help="The administrator's display name")] = None,
) -> None:
    """Create an account and its first administrator; prints their ids and API token as JSON."""
    from voxsig.accounts.service import create_account as create
    from voxsig.db import Database
    from voxsig.errors import ApiError

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    _migrate_or_fail(url)

    async def run() -> dict[str, object]:
        db = Database(url)
        try:
            async with db.transaction() as session:
                made = await create(session, name, email, password, user_name)
            return {
                "account_id": made.account_id,
                "user_id": made.user_id,
                "api_access_token": made.api_access_token,
            }
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except ApiError as exc:
        fail(exc.message)
    sys.stdout.write(json.dumps(result) + "\n")


def main() -> None:
    cli()
