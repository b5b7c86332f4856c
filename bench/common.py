"""What every benchmark shares: its servers (harness's process groups, always stopped), the
progress display, the load generator and its statistics, the machine and the results files."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from bench.cpu import cpu_seconds, cpu_snapshot, single, system_busy_seconds
from bench.spec import Options
from harness.processes import (
    HOST,
    REPO,
    ProcessGroups,
    ServerFailed,
    log_tail,
    scrubbed_env,
    wait_healthy,
)

ROOT = REPO
RESULTS_DIR = ROOT / "bench" / "results"
QUIET_PERCENT = 20.0  # % of a core used by other processes that makes a figure doubtful
PROCESSES = ProcessGroups()
FILES = ("-config.json", "-out.json", ".log")  # a helper process's, after its label


class BenchError(Exception):
    """A benchmark could not run; the message says why (and shows the server log)."""


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)


def start_server(
    name: str, args: Sequence[str], env: Mapping[str, str], port: int, log: Path
) -> Server:
    """Starts a server and waits (at most 60 s) until GET /health answers 200."""
    server = Server(name, PROCESSES.start(args, env=env, log=log), port, log)
    try:
        wait_healthy(server.proc, f"{server.base_url}/health", log, 60.0, f"{name} server")
    except ServerFailed as exc:
        PROCESSES.stop(server.proc)
        raise BenchError(str(exc)) from None
    return server


def http_json(
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
    for key, value in {"content-type": "application/json", **(headers or {})}.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=15.0) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise BenchError(f"{method} {url} -> {exc.code}: {detail}") from exc


def api_conversations(api: str, headers: Mapping[str, str], inbox: int, count: int) -> list[int]:
    """`count` contacts and a conversation each in `inbox`, made through the REST API (`api`:
    .../api/v1/accounts/N); returns the conversations' ids."""
    ids = []
    for i in range(count):
        body = {"name": f"Customer {i}", "inbox_id": inbox}
        contact = http_json("POST", f"{api}/contacts", body, headers)["payload"]["contact"]
        body = {"inbox_id": inbox, "contact_id": contact["id"]}
        ids.append(int(http_json("POST", f"{api}/conversations", body, headers)["id"]))
    return ids


# --- progress --------------------------------------------------------------------------------


