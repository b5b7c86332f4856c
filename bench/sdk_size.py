"""sdk_size: how many bytes the widget costs a website and a visitor (issue 7, benchmark 8);
the method is METHOD below."""

from __future__ import annotations

import gzip
import time
import urllib.request
from typing import Any

from bench.common import PROCESSES, ROOT, BenchError, Server, Ui, start_server, work_dir
from bench.output import detail_table, headline, results
from bench.spec import Benchmark, Options
from harness.processes import free_port, scrubbed_env
from harness.server import voxsig_command

STATIC = ROOT / "src" / "voxsig" / "widget" / "static"
BUDGET_GZIP_BYTES = 10 * 1024  # our own budget: the issue records the figure, sets no target
# name, the path it is served at, when a browser loads it
FILES = [
    ("sdk.js", "/packs/js/sdk.js", "on every page"),
    ("widget.html", "/widget", "on opening"),
    ("widget.js", "/widget/assets/widget.js", "on opening"),
    ("widget.css", "/widget/assets/widget.css", "on opening"),
]

METHOD = """\
`src/voxsig/widget/static/sdk.js`, the script a website embeds (served at `/packs/js/sdk.js`),
is measured in bytes as stored and gzipped at level 9 (what `widget/pages.py` precomputes). Then
a `voxsig serve` on a fresh SQLite data dir is asked for it with and without `Accept-Encoding:
gzip`: the bytes on the wire (the body, headers excluded) are recorded, and each answer must
decode to the file. The iframe's page, script and stylesheet, loaded only when a visitor opens
the widget, are listed beside it. The issue records the figure without a target; the budget of
{budget_kib} KiB gzipped is our own. A few seconds."""


def _fetch(server: Server, path: str, gzip_ok: bool) -> tuple[bytes, str | None]:
    request = urllib.request.Request(server.base_url + path)  # noqa: S310 (http only)
    if gzip_ok:
        request.add_header("Accept-Encoding", "gzip")
    # urllib does not decompress: the body is what came over the wire.
    with urllib.request.urlopen(request, timeout=15.0) as resp:  # noqa: S310
        return resp.read(), resp.headers.get("Content-Encoding")


def _measure(server: Server) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for name, path, loaded in FILES:
        body = (STATIC / name).read_bytes()
        plain, plain_encoding = _fetch(server, path, gzip_ok=False)
        wire, encoding = _fetch(server, path, gzip_ok=True)
        decoded = gzip.decompress(wire) if encoding == "gzip" else wire
        files[name] = {
            "path": path,
            "loaded": loaded,
            "raw_bytes": len(body),
            "gzip9_bytes": len(gzip.compress(body, 9, mtime=0)),
            "served_bytes_gzip_accepted": len(wire),
            "served_encoding_gzip_accepted": encoding,
            "served_bytes_identity": len(plain),
            "served_encoding_identity": plain_encoding,
            # widget.html is a static file too; the server must send the file's bytes.
            "served_matches_file": decoded == body and plain == body,
        }
    return files


def _kib(value: int) -> str:
    return f"{value:,} B ({value / 1024:.1f} KiB)"


DIFFER = "served bytes differ from the file"


def _sent(f: dict[str, Any]) -> str:
    return f"{f['served_bytes_gzip_accepted']:,} B ({f['served_encoding_gzip_accepted']})"


COLUMNS = (
    ("file", lambda f: f["name"]),
    ("served at", lambda f: f["path"]),
    ("loaded", lambda f: f["loaded"]),
    ("raw", lambda f: f"{f['raw_bytes']:,} B"),
    ("gzip -9", lambda f: f"{f['gzip9_bytes']:,} B"),
    ("sent (gzip accepted)", _sent),
    ("checks", lambda f: "ok" if f["served_matches_file"] else f"FAILED: {DIFFER}"),
)


def _table(files: dict[str, dict[str, Any]]) -> Any:
    return detail_table(
        "sdk_size: the widget's files, as stored and as served",
        COLUMNS,
        [f | {"name": name} for name, f in files.items()],
        f"Budget (ours, the issue sets none): sdk.js <= {_kib(BUDGET_GZIP_BYTES)} gzipped.",
    )


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    started = time.monotonic()
    with work_dir(opts, ui, BENCHMARK.name) as workdir:
        port = free_port()
        env = scrubbed_env(VOXSIG_DATA_DIR=str(workdir / "data"), VOXSIG_PORT=str(port))
        with ui.step("voxsig: starting the server (voxsig serve)"):
            args = [*voxsig_command(), "serve"]
            server = start_server("voxsig", args, env, port, workdir / "serve.log")
        try:
            with ui.step("fetching the widget's files"):
                files = _measure(server)
        except OSError as exc:
            raise BenchError(f"fetching the widget's files failed: {exc}") from exc
        finally:
            PROCESSES.stop(server.proc)
    sdk = files["sdk.js"]
    notes = [
        f"{name}: what the server sends does not decompress to the file"
        for name, f in files.items()
        if not f["served_matches_file"]
    ]
    if sdk["served_encoding_gzip_accepted"] != "gzip":
        notes.append("sdk.js: the server did not gzip it for a client that accepts gzip")
    gz = sdk["gzip9_bytes"]
    opened = sum(f["served_bytes_gzip_accepted"] for n, f in files.items() if n != "sdk.js")
    rows = [
        headline(
            "Widget sdk.js, gzipped",
            gz,
            "bytes",
            f"<= {BUDGET_GZIP_BYTES:,} (our budget)",
            gz <= BUDGET_GZIP_BYTES and sdk["served_matches_file"],
            f"level 9; the server sends {sdk['served_bytes_gzip_accepted']:,} B "
            f"({sdk['served_encoding_gzip_accepted'] or 'identity'}); "
            f"{sdk['raw_bytes']:,} B uncompressed",
        ),
        headline(
            "Widget iframe (page, script, stylesheet), as sent gzipped",
            opened,
            "bytes",
            note="loaded only when a visitor opens the widget",
        ),
    ]
    data, output = results(
        BENCHMARK,
        opts,
        rows,
        _table(files),
        {"results": files},
        notes,
        total_seconds=round(time.monotonic() - started, 1),
    )
    output.insert(1, f"sdk.js: {_kib(sdk['raw_bytes'])} raw, {_kib(gz)} gzipped")
    return data, output


BENCHMARK = Benchmark(
    name="sdk_size",
    description="size of the widget's sdk.js, raw and gzipped, as served",
    method=METHOD,
    run=run,
    facts={
        "budget_gzip_bytes": BUDGET_GZIP_BYTES,
        "budget_kib": BUDGET_GZIP_BYTES // 1024,
        "gzip_level": 9,
    },
)
