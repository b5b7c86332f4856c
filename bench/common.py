"""What every benchmark shares: subprocesses (always killed), servers, the load generator,
latency statistics, machine information and the results files."""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
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
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
HOST = "127.0.0.1"


class BenchError(Exception):
    """A benchmark could not run; the message says why (and shows the server log)."""


@dataclass(frozen=True)
class Options:
    seconds: float
    warmup: float
    clients: int
    keep: bool
    # At most this long, wait before each load until the rest of the machine is quiet.
    quiet_wait: float = 0.0


# --- subprocesses --------------------------------------------------------------------------


class Processes:
    """Every subprocess the benchmarks start, each in its own process group (so a Ctrl-C at
    the terminal reaches only us, and we end them in order), so that `stop` and `stop_all`
    end it and whatever it started. `stop_all` runs at exit, too."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def start(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        stdout_pipe: bool = False,
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as log_file:
            proc = subprocess.Popen(
                list(args),
                cwd=ROOT,
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
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
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


PROCESSES = Processes()
atexit.register(PROCESSES.stop_all)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours without any VOXSIG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXSIG_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def venv_script(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise BenchError(f"{path} not found: run `make install` first")
    return path


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def log_problems(log: Path) -> list[str]:
    """Lines of a server log that report an error or a traceback."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    markers = ("Traceback", "ERROR", "Exception", "CRITICAL")
    return [line for line in text.splitlines() if any(m in line for m in markers)]


# --- HTTP for setup --------------------------------------------------------------------------


