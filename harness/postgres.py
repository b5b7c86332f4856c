"""A throwaway PostgreSQL cluster, so the suite tests (and the benchmarks measure) the database
Voxsig runs on in production.

Each test session or benchmark gets its own cluster in a temp dir on a free port, with fsync off
(speed; the data is disposable) and trust auth (no secrets to manage). It is stopped and deleted
at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.processes import HOST, free_port

BINARIES_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the cluster would not start."""


def find_bin_dir(preferred_major: int = 15) -> Path:
    """Debian's server binaries, the preferred major version first, else the newest there is."""
    candidates = [Path(p) for p in glob.glob(BINARIES_GLOB) if Path(p, "initdb").exists()]
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL's server binaries are not installed (no {BINARIES_GLOB}/initdb): "
            "run make test, which installs postgresql"
        )

    def version(path: Path) -> tuple[bool, float]:
        major = path.parent.name
        number = float(major) if major.replace(".", "", 1).isdigit() else 0.0
        return (number == preferred_major, number)

    return max(candidates, key=version)


class PostgresCluster:
    """One initdb'd data directory and the postmaster serving it on 127.0.0.1:<port>."""

    def __init__(self, preferred_major: int = 15) -> None:
        self.bin_dir = find_bin_dir(preferred_major)
        self.host = HOST
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="voxsig-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root
        self.log_path = self.root / "postgres.log"
        self._running = False
        self._removed = False
        # As root, the server must run as an unprivileged user: postgres refuses root.
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")
        atexit.register(self.destroy)  # a safety net if the session ends without teardown

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresCluster:
        """initdb on first use, then start the postmaster and wait until it accepts connections."""
        if not self.data_dir.exists():
            self._initdb()
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_path))
        self._running = True
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the postmaster. `immediate` is a crash from the database's point of view."""
        if self._running:
            self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)
            self._running = False

    def restart(self, mode: str = "immediate") -> None:
        """Stop and start again on the same port, for drills where the database goes away."""
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        """Stop (as fast as possible) and delete every file; safe to call more than once."""
        if self._removed:
            return
        with contextlib.suppress(PostgresUnavailable, OSError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        self._removed = True

    # -- databases ---------------------------------------------------------------------------

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create `name` (it must not exist yet) and return its SQLAlchemy asyncpg URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql over the unix socket and return its unaligned output."""
        return self._run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
        ).stdout

    # -- internals ---------------------------------------------------------------------------

    def _initdb(self) -> None:
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            as_owner=True,
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            # Skipping fsync only loses data if the machine crashes, never when postgres is
            # killed; synchronous_commit stays on so a commit survives `restart()` (immediate).
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        # In postgresql.conf rather than on the pg_ctl command line, so restart() keeps them.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# voxsig test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, *args: str) -> None:
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], as_owner=True)

    def _run(self, argv: list[str], *, as_owner: bool = False) -> subprocess.CompletedProcess[str]:
        if as_owner and self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(argv)} failed with exit code {result.returncode}\n"
                f"{result.stdout}{result.stderr}\n--- postgres.log (tail) ---\n{self.log_tail()}"
            )
        return result

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
