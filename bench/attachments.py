"""attachments: the time to upload and fetch a large file over HTTP, on local disk and on an
S3-protocol store (issue 17); the method is METHOD below."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import PROCESSES, BenchError, Server, Ui, http_json, start_server, work_dir
from bench.output import detail_table, fmt, headline, results
from bench.spec import Benchmark, Option, Options
from harness.processes import free_port, scrubbed_env
from harness.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from harness.server import run_cli, voxsig_command

MB = 1024 * 1024
BUCKET = "voxsig-bench"
TIMEOUT = 120.0  # one 10 MB request on a loaded 2-core machine takes a second or two

METHOD = """\
A `voxsig serve` on a fresh SQLite data dir, default settings, stores attachments on local disk
(`VOXSIG_DATA_DIR/files`), then a second one in a bucket of moto's standalone S3 server on
127.0.0.1 (`VOXSIG_STORAGE_URL=s3://{bucket}/files`; moto keeps objects in memory, so this
measures Voxsig's S3 path, not a real store's disk or network). One client (httpx, one
keep-alive connection) posts {rounds} messages, each with one {file_mb:g} MB PDF-like file
(`%PDF-` and random bytes) as `multipart/form-data` to `POST .../messages`, one after the
other: upload time is until the 200 with the message's JSON. Each file is then fetched from
its `data_url`: download time is until its last byte (on S3, through the 302 to the store's
presigned URL); every download must be the bytes sent (SHA-256). Reported: the median and
the slowest of the rounds, MB/s and requests/s (1 / median) for each store."""


def _pdf_like(size: int) -> bytes:
    """Random bytes behind a PDF's magic: nothing compresses it, the type sniffer accepts it."""
    head, tail = b"%PDF-1.4\n", b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def _account(env: dict[str, str]) -> dict[str, Any]:
    args = ["--name", "Bench", "--email", "bench@example.com", "--password", "bench-password-1"]
    done = run_cli(env, "create-account", *args)
    if done.returncode != 0:
        raise BenchError(f"voxsig create-account failed:\n{done.stderr.strip()}")
    account: dict[str, Any] = json.loads(done.stdout)
    return account


def _conversation(api: str, headers: dict[str, str]) -> int:
    inbox = http_json(
        "POST", f"{api}/inboxes", {"name": "API", "channel": {"type": "api"}}, headers
    )
    body = {"name": "Customer", "inbox_id": inbox["id"]}
    contact = http_json("POST", f"{api}/contacts", body, headers)["payload"]["contact"]
    body = {"inbox_id": inbox["id"], "contact_id": contact["id"]}
    return int(http_json("POST", f"{api}/conversations", body, headers)["id"])


