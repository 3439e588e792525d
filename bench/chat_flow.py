"""Real chats against Optimove's budget: calls per chat, chats per second per key, and agents
during a backlog (issue "Agents first", SPEC 4.5 and 4.6).

Starts the service (with its worker, default configuration: the customer cache's 120 s TTL,
writes gathered for up to 20 s while more are surely coming: agents have chats open, or events
keep arriving on a busy budget) and both sandboxes as separate processes; the Optimove sandbox
answers after 50 ms and enforces 50 calls per 10 s per key.

    .venv/bin/python -m bench.chat_flow [--chats 40] [--long-every 4] [--long-s 130]
                                        [--rate 4.5] [--sustain-s 60] [--backlog 600]
                                        [--parts real,sustained,backlog]

Three parts, one after the other, on one site and one API key:

1. **Real chats**: `--chats` chats, one starting every 0.5 s. Each is what happens in Comm100:
   the agent's tab looks the customer up when the chat opens, and `chat_ended` arrives when it
   ends (`fill_empty`: the chat's e-mail fills the customer's empty EMAIL). Most chats last
   10 s; every `--long-every`-th lasts `--long-s` (longer than the cache's TTL). Optimove calls
   per chat, from the sandbox's request log, once every record is settled.
2. **Sustained**: chats offered at `--rate` per second for `--sustain-s` (lookup, then its end
   at once); chats per second from the first start to the last record settled.
3. **Agents during a backlog**: an agent looks a customer up and refreshes it every 2 s, first
   with nothing else going on (quiet), then while `--backlog` chat ends of other customers (no
   agent beside them: each needs its own read) drain; p90 of both, refused (`429 busy`) counts.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from tests.sync.stack import Stack, running_stack

from bench.console_latency import SERVICE_ENV as _LATENCY_ENV
from bench.console_latency import Agent, Pacer, Phase, open_tab
from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended

# The defaults of `optibridge serve` (the latency bench raises the cache TTL; this one doesn't).
SERVICE_ENV = {"OPTIBRIDGE_WORKER_POLL_S": _LATENCY_ENV["OPTIBRIDGE_WORKER_POLL_S"]}
AGENT_EVERY_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--long-every", type=int, default=4)
    parser.add_argument("--long-s", type=float, default=130.0)
    parser.add_argument("--short-s", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=4.5)
    parser.add_argument("--sustain-s", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=600)
    parser.add_argument("--quiet-s", type=float, default=30.0)
    parser.add_argument("--sandbox-latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--parts",
        default="real,sustained,backlog",
        help="which parts to run, comma-separated (real, sustained, backlog)",
    )
    options = parser.parse_args()
    parts = {part.strip() for part in options.parts.split(",")}
    if not parts or not parts <= {"real", "sustained", "backlog"}:
        parser.error("--parts: name some of real, sustained, backlog")
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_stack(Path(tmp), extra_env=SERVICE_ENV) as stack,
    ):
        stack.optimove.put(
            "/_sandbox/faults", json={"latency_ms": options.sandbox_latency_ms}
        ).raise_for_status()
        site = stack.new_site()
        with open_tab(stack, site.site_id) as agent:
            rows = []
            if "real" in parts:
                rows.append(real_chats(stack, site.livechat_url, agent, options))
            if "sustained" in parts:
                rows.append(sustained(stack, site.livechat_url, agent, options))
            phases = None
            if "backlog" in parts:
                phases = agents_during_backlog(stack, site.livechat_url, agent, options)
    print_results(rows, phases, options)


# --- one chat ------------------------------------------------------------------------------------


class Chats:
    """Chats of new customers (EMAIL empty, so their end fills it): the tab's lookup, the end."""

    def __init__(self, stack: Stack, livechat_url: str, agent: Agent) -> None:
        self.stack, self.url, self.agent = stack, livechat_url, agent
        self.records: list[int] = []
        self.busy = 0
        self._lock = threading.Lock()

    def new(self) -> tuple[str, dict[str, Any]]:
        customer_id = self.stack.seed_customer(EMAIL=None, FIRST_NAME="Chat")
        chat = {
            "chat_id": str(uuid.uuid4()),
            "visitor": {
                "id": str(uuid.uuid4()),
                "custom_variables": [{"name": "customer_id", "value": customer_id}],
            },
        }
        return customer_id, chat

    def look_up(self, customer_id: str, chat: dict[str, Any]) -> None:
        if self.agent.lookup(customer_id, chat) == 429:
            with self._lock:
                self.busy += 1

    def end(self, customer_id: str, chat: dict[str, Any]) -> None:
        visitor = Visitor(
            id=chat["visitor"]["id"],
            email=f"{customer_id.lower()}@example.com",
            custom_variables={"customer_id": customer_id},
        )
        now = datetime.now(UTC)
        body = chat_ended(
            visitor=visitor, chat=Chat(id=chat["chat_id"], start_time=now, end_time=now)
        )
        response = self.stack.send(self.url, body)
        if response.status_code != 202:
            raise SystemExit(f"chat_ended: {response.status_code} {response.text}")
        with self._lock:
            self.records.append(response.json()["id"])

    def settle_all(self) -> dict[str, int]:
        outcomes: dict[str, int] = {}
        for record_id in self.records:
            record = self.stack.settled(record_id, timeout_s=900)
            outcomes[record.outcome or "pending"] = outcomes.get(record.outcome or "pending", 0) + 1
        return outcomes


