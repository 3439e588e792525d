"""Agent console: lookup latency with a cold and a warm cache, beside Optimove's own latency.

Starts the service (with its worker) and both sandboxes as separate processes, gives the
Optimove sandbox a latency (50 ms by default) and N customers, and sets up a site as its
administrator and an agent's browser would, over HTTP: the site and its settings, an agent
token, then the Optimove tab page (`/console/{site}/livechat?siteId=…&agentId=…&token=…`), whose
console session authenticates every lookup, as the tab's script does.

    .venv/bin/python -m bench.console_latency [--customers 200] [--sandbox-latency-ms 50]
                                              [--refresh-sample 40] [--database-url URL]

One request at a time, each timed by the client around the whole HTTP exchange:

- first lookup: one lookup of another customer, as the first of any site: it also reads the
  account's attribute list and learns the labels and types; the cold phase then reads
  customers only.
- sandbox: `GET Customers/{id}/Attributes` straight from the sandbox, for each customer. It
  uses an API key of its own (a separate 50-call window), and `?bench=direct` tells its calls
  apart in the sandbox's request log. Each is sent just before that customer's cold lookup, so
  both see the same moment of a shared machine.
- cold: each customer looked up once (`POST …/console/lookup`): none is cached, so each reads
  Optimove.
- warm: the same conversations again, served from the service's customer cache.
- refresh: a sample through `POST …/console/refresh`, which always reads Optimove.

Optimove allows 50 calls per 10 s per key. The sandbox enforces it, and the service's limiter
makes an agent wait up to 3 s for a slot before answering 429 `busy`. So the phases that call
Optimove are paced at 4 requests per second per key (40 per 10 s, under the limit even with
the limiter's 0.5 s margin): they measure latency, not the limiter. The warm phase makes no
calls and is not paced. 429 answers (the sandbox's to anyone, and `busy` to the agent) are
counted; both should be 0. Optimove calls per phase come from the sandbox's `/_sandbox/requests`
log.

The service runs with its default worker poll (the test stack's is faster), and its customer
cache TTL is raised to an hour, from 120 s, so the warm phase stays warm for any N.

`--database-url`: a PostgreSQL server URL. A fresh database is made in that server and
dropped at the end. The default is SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from tests.sync.stack import OPTIMOVE_KEY, Stack, running_stack

from bench.webhook_intake import fresh_database
from optibridge.config import Config

DIRECT_KEY = "bench-direct-optimove-key"
DIRECT_MARK = "bench=direct"
RATE_PER_S = 4.0  # per API key: 40 calls per 10 s, under Optimove's 50
AGENT_ID = "bench-agent"
SANDBOX, FIRST = "sandbox, direct GET", "first lookup of the site"
COLD, WARM, REFRESH = "cold lookup", "warm lookup", "refresh"


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    optimove_calls: int = 0
    optimove_429: int = 0  # answers the sandbox refused with 429 (to anyone in this phase)
    busy: int = 0  # 429 `busy` answers the agent got from the service

    def p(self, q: float) -> float:
        """Nearest-rank percentile (p50 is the lower median)."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def p50(self) -> float:
        return self.p(0.50)


@dataclass(frozen=True)
class Agent:
    """An agent's Optimove tab: its console session and the API base its page gave."""

    http: httpx.Client
    api: str

    def lookup(self, customer_id: str, chat: dict[str, Any], *, refresh: bool = False) -> int:
        """Send one lookup and return its status (any other than 200 or 429 ends the bench)."""
        body = {"channel": "livechat", "context": chat}
        response = self.http.post(f"{self.api}/{'refresh' if refresh else 'lookup'}", json=body)
        if response.status_code == 429:
            return 429
        if response.status_code != 200:
            raise SystemExit(f"lookup of {customer_id}: {response.status_code} {response.text}")
        view = response.json()
        if (view["status"], view["customer_id"]) != ("matched", customer_id):
            raise SystemExit(f"lookup of {customer_id} answered {view}")
        return 200


