"""The run of a delivery benchmark: its receiver and work dir, its helper processes (publisher,
client), the account and webhooks it makes, Voxsig's processes and a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rich.table import Table

from bench.common import (
    FILES,
    PROCESSES,
    QUIET_PERCENT,
    BenchError,
    Server,
    Ui,
    api_conversations,
    http_json,
    start_server,
    wait_for_quiet,
    work_dir,
)
from bench.cpu import Groups, with_children
from bench.output import results
from bench.spec import Benchmark, Options
from harness.database import set_webhooks_enabled
from harness.postgres import PostgresCluster, PostgresUnavailable
from harness.processes import free_port, log_problems, log_tail, scrubbed_env
from harness.server import voxsig_command

ALLOWED_NETWORKS = "127.0.0.0/8"
POLL = 0.1  # seconds between looks at the receiver's counts
ROWS_PER_TRANSACTION = 1000  # deliveries per publishing transaction (service layer)
QUIET_AGAIN = 15.0  # s: a machine found quiet this recently is not checked again


class Receiver:
    """bench/delivery_receiver.py, its own process: counts arrivals, checks signatures."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.pid = server.proc.pid

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/hook/{name}"

    def reset(self, secrets: Mapping[str, str], hang: Mapping[str, float] | None = None) -> None:
        body = {"secrets": dict(secrets), "hang": dict(hang or {})}
        http_json("POST", self.server.base_url + "/_reset", body)

    def stats(self, full: bool = False, seqs: bool = False) -> dict[str, Any]:
        query = "&".join(k for k, on in (("full=1", full), ("seqs=1", seqs)) if on)
        result: dict[str, Any] = http_json("GET", f"{self.server.base_url}/_stats?{query}")
        return result


def start_receiver(ui: Ui, workdir: Path) -> Receiver:
    port = free_port()
    args = [sys.executable, "-m", "bench.delivery_receiver", str(port)]
    with ui.step("receiver: starting"):
        return Receiver(
            start_server("receiver", args, scrubbed_env(), port, workdir / "receiver.log")
        )


class Db(NamedTuple):
    """A database for Voxsig: its name, its URL and the environment that points Voxsig at it."""

    name: str
    url: str
    env: dict[str, str]


@dataclass
class Ctx:
    ui: Ui
    receiver: Receiver
    workdir: Path
    quiet_wait: float
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    quiet_at: float = -math.inf  # when the machine was last found quiet

    def quiet(self, label: str) -> float | None:
        """Waits (at most quiet_wait s) until the machine, but for the idle receiver, is quiet;
        returns the % of a core other processes used in the last second (None: not checked,
        as --quiet-wait is 0 or the machine was found quiet less than QUIET_AGAIN s ago)."""
        if self.quiet_wait <= 0 or time.monotonic() - self.quiet_at < QUIET_AGAIN:
            return None
        other = wait_for_quiet(self.ui, self.receiver.server, label, self.quiet_wait)
        if other < QUIET_PERCENT:
            self.quiet_at = time.monotonic()
        return other

    def lap(self, name: str) -> None:
        """Notes the seconds since the previous lap (or the start) as phase `name`."""
        elapsed = time.monotonic() - self.started - sum(self.phases.values())
        self.phases[name] = round(elapsed, 1)

    def results(
        self,
        bench: Benchmark,
        opts: Options,
        rows: list[dict[str, Any]],
        table: tuple[Table, dict[str, Any]] | None,
        figures: Mapping[str, Any],
        cpu: Iterable[tuple[str, Mapping[str, Any]]],
        **extra: Any,
    ) -> tuple[dict[str, Any], list[Any]]:
        """The benchmark's results (output.results), with the run's notes, one for each measured
        part (label, its cpu_percent) that other processes skewed, and how long the run took."""
        notes = self.notes + [
            f"{label}: other processes used {other:.0f}% of a core meanwhile; the figure is "
            "skewed, run again on a quiet machine"
            for label, percent in cpu
            if (other := percent.get("other")) is not None and other > QUIET_PERCENT
        ]
        total = round(time.monotonic() - self.started, 1)
        timing = {"total_seconds": total, "phase_seconds": self.phases}
        return results(bench, opts, rows, table, figures, notes, **timing, **extra)

    def database(self, label: str, name: str, cluster: PostgresCluster | None = None) -> Db:
        """A fresh database: SQLite in the data dir `name`, or `name` on the cluster."""
        if cluster is None:
            data_dir = self.workdir / name
            return Db(name, sqlite_url(data_dir), {"VOXSIG_DATA_DIR": str(data_dir)})
        with self.ui.step(f"{label}: creating database {name}"):
            url = cluster.create_database(name)
        return Db(name, url, {"VOXSIG_DATABASE_URL": url})

    def groups(
        self,
        procs: Sequence[subprocess.Popen[bytes]],
        cluster: PostgresCluster | None = None,
        creator: Tool | None = None,
    ) -> Groups:
        """CPU groups: Voxsig's processes, the receiver, (with a cluster) PostgreSQL's postmaster
        and backends and (with a tool) the process creating the events."""
        groups: dict[str, Any] = {"voxsig": lambda: [p.pid for p in procs]}
        groups["receiver"] = lambda: [self.receiver.pid]
        if cluster is not None:
            groups["postgres"] = lambda: _postgres_pids(cluster)
        if creator is not None:
            groups["creator"] = lambda: [creator.proc.pid]
        return groups