def optimove_calls(stack: Stack, since: float) -> tuple[int, int]:
    """(calls, 429s) the sandbox logged after `since`."""
    logged = stack.optimove.get("/_sandbox/requests", params={"since": since}).json()
    return len(logged), sum(1 for call in logged if call["status"] == 429)


# --- the parts -----------------------------------------------------------------------------------


def real_chats(stack: Stack, url: str, agent: Agent, options: argparse.Namespace) -> dict[str, Any]:
    chats = Chats(stack, url, agent)
    prepared = [chats.new() for _ in range(options.chats)]
    started = time.time()

    def one(index: int) -> None:
        time.sleep(index * 0.5)
        customer_id, chat = prepared[index]
        chats.look_up(customer_id, chat)
        long = options.long_every > 0 and index % options.long_every == options.long_every - 1
        time.sleep(options.long_s if long else options.short_s)
        chats.end(customer_id, chat)

    with ThreadPoolExecutor(options.chats) as pool:
        list(pool.map(one, range(options.chats)))
    outcomes = chats.settle_all()
    calls, throttled = optimove_calls(stack, started)
    longs = options.chats // options.long_every if options.long_every > 0 else 0
    return {
        "part": f"real chats ({longs} of {options.long_s:g} s)",
        "chats": options.chats,
        "calls": calls,
        "429s": throttled,
        "busy": chats.busy,
        "seconds": time.time() - started,
        "outcomes": outcomes,
    }


def sustained(stack: Stack, url: str, agent: Agent, options: argparse.Namespace) -> dict[str, Any]:
    chats = Chats(stack, url, agent)
    count = int(options.rate * options.sustain_s)
    prepared = [chats.new() for _ in range(count)]
    pacer = Pacer(options.rate)
    started = time.time()

    def one(index: int) -> None:
        customer_id, chat = prepared[index]
        chats.look_up(customer_id, chat)
        chats.end(customer_id, chat)

    with ThreadPoolExecutor(16) as pool:
        futures = []
        for index in range(count):
            pacer.wait()
            futures.append(pool.submit(one, index))
        for future in futures:
            future.result()
    outcomes = chats.settle_all()
    seconds = time.time() - started
    calls, throttled = optimove_calls(stack, started)
    return {
        "part": f"sustained, offered {options.rate:g}/s",
        "chats": count,
        "calls": calls,
        "429s": throttled,
        "busy": chats.busy,
        "seconds": seconds,
        "outcomes": outcomes,
    }


def agents_during_backlog(
    stack: Stack, url: str, agent: Agent, options: argparse.Namespace
) -> tuple[Phase, Phase]:
    chats = Chats(stack, url, agent)
    customer_id, chat = chats.new()
    quiet, busy = Phase("quiet"), Phase("during the backlog")

    def agent_round(phase: Phase) -> None:
        for refresh in (False, True):
            began = time.perf_counter()
            status = agent.lookup(customer_id, chat, refresh=refresh)
            phase.latencies_ms.append((time.perf_counter() - began) * 1000)
            phase.busy += status == 429

    deadline = time.monotonic() + options.quiet_s
    while time.monotonic() < deadline:
        agent_round(quiet)
        time.sleep(AGENT_EVERY_S)

    backlog = Chats(stack, url, agent)
    others = [backlog.new() for _ in range(options.backlog)]
    since = time.time()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: backlog.end(*pair), others))
    # The agent works while the backlog drains (each of its events needs its own read).
    while True:
        agent_round(busy)
        with stack.engine.connect() as connection:
            left = connection.execute(
                text("SELECT count(*) FROM sync_records WHERE state IN ('queued', 'working')")
            ).scalar_one()
        if left == 0:
            break
        time.sleep(AGENT_EVERY_S)
    backlog.settle_all()
    _calls, throttled = optimove_calls(stack, since)
    busy.optimove_429 = throttled
    return quiet, busy


def print_results(
    rows: list[dict[str, Any]], phases: tuple[Phase, Phase] | None, options: argparse.Namespace
) -> None:
    console = Console(width=160)
    table = Table(title="Chats against one Optimove key (50 calls / 10 s), sandbox 50 ms, SQLite")
    for column in ("part", "chats", "Optimove calls", "calls / chat", "chats / s", "429s", "busy"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for row in rows:
        table.add_row(
            row["part"],
            str(row["chats"]),
            str(row["calls"]),
            f"{row['calls'] / row['chats']:.2f}",
            f"{row['chats'] / row['seconds']:.2f}",
            str(row["429s"]),
            str(row["busy"]),
        )
    if rows:
        console.print(table)
    for row in rows:
        console.print(f"{row['part']}: outcomes {row['outcomes']}, {row['seconds']:.0f} s")
    if phases is None:
        return
    quiet, busy = phases
    agents = Table(
        title=f"An agent's lookup and Refresh every 2 s, quiet vs {options.backlog}-event backlog"
    )
    for column in (
        "phase",
        "requests",
        "p50 ms",
        "p90 ms",
        "max ms",
        "busy (429)",
        "Optimove 429s",
    ):
        agents.add_column(column, justify="left" if column == "phase" else "right")
    for phase in (quiet, busy):
        agents.add_row(
            phase.name,
            str(len(phase.latencies_ms)),
            f"{phase.p(0.5):.0f}",
            f"{phase.p(0.9):.0f}",
            f"{max(phase.latencies_ms):.0f}",
            str(phase.busy),
            str(phase.optimove_429),
        )
    console.print(agents)
    console.print(f"p90 during the backlog / quiet p90: {busy.p(0.9) / quiet.p(0.9):.2f}x")


if __name__ == "__main__":
    main()
