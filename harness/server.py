"""Voxsig as a real subprocess, so tests go through the same startup, HTTP stack and shutdown
that users get (and can SIGKILL it to prove nothing is lost)."""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from harness.processes import HOST, REPO, ServerFailed, free_port, scrubbed_env, wait_healthy

SRC = REPO / "src"
TEST_SECRET_KEY = "voxsig-test-secret-key-not-for-production-0123456789"
START_TIMEOUT = 60.0


def voxsig_command() -> list[str]:
    """The `voxsig` CLI of the venv running pytest, or the same entry point through python."""
    script = Path(sys.executable).parent / "voxsig"
    if script.exists():
        return [str(script)]
    # Not installed into the venv (make test does that): run the same main() from src/.
    return [sys.executable, "-c", "from voxsig.cli import main; main()"]


def has_cli() -> bool:
    return importlib.util.find_spec("voxsig.cli") is not None


def voxsig_env(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    """The environment of a test server: nothing inherited from the developer's VOXSIG_*."""
    env = scrubbed_env()
    env.update(
        {
            "VOXSIG_DATABASE_URL": database_url,
            "VOXSIG_HOST": HOST,
            "VOXSIG_PORT": str(port),
            "VOXSIG_DATA_DIR": str(data_dir),
            "VOXSIG_SECRET_KEY": TEST_SECRET_KEY,
            "VOXSIG_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "160",  # rich wraps at 80 columns otherwise, splitting log lines
            # The checkout's code, even if an older copy is installed in the venv.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])),
        }
    )
    return env


class VoxsigServer:
    """`voxsig serve` on a free port of 127.0.0.1, its output appended to one log file."""

    def __init__(
        self, database_url: str, work_dir: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.work_dir = work_dir
        self.data_dir = work_dir / "data"
        self.log_path = work_dir / "voxsig.log"
        self.port = free_port(HOST)
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False  # set when a test (not a crash) ends the process
        work_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.kill)  # no orphan server if the session ends without teardown

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a `voxsig` subprocess needs to talk to this server's database."""
        return {**voxsig_env(self.database_url, self.data_dir, self.port), **self.extra_env}

    def start(self, timeout: float = START_TIMEOUT) -> VoxsigServer:
        """Start (again, on the same port) and return once GET /health answers 200."""
        if self.running:
            raise ServerFailed("Voxsig is already running")
        with self.log_path.open("ab") as log:
            log.write(f"\n=== starting voxsig on {self.url} at {time.ctime()} ===\n".encode())
            log.flush()
            self._stopping = False
            self.process = subprocess.Popen(
                self._argv(),
                cwd=self.work_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_healthy(timeout)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it does not exit in `timeout` s."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL: the crash drill, no shutdown code runs."""
        return self._signal(signal.SIGKILL, 15.0)

    def restart(self) -> VoxsigServer:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def crashed(self) -> bool:
        """It exited by itself: nothing in the tests asked it to."""
        return self.process is not None and not self.running and not self._stopping

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def _argv(self) -> list[str]:
        if has_cli():
            return [*voxsig_command(), "serve"]
        # Before the CLI existed: migrate, then serve the app factory with uvicorn.
        bootstrap = (
            "import os, uvicorn; from voxsig.migrate import upgrade; "
            "upgrade(os.environ['VOXSIG_DATABASE_URL']); "
            "uvicorn.run('voxsig.app:create_app', factory=True, host=os.environ['VOXSIG_HOST'], "
            "port=int(os.environ['VOXSIG_PORT']), log_level='warning')"
        )
        return [sys.executable, "-c", bootstrap]

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        try:
            what = f"Voxsig ({self.database_url})"
            wait_healthy(self.process, f"{self.url}/health", self.log_path, timeout, what)
        except ServerFailed:
            self.kill()
            raise

    def _signal(self, sig: signal.Signals, timeout: float) -> int | None:
        process = self.process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        self._stopping = True
        process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout)


def run_cli(
    env: Mapping[str, str], *args: str, cwd: Path | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run `voxsig ARGS...` to completion with `env`; the caller checks the exit code."""
    return subprocess.run(
        [*voxsig_command(), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
