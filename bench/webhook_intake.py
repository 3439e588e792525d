"""Webhook intake: throughput and latency of the durable 202, beside a FastAPI endpoint that does
nothing, in one run on one machine.

    .venv/bin/python -m bench.webhook_intake [--duration 10] [--connections 1,4,16]
                                             [--databases sqlite,postgres]

Load comes from `wrk` in its own process (Debian: `apt-get install -y wrk`). Each request is a
new Live Chat `chat_ended` webhook (a new chat and visitor every time, so every answer is a
stored record, never a duplicate) posted to `/webhooks/comm100/{site}/livechat` of
`optibridge serve --no-worker` (intake alone: verify the token, parse, insert, answer 202), on
SQLite and on PostgreSQL; and the same request to `bench/bare_webhook.py`, which answers 202
without doing anything, under the same uvicorn settings. After each service run the stored
records are counted: every 202 must be a row.

PostgreSQL is the server of OPTIBRIDGE_TEST_POSTGRES_URL (a fresh database in it), or else a
throwaway one on a free port (needs root and PostgreSQL 15's server binaries), stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url
from tests.support.processes import free_port, optibridge_command, running_process

from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from optibridge.store.db import make_engine
from optibridge.store.models import SyncRecord

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
SITE_ID = 10000
PLACEHOLDER = "BENCHID"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# One wrk thread: the machine's cores are shared by the load and the server it measures.
WRK_THREADS = 1

# wrk's script: every request a new chat and visitor (ids made unique per thread and request),
# and the result as one JSON line.
WRK_SCRIPT = """
local template = [==[%(body)s]==]
local path = [==[%(path)s]==]
local run = "%(run)s"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local id = run .. "-" .. tid .. "-" .. n
  local body = string.gsub(template, "%(placeholder)s", id)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "non_2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed: int


@dataclass(frozen=True)
class Result:
    target: str
    connections: int
    measured: Measured
    stored: int | None  # records in the database after the run (None: the bare endpoint)

    @property
    def per_second(self) -> float:
        return self.measured.requests / self.measured.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", default="1,4,16", help="wrk connections, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgres")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk (Debian)")
    connections = [int(c) for c in options.connections.split(",")]
    databases = options.databases.split(",")
    results = run(options.duration, connections, databases)
    print_table(results, options.duration)


def run(duration: int, connections: list[int], databases: list[str]) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        targets: list[tuple[str, str | None, str]] = [("bare FastAPI endpoint", None, "")]
        if "sqlite" in databases:
            # The default (every commit on disk before the 202), and what it costs beside NORMAL.
            for synchronous in ("FULL", "NORMAL"):
                url = f"sqlite:///{workdir / f'optibridge-{synchronous.lower()}.db'}"
                targets.append((f"optibridge, SQLite {synchronous}", url, synchronous))
        if "postgres" in databases:
            server = stack.enter_context(postgres_server())
            database = stack.enter_context(fresh_database(server))
            targets.append(("optibridge, PostgreSQL", database, ""))
        for target, database_url, synchronous in targets:
            with serving(workdir, target, database_url, synchronous) as url:
                for count in connections:
                    load(url, count, 2)  # warm up: connections, caches, token cache
                    if database_url:
                        clear_records(database_url)
                    result = load(url, count, duration)
                    stored = count_records(database_url) if database_url else None
                    results.append(Result(target, count, result, stored))
    return results