def _postgres_pids(cluster: PostgresCluster) -> list[int]:
    try:
        return with_children(int((cluster.data_dir / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return []


@contextlib.contextmanager
def session(opts: Options, ui: Ui, name: str) -> Iterator[Ctx]:
    """A temporary work dir and a running receiver for one benchmark; the dir (data, logs) is
    kept with --keep or when the benchmark fails."""
    with work_dir(opts, ui, name) as workdir:
        receiver = start_receiver(ui, workdir)
        try:
            yield Ctx(ui, receiver, workdir, opts.quiet_wait)
        finally:
            with ui.step("receiver: stopping"):
                PROCESSES.stop(receiver.server.proc)


@contextlib.contextmanager
def postgres_cluster(ctx: Ctx, opts: Options) -> Iterator[PostgresCluster | None]:
    """A throwaway PostgreSQL cluster (harness.postgres, fsync off), or None, with a note, when
    --no-postgres is given or the server binaries are missing."""
    if opts["no_postgres"]:
        ctx.notes.append("PostgreSQL runs skipped: --no-postgres")
        yield None
        return
    try:
        with ctx.ui.step("postgres: initdb and start a throwaway cluster"):
            cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        ctx.notes.append(f"PostgreSQL runs skipped: {str(exc).splitlines()[0]}")
        yield None
        return
    try:
        yield cluster
    finally:
        cluster.destroy()


# --- helper processes ------------------------------------------------------------------------


@dataclass
class Tool:
    label: str
    proc: subprocess.Popen[bytes]
    out: Path
    log: Path


def spawn_tool(label: str, module: str, config: Mapping[str, Any], workdir: Path) -> Tool:
    """Starts `python -m module CONFIG OUT` (bench.delivery_publisher, bench.delivery_client)."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:80]
    config_path, out, log = (workdir / f"{slug}{end}" for end in FILES)
    config_path.write_text(json.dumps(config))
    args = [sys.executable, "-m", module, str(config_path), str(out)]
    return Tool(label, PROCESSES.start(args, env=scrubbed_env(), log=log), out, log)


def finish_tool(tool: Tool, timeout: float) -> dict[str, Any]:
    """Waits (at most `timeout` s) for a tool to end; returns what it wrote to OUT."""
    try:
        tool.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{tool.label}: did not finish within {timeout:.0f}s") from None
    finally:
        PROCESSES.stop(tool.proc, grace=3.0)
    if tool.proc.returncode != 0 or not tool.out.exists():
        raise BenchError(
            f"{tool.label} failed (code {tool.proc.returncode}):\n{log_tail(tool.log)}"
        )
    result: dict[str, Any] = json.loads(tool.out.read_text())
    return result


def run_tool(
    ctx: Ctx, label: str, config: Mapping[str, Any], timeout: float, module: str = "publisher"
) -> dict[str, Any]:
    """Runs bench.delivery_<module> to completion, as one step of the progress display."""
    with ctx.ui.step(label):
        tool = spawn_tool(label, f"bench.delivery_{module}", config, ctx.workdir)
        return finish_tool(tool, timeout)


# --- the account, its webhooks and Voxsig ----------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """An account with webhooks, made by the publisher's `setup` mode."""

    database_url: str
    account_id: int
    token: str
    endpoints: list[dict[str, Any]]
    scope: str

    @property
    def fanout(self) -> int:
        """Deliveries per event."""
        return 1 if self.scope == "inbox" else len(self.endpoints)

    @property
    def secrets(self) -> dict[str, str]:
        return {e["name"]: e["secret"] for e in self.endpoints}

    @property
    def inbox_ids(self) -> list[int]:
        return list(dict.fromkeys(int(e["inbox_id"]) for e in self.endpoints))

    def publisher(self, mode: str, **config: Any) -> dict[str, Any]:
        """A publisher config for this account (bulk and trickle modes). A trickle runs one
        transaction at a time on SQLite (one write lock), up to 4 at once on PostgreSQL."""
        return {
            "mode": mode,
            "database_url": self.database_url,
            "account_id": self.account_id,
            "inbox_ids": self.inbox_ids,
            "concurrency": 1 if self.database_url.startswith("sqlite") else 4,
            **config,
        }

    def api(self, server: Server, conversations: int) -> dict[str, Any]:
        """`conversations` contacts and a conversation each in the first inbox, through the REST
        API; returns the publisher's config for calling it (mode api)."""
        base = f"{server.base_url}/api/v1/accounts/{self.account_id}"
        headers = {"api_access_token": self.token}
        ids = api_conversations(base, headers, self.inbox_ids[0], conversations)
        return {"base_url": base, "token": self.token, "conversations": ids}


def sqlite_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir / 'voxsig.db'}"


def setup_account(
    ctx: Ctx, label: str, database_url: str, names: Sequence[str], scope: str, backlog: int = 0
) -> tuple[Setup, dict[str, Any] | None]:
    """Migrates the database and makes an account with one webhook per name (`scope`: "inbox",
    one inbox and one delivery per event each; "account", every event to every endpoint); with
    a `backlog` (events), also publishes it in the same process (ROWS_PER_TRANSACTION
    deliveries per transaction) and disables the webhooks, so that its deliveries stay pending
    and unclaimed until drain_backlog enables them again."""
    what = f"{len(names)} webhooks ({scope}-wide)"
    config: dict[str, Any] = {
        "mode": "setup",
        "database_url": database_url,
        "allowed_networks": ALLOWED_NETWORKS,
        "endpoints": [[n, ctx.receiver.url(n)] for n in names],
        "scope": scope,
    }
    if backlog:
        what += f", then {backlog:,} events published"
        batch = max(1, ROWS_PER_TRANSACTION // (1 if scope == "inbox" else len(names)))
        config |= {"mode": "prepare", "events": backlog, "batch": batch}
    made = run_tool(ctx, f"{label}: {what}", config, 120.0 + backlog * len(names) / 500.0)
    token, endpoints = made["api_access_token"], made["endpoints"]
    setup = Setup(database_url, made["account_id"], token, endpoints, scope)
    published: dict[str, Any] | None = made.get("bulk")
    if backlog and (published or {}).get("published") != backlog:
        raise BenchError(f"{label}: published {published} of {backlog}")
    if backlog:
        set_webhooks_enabled(database_url, False)
    return setup, published


def voxsig_env(**extra: str) -> dict[str, str]:
    return scrubbed_env(VOXSIG_WEBHOOK_ALLOWED_NETWORKS=ALLOWED_NETWORKS, **extra)


@dataclass
class Voxsig:
    """Voxsig's running processes: `voxsig serve` (`server`), or `voxsig worker`s."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]
    server: Server | None = None


@contextlib.contextmanager
def voxsig(
    ctx: Ctx, label: str, db: Db, workers: int = 0, settings: Mapping[str, str] | None = None
) -> Iterator[Voxsig]:
    """`voxsig serve` on `db` (SQLite; its worker in-process) or, given a number of `workers`,
    that many `voxsig worker` processes, with the VOXSIG_* `settings`; stopped afterwards, and
    then (unless the benchmark failed) their logs must hold no error."""
    env = voxsig_env(**db.env, **(settings or {}))
    if not workers:
        port, log = free_port(), ctx.workdir / f"{db.name}-serve.log"
        with ctx.ui.step(f"{label}: starting `voxsig serve`"):
            args = [*voxsig_command(), "serve"]
            server = start_server(label, args, env | {"VOXSIG_PORT": str(port)}, port, log)
        running = Voxsig([server.proc], [log], server)
    else:
        logs = [ctx.workdir / f"{db.name}-worker{i}.log" for i in range(workers)]
        with ctx.ui.step(f"{label}: starting {workers} x `voxsig worker`"):
            args = [*voxsig_command(), "worker"]
            running = Voxsig([PROCESSES.start(args, env=env, log=log) for log in logs], logs)
    try:
        yield running
    finally:
        with ctx.ui.step(f"{label}: stopping Voxsig"):
            for proc in running.procs:
                PROCESSES.stop(proc)
    fail_on(label, logs_problems(running.logs))


def logs_problems(logs: Iterable[Path]) -> list[str]:
    return [
        f"{len(lines)} error lines in {log.name}; its end:\n{log_tail(log, 20)}"
        for log in logs
        if (lines := log_problems(log))
    ]


def fail_on(label: str, problems: Sequence[str]) -> None:
    """Fails the benchmark (its data dirs and logs are kept) if a check found anything."""
    if problems:
        raise BenchError(f"{label}: " + "\n  ".join(["checks failed:", *problems]))


def await_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Waits until `text` appears in a process's log (fails if it exits or takes too long)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            raise BenchError(f"{log.name}: exited (code {proc.returncode}):\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{log.name}: no {text!r} within {timeout:.0f}s:\n{log_tail(log)}")
        time.sleep(POLL)


def await_listeners(
    cluster: PostgresCluster, database: str, count: int, timeout: float = 60.0
) -> None:
    """Waits until `count` connections LISTEN on `database`: that many `voxsig worker`s are up
    (a worker LISTENs before its first look at the deliveries)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
    )
    deadline = time.monotonic() + timeout
    while int(cluster.psql(sql, database=database).strip() or 0) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"{database}: {count} workers did not LISTEN within {timeout:.0f}s")
        time.sleep(POLL)
