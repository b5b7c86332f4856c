"""What the delivery benchmarks (deliveries, latency, isolation, backlog, scaleout) share: the
webhook receiver, the helper processes (publisher, client), Voxsig's processes, a throwaway
PostgreSQL cluster, CPU and memory of process groups, waiting for arrivals, the database's view
of the deliveries, latency statistics, the checks that fail a run, and the headline rows."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    PROCESSES,
    QUIET_PERCENT,
    BenchError,
    Options,
    Server,
    Ui,
    child_env,
    cpu_seconds,
    free_port,
    http_json,
    log_problems,
    log_tail,
    percentile,
    start_server,
    system_busy_seconds,
    venv_script,
    wait_for_quiet,
    work_dir,
)

ALLOWED_NETWORKS = "127.0.0.0/8"
POLL = 0.1  # seconds between looks at the receiver's counts
OTHER_CPU_WARN = 20.0  # % of a core used by other processes that makes a figure doubtful
QUIET_AGAIN = 15.0  # s: a machine found quiet this recently is not checked again
TIMES = "\u00d7"  # the unit of ratios in the headline rows


# --- options shared by the delivery benchmarks -----------------------------------------------


@dataclass
class Shared:
    postgres: bool = True


SHARED = Shared()


def add_shared_arguments(parser: argparse.ArgumentParser) -> None:
    """Options several delivery benchmarks read; added once whichever benchmark asks first."""
    if "--no-postgres" in parser._option_string_actions:
        return
    parser.add_argument(
        "--no-postgres",
        action="store_true",
        help="skip the PostgreSQL runs (latency, scaleout)",
    )


def configure_shared(args: argparse.Namespace) -> None:
    SHARED.postgres = not args.no_postgres


def number_list(text: str, option: str, low: float, high: float) -> tuple[float, ...]:
    """A comma-separated option's numbers, each in [low, high] (else the run stops, saying so)."""
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise SystemExit(f"{option} must be comma-separated numbers") from None
    if not values or not all(low <= v <= high for v in values):
        raise SystemExit(f"{option}: each value must be between {low:g} and {high:g}")
    return values


# --- the receiver and the run's context ------------------------------------------------------


class Receiver:
    def __init__(self, server: Server) -> None:
        self.server = server

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/hook/{name}"

    def reset(self, secrets: Mapping[str, str], hang: Mapping[str, float] | None = None) -> None:
        http_json(
            "POST",
            self.server.base_url + "/_reset",
            {"secrets": dict(secrets), "hang": dict(hang or {})},
        )

    def stats(self, full: bool = False, seqs: bool = False) -> dict[str, Any]:
        query = "&".join(k for k, on in (("full=1", full), ("seqs=1", seqs)) if on)
        result: dict[str, Any] = http_json(
            "GET", self.server.base_url + "/_stats" + (f"?{query}" if query else "")
        )
        return result


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

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)


@contextlib.contextmanager
def session(opts: Options, ui: Ui, name: str) -> Iterator[Ctx]:
    """A temporary work dir and a running receiver for one benchmark; the dir (data, logs) is
    kept with --keep or when the benchmark fails."""
    with work_dir(opts, ui, name) as workdir:
        port = free_port()
        with ui.step("receiver: starting"):
            server = start_server(
                "receiver",
                [sys.executable, "-m", "bench.delivery_receiver", str(port)],
                child_env(),
                port,
                workdir / "receiver.log",
            )
        try:
            yield Ctx(ui, Receiver(server), workdir, opts.quiet_wait)
        finally:
            with ui.step("receiver: stopping"):
                PROCESSES.stop(server.proc)