@contextmanager
def serving(
    workdir: Path, target: str, database_url: str | None, sqlite_synchronous: str = ""
) -> Iterator[str]:
    """The target running; yields its webhook URL (with the site's token)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if database_url is None:
        argv = [sys.executable, "-m", "bench.bare_webhook", "--port", str(port)]
        with running_process(argv, ready_url=f"{base}/healthz"):
            yield f"{base}/webhooks/comm100/{SITE_ID}/livechat?token=unused"
        return
    env = {
        "OPTIBRIDGE_DATA_DIR": str(workdir),
        "OPTIBRIDGE_DATABASE_URL": database_url,
        "OPTIBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
        "OPTIBRIDGE_SECRET_KEY": Fernet.generate_key().decode(),
        "OPTIBRIDGE_LOG_FORMAT": "json",
        "OPTIBRIDGE_LOG_LEVEL": "warning",
        **({"OPTIBRIDGE_SQLITE_SYNCHRONOUS": sqlite_synchronous} if sqlite_synchronous else {}),
    }
    log = workdir / f"{target.split(',')[-1].strip().lower().replace(' ', '-')}.log"
    argv = optibridge_command("serve", "--no-worker", "--port", str(port))
    with running_process(argv, ready_url=f"{base}/healthz", env=env, log_path=log):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        api = f"{base}/api/v1/sites"
        httpx.post(
            api, json={"site_id": SITE_ID, "name": "bench"}, headers=admin
        ).raise_for_status()
        urls = httpx.get(f"{api}/{SITE_ID}/webhooks", headers=admin).raise_for_status().json()
        yield str(urls["livechat"])


def load(url: str, connections: int, duration: int) -> Measured:
    """One wrk run: `connections` clients, each sending its next webhook when answered."""
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode()
    script = WRK_SCRIPT % {
        "body": webhook_template(),
        "path": path,
        "run": uuid.uuid4().hex[:8],
        "placeholder": PLACEHOLDER,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        completed = subprocess.run(
            [
                "wrk",
                f"-t{min(WRK_THREADS, connections)}",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                lua.name,
                f"{parsed.scheme}://{parsed.host}:{parsed.port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return Measured(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        failed=raw["non_2xx"] + raw["socket_errors"],
    )


def webhook_template() -> str:
    """A chat_ended body whose chat and visitor ids are the placeholder."""
    now = datetime.now(UTC)
    visitor = Visitor(
        id=PLACEHOLDER,
        email="bench@example.com",
        phone="+1 202 555 0100",
        custom_variables={"customer_id": "C-BENCH"},
    )
    body = chat_ended(visitor=visitor, chat=Chat(id=PLACEHOLDER, start_time=now, end_time=now))
    return json.dumps(body)


def count_records(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(SyncRecord)).scalar_one()
            )
    finally:
        engine.dispose()


def clear_records(database_url: str) -> None:
    """Each measurement starts from an empty table (the same conditions for each)."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(delete(SyncRecord))
    finally:
        engine.dispose()


# --- PostgreSQL -------------------------------------------------------------------------------


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server: OPTIBRIDGE_TEST_POSTGRES_URL's, or a throwaway one."""
    given = os.environ.get("OPTIBRIDGE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        raise SystemExit(
            "PostgreSQL: set OPTIBRIDGE_TEST_POSTGRES_URL, or run as root with PostgreSQL 15 "
            "installed (apt-get install -y postgresql), or pass --databases sqlite"
        )
    # Its own directory (the benchmark's is private to root, and postgres must reach this one).
    root = Path(tempfile.mkdtemp(prefix="optibridge-bench-pg."))
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    pg_ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(root / "data")]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*pg_ctl, "-l", str(root / "server.log"), "-w", "-o", options, "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- the report -------------------------------------------------------------------------------


def print_table(results: list[Result], duration: int) -> None:
    bare = {r.connections: r for r in results if r.stored is None}
    table = Table(title=f"POST /webhooks/comm100/{{site}}/livechat, {duration} s per row (wrk)")
    for column in ("target", "connections", "requests/s", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "target" else "right")
    table.add_column("throughput vs bare", justify="right")
    table.add_column("non-2xx", justify="right")
    table.add_column("rows stored", justify="right")
    for r in sorted(results, key=lambda r: (r.connections, r.stored is not None, r.target)):
        baseline = bare.get(r.connections)
        table.add_row(
            r.target,
            str(r.connections),
            f"{r.per_second:,.0f}",
            f"{r.measured.p50_ms:.1f}",
            f"{r.measured.p99_ms:.1f}",
            f"{r.measured.max_ms:.1f}",
            f"{r.per_second / baseline.per_second:.2f}" if baseline else "",
            str(r.measured.failed),
            "" if r.stored is None else f"{r.stored:,}",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
