"""`python -m bench [NAME ...] [--seconds S] [--warmup S] [--clients N] [--keep]` (and the
options a benchmark adds, e.g. `deliveries --events N`); `python -m bench --report`.

Runs the named benchmarks (all when none is named), one after the other; each prints a table
and writes bench/results/NAME-<UTC timestamp>.json and bench/results/NAME-latest.json. Then
docs/benchmarks.md is regenerated from the latest results of every benchmark (bench/report.py);
`--report` only does that.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from rich.console import Console

from bench import (
    api_messages,
    deliveries,
    delivery_backlog,
    delivery_isolation,
    delivery_latency,
    delivery_scaleout,
    report,
    sdk_size,
)
from bench.common import (
    PROCESSES,
    ROOT,
    BenchError,
    Options,
    Ui,
    machine_info,
    make_progress,
    utc_stamp,
    write_results,
)


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[Options, Ui], tuple[dict[str, Any], list[Any]]]
    # A benchmark's own options: added to the parser, then handed the parsed arguments.
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    configure: Callable[[argparse.Namespace], None] | None = None


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark(api_messages.NAME, api_messages.DESCRIPTION, api_messages.run),
        # The delivery benchmarks (issue 7, items 1-5 and 7); each has options of its own.
        *(
            Benchmark(m.NAME, m.DESCRIPTION, m.run, m.add_arguments, m.configure)
            for m in (
                deliveries,
                delivery_latency,
                delivery_isolation,
                delivery_backlog,
                delivery_scaleout,
            )
        ),
        Benchmark(sdk_size.NAME, sdk_size.DESCRIPTION, sdk_size.run),
    )
}
# `make bench` on a fresh clone must finish within 10 minutes, install-dev (~1-2 min) included.
BUDGET_SECONDS = 8.0 * 60


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Voxsig benchmarks. With no NAME, runs them all.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each measured part, wait up to this many seconds for other processes to "
        "stop using the CPU (10; 0 to start at once); a run they skewed is flagged anyway",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--report",
        action="store_true",
        help=f"only regenerate {report.DOC.relative_to(ROOT)} from the latest results",
    )
    for bench in BENCHMARKS.values():
        if bench.add_arguments is not None:
            bench.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if args.report and args.names:
        parser.error("--report runs no benchmark: name none")
    if not 0 < args.seconds <= 3600 or not 0 <= args.warmup <= 600:
        parser.error("--seconds must be in (0, 3600] and --warmup in [0, 600]")
    if not 0 <= args.quiet_wait <= 3600:
        parser.error("--quiet-wait must be in [0, 3600]")
    if not 1 <= args.clients <= 1000:
        parser.error("--clients must be between 1 and 1000")
    for bench in BENCHMARKS.values():
        if bench.configure is not None:
            bench.configure(args)
    return args


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGINT, SIGTERM and SIGHUP all end us as Ctrl-C does: the `finally` blocks stop the servers.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = _parse(argv)
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)  # not 80 columns: the tables would wrap in a log
    if args.list:
        for b in BENCHMARKS.values():
            out.print(f"[bold]{b.name}[/]  {b.description}")
        return 0
    if args.report:
        out.print(f"Benchmark report written to {_write_report()}")
        return 0
    # Explicit, as a shell starting us in the background may have had SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    opts = Options(
        seconds=args.seconds,
        warmup=args.warmup,
        clients=args.clients,
        keep=args.keep,
        quiet_wait=args.quiet_wait,
    )
    selected = [BENCHMARKS[n] for n in args.names] or list(BENCHMARKS.values())
    failed = 0
    started = time.monotonic()
    try:
        for bench in selected:
            stamp = utc_stamp()
            machine = machine_info()
            try:
                with make_progress() as progress:
                    data, output = bench.run(opts, Ui(progress))
            except BenchError as exc:
                failed += 1
                out.print(f"[bold red]{bench.name} failed:[/] {exc}")
                continue
            for item in output:
                out.print(item)
            stamped, latest = write_results(
                bench.name, {"timestamp": stamp, "machine": machine, **data}
            )
            out.print(f"[dim]Results: {stamped} (and {latest.name})[/]")
    except KeyboardInterrupt:
        out.print("[bold red]interrupted[/]: stopping the servers")
        return 130
    finally:
        PROCESSES.stop_all()
    out.print(f"Benchmark report written to {_write_report()}")
    elapsed = time.monotonic() - started
    out.print(
        f"{len(selected) - failed} of {len(selected)} benchmarks ran in {elapsed / 60:.1f} min"
        + (f" ([red]{failed} failed[/])" if failed else "")
    )
    if len(selected) == len(BENCHMARKS) and elapsed > BUDGET_SECONDS:
        out.print(
            f"[yellow]note:[/] over the {BUDGET_SECONDS / 60:.0f} min budget of a full run "
            "(`make bench` on a fresh clone, install-dev included, must stay under 10 min)"
        )
    return 1 if failed else 0


def _write_report() -> str:
    path = report.write_report([(b.name, b.description) for b in BENCHMARKS.values()])
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