@contextlib.contextmanager
def postgres_cluster(ctx: Ctx) -> Iterator[Any | None]:
    """A throwaway PostgreSQL cluster (tests.support.postgres, fsync off), or None, with a note,
    when --no-postgres is given or the server binaries are missing."""
    if not SHARED.postgres:
        ctx.notes.append("PostgreSQL runs skipped: --no-postgres")
        yield None
        return
    from tests.support.postgres import PostgresCluster, PostgresUnavailable

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
    config_path = workdir / f"{slug}-config.json"
    out_path = workdir / f"{slug}-out.json"
    log = workdir / f"{slug}.log"
    config_path.write_text(json.dumps(config))
    proc = PROCESSES.start(
        [sys.executable, "-m", module, str(config_path), str(out_path)], env=child_env(), log=log
    )
    return Tool(label, proc, out_path, log)


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
    ctx: Ctx, label: str, module: str, config: Mapping[str, Any], timeout: float
) -> dict[str, Any]:
    """Runs a tool to completion, as one step of the progress display."""
    with ctx.ui.step(label):
        return finish_tool(spawn_tool(label, module, config, ctx.workdir), timeout)


# --- Voxsig: databases, endpoints, events, processes -----------------------------------------


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
        sqlite = self.database_url.startswith("sqlite")
        return {
            "mode": mode,
            "database_url": self.database_url,
            "account_id": self.account_id,
            "inbox_ids": self.inbox_ids,
            "concurrency": 1 if sqlite else 4,
            **config,
        }


def sqlite_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir / 'voxsig.db'}"


def setup_config(ctx: Ctx, database_url: str, names: Sequence[str], scope: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "allowed_networks": ALLOWED_NETWORKS,
        "endpoints": [[n, ctx.receiver.url(n)] for n in names],
        "scope": scope,
    }


def setup_account(
    ctx: Ctx,
    label: str,
    database_url: str,
    names: Sequence[str],
    scope: str,
    publish: tuple[int, int] | None = None,
) -> tuple[Setup, dict[str, Any] | None]:
    """Migrates the database and makes an account with one webhook per name (`scope`: "inbox",
    one inbox and one delivery per event each; "account", every event to every endpoint); with
    `publish` (events, per transaction), also publishes that backlog in the same process."""
    what = f"{len(names)} webhooks ({scope}-wide)"
    config = setup_config(ctx, database_url, names, scope)
    if publish is not None:
        events, batch = publish
        what += f", then {events:,} events published"
        config |= {"mode": "prepare", "events": events, "batch": batch}
    else:
        config["mode"] = "setup"
    timeout = 120.0 + (publish[0] * len(names) / 500.0 if publish else 0.0)
    made = run_tool(ctx, f"{label}: {what}", "bench.delivery_publisher", config, timeout)
    setup = Setup(
        database_url, made["account_id"], made["api_access_token"], made["endpoints"], scope
    )
    published: dict[str, Any] | None = made.get("bulk")
    if publish is not None:
        assert published is not None
        if published["published"] != publish[0]:
            raise BenchError(f"{label}: published {published['published']} of {publish[0]}")
    return setup, published


def warm_up(ctx: Ctx, label: str, setup: Setup, procs: Sequence[subprocess.Popen[bytes]]) -> int:
    """One event per endpoint, published in one transaction, and waits until they all arrived:
    the Voxsig processes are then up, connected and warm. Returns the deliveries it made."""
    events = len(setup.endpoints)
    ctx.receiver.reset(setup.secrets)
    config = setup.publisher("bulk", events=events, batch=events)
    run_tool(ctx, f"{label}: warm-up, {events} events", "bench.delivery_publisher", config, 60.0)
    expected = events * setup.fanout
    await_arrivals(ctx, f"{label}: warm-up", expected, procs, {}, 60.0)
    return expected


def create_conversations(base_url: str, setup: Setup, inbox_id: int, count: int) -> list[int]:
    """`count` contacts and one conversation each in `inbox_id`, through the REST API."""
    api = f"{base_url}/api/v1/accounts/{setup.account_id}"
    headers = {"api_access_token": setup.token}
    ids = []
    for i in range(count):
        body = {"name": f"Customer {i}", "inbox_id": inbox_id}
        contact = http_json("POST", f"{api}/contacts", body, headers)["payload"]["contact"]
        body = {"inbox_id": inbox_id, "contact_id": contact["id"]}
        ids.append(int(http_json("POST", f"{api}/conversations", body, headers)["id"]))
    return ids


