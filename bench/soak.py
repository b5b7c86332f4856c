"""soak: webhook delivery through minutes of mixed load, five kinds of receiver and a SIGKILL of
the server (issue 13's soak; `make bench` runs its short version); the method is METHOD below.
Running it is here, its figures and checks in bench/soak_figures.py."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import soak_db, soak_figures
from bench.common import (
    FILES,
    PROCESSES,
    BenchError,
    Server,
    Ui,
    api_conversations,
    http_json,
    start_server,
    utc_stamp,
    wait_for_quiet,
    work_dir,
)
from bench.cpu import rss_mb, with_children
from bench.delivery_common import ALLOWED_NETWORKS, fail_on, sqlite_url, voxsig_env
from bench.soak_receivers import KINDS, SLOW_SECONDS
from bench.spec import Benchmark, Option, Options
from harness.processes import free_port, log_problems, log_tail, scrubbed_env
from harness.server import run_cli, voxsig_command
from voxsig.events.names import ALL as EVENTS

LEASE_SECONDS = 60.0  # the default, kept: a restart that waited the leases out would show it
# The default (16) lets a receiver that takes 3 s per request get ~5 deliveries/s, fewer than
# the load sends each endpoint (~12/s): the slow one would only fall further behind.
MAX_PER_ENDPOINT = 64
DISABLE_AFTER = 3600.0  # s: far longer than the down receiver is down
VISITORS = 5
VISITOR_EVERY = 5.0  # s between a widget visitor's messages
ACTION_EVERY = 2.0  # s between toggle_status / assignment calls
SAMPLE_EVERY = 5.0  # s between looks at the server's memory and the WAL
TICK = 0.5  # s between looks at the timeline
SEED = 13
LOAD_GRACE = 45.0  # s past the load's end for its last requests (each bounded at 30 s)

METHOD = """\
`voxsig serve` on a fresh SQLite database (one process, its worker in it) is soaked for
{soak_seconds:g} s and SIGKILLed at {soak_kill_at} of the run's length, each time restarted
{soak_restart_after:g} s later on the same port and data dir, as a supervisor would. Load
(`bench/soak_load.py`, its own process, aiohttp, open loop: each request on schedule, whether or
not the server is up): {soak_rate:g} `POST .../conversations/{{id}}/messages`/s through the REST
API, round robin over {soak_conversations} conversations of an API inbox; {visitors} widget
visitors (POST config and events, i.e. webwidget_triggered, then a message every
{visitor_every:g} s each); every {action_every:g} s a toggle_status or an assignment of a random
conversation. Five account-wide webhooks, subscribed to all six events, point at five receivers
(`bench/soak_receivers.py`, its own process, aiohttp, one port each on 127.0.0.1): healthy (200
at once), flaky (500 for a seeded random half of the requests), slow (200 after
{slow_seconds:g} s), down (its port closed, so connection refused, for the first
{soak_down_until:g} of the run's length, then 200), gone_once (410 to its first request, then
200: Voxsig disables the endpoint; {soak_reenable_after:g} s after seeing it disabled the
benchmark re-enables it, PATCH `enabled: true`, and POSTs `recover` with the `recover_since` it
answered, as an operator would). Each receiver records every request's `webhook-id`, arrival and
answer, and verifies its Standard Webhooks signature. Settings:
VOXSIG_WEBHOOK_RETRY_SCHEDULE={soak_retry_schedule} (long enough for the down receiver to come
back), VOXSIG_WEBHOOK_LEASE_SECONDS={lease_seconds:g} (the default),
the slow receiver's webhook with `max_in_flight: {max_per_endpoint}` (the default 16 caps a 3 s
receiver at ~5 deliveries/s, below what it is sent; the others keep the default),
VOXSIG_WEBHOOK_DISABLE_AFTER={disable_after:g},
VOXSIG_WEBHOOK_ALLOWED_NETWORKS={allowed_networks}. When the load ends the figures are taken,
then deliveries get up to {soak_drain:g} s to settle (until none is pending, or only retries due
after that), and taken again. Per receiver: deliveries (rows for its webhook), received (distinct
`webhook-id`s answered 2xx), duplicated (`webhook-id`s answered 2xx more than once, and how many
of those straddle a kill), lost (succeeded in the delivery log but never answered 2xx by the
receiver), failed, pending, attempts and `interrupted` attempts (a lease that ended without an
outcome), deliveries leased at each kill, and events of the run with no delivery to it. Restart
to first re-send: from spawning the restarted server to the first arrival, at any receiver, of a
delivery that was leased when the server was killed. Memory: VmRSS of the server process (from
/proc) and the WAL's size every {sample_every:g} s. Checks (they fail the benchmark): nothing
lost, no 5xx answer, every message answered 2xx is in the database, every signature verifies, no
error line in the server log. Target: the first re-send within {resend_target:g} s of the restart
(the {lease_seconds:g} s lease is not waited out)."""


@dataclass
class Run:
    """One soak: its server (replaced at each restart), receivers, account and timeline."""

    opts: Options
    ui: Ui
    workdir: Path
    receivers: Server
    ports: dict[str, int]
    port: int = field(default_factory=free_port)
    server: Server | None = None
    account: dict[str, Any] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    start_at: float = 0.0
    opened_at: float | None = None
    kills: list[dict[str, Any]] = field(default_factory=list)
    gone: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def url(self) -> str:
        return sqlite_url(self.data_dir)

    @property
    def log(self) -> Path:
        return self.workdir / "voxsig-serve.log"

    @property
    def env(self) -> dict[str, str]:
        return voxsig_env(
            VOXSIG_DATA_DIR=str(self.data_dir),
            VOXSIG_PORT=str(self.port),
            VOXSIG_WEBHOOK_RETRY_SCHEDULE=self.opts["soak_retry_schedule"],
            VOXSIG_WEBHOOK_LEASE_SECONDS=f"{LEASE_SECONDS:g}",
            VOXSIG_WEBHOOK_DISABLE_AFTER=f"{DISABLE_AFTER:g}",
        )

    @property
    def api(self) -> str:
        assert self.server is not None
        return f"{self.server.base_url}/api/v1/accounts/{self.account['account_id']}"

    @property
    def headers(self) -> dict[str, str]:
        return {"api_access_token": str(self.account["api_access_token"])}

    def elapsed(self) -> float:
        return time.time() - self.start_at

    def start_server(self) -> None:
        args = [*voxsig_command(), "serve"]
        self.server = start_server("soak", args, self.env, self.port, self.log)

    # --- setup -------------------------------------------------------------------------------

    def setup(self) -> dict[str, Any]:
        """The account (voxsig create-account), then through the API: an API inbox and its
        conversations, a widget inbox, and the webhooks, made last so the setup publishes
        nothing. Returns the load's config."""
        args = ["--name", "Soak", "--email", "soak@example.com", "--password", "soak-password-1"]
        done = run_cli(self.env, "create-account", *args)
        if done.returncode != 0:
            raise BenchError(f"voxsig create-account failed:\n{done.stderr.strip()}")
        self.account = json.loads(done.stdout)
        self.start_server()
        api, headers = self.api, self.headers
        inbox = {"name": "API", "channel": {"type": "api"}}
        inbox_id = http_json("POST", f"{api}/inboxes", inbox, headers)["id"]
        widget = {"type": "web_widget", "website_url": "https://shop.example"}
        made = http_json("POST", f"{api}/inboxes", {"name": "Website", "channel": widget}, headers)
        conversations = api_conversations(api, headers, inbox_id, self.opts["soak_conversations"])
        for name in KINDS:
            body: dict[str, Any] = {
                "name": name,
                "url": f"http://127.0.0.1:{self.ports[name]}/hook",
                "subscriptions": list(EVENTS),
            }
            if name == "slow":  # as an operator would give a slow receiver that can take more
                body["max_in_flight"] = MAX_PER_ENDPOINT
            hook = http_json("POST", f"{api}/webhooks", body, headers)["payload"]["webhook"]
            self.hooks[name] = {"id": int(hook["id"]), "secret": str(hook["secret"])}
        secrets = {name: h["secret"] for name, h in self.hooks.items()}
        http_json("POST", f"{self.receivers.base_url}/_secrets", secrets)
        assert self.server is not None
        return {
            "base_url": self.server.base_url,
            "account_id": self.account["account_id"],
            "token": self.account["api_access_token"],
            "assignee_id": self.account["user_id"],
            "conversations": conversations,
            "website_token": made["website_token"],
            "rate": self.opts["soak_rate"],
            "seconds": self.opts["soak_seconds"],
            "visitors": VISITORS,
            "visitor_every": VISITOR_EVERY,
            "action_every": ACTION_EVERY,
            "seed": SEED,
        }

    # --- the timeline ------------------------------------------------------------------------

    def soak(self, config: dict[str, Any]) -> dict[str, Any]:
        """Runs the load and, on its schedule, opens the down receiver, kills and restarts the
        server, re-enables the gone endpoint; samples memory. Returns the load's result."""
        seconds = float(self.opts["soak_seconds"])
        kill_at = sorted(f * seconds for f in self.opts["soak_kill_at"])
        open_at = self.opts["soak_down_until"] * seconds
        self.start_at = time.time() + 1.0
        config = {**config, "start_at": self.start_at}
        config_path, out, load_log = (self.workdir / f"load{end}" for end in FILES)
        config_path.write_text(json.dumps(config))
        args = [sys.executable, "-m", "bench.soak_load", str(config_path), str(out)]
        load = PROCESSES.start(args, env=scrubbed_env(), log=load_log)
        task = self.ui.timed_task("soak: load", total=seconds)
        next_sample = self.start_at
        try:
            while load.poll() is None:
                now, t = time.time(), self.elapsed()
                if self.opened_at is None and t >= open_at:
                    http_json("POST", f"{self.receivers.base_url}/_open/down")
                    self.opened_at = now
                if kill_at and t >= kill_at[0]:
                    kill_at.pop(0)
                    self.kill_and_restart()
                self.handle_gone()
                if now >= next_sample:
                    self.sample()
                    while next_sample <= time.time():  # none owed for the time a restart took
                        next_sample += SAMPLE_EVERY
                self.check_alive()
                if t > seconds + LOAD_GRACE:
                    raise BenchError("soak: the load did not finish in time")
                phase = "load" if t < seconds else "the load's last requests"
                where = f", killed {len(self.kills)}x" if self.kills else ""
                self.ui.progress.update(
                    task, completed=min(t, seconds), description=f"soak: {phase}{where}"
                )
                time.sleep(TICK)
        finally:
            PROCESSES.stop(load, grace=3.0)
        if load.returncode != 0 or not out.exists():
            raise BenchError(
                f"soak: the load failed (code {load.returncode}):\n{log_tail(load_log)}"
            )
        self.ui.progress.update(task, completed=seconds, description="soak: load [green]done")
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    def check_alive(self) -> None:
        assert self.server is not None
        if self.server.proc.poll() is not None:
            raise BenchError(
                f"soak: the server exited by itself (code {self.server.proc.returncode}); its "
                f"log:\n{log_tail(self.log)}"
            )

    def kill_and_restart(self) -> None:
        """SIGKILL (no shutdown code runs), the leases it left, and a restart after the pause."""
        assert self.server is not None
        proc, at = self.server.proc, time.time()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15.0)
        PROCESSES.stop(proc)
        leased = soak_db.leased(self.url)
        names = {h["id"]: name for name, h in self.hooks.items()}
        time.sleep(max(0.0, at + self.opts["soak_restart_after"] - time.time()))
        with self.log.open("a") as log:
            log.write(f"=== soak: SIGKILLed at {utc_stamp()}, restarting ===\n")
        spawned = time.time()
        self.start_server()
        self.kills.append(
            {
                "at": at,
                "t": round(at - self.start_at, 1),
                "leased": {names.get(wid, str(wid)): ids for wid, ids in leased.items()},
                "spawned": spawned,
                "ready": time.time(),
            }
        )

    def handle_gone(self) -> None:
        """Once the gone endpoint is disabled (its 410), waits soak_reenable_after s, then
        re-enables it and recovers from the `recover_since` the PATCH answered."""
        gone = self.gone
        if "recovered" in gone:
            return
        url = f"{self.api}/webhooks/{self.hooks['gone_once']['id']}"
        if "disabled_seen" not in gone:
            hook = http_json("GET", url, None, self.headers)["payload"]["webhook"]
            if not hook["enabled"]:
                gone["disabled_seen"] = round(self.elapsed(), 1)
                gone["disabled_reason"] = hook["disabled_reason"]
            return
        if self.elapsed() - gone["disabled_seen"] < self.opts["soak_reenable_after"]:
            return
        hook = http_json("PATCH", url, {"enabled": True}, self.headers)["payload"]["webhook"]
        gone["reenabled"] = round(self.elapsed(), 1)
        gone["recover_since"] = since = hook.get("recover_since")
        recovered = {}
        if since is not None:
            recovered = http_json("POST", f"{url}/recover", {"since": since}, self.headers)
        gone["recovered"] = recovered.get("payload", {})

    def sample(self) -> None:
        assert self.server is not None
        rss = sum(rss_mb(p) for p in with_children(self.server.proc.pid))
        wal = self.data_dir / "voxsig.db-wal"
        counts = http_json("GET", f"{self.receivers.base_url}/_counts")
        self.samples.append(
            {
                "t": round(self.elapsed(), 1),
                "rss_mb": round(rss, 1),
                "wal_mb": round(wal.stat().st_size / 2**20, 2) if wal.exists() else 0.0,
                "accepted": sum(c["accepted"] for c in counts.values()),
                "restarts": len(self.kills),
            }
        )

    # --- after the load ----------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """The delivery log, then what the receivers got (in that order: whatever the log shows
        succeeded was already answered, so already recorded)."""
        rows = soak_db.snapshot(self.url)
        records = http_json("GET", f"{self.receivers.base_url}/_records")
        return {"at": round(self.elapsed(), 1), "db": rows, "records": records}

    def drain(self) -> dict[str, Any]:
        """Waits (at most soak_drain s) until nothing is pending, or only retries due after the
        deadline; returns how long that took and what was left."""
        started = time.time()
        deadline = started + self.opts["soak_drain"]
        next_sample = started + SAMPLE_EVERY
        with self.ui.step(f"soak: drain (up to {self.opts['soak_drain']:g} s)"):
            while True:
                state = soak_db.pending_state(self.url)
                now = time.time()
                later = state["next_in"]
                only_later = state["due"] == 0 and (later is None or now + later > deadline)
                if state["pending"] == 0 or only_later or now >= deadline:
                    break
                if now >= next_sample:
                    self.sample()
                    next_sample += SAMPLE_EVERY
                self.check_alive()
                time.sleep(1.0)
        return {"seconds": round(time.time() - started, 1), **state}

    def stop(self) -> None:
        if self.server is not None:
            with self.ui.step("soak: stopping the server"):
                PROCESSES.stop(self.server.proc)


def _start_receivers(ui: Ui, workdir: Path) -> tuple[Server, dict[str, int]]:
    ports = {name: free_port() for name in KINDS}
    control = free_port()
    config = {
        "control_port": control,
        "seed": SEED,
        "receivers": {name: {"kind": name, "port": port} for name, port in ports.items()},
    }
    path = workdir / "receivers-config.json"
    path.write_text(json.dumps(config))
    args = [sys.executable, "-m", "bench.soak_receivers", str(path)]
    with ui.step("soak: starting the five receivers"):
        server = start_server("receivers", args, scrubbed_env(), control, workdir / "receivers.log")
    return server, ports


def run(opts: Options, ui: Ui) -> tuple[dict[str, Any], list[Any]]:
    started = time.monotonic()
    with work_dir(opts, ui, BENCHMARK.name) as workdir:
        receivers, ports = _start_receivers(ui, workdir)
        soak = Run(opts, ui, workdir, receivers, ports)
        try:
            with ui.step("soak: account, inboxes, conversations, webhooks"):
                config = soak.setup()
            assert soak.server is not None
            quiet = wait_for_quiet(ui, soak.server, "soak", opts.quiet_wait)
            load = soak.soak(config)
            at_end = soak.figures()
            drained = soak.drain()
            final = soak.figures()
            wal = soak.data_dir / "voxsig.db-wal"
            wal_mb = round(wal.stat().st_size / 2**20, 2) if wal.exists() else 0.0
            missing = soak_db.missing_messages(soak.url, load["message_ids"])
        finally:
            soak.stop()
            with ui.step("soak: stopping the receivers"):
                PROCESSES.stop(receivers.proc)
        found = soak_figures.Found(
            load=load,
            at_end=at_end,
            final=final,
            drained=drained,
            kills=soak.kills,
            gone=soak.gone,
            samples=soak.samples,
            hooks={name: h["id"] for name, h in soak.hooks.items()},
            wal_mb=wal_mb,
            missing_messages=missing,
            log_problems=log_problems(soak.log),
            log_tail=log_tail(soak.log, 20),
            quiet_percent=quiet,
            opened_at=None if soak.opened_at is None else round(soak.opened_at - soak.start_at, 1),
        )
        figures = soak_figures.summarize(found)
        fail_on("soak", soak_figures.problems(figures))
    return soak_figures.results(
        BENCHMARK, opts, figures, total_seconds=round(time.monotonic() - started, 1)
    )


BENCHMARK = Benchmark(
    name="soak",
    description="webhook delivery through minutes of mixed load, five kinds of receiver (healthy, "
    "flaky, slow, down, gone once) and a SIGKILL of the server: lost, duplicated, failed and "
    "pending per receiver, restart to first re-send, memory over time (SQLite)",
    method=METHOD,
    run=run,
    options=(
        Option("--soak-seconds", 150.0, "seconds of load (issue 13's soak: 840)", 10, 7200),
        Option("--soak-rate", 10.0, "REST message creations per second", 0.1, 200),
        Option(
            "--soak-kill-at",
            (0.4,),
            "SIGKILL the server at these fractions of the run, comma-separated",
            0.01,
            0.99,
        ),
        Option("--soak-restart-after", 2.0, "seconds between a kill and the restart", 0, 60),
        Option(
            "--soak-down-until",
            0.3,
            "fraction of the run the down receiver's port stays closed",
            0,
            1,
        ),
        Option(
            "--soak-reenable-after",
            10.0,
            "seconds after the gone endpoint is seen disabled until it is re-enabled",
            0,
            3600,
        ),
        Option("--soak-drain", 30.0, "at most this many seconds for deliveries to settle", 0, 600),
        Option("--soak-conversations", 60, "REST conversations the messages go round", 1, 1000),
        Option(
            "--soak-retry-schedule",
            "1,2,4,8,15,20,20,20",
            "VOXSIG_WEBHOOK_RETRY_SCHEDULE (its sum must outlast the down receiver's outage)",
        ),
    ),
    facts={
        "visitors": VISITORS,
        "visitor_every": VISITOR_EVERY,
        "action_every": ACTION_EVERY,
        "slow_seconds": SLOW_SECONDS,
        "lease_seconds": LEASE_SECONDS,
        "max_per_endpoint": MAX_PER_ENDPOINT,
        "disable_after": DISABLE_AFTER,
        "allowed_networks": ALLOWED_NETWORKS,
        "sample_every": SAMPLE_EVERY,
        "resend_target": soak_figures.RESEND_TARGET,
        "seed": SEED,
    },
)
