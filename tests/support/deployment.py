"""A Voxsig of a test's own: `voxsig serve` on a fresh database (SQLite, or a PostgreSQL
database on the session's cluster), API-only when the test runs `voxsig worker` processes
itself, and the `deploy` fixture that makes them and tears them all down."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.processes import log_tail
from harness.server import VoxsigServer, voxsig_command
from tests.support.client import ApiClient, create_account, unique_email

if TYPE_CHECKING:
    from tests.conftest import Backend

# A worker that polls often, so drills wait on deliveries rather than on the poll interval.
FAST = {"VOXSIG_WORKER_POLL_SECONDS": "0.2"}
# A lease short enough that a drill sees a killed worker's claims expire and be taken again.
LEASE_SECONDS = 3


class WorkerProcess:
    """`voxsig worker` as a subprocess, its output in a log file of its own."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [*voxsig_command(), "worker"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight stays leased."""
        if self.running:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


class Deployment:
    """A Voxsig on a fresh database of its own: `voxsig serve` (with its in-process worker, or
    API-only when `worker_env` is given) plus any `voxsig worker` processes a test starts."""

    def __init__(
        self,
        backend: Backend,
        work_dir: Path,
        server_env: Mapping[str, str],
        worker_env: Mapping[str, str] | None,
    ) -> None:
        self.backend = backend
        self.work_dir = work_dir
        self.pg_database: str | None = None
        if backend.is_postgres:
            assert backend.cluster is not None
            self.pg_database = f"delivery_{uuid.uuid4().hex[:10]}"
            self.database_url = backend.cluster.create_database(self.pg_database)
        else:
            work_dir.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite+aiosqlite:///{work_dir / 'voxsig.db'}"
        self.api_only = worker_env is not None
        env = dict(server_env)
        if self.api_only:
            env["VOXSIG_RUN_WORKER"] = "false"
        self.server = VoxsigServer(self.database_url, work_dir / "api", env)
        self.worker_env = dict(worker_env or {})
        self.workers: list[WorkerProcess] = []
        self.clients: list[ApiClient] = []

    def start(self) -> Deployment:
        self.server.start()
        return self

    def account(self) -> ApiClient:
        credentials = create_account(self.database_url, "Deliveries", unique_email())
        client = ApiClient(self.server.url, credentials)
        self.clients.append(client)
        return client

    def start_worker(self, **env: str) -> WorkerProcess:
        assert self.api_only, "this deployment's server runs the worker itself"
        full_env = {**self.server.env, **self.worker_env, **env}
        full_env.pop("VOXSIG_RUN_WORKER", None)
        log = self.work_dir / f"worker-{len(self.workers) + 1}.log"
        worker = WorkerProcess(full_env, log, self.work_dir)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        parts = [f"--- server log (tail) ---\n{self.server.log_tail(30)}"]
        for number, worker in enumerate(self.workers, 1):
            parts.append(f"--- worker {number} (pid {worker.pid}) log ---\n{worker.log_tail()}")
        return "\n".join(parts)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for worker in self.workers:
            worker.stop()
        self.server.stop()
        if self.pg_database is not None and self.backend.cluster is not None:
            with contextlib.suppress(Exception):
                self.backend.cluster.drop_database(self.pg_database)


DeployFactory = Callable[..., Deployment]


@pytest.fixture
def deploy(backend: Backend, tmp_path: Path) -> Iterator[DeployFactory]:
    """Factory: deploy(server_env, worker_env=None) starts a Voxsig on a fresh database.
    With `worker_env`, the server is API-only and the test starts `voxsig worker`s itself."""
    made: list[Deployment] = []

    def make(
        server_env: Mapping[str, str] | None = None,
        worker_env: Mapping[str, str] | None = None,
    ) -> Deployment:
        work_dir = tmp_path / f"deployment-{len(made) + 1}"
        deployment = Deployment(backend, work_dir, server_env or {}, worker_env)
        made.append(deployment)
        return deployment.start()

    try:
        yield make
    finally:
        for deployment in made:
            deployment.close()