def http_json(
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
    request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise BenchError(f"{method} {url} -> {exc.code}: {detail}") from exc


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
    name: str,
    args: Sequence[str],
    env: Mapping[str, str],
    port: int,
    log: Path,
    health_path: str = "/health",
    timeout: float = 60.0,
) -> Server:
    """Start a server and wait (at most `timeout`) until GET health_path answers 200."""
    proc = PROCESSES.start(args, env=env, log=log)
    server = Server(name, proc, port, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError(
                f"{name} server exited with code {proc.returncode} while starting; its log:\n"
                + log_tail(log)
            )
        try:
            with urllib.request.urlopen(server.base_url + health_path, timeout=2.0) as resp:  # noqa: S310
                if resp.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            PROCESSES.stop(proc)
            raise BenchError(
                f"{name} server did not answer {health_path} within {timeout:.0f}s; its log:\n"
                + log_tail(log)
            )
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (0.0 if unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    # After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU time all processes on the machine have used (all cores), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0
    # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    values = [int(v) for v in first[1:9]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


# --- progress ------------------------------------------------------------------------------


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
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


# --- the load generator -------------------------------------------------------------------

QUIET_PERCENT = 20.0


def wait_for_quiet(ui: Ui, server: Server, label: str, max_wait: float) -> float:
    """Wait (at most `max_wait` s) until processes other than `server` use under QUIET_PERCENT
    of a core over one second, as on a machine shared with tests; returns the last figure."""
    started = time.monotonic()
    task = ui.timed_task(f"{label}: checking that the machine is quiet", total=max(max_wait, 1.0))
    while True:
        busy, cpu, t0 = system_busy_seconds(), server.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        elapsed = time.monotonic() - t0
        other = 100.0 * ((system_busy_seconds() - busy) - (server.cpu_seconds() - cpu)) / elapsed
        waited = time.monotonic() - started
        if other < QUIET_PERCENT or waited >= max_wait:
            verdict = "[green]quiet" if other < QUIET_PERCENT else "[yellow]still busy"
            ui.progress.update(
                task,
                completed=max(max_wait, 1.0),
                description=f"{label}: other processes use {other:.0f}% of a core: {verdict}",
            )
            ui.progress.stop_task(task)
            return round(other, 1)
        ui.progress.update(
            task,
            completed=waited,
            description=f"{label}: waiting, other processes use {other:.0f}% of a core",
        )


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
    """Run bench.loadgen against `server` in its own process; returns its result, plus the
    server's CPU use while it ran. `helpers` (name -> pid, e.g. a webhook receiver) are
    processes the benchmark itself runs: their CPU is reported as `helpers_cpu_percent` and
    not counted as other processes'."""
    helpers = dict(helpers or {})
    config = {
        "base_url": server.base_url,
        "headers": dict(headers),
        "targets": targets,
        "clients": opts.clients,
        "warmup": opts.warmup,
        "seconds": opts.seconds,
        "request_timeout": 30.0,
    }
    config_path = workdir / f"{label}-loadgen-config.json"
    out_path = workdir / f"{label}-loadgen-out.json"
    config_path.write_text(json.dumps(config))
    log = workdir / f"{label}-loadgen.log"
    other_before = wait_for_quiet(ui, server, label, opts.quiet_wait)
    total = opts.warmup + opts.seconds
    task = ui.timed_task(f"{label}: warm-up", total=total)
    cpu_before = server.cpu_seconds()
    helpers_before = {name: cpu_seconds(pid) for name, pid in helpers.items()}
    busy_before = system_busy_seconds()
    wall_before = time.monotonic()
    proc = PROCESSES.start(
        [sys.executable, "-m", "bench.loadgen", str(config_path), str(out_path)],
        env=child_env(),
        log=log,
        stdout_pipe=True,
    )
    latest: dict[str, float] = {}
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_ticks, args=(proc.stdout, latest), daemon=True)
    reader.start()
    # The loadgen bounds itself; this deadline is for a loadgen that hangs anyway.
    deadline = wall_before + total + 30.0 + 30.0
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
            elapsed = latest.get("elapsed", 0.0)
            ok = latest.get("ok", 0.0)
            if elapsed - last_t >= 1.0:
                rate = (ok - last_ok) / (elapsed - last_t)
                last_ok, last_t = ok, elapsed
            phase = "warm-up" if elapsed < opts.warmup else "measuring"
            if elapsed >= total:
                phase = "finishing"
            errors = int(latest.get("errors", 0))
            ui.progress.update(
                task,
                completed=min(elapsed, total),
                description=f"{label}: {phase}, ~{rate:,.0f} req/s"
                + (f", [red]{errors} errors[/]" if errors else ""),
            )
            time.sleep(0.2)
    finally:
        PROCESSES.stop(proc, grace=3.0)
        reader.join(timeout=2.0)
    wall = time.monotonic() - wall_before
    cpu = server.cpu_seconds() - cpu_before
    helpers_cpu = {name: cpu_seconds(pid) - helpers_before[name] for name, pid in helpers.items()}
    busy = system_busy_seconds() - busy_before
    if proc.returncode != 0 or not out_path.exists():
        raise BenchError(
            f"{label}: the load generator failed (code {proc.returncode}):\n{log_tail(log)}"
        )
    ui.progress.update(task, completed=total, description=f"{label}: [green]done")
    result: dict[str, Any] = json.loads(out_path.read_text())
    # Over the load itself (the server idles while the load generator starts).
    result["server_cpu_percent"] = round(100.0 * cpu / result["wall_s"], 1)
    result["server_cpu_s"] = round(cpu, 3)
    result["loadgen_cpu_percent"] = round(100.0 * result["cpu_s"] / result["wall_s"], 1)
    result["helpers_cpu_percent"] = {
        name: round(100.0 * used / wall, 1) if wall > 0 else None
        for name, used in helpers_cpu.items()
    }
    # Whatever else ran on the machine meanwhile (other tests, builds) skews the figures.
    other = max(0.0, busy - cpu - float(result["cpu_s"]) - sum(helpers_cpu.values()))
    result["other_cpu_percent"] = round(100.0 * other / wall, 1) if wall > 0 else None
    result["other_cpu_percent_before"] = other_before
    return result


# --- statistics ----------------------------------------------------------------------------


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
    seconds = float(load["seconds"])
    handled = load["ok_total"] + load["errors_total"]

    def ms(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 2)

    return {
        "requests": measured["ok"],
        "requests_per_s": round(measured["ok"] / seconds, 1),
        "latency_ms": {
            "min": ms(latencies[0]) if latencies else None,
            "mean": ms(sum(latencies) / len(latencies)) if latencies else None,
            "p50": ms(percentile(latencies, 50)),
            "p90": ms(percentile(latencies, 90)),
            "p99": ms(percentile(latencies, 99)),
            "p99.9": ms(percentile(latencies, 99.9)),
            "max": ms(latencies[-1]) if latencies else None,
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


# --- machine and results -------------------------------------------------------------------


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


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
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "mem_total_mb": _mem_total_mb(),
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
