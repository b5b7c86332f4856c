"""A throwaway S3-protocol server (moto's standalone server) on 127.0.0.1, so the S3 store is
tested over real HTTP with real signatures, multipart uploads and presigned URLs, not against a
mocked client.

moto keeps everything in memory: stopping the process is the whole cleanup. It accepts any
credentials, and its region is whatever the client signs with.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.processes import (
    HOST,
    ProcessGroups,
    free_port,
    log_problems,
    scrubbed_env,
    wait_healthy,
)

START_TIMEOUT = 60.0  # moto imports a lot: a few seconds on a shared 2-core machine
ACCESS_KEY = "voxsig-test-access-key"
SECRET_KEY = "voxsig-test-secret-key"
REGION = "us-east-1"


class MotoServer:
    """`python -m moto.server` on a free port, its output in one log file."""

    def __init__(self, work_dir: Path) -> None:
        self.host = HOST
        self.port = free_port()
        work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = work_dir / "moto.log"
        self._groups = ProcessGroups()  # stops the server at exit too, if teardown never ran

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        """Starts the server and returns once it answers; a server that did not come up is
        stopped before the error is raised."""
        # No AWS_* of the developer's reaches moto (it would read them for its own config).
        env = {k: v for k, v in scrubbed_env().items() if not k.startswith("AWS_")}
        proc = self._groups.start(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            env=env,
            log=self.log_path,
        )
        try:
            wait_healthy(proc, f"{self.endpoint}/moto-api/", self.log_path, START_TIMEOUT, "moto")
        except BaseException:
            self._groups.stop(proc, grace=3.0)
            raise
        return self

    def stop(self) -> None:
        """Ends the server (safe to call more than once); its log stays for a post-mortem."""
        self._groups.stop_all()

    def problems(self) -> list[str]:
        """Lines of moto's log that report an error: a test may assert there are none."""
        return log_problems(self.log_path)
