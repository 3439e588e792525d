"""A Comm100 client wired to an `httpx.MockTransport`, a counting limiter and a recording sleep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from optibridge.comm100.client import Comm100Client

API_KEY = "c0mm100-k3y-DO-NOT-LEAK"
AGENT = "agent@example.com"
SITE_ID = 10000
BASE_URL = "https://api11.comm100.io/v4"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class CountingLimiter:
    """Admits at once; counts slots taken and 429s reported."""

    buckets: list[str] = field(default_factory=list)
    throttled: int = 0

    def acquire(self, bucket: str) -> float:
        self.buckets.append(bucket)
        return 0.0

    def record_throttled(self, bucket: str) -> None:
        self.throttled += 1


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    client: Comm100Client
    limiter: CountingLimiter
    sleeps: list[float]
    requests: list[httpx.Request]
    clock: Clock

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def harness(
    handler: Handler,
    *,
    base_url: str = BASE_URL,
    max_attempts: int = 4,
    jitter: float = 1.0,
) -> Harness:
    """A client whose every request goes to `handler`; backoff sleeps are recorded, not slept."""
    limiter = CountingLimiter()
    sleeps: list[float] = []
    requests: list[httpx.Request] = []
    clock = Clock()

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    client = Comm100Client(
        base_url,
        AGENT,
        API_KEY,
        SITE_ID,
        limiter=limiter,
        timeout_s=2.0,
        max_attempts=max_attempts,
        http=httpx.Client(transport=httpx.MockTransport(recording)),
        sleep=sleeps.append,
        jitter=lambda: jitter,
        monotonic=clock,
    )
    return Harness(client, limiter, sleeps, requests, clock)


def answer(status: int = 200, body: Any = None, **kwargs: Any) -> Handler:
    """Always the same answer; `body` is sent as JSON unless it is bytes."""

    def handler(_: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, **kwargs)
        if body is None:
            return httpx.Response(status, **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    return handler


def answers(*responses: httpx.Response | Exception) -> Handler:
    """One answer per request, in order (an exception is raised as the transport's failure)."""
    queue = list(responses)

    def handler(_: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


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
