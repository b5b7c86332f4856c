"""`python -m bench [NAME ...] [options]`, `python -m bench --list`, `python -m bench --report`.

Runs the named benchmarks (all when none is named), one after the other; each prints a table
and writes bench/results/NAME-<UTC timestamp>.json and NAME-latest.json. Then docs/benchmarks.md
and bench/README.md's methods are regenerated (bench/report.py); `--report` only does that.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from rich.console import Console

from bench import (
    api_messages,
    attachments,
    deliveries,
    delivery_backlog,
    delivery_isolation,
    delivery_latency,
    delivery_scaleout,
    report,
    sdk_size,
    soak,
)
from bench.common import (
    PROCESSES,
    BenchError,
    Ui,
    machine_info,
    make_progress,
    utc_stamp,
    write_results,
)
from bench.spec import COMMON, Options, options_from, unique

BENCHMARKS = {
    m.BENCHMARK.name: m.BENCHMARK
    for m in (
        api_messages,
        deliveries,
        delivery_latency,
        delivery_isolation,
        delivery_backlog,
        delivery_scaleout,
        soak,
        sdk_size,
        attachments,
    )
}
# A full run on a 2-core machine. 8 min until the soak came: issue 13 asks that "`make bench`
# runs a short version: a few minutes" of it, ~3.5 min at its defaults beside ~6 min for the
# others, so 11 min (with install-dev, `make bench` on a fresh clone now takes ~12-13 min).
BUDGET_SECONDS = 11.0 * 60


def _parse(argv: list[str]) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Voxsig benchmarks. With no NAME, runs them all."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--report", action="store_true", help="only regenerate the report from the latest results"
    )
    declared = unique(COMMON)
    for option in declared:
        parser.add_argument(option.flag, **option.argument())
    for bench in BENCHMARKS.values():
        own = [o for o in unique(bench.options) if o.flag not in {d.flag for d in declared}]
        group = parser.add_argument_group(bench.name)
        for option in own:
            group.add_argument(option.flag, **option.argument())
        declared += own
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if args.report and args.names:
        parser.error("--report runs no benchmark: name none")
    try:
        values = {o.dest: o.parse(getattr(args, o.dest)) for o in declared}
    except ValueError as exc:
        parser.error(str(exc))
    return args, options_from(values)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGINT, SIGTERM and SIGHUP all end us as Ctrl-C does: the `finally` blocks stop the servers.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args, opts = _parse(argv)
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)  # not 80 columns: the tables would wrap in a log
    if args.list:
        for b in BENCHMARKS.values():
            out.print(f"[bold]{b.name}[/]  {b.description}")
        return 0
    if args.report:
        out.print(f"Benchmark report written to {report.write_all(list(BENCHMARKS.values()))}")
        return 0
    # Explicit, as a shell starting us in the background may have had SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    selected = [BENCHMARKS[n] for n in args.names] or list(BENCHMARKS.values())
    failed = 0
    started = time.monotonic()
    try:
        for bench in selected:
            stamp, machine = utc_stamp(), machine_info()
            try:
                with make_progress() as progress:
                    data, output = bench.run(opts, Ui(progress))
            except BenchError as exc:
                failed += 1
                out.print(f"[bold red]{bench.name} failed:[/] {exc}")
                continue
            for item in output:
                out.print(item)
            results = {"timestamp": stamp, "machine": machine, **data}
            stamped, latest = write_results(bench.name, results)
            out.print(f"[dim]Results: {stamped} (and {latest.name})[/]")
    except KeyboardInterrupt:
        out.print("[bold red]interrupted[/]: stopping the servers")
        return 130
    finally:
        PROCESSES.stop_all()
    out.print(f"Benchmark report written to {report.write_all(list(BENCHMARKS.values()))}")
    elapsed = time.monotonic() - started
    out.print(
        f"{len(selected) - failed} of {len(selected)} benchmarks ran in {elapsed / 60:.1f} min"
        + (f" ([red]{failed} failed[/])" if failed else "")
    )
    if len(selected) == len(BENCHMARKS) and elapsed > BUDGET_SECONDS:
        out.print(
            f"[yellow]note:[/] over the {BUDGET_SECONDS / 60:.0f} min budget of a full run "
            "(bench/__main__.py: BUDGET_SECONDS)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