class Pacer:
    """At most `rate_per_s` starts per second: each waits for the slot after the previous."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s
        self._next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200, help="N customers (default 200)")
    parser.add_argument("--sandbox-latency-ms", type=float, default=50.0)
    parser.add_argument("--refresh-sample", type=int, default=40, help="refreshes (default 40)")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    options = parser.parse_args()
    if options.customers < 1 or options.refresh_sample < 0:
        raise SystemExit("--customers must be at least 1 and --refresh-sample not negative")
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(options.database_url) as database_url,
        running_stack(Path(tmp), extra_env=SERVICE_ENV, database_url=database_url) as stack,
    ):
        phases = measure(
            stack, options.customers, options.sandbox_latency_ms, options.refresh_sample
        )
    print_table(phases, options.customers, options.sandbox_latency_ms, options.database_url)


SERVICE_ENV = {
    "OPTIBRIDGE_WORKER_POLL_S": str(Config.model_fields["worker_poll_s"].default),
    "OPTIBRIDGE_CUSTOMER_CACHE_TTL_S": "3600",
}


@contextmanager
def database(server_url: str | None) -> Iterator[str | None]:
    """None (SQLite, the stack's default) or a fresh database in the PostgreSQL server."""
    if server_url is None:
        yield None
        return
    if not make_url(server_url).get_backend_name().startswith("postgresql"):
        raise SystemExit("--database-url must be a PostgreSQL server URL")
    with fresh_database(server_url) as url:
        yield url


def measure(
    stack: Stack,
    customers: int,
    sandbox_latency_ms: float,
    refresh_sample: int,
    rate_per_s: float = RATE_PER_S,
) -> list[Phase]:
    """Set up a site, an agent's tab and `customers` customers; run the phases in order."""
    optimove = stack.optimove
    ids = [
        stack.seed_customer(EMAIL=f"c{i}@example.com", FIRST_NAME=f"C{i}", VIP_LEVEL="gold")
        for i in range(customers + 1)
    ]
    first, ids = ids[0], ids[1:]
    optimove.put("/_sandbox/keys", json=[OPTIMOVE_KEY, DIRECT_KEY]).raise_for_status()
    optimove.put("/_sandbox/faults", json={"latency_ms": sandbox_latency_ms}).raise_for_status()
    site = stack.new_site()
    # Each conversation as the host page describes it: a chat, its visitor, the customer id.
    chats = {customer_id: _chat(customer_id) for customer_id in [first, *ids]}
    service_pacer, direct_pacer = Pacer(rate_per_s), Pacer(rate_per_s)
    phases = {name: Phase(name) for name in (SANDBOX, FIRST, COLD, WARM, REFRESH)}
    with (
        open_tab(stack, site.site_id) as agent,
        httpx.Client(
            base_url=str(optimove.base_url), headers={"X-API-KEY": DIRECT_KEY}, timeout=30
        ) as direct,
    ):
        optimove.delete("/_sandbox/requests").raise_for_status()
        service_pacer.wait()
        _timed_lookup(agent, phases[FIRST], first, chats[first])
        _count_calls(optimove, [phases[FIRST]])

        for customer_id in ids:
            direct_pacer.wait()
            started = time.perf_counter()
            answer = direct.get(f"/Customers/{customer_id}/Attributes?{DIRECT_MARK}")
            phases[SANDBOX].latencies_ms.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"sandbox read of {customer_id}: {answer.status_code}")
            service_pacer.wait()
            _timed_lookup(agent, phases[COLD], customer_id, chats[customer_id])
        _count_calls(optimove, [phases[SANDBOX], phases[COLD]])

        for customer_id in ids:
            _timed_lookup(agent, phases[WARM], customer_id, chats[customer_id])
        _count_calls(optimove, [phases[WARM]])

        for customer_id in ids[:refresh_sample]:
            service_pacer.wait()
            _timed_lookup(agent, phases[REFRESH], customer_id, chats[customer_id], refresh=True)
        _count_calls(optimove, [phases[REFRESH]])
    return [phase for phase in phases.values() if phase.latencies_ms]