def voxsig_env(**extra: str) -> dict[str, str]:
    return child_env(VOXSIG_WEBHOOK_ALLOWED_NETWORKS=ALLOWED_NETWORKS, **extra)


def start_serve(ctx: Ctx, label: str, data_dir: Path, **env: str) -> Server:
    """`voxsig serve` on the SQLite database in `data_dir` (its worker in-process)."""
    port = free_port()
    log = ctx.workdir / f"{data_dir.name}-serve.log"
    full_env = voxsig_env(VOXSIG_DATA_DIR=str(data_dir), VOXSIG_PORT=str(port), **env)
    with ctx.ui.step(f"{label}: starting `voxsig serve`"):
        return start_server(label, [str(venv_script("voxsig")), "serve"], full_env, port, log)


def start_workers(
    ctx: Ctx, label: str, count: int, name: str, **env: str
) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    """`count` `voxsig worker` processes (env: the database), logs named after `name`."""
    logs = [ctx.workdir / f"{name}-worker{i}.log" for i in range(count)]
    full_env = voxsig_env(**env)
    procs = []
    with ctx.ui.step(f"{label}: starting {count} x `voxsig worker`"):
        for log in logs:
            args = [str(venv_script("voxsig")), "worker"]
            procs.append(PROCESSES.start(args, env=full_env, log=log))
    return procs, logs


def stop_all(ctx: Ctx, label: str, procs: Iterable[subprocess.Popen[bytes]]) -> None:
    with ctx.ui.step(f"{label}: stopping Voxsig"):
        for proc in procs:
            PROCESSES.stop(proc)


def await_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Waits until `text` appears in a process's log (fails if it exits or takes too long)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            raise BenchError(f"{log.name}: exited (code {proc.returncode}):\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{log.name}: no {text!r} within {timeout:.0f}s:\n{log_tail(log)}")
        time.sleep(POLL)


