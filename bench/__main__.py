"""`python -m bench [NAME ...] [--seconds S] [--warmup S] [--clients N] [--keep]` (and the
options a benchmark adds, e.g. `deliveries --events N`).

Runs the named benchmarks (all when none is named), one after the other; each prints a table
and writes bench/results/NAME-<UTC timestamp>.json and bench/results/NAME-latest.json.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from rich.console import Console

from bench import api_messages, deliveries
from bench.common import (
    PROCESSES,
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
        Benchmark(
            deliveries.NAME,
            deliveries.DESCRIPTION,
            deliveries.run,
            deliveries.add_arguments,
            deliveries.configure,
        ),
    )
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Voxsig benchmarks. With no NAME, runs them all.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each load, wait up to this many seconds for other processes to stop "
        "using the CPU (60; 0 to start at once)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    for bench in BENCHMARKS.values():
        if bench.add_arguments is not None:
            bench.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
