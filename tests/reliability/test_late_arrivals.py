"""Calls that reach Optimove late (a busy machine, a slow network) never make the service exceed
the limit (SPEC 4.4): a proxy between the service and the Optimove sandbox holds every fourth
request back for six times the limiter's margin."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.processes import free_port
from tests.sync.stack import (
    OPTIMOVE_KEY,
    Stack,
    chat_end_for,
    default_settings,
    running_stack,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

LIMIT = 10  # calls per second: the sandbox's limit and the service's
MARGIN_S = 0.05
HOLD_S = 0.3  # far beyond the margin
EVENTS = 120


@dataclass
class SlowLink:
    """A TCP proxy that holds every `every`-th chunk sent to the upstream for `hold_s`."""

    upstream_port: int
    hold_s: float
    every: int
    port: int = 0
    held: int = 0

    def __post_init__(self) -> None:
        self._chunks = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowLink:
        self.port = free_port()
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.run_until_complete(asyncio.sleep(0))  # let the cancelled pumps finish
        self._loop.close()

    async def _connection(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(
            self._pump(client_r, upstream_w, hold=True),
            self._pump(upstream_r, client_w, hold=False),
            return_exceptions=True,
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if hold and next(self._chunks) % self.every == 0:
                    self.held += 1
                    await asyncio.sleep(self.hold_s)
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": str(LIMIT),
        "OPTIBRIDGE_OPTIMOVE_RATE_WINDOW_S": "1",
        "OPTIBRIDGE_OPTIMOVE_RATE_MARGIN_S": str(MARGIN_S),
    }
    with running_stack(tmp_path_factory.mktemp("late"), extra_env=env) as running:
        running.optimove.put(
            "/_sandbox/limits", json={"requests": LIMIT, "window_seconds": 1}
        ).raise_for_status()
        yield running


def test_calls_held_on_the_way_to_optimove_never_overrun_its_window(stack: Stack) -> None:
    upstream = stack.optimove.base_url.port
    assert upstream is not None
    with SlowLink(upstream, hold_s=HOLD_S, every=4) as link:
        section = default_settings("", "")["livechat"]
        section["on_chat_end"] = {"update": "fill_empty", "no_match": "never"}
        site = stack.new_site(
            optimove={"base_url": f"http://127.0.0.1:{link.port}", "api_key": OPTIMOVE_KEY},
            livechat=section,
        )
        customers = [stack.seed_customer(EMAIL="") for _ in range(EVENTS)]
        stack.optimove.delete("/_sandbox/requests").raise_for_status()
        ids = []
        for customer in customers:
            response = stack.send(
                site.livechat_url, chat_end_for(customer, f"{uuid.uuid4().hex[:8]}@example.com")
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        outcomes = Counter(stack.settled(record_id, timeout_s=120).outcome for record_id in ids)
        assert link.held >= EVENTS // 4  # the link really held calls back

    requests = stack.optimove.get("/_sandbox/requests").json()
    statuses = Counter(request["status"] for request in requests)
    assert statuses[429] == 0, statuses
    assert statuses[200] >= EVENTS  # a read per customer, and the writes
    assert outcomes == {"updated": EVENTS}, outcomes