def await_listeners(cluster: Any, database: str, count: int, timeout: float = 60.0) -> None:
    """Waits until `count` connections LISTEN on `database`: that many `voxsig worker`s are up
    (a worker LISTENs before its first look at the deliveries)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
    )
    deadline = time.monotonic() + timeout
    while int(str(cluster.psql(sql, database=database)).strip() or 0) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"{database}: {count} workers did not LISTEN within {timeout:.0f}s")
        time.sleep(POLL)


def set_webhooks_enabled(
    enabled: bool, db: Path | None = None, cluster: Any = None, database: str = ""
) -> None:
    """Disables or enables every webhook with one UPDATE (SQLite file `db`, or `database` on the
    cluster, where enabling also NOTIFYs the workers, as publishing does). Deliveries of a
    disabled endpoint stay pending and are not claimed: a backlog can be published, the
    webhooks disabled, the workers started and found idle, and the whole backlog then made
    claimable at one moment."""
    if cluster is not None:
        if enabled:
            sql = "UPDATE webhooks SET enabled = true; NOTIFY voxsig_deliveries"
        else:
            sql = "UPDATE webhooks SET enabled = false"
        cluster.psql(sql, database=database)
        return
    assert db is not None
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        with conn:
            conn.execute("UPDATE webhooks SET enabled = ?", (1 if enabled else 0,))
    finally:
        conn.close()


# --- CPU and memory --------------------------------------------------------------------------

Groups = Mapping[str, Callable[[], Sequence[int]]]


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def postgres_pids(cluster: Any) -> list[int]:
    try:
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *children_of(postmaster)]


def groups_for(
    procs: Sequence[subprocess.Popen[bytes]],
    receiver: Receiver,
    cluster: Any = None,
    creator: Tool | None = None,
) -> dict[str, Callable[[], Sequence[int]]]:
    """CPU groups: Voxsig's processes, the receiver, (with a cluster) PostgreSQL and (with a
    tool) the process creating the events."""
    groups: dict[str, Callable[[], Sequence[int]]] = {
        "voxsig": lambda: [p.pid for p in procs],
        "receiver": lambda: [receiver.pid],
    }
    if cluster is not None:
        groups["postgres"] = lambda: postgres_pids(cluster)
    if creator is not None:
        groups["creator"] = lambda: [creator.proc.pid]
    return groups


def cpu_snapshot(groups: Groups) -> dict[str, float]:
    snap = {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}
    snap["_busy"] = system_busy_seconds()
    snap["_wall"] = time.monotonic()
    return snap


def cpu_use(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """% of one core per group between two snapshots, `other` for the rest of the machine, and
    the CPU seconds of each group (`s_<group>`)."""
    wall = after["_wall"] - before["_wall"]
    if wall <= 0:
        return {}
    used = {k: after[k] - before[k] for k in before if not k.startswith("_")}
    other = (after["_busy"] - before["_busy"]) - sum(used.values())
    percent = {k: round(100.0 * v / wall, 1) for k, v in used.items()}
    percent["other"] = round(100.0 * max(other, 0.0) / wall, 1)
    percent.update({f"s_{k}": round(v, 3) for k, v in used.items()})
    return percent


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class RssSampler:
    """Resident memory of some processes and their children, sampled with the arrival count
    at each look (every POLL s); children are looked up again once a second."""

    def __init__(self, pids: Callable[[], Sequence[int]]) -> None:
        self._roots = pids
        self._tree: list[int] = []
        self._tree_at = 0.0
        self.samples: list[tuple[float, int, float]] = []  # (monotonic, arrivals, MB)

    def __call__(self, stats: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if now - self._tree_at >= 1.0:
            roots = list(self._roots())
            self._tree = roots + [c for r in roots for c in children_of(r)]
            self._tree_at = now
        self.samples.append((now, int(stats["count"]), sum(rss_mb(p) for p in self._tree)))

    def summary(self, total: int) -> dict[str, Any]:
        if not self.samples:
            return {}
        peak = max(mb for _, _, mb in self.samples)

        def at(fraction: float) -> float | None:
            done = [mb for _, n, mb in self.samples if n >= fraction * total]
            return round(done[0], 1) if done else None

        return {
            "peak_mb": round(peak, 1),
            "at_start_mb": round(self.samples[0][2], 1),
            **{f"at_{p}pct_mb": at(p / 100.0) for p in (10, 50, 90)},
            "samples": len(self.samples),
        }


# --- waiting for deliveries ------------------------------------------------------------------


def await_arrivals(
    ctx: Ctx,
    label: str,
    expected: int,
    procs: Sequence[subprocess.Popen[bytes]],
    groups: Groups,
    timeout: float,
    on_poll: Callable[[Mapping[str, Any]], None] | None = None,
    seqs: bool = False,
) -> dict[str, Any]:
    """Waits until `expected` distinct deliveries arrived (at most `timeout` s), failing if a
    Voxsig process exits. Returns the receiver's full stats, plus the CPU used (`cpu_percent`)
    from the first arrival seen to the last (so the start-up is not counted) and the number of
    arrivals in that window."""
    ui, receiver = ctx.ui, ctx.receiver
    task = ui.timed_task(f"{label}: 0/{expected:,} delivered", total=expected)
    deadline = time.monotonic() + timeout
    first_cpu: dict[str, float] | None = None
    first_count = 0
    try:
        while True:
            stats = receiver.stats()
            if on_poll is not None:
                on_poll(stats)
            if first_cpu is None and stats["count"] > 0:
                first_cpu, first_count = cpu_snapshot(groups), stats["count"]
            ui.progress.update(
                task,
                completed=min(stats["unique"], expected),
                description=f"{label}: {stats['unique']:,}/{expected:,} delivered",
            )
            if stats["unique"] >= expected:
                break
            for proc in procs:
                if proc.poll() is not None:
                    raise BenchError(f"{label}: a Voxsig process exited (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{label}: only {stats['unique']:,} of {expected:,} deliveries arrived "
                    f"within {timeout:.0f}s"
                )
            time.sleep(POLL)
    finally:
        ui.progress.stop_task(task)
    last_cpu = cpu_snapshot(groups)
    full = receiver.stats(full=True, seqs=seqs)
    full["cpu_percent"] = cpu_use(first_cpu, last_cpu) if first_cpu else {}
    full["cpu_window_deliveries"] = full["count"] - first_count
    return full


Statuses = Callable[[], dict[str, int]]


def sqlite_statuses(db: Path) -> Statuses:
    """Deliveries by status, `attempts`, and `error:<class>` for the failed attempts."""

    def count() -> dict[str, int]:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)
        try:
            rows = list(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
            rows += conn.execute("SELECT 'attempts', count(*) FROM delivery_attempts").fetchall()
            rows += conn.execute(
                "SELECT 'error:' || error_class, count(*) FROM delivery_attempts "
                "WHERE error_class IS NOT NULL GROUP BY error_class"
            ).fetchall()
        finally:
            conn.close()
        return {str(s): int(n) for s, n in rows}

    return count


def postgres_statuses(cluster: Any, database: str) -> Statuses:
    def count() -> dict[str, int]:
        text = cluster.psql(
            "SELECT status, count(*) FROM deliveries GROUP BY status "
            "UNION ALL SELECT 'attempts', count(*) FROM delivery_attempts "
            "UNION ALL SELECT 'error:' || error_class, count(*) FROM delivery_attempts "
            "WHERE error_class IS NOT NULL GROUP BY error_class",
            database=database,
        )
        result = {}
        for line in str(text).splitlines():
            if "|" in line:
                status, n = line.rsplit("|", 1)
                result[status] = int(n)
        return result

    return count


def await_recorded(
    statuses: Statuses, succeeded: int, timeout: float = 30.0
) -> tuple[dict[str, int], float | None]:
    """Waits until the database shows `succeeded` succeeded deliveries; returns the counts and
    the time.time() it first saw them (None if it never did)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = statuses()
        if counts.get("succeeded", 0) >= succeeded:
            return counts, time.time()
        if time.monotonic() > deadline:
            return counts, None
        time.sleep(POLL)