class Ui:
    """The rich progress display (on stderr) that the benchmarks report their steps to."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @property
    def console(self) -> Console:
        return self.progress.console

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        task = self.progress.add_task(description, total=None)
        try:
            yield
        except BaseException:
            self.progress.update(task, description=f"{description} [red]failed")
            self.progress.stop_task(task)
            raise
        self.progress.update(task, total=1, completed=1, description=f"{description} [green]done")
        self.progress.stop_task(task)

    def timed_task(self, description: str, total: float) -> TaskID:
        return self.progress.add_task(description, total=total)


def make_progress() -> Progress:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    return Progress(*columns, console=Console(stderr=True), transient=False)


# --- the load generator ----------------------------------------------------------------------


def wait_for_quiet(ui: Ui, server: Server, label: str, max_wait: float) -> float:
    """Waits (at most `max_wait` s) until processes other than `server` use under QUIET_PERCENT
    of a core over one second, as on a machine shared with tests; returns the last figure."""
    started = time.monotonic()
    total = max(max_wait, 1.0)
    task = ui.timed_task(f"{label}: checking that the machine is quiet", total=total)
    while True:
        busy, cpu, t0 = system_busy_seconds(), server.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        elapsed = time.monotonic() - t0
        other = 100.0 * ((system_busy_seconds() - busy) - (server.cpu_seconds() - cpu)) / elapsed
        waited = time.monotonic() - started
        if other < QUIET_PERCENT or waited >= max_wait:
            verdict = "[green]quiet" if other < QUIET_PERCENT else "[yellow]still busy"
            description = f"{label}: other processes use {other:.0f}% of a core: {verdict}"
            ui.progress.update(task, completed=total, description=description)
            ui.progress.stop_task(task)
            return round(other, 1)
        description = f"{label}: waiting, other processes use {other:.0f}% of a core"
        ui.progress.update(task, completed=waited, description=description)


def _read_ticks(stream: IO[bytes], latest: dict[str, float]) -> None:
    for raw in stream:
        with contextlib.suppress(ValueError):
            latest.update(json.loads(raw))


def run_loadgen(
    ui: Ui,
    label: str,
    server: Server,
    targets: list[dict[str, Any]],
    headers: Mapping[str, str],
    opts: Options,
    workdir: Path,
    helpers: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Runs bench.loadgen against `server` in its own process; returns its result, plus the
    server's CPU use while it ran. `helpers` (name -> pid, e.g. a webhook receiver) are
    processes the benchmark itself runs: their CPU is reported as `helpers_cpu_percent` and
    not counted as other processes'."""
    config: dict[str, Any] = {"base_url": server.base_url, "headers": dict(headers)}
    config |= {"targets": targets, "clients": opts.clients, "request_timeout": 30.0}
    config |= {"warmup": opts.warmup, "seconds": opts.seconds}
    config_path, out_path, log = (workdir / f"{label}-loadgen{end}" for end in FILES)
    config_path.write_text(json.dumps(config))
    other_before = wait_for_quiet(ui, server, label, opts.quiet_wait)
    total = opts.warmup + opts.seconds
    task = ui.timed_task(f"{label}: warm-up", total=total)
    groups = single({"server": server.proc.pid, **(helpers or {})})
    before = cpu_snapshot(groups)
    args = [sys.executable, "-m", "bench.loadgen", str(config_path), str(out_path)]
    proc = PROCESSES.start(args, env=scrubbed_env(), log=log, stdout_pipe=True)
    latest: dict[str, float] = {}
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_ticks, args=(proc.stdout, latest), daemon=True)
    reader.start()
    # The loadgen bounds itself; this deadline is for a loadgen that hangs anyway.
    deadline = before["_wall"] + total + 60.0
    last_ok, last_t, rate = 0.0, 0.0, 0.0
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{label}: the load generator did not finish in time")
            if server.proc.poll() is not None:
                raise BenchError(
                    f"{label}: the server exited (code {server.proc.returncode}) under load; "
                    f"its log:\n{log_tail(server.log)}"
                )
            elapsed, ok = latest.get("elapsed", 0.0), latest.get("ok", 0.0)
            if elapsed - last_t >= 1.0:
                rate = (ok - last_ok) / (elapsed - last_t)
                last_ok, last_t = ok, elapsed
            phase = "warm-up" if elapsed < opts.warmup else "measuring"
            phase = "finishing" if elapsed >= total else phase
            errors = int(latest.get("errors", 0))
            shown = f"{label}: {phase}, ~{rate:,.0f} req/s"
            shown += f", [red]{errors} errors[/]" if errors else ""
            ui.progress.update(task, completed=min(elapsed, total), description=shown)
            time.sleep(0.2)
    finally:
        PROCESSES.stop(proc, grace=3.0)
        reader.join(timeout=2.0)
    after = cpu_snapshot(groups)
    if proc.returncode != 0 or not out_path.exists():
        raise BenchError(
            f"{label}: the load generator failed (code {proc.returncode}):\n{log_tail(log)}"
        )
    ui.progress.update(task, completed=total, description=f"{label}: [green]done")
    result: dict[str, Any] = json.loads(out_path.read_text())
    wall, used = after["_wall"] - before["_wall"], {k: after[k] - before[k] for k in groups}
    cpu, helpers_cpu = used.pop("server"), used
    # Over the load itself (the server idles while the load generator starts).
    result["server_cpu_percent"] = round(100.0 * cpu / result["wall_s"], 1)
    result["server_cpu_s"] = round(cpu, 3)
    result["loadgen_cpu_percent"] = round(100.0 * result["cpu_s"] / result["wall_s"], 1)
    result["helpers_cpu_percent"] = {
        name: round(100.0 * s / wall, 1) if wall > 0 else None for name, s in helpers_cpu.items()
    }
    # Whatever else ran on the machine meanwhile (other tests, builds) skews the figures.
    busy = after["_busy"] - before["_busy"]
    other = max(0.0, busy - cpu - float(result["cpu_s"]) - sum(helpers_cpu.values()))
    result["other_cpu_percent"] = round(100.0 * other / wall, 1) if wall > 0 else None
    result["other_cpu_percent_before"] = other_before
    return result


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(load: Mapping[str, Any]) -> dict[str, Any]:
    """The figures reported for one server from a load generator result."""
    latencies = sorted(load["latencies_ms"])
    measured = load["measured"]
    errors = sum(measured["errors"].values())
    handled = load["ok_total"] + load["errors_total"]

    def ms(p: float) -> float | None:
        value = percentile(latencies, p)
        return None if math.isnan(value) else round(value, 2)

    return {
        "requests": measured["ok"],
        "requests_per_s": round(measured["ok"] / float(load["seconds"]), 1),
        "latency_ms": {
            "min": ms(0),
            "mean": round(sum(latencies) / len(latencies), 2) if latencies else None,
            **{name: ms(p) for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9))},
            "max": ms(100),
        },
        "errors": errors,
        "errors_by_kind": measured["errors"],
        "errors_outside_window": load["errors_total"] - errors,
        "error_sample": load["error_sample"],
        "per_second": load["per_second"],
        "ok_total": load["ok_total"],
        "server_cpu_percent": load["server_cpu_percent"],
        # CPU the server spent per request: unlike req/s, barely moved by other processes.
        "server_cpu_ms_per_request": round(1000.0 * load["server_cpu_s"] / handled, 2)
        if handled
        else None,
        "loadgen_cpu_percent": load["loadgen_cpu_percent"],
        "other_cpu_percent": load["other_cpu_percent"],
        "other_cpu_percent_before": load["other_cpu_percent_before"],
        "helpers_cpu_percent": load.get("helpers_cpu_percent", {}),
    }


# --- machine and results ---------------------------------------------------------------------


def _proc_line(path: str, prefix: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix)), None)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine_info() -> dict[str, Any]:
    status = _git("status", "--porcelain", "--", "src")
    memory = _proc_line("/proc/meminfo", "MemTotal:")
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_line("/proc/cpuinfo", "model name") or platform.processor() or None,
        "mem_total_mb": int(memory.split()[0]) // 1024 if memory else None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git("rev-parse", "HEAD"),
        "src_modified": None if status is None else bool(status),
    }


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_results(name: str, data: Mapping[str, Any]) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2) + "\n"
    stamped = RESULTS_DIR / f"{name}-{data['timestamp']}.json"
    latest = RESULTS_DIR / f"{name}-latest.json"
    stamped.write_text(text)
    latest.write_text(text)
    return stamped, latest


@contextlib.contextmanager
def work_dir(opts: Options, ui: Ui, name: str) -> Iterator[Path]:
    """A temporary dir for one benchmark's databases and logs, removed afterwards unless --keep
    was given or the benchmark failed (its logs tell why)."""
    path = Path(tempfile.mkdtemp(prefix=f"voxsig-bench-{name}-"))
    keep = opts.keep
    try:
        yield path
    except BenchError:
        keep = True
        raise
    finally:
        if keep:
            ui.console.print(f"[dim]Data dirs and logs kept in {path}[/]")
        else:
            shutil.rmtree(path, ignore_errors=True)