def _timed(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call(*args, **kwargs)
    return time.perf_counter() - started, answer


def _rounds(server: Server, env: dict[str, str], data: bytes, rounds: int) -> dict[str, Any]:
    account = _account(env)
    api = f"{server.base_url}/api/v1/accounts/{account['account_id']}"
    headers = {"api_access_token": str(account["api_access_token"])}
    path = f"{api}/conversations/{_conversation(api, headers)}/messages"
    digest = hashlib.sha256(data).hexdigest()
    uploads, downloads = [], []
    with httpx.Client(headers=headers, timeout=TIMEOUT, follow_redirects=True) as client:
        for _ in range(rounds):
            files = {"attachments[]": ("report.pdf", data, "application/pdf")}
            up, answer = _timed(client.post, path, data={"content": "f"}, files=files)
            if answer.status_code != 200:
                raise BenchError(f"upload -> {answer.status_code}: {answer.text[:300]}")
            link = answer.json()["attachments"][0]["data_url"]
            down, got = _timed(client.get, link)
            if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != digest:
                raise BenchError(f"download -> {got.status_code}: not the bytes sent")
            uploads.append(up)
            downloads.append(down)
    return {"upload": _summary(uploads, len(data)), "download": _summary(downloads, len(data))}


def _summary(seconds: list[float], size: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "seconds": [round(s, 4) for s in seconds],
        "median_seconds": round(median, 4),
        "max_seconds": round(max(seconds), 4),
        "mb_per_second": round(size / MB / median, 1),
        "requests_per_second": round(1 / median, 2),
    }


@contextmanager
def _voxsig(
    ui: Ui, workdir: Path, label: str, **env: str
) -> Iterator[tuple[Server, dict[str, str]]]:
    port = free_port()
    full = scrubbed_env(VOXSIG_DATA_DIR=str(workdir / label), VOXSIG_PORT=str(port), **env)
    with ui.step(f"{label}: starting the server (voxsig serve)"):
        args = [*voxsig_command(), "serve"]
        server = start_server(label, args, full, port, workdir / f"{label}-serve.log")
    try:
        yield server, full
    finally:
        PROCESSES.stop(server.proc)


@contextmanager
def _moto(ui: Ui, workdir: Path) -> Iterator[MotoServer]:
    with ui.step("s3: starting moto's S3 server"):
        moto = MotoServer(workdir / "moto").start()
    try:
        # moto checks no signature: a plain PUT makes the bucket.
        request = urllib.request.Request(f"{moto.endpoint}/{BUCKET}", method="PUT")  # noqa: S310
        urllib.request.urlopen(request, timeout=15.0).close()  # noqa: S310 (http only)
        yield moto
    finally:
        moto.stop()


def _measure(opts: Options, ui: Ui, workdir: Path, data: bytes) -> dict[str, dict[str, Any]]:
    rounds = int(opts["rounds"])
    measured = {}
    with _voxsig(ui, workdir, "local") as (server, env), ui.step("local: uploads and downloads"):
        measured["local disk"] = _rounds(server, env, data, rounds)
    with _moto(ui, workdir) as moto:
        s3 = {
            "VOXSIG_STORAGE_URL": f"s3://{BUCKET}/files",
            "VOXSIG_STORAGE_ENDPOINT": moto.endpoint,
            "VOXSIG_STORAGE_REGION": REGION,
            "VOXSIG_STORAGE_ACCESS_KEY": ACCESS_KEY,
            "VOXSIG_STORAGE_SECRET_KEY": SECRET_KEY,
        }
        with _voxsig(ui, workdir, "s3", **s3) as (server, env), ui.step("s3: up and down"):
            measured["S3 (moto)"] = _rounds(server, env, data, rounds)
    return measured


COLUMNS = (
    ("store", lambda r: r["store"]),
    ("direction", lambda r: r["direction"]),
    ("median s", lambda r: fmt(r["median_seconds"], ".3f")),
    ("slowest s", lambda r: fmt(r["max_seconds"], ".3f")),
    ("MB/s", lambda r: fmt(r["mb_per_second"], ".1f")),
    ("requests/s", lambda r: fmt(r["requests_per_second"], ".2f")),
)


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    started = time.monotonic()
    size = int(float(opts["file_mb"]) * MB)
    with work_dir(opts, ui, BENCHMARK.name) as workdir:
        try:
            measured = _measure(opts, ui, workdir, _pdf_like(size))
        except (OSError, httpx.HTTPError) as exc:
            raise BenchError(f"the attachment round trips failed: {exc}") from exc
    items = [
        {"store": store, "direction": direction, **figures[direction]}
        for store, figures in measured.items()
        for direction in ("upload", "download")
    ]
    rows = [
        headline(
            f"{opts['file_mb']:g} MB file {item['direction']}, {item['store']}",
            item["median_seconds"],
            "s",
            note=f"median of {opts['rounds']}; {item['mb_per_second']} MB/s",
        )
        for item in items
    ]
    table = detail_table(
        f"attachments: a {opts['file_mb']:g} MB file over HTTP, one client",
        COLUMNS,
        items,
        "Upload: POST .../messages (multipart) until its 200; download: GET data_url to the "
        "last byte (S3: through the 302 to the presigned URL).",
    )
    return results(
        BENCHMARK,
        opts,
        rows,
        table,
        {"results": measured},
        [],
        total_seconds=round(time.monotonic() - started, 1),
    )


BENCHMARK = Benchmark(
    name="attachments",
    description="time to upload and fetch a 10 MB file, local disk and S3 (moto)",
    method=METHOD,
    run=run,
    options=(
        Option("--file-mb", 10.0, "size of the file uploaded and fetched, in MB", 0.01, 40),
        Option("--rounds", 5, "uploads and downloads per store", 1, 100),
    ),
    facts={"bucket": BUCKET},
)