def drain_summary(
    stats: Mapping[str, Any],
    counts: Mapping[str, int] | None = None,
    recorded_at: float | None = None,
    since: float | None = None,
) -> dict[str, Any]:
    """The figures of one run: deliveries/s from the first arrival to the last (and, given
    `since`, e.g. when the first event was created, from then), CPU per delivery and % of a
    core per process group over the arrivals, how long after the last arrival the database
    showed them all succeeded."""
    first, last = stats["first"] or 0.0, stats["last"] or 0.0
    span = last - first
    cpu = stats["cpu_percent"]
    window = stats["cpu_window_deliveries"]
    voxsig_cpu = cpu.get("s_voxsig")
    per_second = stats.get("per_second", [])
    summary = {
        "deliveries": stats["count"],
        "unique": stats["unique"],
        "duplicates": stats["duplicates"],
        "first_to_last_s": round(span, 3),
        "deliveries_per_s": round(stats["count"] / span, 1) if span > 0 else None,
        "slowest_whole_second": min(per_second[1:-1]) if len(per_second) > 2 else None,
        "recorded_after_last_arrival_s": None
        if recorded_at is None or stats["last"] is None
        else round(max(0.0, recorded_at - last), 2),
        "db_counts": dict(counts) if counts is not None else None,
        "voxsig_cpu_ms_per_delivery": round(1000.0 * voxsig_cpu / window, 3)
        if voxsig_cpu and window
        else None,
        "cpu_percent": {k: v for k, v in cpu.items() if not k.startswith("s_")},
        "signatures_verified": stats["verified"],
        "bad_signatures": stats["bad_signatures"],
        "unsigned": stats["unsigned"],
        "endpoints_reached": stats["paths"],
        "hung": stats.get("hung", 0),
        "per_second": per_second,
    }
    if since is not None:
        end_to_end = last - since
        summary["end_to_end_s"] = round(end_to_end, 3)
        summary["end_to_end_deliveries_per_s"] = (
            round(stats["count"] / end_to_end, 1) if end_to_end > 0 else None
        )
    return summary


