"""A Comm100 client wired to an `httpx.MockTransport`, a counting limiter and a recording sleep."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from optibridge.comm100.client import Comm100Client
from tests.support import vendor_fakes
from tests.support.vendor_fakes import CountingLimiter as CountingLimiter
from tests.support.vendor_fakes import Handler
from tests.support.vendor_fakes import answer as answer
from tests.support.vendor_fakes import answers as answers

API_KEY = "c0mm100-k3y-DO-NOT-LEAK"
AGENT = "agent@example.com"
SITE_ID = 10000
BASE_URL = "https://api11.comm100.io/v4"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness(vendor_fakes.Harness[Comm100Client]):
    clock: Clock = field(default_factory=Clock)


def harness(
    handler: Handler,
    *,
    base_url: str = BASE_URL,
    max_attempts: int = 4,
    jitter: float = 1.0,
) -> Harness:
    """A client whose every request goes to `handler`; its field cache reads `Harness.clock`."""
    clock = Clock()
    make_client = partial(Comm100Client, base_url, AGENT, API_KEY, SITE_ID, monotonic=clock)
    h = vendor_fakes.harness(handler, make_client, max_attempts=max_attempts, jitter=jitter)
    return Harness(h.client, h.limiter, h.sleeps, h.requests, clock)


def routes(table: dict[str, Any]) -> Handler:
    """Answers by path suffix (after the base path): a JSON body, or a (status, body) pair."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/v4/", 1)[-1]
        if path not in table:
            return httpx.Response(404, json={"code": 404, "message": f"no route {path}"})
        found = table[path]
        status, body = found if isinstance(found, tuple) else (200, found)
        return httpx.Response(status, json=body)

    return handler
