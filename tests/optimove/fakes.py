"""A client wired to an `httpx.MockTransport`, a counting limiter and a recording sleep."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx

from optibridge.optimove.client import OptimoveClient
from tests.support import vendor_fakes
from tests.support.vendor_fakes import CountingLimiter as CountingLimiter
from tests.support.vendor_fakes import Handler as Handler
from tests.support.vendor_fakes import answer as answer
from tests.support.vendor_fakes import answers as answers

API_KEY = "k3y-DO-NOT-LEAK-7f9a"
BASE_URL = "https://api4.optimove.net/current/"

Harness = vendor_fakes.Harness[OptimoveClient]


def harness(
    handler: Handler,
    *,
    base_url: str = BASE_URL,
    max_attempts: int = 5,
    jitter: float = 1.0,
) -> Harness:
    """A client whose every request goes to `handler`; backoff sleeps are recorded, not slept."""
    make_client = partial(OptimoveClient, base_url, API_KEY)
    return vendor_fakes.harness(handler, make_client, max_attempts=max_attempts, jitter=jitter)


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)