def drain_backlog(
    ctx: Ctx,
    label: str,
    expected: int,
    procs: Sequence[subprocess.Popen[bytes]],
    groups: Groups,
    statuses: Statuses,
    enable: Callable[[], None],
    on_poll: Callable[[Mapping[str, Any]], None] | None = None,
    check_db: bool = True,
) -> dict[str, Any]:
    """Makes a published backlog claimable (`enable`, e.g. set_webhooks_enabled) for workers
    that are already up and idle, waits until all `expected` deliveries arrived and the
    database shows them succeeded, and checks the arrivals and (unless the caller checks it
    itself) that the database shows nothing else."""
    other_before = ctx.quiet(label)
    if on_poll is not None:
        on_poll({"count": 0})  # the idle worker, before the backlog shows
    enabled_at = time.time()
    enable()
    stats = await_arrivals(ctx, label, expected, procs, groups, 60.0 + expected / 100.0, on_poll)
    counts, recorded_at = await_recorded(statuses, expected, timeout=60.0)
    problems = arrival_problems(stats, expected)
    fail_on(label, problems + (db_problems(counts, expected) if check_db else []))
    summary = drain_summary(stats, counts, recorded_at, since=enabled_at)
    summary["first_arrival_after_enable_s"] = round(stats["first"] - enabled_at, 3)
    summary["other_cpu_percent_before"] = other_before
    return summary


# --- checks ----------------------------------------------------------------------------------


def arrival_problems(stats: Mapping[str, Any], expected: int) -> list[str]:
    problems = []
    if stats["unique"] != expected:
        problems.append(f"{stats['unique']} distinct deliveries arrived, {expected} expected")
    if stats["duplicates"]:
        problems.append(f"{stats['duplicates']} deliveries arrived more than once")
    if stats["unsigned"]:
        problems.append(f"{stats['unsigned']} deliveries arrived without a signature")
    if stats["bad_signatures"]:
        problems.append(
            f"{stats['bad_signatures']} signatures did not verify: {stats['bad_signature_sample']}"
        )
    if expected and not stats["verified"]:
        problems.append("no signature was verified")
    return problems


def db_problems(
    counts: Mapping[str, int] | None,
    succeeded: int,
    attempts: int | None = None,
    pending: int = 0,
    errors: Iterable[str] = (),
) -> list[str]:
    """The database must show `succeeded` succeeded and `pending` pending deliveries (nothing
    else), `attempts` attempts (default: one per success) and failed attempts only of the
    classes in `errors`."""
    if counts is None:
        return ["the database was not read"]
    problems = []
    want = {"succeeded": succeeded, "attempts": succeeded if attempts is None else attempts}
    if pending:
        want["pending"] = pending
    for key, n in want.items():
        if counts.get(key, 0) != n:
            problems.append(f"database: {counts.get(key, 0)} {key}, {n} expected ({counts})")
    allowed = {"succeeded", "attempts", *(["pending"] if pending else [])}
    allowed |= {f"error:{e}" for e in errors}
    extra = {k: n for k, n in counts.items() if k not in allowed and n}
    if extra:
        problems.append(f"database: unexpected {extra}")
    return problems


