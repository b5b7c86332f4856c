"""Free ports, a child's environment, logs, and process groups that are always stopped."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
ERROR_MARKERS = ("Traceback", "ERROR", "Exception", "CRITICAL")


class ServerFailed(RuntimeError):
    """A server exited, or did not answer its health check in time; the message carries its
    log tail."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the kernel picks it; races are unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def scrubbed_env(**extra: str) -> dict[str, str]:
    """Our environment without any VOXSIG_ setting (the developer's must not leak into a
    child), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXSIG_")}
    env.update(extra)
    return env


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def log_problems(log: Path) -> list[str]:
    """Lines of a log that report an error or a traceback."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if any(m in line for m in ERROR_MARKERS)]


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, what: str = "the server"
) -> None:
    """Returns once GET `url` answers 200; raises ServerFailed (with the log's tail) if `proc`
    exits first or `timeout` s pass. The caller stops a server that did not come up."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise ServerFailed(
                f"{what} exited with code {code} while starting:\n{log_tail(log, 60)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2.0) as resp:  # noqa: S310 (http only)
                if resp.status == 200:
                    return
                last = str(resp.status)
        except (OSError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise ServerFailed(
        f"{what} did not answer GET {url} with 200 within {timeout:.0f} s (last: {last}):\n"
        + log_tail(log, 60)
    )


class ProcessGroups:
    """Subprocesses, each in its own process group (so a Ctrl-C at the terminal reaches only
    us, and we end them in order), so that `stop` and `stop_all` end each one and whatever it
    started. `stop_all` runs at exit, too."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def start(
        self, args: Sequence[str], *, env: Mapping[str, str], log: Path, stdout_pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as log_file:
            proc = subprocess.Popen(
                list(args),
                cwd=REPO,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log_file,
                stderr=log_file,
                start_new_session=True,
            )
        with self._lock:
            self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM to the process group (uvicorn shuts down cleanly), SIGKILL after `grace`."""
        # Signals go to the group only while its leader is unreaped: its id cannot be reused.
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
        if proc.stdout is not None:
            proc.stdout.close()
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)

    def stop_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            self.stop(proc, grace=3.0)
