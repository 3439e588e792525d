"""A vendor client wired to an `httpx.MockTransport`, a counting limiter and a recording sleep.

`tests/comm100/fakes.py` and `tests/optimove/fakes.py` build their clients with `harness()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from optibridge.domain.budget import Slot

Handler = Callable[[httpx.Request], httpx.Response]
ClientT = TypeVar("ClientT")


@dataclass
class CountingLimiter:
    """Admits at once; counts slots taken and 429s reported."""

    buckets: list[str] = field(default_factory=list)
    throttled: int = 0
    answered_slots: list[Slot] = field(default_factory=list)

    def take_slot(self, bucket: str) -> Slot:
        self.buckets.append(bucket)
        return Slot(bucket, stamp_us=len(self.buckets), waited_s=0.0)

    def answered(self, slot: Slot) -> None:
        self.answered_slots.append(slot)

    def record_throttled(self, bucket: str) -> None:
        self.throttled += 1


@dataclass
class Harness(Generic[ClientT]):
    client: ClientT
    limiter: CountingLimiter
    sleeps: list[float]
    requests: list[httpx.Request]

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def harness(
    handler: Handler, make_client: Callable[..., ClientT], *, max_attempts: int, jitter: float
) -> Harness[ClientT]:
    """A client whose every request goes to `handler`; backoff sleeps are recorded, not slept.

    `make_client` gets the fakes as keyword arguments (limiter, http, sleep, jitter, …).
    """
    limiter = CountingLimiter()
    sleeps: list[float] = []
    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    client = make_client(
        limiter=limiter,
        timeout_s=2.0,
        max_attempts=max_attempts,
        http=httpx.Client(transport=httpx.MockTransport(recording)),
        sleep=sleeps.append,
        jitter=lambda: jitter,
    )
    return Harness(client, limiter, sleeps, requests)


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