def logs_problems(logs: Iterable[Path]) -> list[str]:
    problems = []
    for log in logs:
        lines = log_problems(log)
        if lines:
            tail = log_tail(log, 20)
            problems.append(f"{len(lines)} error lines in {log.name}; its end:\n{tail}")
    return problems


def fail_on(label: str, problems: Sequence[str]) -> None:
    """Fails the benchmark (its data dirs and logs are kept) if a check found anything."""
    if problems:
        raise BenchError(f"{label}: " + "\n  ".join(["checks failed:", *problems]))


def busy_note(label: str, cpu_percent: Mapping[str, Any]) -> str | None:
    other = cpu_percent.get("other")
    if other is not None and other > OTHER_CPU_WARN:
        return (
            f"{label}: other processes used {other:.0f}% of a core meanwhile; the figure is "
            "skewed, run again on a quiet machine"
        )
    return None


# --- latency ---------------------------------------------------------------------------------


def ms(values: Sequence[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if math.isnan(value) else round(value * 1000.0, 1)


def latency_summary(
    sent: Mapping[str, Sequence[float]],
    by_seq: Mapping[str, Sequence[float | None]],
    include: Callable[[int], bool] = lambda _seq: True,
) -> dict[str, Any]:
    """Per sequence number (those `include` accepts): arrival minus the sender's clock once its
    commit (or the request's 2xx) returned, and minus the clock embedded in the payload (taken
    before the insert, or when the request was sent)."""
    after, before = [], []
    for seq, (t_before, t_after) in sent.items():
        if not include(int(seq)):
            continue
        arrived = by_seq.get(seq)
        if arrived is None:
            continue
        arrival, embedded = arrived
        assert arrival is not None
        before.append(arrival - (embedded if embedded is not None else t_before))
        after.append(arrival - t_after)
    after.sort()
    before.sort()
    wanted = sum(1 for seq in sent if include(int(seq)))
    return {
        "events": wanted,
        "delivered": len(after),
        "missing": wanted - len(after),
        "ms": {"p50": ms(after, 50), "p90": ms(after, 90), "p99": ms(after, 99)}
        | {"min": ms(after, 0), "max": ms(after, 100)},
        "from_embedded_ms": {"p50": ms(before, 50), "p99": ms(before, 99), "max": ms(before, 100)},
    }


def trickle(
    ctx: Ctx,
    label: str,
    config: Mapping[str, Any],
    procs: Sequence[subprocess.Popen[bytes]],
    groups: Groups,
    rate: float,
    seconds: float,
    include: Callable[[int], bool] = lambda _seq: True,
) -> dict[str, Any]:
    """A steady open-loop trickle of `rate` events/s for `seconds` by the publisher (mode
    `trickle`, or `api_trickle` through the REST API); the receiver must be reset before. Fails
    if an event (that `include` accepts) does not arrive within 60 s."""
    other_before = ctx.quiet(label)
    cpu_before = cpu_snapshot(groups)
    # The sender ends before the window does: its CPU (its own rusage) is taken out of `other`.
    out = run_tool(
        ctx,
        f"{label}: {rate:g} events/s for {seconds:g}s",
        "bench.delivery_publisher",
        {**config, "rate": rate, "seconds": seconds},
        timeout=seconds + 60.0,
    )
    sent: dict[str, list[float]] = out["sent"]
    if out["errors"]:
        raise BenchError(f"{label}: {out['errors']} requests failed: {out['error_sample']}")
    expected = sum(1 for seq in sent if include(int(seq)))
    stats = await_arrivals(ctx, f"{label}: arrivals", expected, procs, {}, 60.0, seqs=True)
    cpu_after = cpu_snapshot(groups)
    fail_on(label, arrival_problems(stats, expected))
    result = latency_summary(sent, stats["by_seq"], include)
    result["rate"] = rate
    result["seconds"] = seconds
    # How long each commit (or API call) took, as the sender saw it.
    took = sorted(t_after - t_before for t_before, t_after in sent.values())
    result["send_ms"] = {"p50": ms(took, 50), "p99": ms(took, 99), "max": ms(took, 100)}
    stamps = sorted(t_after for _, t_after in sent.values())
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    result["achieved_rate"] = round((len(stamps) - 1) / span, 1) if span > 0 else None
    voxsig_cpu = cpu_after.get("voxsig", 0.0) - cpu_before.get("voxsig", 0.0)
    # Over the whole trickle, the publisher's start-up included (Voxsig idles meanwhile).
    result["voxsig_cpu_ms_per_event"] = round(1000.0 * voxsig_cpu / len(sent), 2) if sent else None
    cpu = cpu_use(cpu_before, cpu_after)
    wall = cpu_after["_wall"] - cpu_before["_wall"]
    sender = 100.0 * float(out.get("cpu_s", 0.0)) / wall if wall > 0 else 0.0
    cpu["sender"] = round(sender, 1)
    if "other" in cpu:
        cpu["other"] = round(max(0.0, cpu["other"] - sender), 1)
    result["cpu_percent"] = {k: v for k, v in cpu.items() if not k.startswith("s_")}
    result["other_cpu_percent_before"] = other_before
    return result


# --- headline and output ---------------------------------------------------------------------


def headline(
    figure: str,
    value: float | int | str | None,
    unit: str,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One row of a benchmark's `headline` (what bench/report.py puts in docs/benchmarks.md)."""
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "target": target,
        "met": met,
        "note": note,
    }


def results(
    ctx: Ctx,
    opts: Options,
    bench: tuple[str, str, str],
    rows: list[dict[str, Any]],
    table: tuple[Any, dict[str, Any]] | None,
    params: Mapping[str, Any],
    figures: Mapping[str, Any],
    cpu: Iterable[tuple[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], list[Any]]:
    """A delivery benchmark's JSON data and what it prints: its detail table, its headline rows,
    then its notes (those of the run, and a warning for each measured part during which other
    processes used the CPU). `bench`: name, description, method; `cpu`: (label, cpu_percent)."""
    name, description, method = bench
    notes = ctx.notes + [n for label, percent in cpu if (n := busy_note(label, percent))]
    output: list[Any] = [] if table is None else [table[0]]
    output.append(headline_table(f"{name}: headline", rows))
    output.extend(f"[yellow]note:[/] {n}" for n in notes)
    data = {
        "benchmark": name,
        "description": description,
        "method": method,
        "headline": rows,
        "table": None if table is None else table[1],
        "params": {
            **params,
            "allowed_networks": ALLOWED_NETWORKS,
            "quiet_wait": opts.quiet_wait,
        },
        **figures,
        "total_seconds": ctx.elapsed(),
        "phase_seconds": ctx.phases,
        "notes": notes,
    }
    return data, output


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def verdict(met: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[met]


def detail_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str
) -> tuple[Any, dict[str, Any]]:
    """A benchmark's detail table: for the terminal (rich, the first column left, the others
    right) and for its results (`table`, which bench/report.py puts in docs/benchmarks.md)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, caption=caption)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)

    def plain(cell: str) -> str:
        return " ".join(Text.from_markup(cell).plain.split())

    data = {
        "title": title,
        "columns": [plain(c) for c in columns],
        "rows": [[plain(c) for c in row] for row in rows],
        "caption": caption,
    }
    return table, data


def headline_table(title: str, rows: Sequence[Mapping[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure", ratio=3)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("target", justify="right", no_wrap=True)
    table.add_column("met", justify="center", no_wrap=True)
    table.add_column("note", ratio=5)
    for row in rows:
        value = row["value"]
        spec = {TIMES: ",.2f", "ms": ",.1f"}.get(row["unit"], ",.0f")
        shown = value if isinstance(value, str) else fmt(value, spec)
        table.add_row(
            row["figure"],
            f"{shown} {row['unit']}".strip(),
            row["target"] or "-",
            verdict(row["met"]),
            row["note"],
        )
    return table
