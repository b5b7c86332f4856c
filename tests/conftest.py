"""Fixtures: every test runs against a real Voxsig subprocess on SQLite and on PostgreSQL.

Tests are sorted so all SQLite ones run first, then all PostgreSQL ones: the session-scoped
`backend` fixture then holds one server at a time, and the PostgreSQL cluster is started only if
a PostgreSQL test is selected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import httpx
import pytest

from harness.postgres import PostgresCluster
from harness.processes import ServerFailed
from harness.server import VoxsigServer, run_cli
from tests.support.browser import browser, page  # noqa: F401  (fixtures)
from tests.support.client import (
    AccountCredentials,
    ApiClient,
    create_account,
    issue_token_for,
    ok,
    unique_email,
)
from tests.support.deployment import deploy  # noqa: F401  (fixture)
from tests.support.receiver import Receiver
from tests.support.s3 import s3_server  # noqa: F401  (fixture)
from tests.support.widget import anon, inbox, visitors  # noqa: F401  (fixtures)

BACKENDS = ("sqlite", "postgresql")
BACKEND_IDS = ("sqlite", "pg")
PG_DATABASE = "voxsig_test"


@dataclass
class Backend:
    """One database and the Voxsig server running on it."""

    name: str
    database_url: str
    server: VoxsigServer
    cluster: PostgresCluster | None = None  # for drills that stop or restart the database

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        """Environment for `voxsig` subprocesses that must use this backend's database."""
        return self.server.env

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"

    def cli(self, *args: str) -> CompletedProcess[str]:
        """Run `voxsig ARGS...` against this backend's database (not checked: assert on it)."""
        return run_cli(self.env, *args, cwd=self.server.work_dir)

    def ensure_running(self) -> None:
        """Restart the server if an earlier test stopped it; fail loudly if it had crashed."""
        if self.server.running:
            return
        crashed, code = self.server.crashed, self.server.returncode
        tail = self.server.log_tail()
        self.server.start()  # either way, later tests get a server again
        if crashed:
            raise ServerFailed(
                f"Voxsig ({self.name}) had exited by itself with code {code} "
                f"before this test; its log:\n{tail}"
            )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 for the whole session, requested only by PostgreSQL tests."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session", params=BACKENDS, ids=BACKEND_IDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    name: str = request.param
    work_dir = tmp_path_factory.mktemp(name)
    cluster: PostgresCluster | None = None
    if name == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        cluster.drop_database(PG_DATABASE)
        url = cluster.create_database(PG_DATABASE)
    else:
        url = f"sqlite+aiosqlite:///{work_dir / 'voxsig.db'}"
    # The tests play the part of a reverse proxy: each simulated client sends its own
    # X-Forwarded-For, so a test that exhausts one address's bucket leaves the others alone.
    server = VoxsigServer(url, work_dir, extra_env={"VOXSIG_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        server.start()
        yield Backend(name, url, server, cluster)
    finally:
        server.stop()


@pytest.fixture
def make_account(backend: Backend) -> Iterator[Callable[..., ApiClient]]:
    """Factory for fresh accounts (each with its own administrator), e.g. a second tenant."""
    clients: list[ApiClient] = []

    def make(name: str | None = None, user_name: str | None = None) -> ApiClient:
        backend.ensure_running()
        credentials = create_account(
            backend.database_url,
            name or f"Account {uuid.uuid4().hex[:8]}",
            unique_email(),
            user_name=user_name,
        )
        client = ApiClient(backend.url, credentials)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Clients a test opens (anything with close()), closed after it."""
    made: list[Any] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def api(make_account: Callable[..., ApiClient]) -> ApiClient:
    """A fresh account's administrator, so no test sees another test's data."""
    return make_account("Acme", "Ada Admin")


@pytest.fixture
def make_member(backend: Backend, api: ApiClient) -> Iterator[Callable[..., ApiClient]]:
    """Adds a user to `api`'s account through POST agents and returns a client with their token."""
    clients: list[ApiClient] = []

    def make(role: str = "agent", name: str = "Andy Agent") -> ApiClient:
        email = unique_email(role)
        agent = ok(api.post("agents", json={"name": name, "email": email, "role": role}))
        assert agent["role"] == role
        token = issue_token_for(backend.database_url, agent["id"])
        client = ApiClient(
            backend.url, AccountCredentials(api.account_id, agent["id"], token, email, "")
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def openapi(backend: Backend) -> dict[str, Any]:
    """The running server's own OpenAPI document, which the walks and the fuzz follow."""
    backend.ensure_running()
    document: dict[str, Any] = ok(httpx.get(f"{backend.url}/openapi.json", timeout=10))
    return document


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records webhook deliveries and scripts replies."""
    server = Receiver()
    try:
        yield server
    finally:
        server.close()
    # Every body that arrived on a path whose endpoint format the test declared (subscribe()
    # does) matches the schema the server serves for that event and format.
    failures = server.schema_failures()
    assert not failures, "delivered bodies break the served schema:\n" + "\n".join(failures)


def _backend_rank(item: pytest.Item) -> int:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("backend") if callspec else None
    return BACKENDS.index(param) + 1 if param in BACKENDS else 0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Backend-free tests, then every SQLite test, then every PostgreSQL one (stable sort)."""
    items.sort(key=_backend_rank)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of the server's log: the cause is usually there."""
    report = yield
    backend = getattr(item, "funcargs", {}).get("backend")
    if report.failed and isinstance(backend, Backend):
        report.sections.append((f"voxsig log ({backend.name}, tail)", backend.server.log_tail(80)))
    return report


def pytest_report_header() -> list[str]:
    return [f"voxsig tests: backends {', '.join(BACKENDS)}; repo {Path(__file__).parents[1]}"]
