"""sdk_size: how many bytes the widget costs a website and a visitor.

The SDK a website embeds (`src/voxsig/widget/static/sdk.js`, served at /packs/js/sdk.js) is
measured raw and gzipped (level 9, as `widget/pages.py` compresses it), then fetched from a real
`voxsig serve` (fresh SQLite data dir) with and without `Accept-Encoding: gzip`, to record what
the server actually sends and check that it decompresses to the file. The iframe's files (page,
script, stylesheet), which load only when the widget is opened, are listed alongside.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.common import (
    PROCESSES,
    ROOT,
    BenchError,
    Options,
    Server,
    Ui,
    child_env,
    free_port,
    start_server,
    venv_script,
)

NAME = "sdk_size"
DESCRIPTION = "size of the widget's sdk.js, raw and gzipped, as served"
STATIC = ROOT / "src" / "voxsig" / "widget" / "static"
# Our own budget: the issue records the figure but sets no target.
BUDGET_GZIP_BYTES = 10 * 1024
# name, the path it is served at, when a browser loads it
FILES = [
    ("sdk.js", "/packs/js/sdk.js", "on every page"),
    ("widget.html", "/widget", "on opening"),
    ("widget.js", "/widget/assets/widget.js", "on opening"),
    ("widget.css", "/widget/assets/widget.css", "on opening"),
]
METHOD = (
    "`src/voxsig/widget/static/sdk.js`, the script a website embeds (served at "
    "`/packs/js/sdk.js`), is measured in bytes as stored and gzipped at level 9 (what "
    "`widget/pages.py` precomputes). Then a `voxsig serve` on a fresh SQLite data dir is asked "
    "for it with and without `Accept-Encoding: gzip`: the bytes on the wire (the body, headers "
    "excluded) are recorded, and the gzipped answer must decompress to the file. The iframe's "
    "page, script and stylesheet, loaded only when a visitor opens the widget, are listed "
    "beside it. The issue records the figure without a target; the budget of "
    f"{BUDGET_GZIP_BYTES // 1024} KiB gzipped is our own."
)


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


COLUMNS = ["file", "served at", "loaded", "raw", "gzip -9", "sent (gzip accepted)", "checks"]


def _rows(files: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, f in files.items():
        sent = f"{f['served_bytes_gzip_accepted']:,} B ({f['served_encoding_gzip_accepted']})"
        rows.append(
            [
                name,
                f["path"],
                f["loaded"],
                f"{f['raw_bytes']:,} B",
                f"{f['gzip9_bytes']:,} B",
                sent,
                "ok" if f["served_matches_file"] else "FAILED: served bytes differ from the file",
            ]
        )
    return rows


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="voxsig-bench-sdk-"))
    keep = opts.keep
    started = time.monotonic()
    port = free_port()
    env = child_env(VOXSIG_DATA_DIR=str(workdir / "data"), VOXSIG_PORT=str(port))
    try:
        with ui.step("voxsig: starting the server (voxsig serve)"):
            server = start_server(
                "voxsig", [str(venv_script("voxsig")), "serve"], env, port, workdir / "serve.log"
            )
        try:
            with ui.step("fetching the widget's files"):
                files = _measure(server)
        except OSError as exc:
            raise BenchError(f"fetching the widget's files failed: {exc}") from exc
        finally:
            PROCESSES.stop(server.proc)
    except BenchError:
        keep = True
        raise
    finally:
        if keep:
            ui.console.print(f"[dim]Data dir and log kept in {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
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
    headline = [
        {
            "figure": "Widget sdk.js, gzipped",
            "value": gz,
            "unit": "bytes",
            "target": f"<= {BUDGET_GZIP_BYTES:,} (our budget)",
            "met": gz <= BUDGET_GZIP_BYTES and sdk["served_matches_file"],
            "note": f"level 9; the server sends {sdk['served_bytes_gzip_accepted']:,} B "
            f"({sdk['served_encoding_gzip_accepted'] or 'identity'}); "
            f"{sdk['raw_bytes']:,} B uncompressed",
        },
        {
            "figure": "Widget iframe (page, script, stylesheet), as sent gzipped",
            "value": opened,
            "unit": "bytes",
            "target": None,
            "met": None,
            "note": "loaded only when a visitor opens the widget",
        },
    ]
    title = "sdk_size: the widget's files, as stored and as served"
    caption = f"Budget (ours, the issue sets none): sdk.js <= {_kib(BUDGET_GZIP_BYTES)} gzipped."
    table = Table(title=title, caption=caption)
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="right" if 3 <= i <= 5 else "left")
    rows = _rows(files)
    for row in rows:
        table.add_row(*(f"[red]{c}[/]" if c.startswith("FAILED") else c for c in row))
    data = {
        "benchmark": NAME,
        "description": DESCRIPTION,
        "method": METHOD,
        "headline": headline,
        "table": {"title": title, "columns": COLUMNS, "rows": rows, "caption": caption},
        "params": {"budget_gzip_bytes": BUDGET_GZIP_BYTES, "gzip_level": 9},
        "results": files,
        "total_seconds": round(time.monotonic() - started, 1),
        "notes": notes,
    }
    line = f"sdk.js: {_kib(sdk['raw_bytes'])} raw, {_kib(gz)} gzipped"
    return data, [table, line, *(f"[yellow]note:[/] {n}" for n in notes)]
