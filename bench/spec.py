"""What a benchmark declares: its options (one table, from which the command line is built and
checked) and its method, written once and rendered into bench/README.md and the report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """`--flag`, whose type is its default's (a tuple: comma-separated values; a bool: a switch),
    and the bounds each value must fall in."""

    flag: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def shown(self, value: Any) -> str:
        if isinstance(value, tuple):
            return ",".join(f"{v:g}" for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    def argument(self) -> dict[str, Any]:
        """The keyword arguments of argparse's add_argument for this option."""
        if isinstance(self.default, bool):
            return {"action": "store_true", "help": self.help}
        plain = type(self.default)
        return {
            "type": str if isinstance(self.default, tuple) else plain,
            "default": self.default,
            "choices": self.choices or None,
            "help": f"{self.help} ({self.shown(self.default)})",
        }

    def parse(self, raw: Any) -> Any:
        """The value, checked against the bounds; ValueError says what is wrong."""
        if isinstance(self.default, tuple) and isinstance(raw, str):
            kind = type(self.default[0])
            try:
                value: Any = tuple(kind(v) for v in raw.split(",") if v.strip())
            except ValueError:
                raise ValueError(f"{self.flag} must be comma-separated numbers") from None
            if not value:
                raise ValueError(f"{self.flag} needs at least one value")
        else:
            value = raw
        numbers = value if isinstance(value, tuple) else (value,)
        low = -float("inf") if self.low is None else self.low
        high = float("inf") if self.high is None else self.high
        if not isinstance(value, bool | str) and not all(low <= v <= high for v in numbers):
            raise ValueError(f"{self.flag}: each value must be between {low:g} and {high:g}")
        return value


@dataclass(frozen=True)
class Options:
    """The parsed command line: the common options, and every benchmark's in `values`."""

    seconds: float
    warmup: float
    clients: int
    keep: bool
    quiet_wait: float = 0.0  # at most this long, wait before each load for a quiet machine
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, dest: str) -> Any:
        return self.values[dest]


Run = Callable[[Options, Any], tuple[dict[str, Any], list[Any]]]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: `method` (Markdown) is formatted with the option values and `facts` (its
    fixed parameters, recorded in its results too)."""

    name: str
    description: str
    method: str
    run: Run
    options: tuple[Option, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    def params(self, opts: Options) -> dict[str, Any]:
        own = {o.dest: opts[o.dest] for o in self.options}
        return {**self.facts, **own, "clients": opts.clients, "quiet_wait": opts.quiet_wait}

    def render_method(self, opts: Options) -> str:
        values = {k: _spoken(v) for k, v in {**self.facts, **opts.values}.items()}
        return self.method.format(**values)


def _spoken(value: Any) -> Any:
    """(1, 10, 100) -> "1, 10 and 100"; anything else as it is."""
    if not isinstance(value, tuple):
        return value
    words = [f"{v:g}" for v in value]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


COMMON = (
    Option("--seconds", 10.0, "measured seconds", 0.001, 3600),
    Option("--warmup", 2.0, "warm-up seconds", 0, 600),
    Option("--clients", 50, "concurrent clients", 1, 1000),
    Option(
        "--quiet-wait",
        10.0,
        "before each measured part, wait up to this many seconds for other processes to stop "
        "using the CPU (0 to start at once); a run they skewed is flagged anyway",
        0,
        3600,
    ),
    Option("--keep", False, "keep the data dirs and logs"),
    # Read by several delivery benchmarks (latency, scaleout, deliveries' none).
    Option("--no-postgres", False, "skip the PostgreSQL runs (latency, scaleout)"),
)


def unique(options: Iterable[Option]) -> list[Option]:
    """Each flag once, as several benchmarks may declare the same option."""
    return list({o.flag: o for o in options}.values())


def default_options(benchmarks: Sequence[Benchmark]) -> Options:
    values = {
        o.dest: o.default for o in unique([*COMMON, *(o for b in benchmarks for o in b.options)])
    }
    return options_from(values)


def options_from(values: Mapping[str, Any]) -> Options:
    common = {k: values[k] for k in ("seconds", "warmup", "clients", "keep", "quiet_wait")}
    return Options(**common, values=dict(values))