@contextmanager
def open_tab(stack: Stack, site_id: int) -> Iterator[Agent]:
    """An agent token issued by the administrator, and the tab page Comm100 opens with it: its
    console session (in a meta tag) and API base, used as the tab's script uses them."""
    issued = stack.admin.post(f"/sites/{site_id}/tokens", json={"role": "agent"})
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    with httpx.Client(base_url=stack.service_url, timeout=30) as browser:
        page = browser.get(
            f"/console/{site_id}/livechat",
            params={"siteId": str(site_id), "agentId": AGENT_ID, "token": token},
        )
        assert page.status_code == 200, page.text
        session = re.search(r'name="optibridge-session" content="([^"]+)"', page.text)
        api = re.search(r'data-api="([^"]+)"', page.text)
        assert session is not None, page.text
        assert api is not None, page.text
        for asset in re.findall(r'(?:href|src)="(/console/static/[^"]+)"', page.text):
            browser.get(asset).raise_for_status()
        browser.headers.update(
            {"Accept": "application/json", "Authorization": f"Bearer {session.group(1)}"}
        )
        yield Agent(browser, api.group(1))


def _chat(customer_id: str) -> dict[str, Any]:
    return {
        "chat_id": str(uuid.uuid4()),
        "visitor": {
            "id": str(uuid.uuid4()),
            "custom_variables": [{"name": "customer_id", "value": customer_id}],
        },
    }


def _timed_lookup(
    agent: Agent, phase: Phase, customer_id: str, chat: dict[str, Any], *, refresh: bool = False
) -> None:
    started = time.perf_counter()
    status = agent.lookup(customer_id, chat, refresh=refresh)
    phase.latencies_ms.append((time.perf_counter() - started) * 1000)
    if status == 429:
        phase.busy += 1


def _count_calls(optimove: httpx.Client, phases: list[Phase]) -> None:
    """Attribute the sandbox's logged calls to `phases` (a direct call to the sandbox phase,
    the rest to the other one) and forget them."""
    logged: list[dict[str, Any]] = optimove.get("/_sandbox/requests").json()
    optimove.delete("/_sandbox/requests").raise_for_status()
    for call in logged:
        direct = DIRECT_MARK in (call.get("query") or "")
        phase = next((p for p in phases if (p.name == SANDBOX) == direct), phases[0])
        phase.optimove_calls += 1
        phase.optimove_429 += call["status"] == 429


def print_table(
    phases: list[Phase], customers: int, latency_ms: float, database_url: str | None
) -> None:
    by_name = {phase.name: phase for phase in phases}
    sandbox_p50 = by_name[SANDBOX].p50
    where = "PostgreSQL" if database_url else "SQLite"
    table = Table(
        title=f"Console lookup latency: {customers} customers, sandbox latency"
        f" {latency_ms:g} ms, {where}, one request at a time"
    )
    table.add_column("phase")
    table.add_column("requests", justify="right")
    for column in ("p50 ms", "p95 ms", "max ms", "p50 vs sandbox"):
        table.add_column(column, justify="right")
    table.add_column("Optimove calls", justify="right")
    table.add_column("429s (Optimove / busy)", justify="right")
    for phase in phases:
        if phase.name == SANDBOX:
            versus = "—"
        elif phase.name == WARM:
            versus = f"{phase.p50 / sandbox_p50:.2f}x"
        else:
            versus = f"{phase.p50 - sandbox_p50:+.1f} ms"
        table.add_row(
            phase.name,
            str(len(phase.latencies_ms)),
            f"{phase.p50:.1f}",
            f"{phase.p(0.95):.1f}",
            f"{max(phase.latencies_ms):.1f}",
            versus,
            str(phase.optimove_calls),
            f"{phase.optimove_429} / {phase.busy}",
        )
    Console(width=160).print(table)
    cold, warm = by_name[COLD], by_name[WARM]
    print(
        f"overhead (cold p50 - sandbox p50): {cold.p50 - sandbox_p50:.1f} ms;"
        f" warm p50 / sandbox p50: {warm.p50 / sandbox_p50:.2f}"
    )


if __name__ == "__main__":
    main()
