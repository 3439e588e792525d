"""A caller that must not wait long (an agent in the console) gets `LimiterBusy` instead."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from optibridge.optimove.limiter import LimiterBusy, RateLimiter, bucket_for_api_key

BUCKET = bucket_for_api_key("max-wait-key")


def full_limiter(engine: Engine, window_s: float) -> RateLimiter:
    limiter = RateLimiter(engine, limit=2, window_s=window_s, margin_s=0.0)
    limiter.acquire(BUCKET)
    limiter.acquire(BUCKET)
    return limiter


def test_a_slot_that_would_come_too_late_is_refused_at_once(engine: Engine) -> None:
    limiter = full_limiter(engine, window_s=5.0)
    started = time.monotonic()
    with pytest.raises(LimiterBusy) as busy:
        limiter.acquire(BUCKET, max_wait_s=0.5)
    assert time.monotonic() - started < 0.5  # no sleeping towards a slot it can't get
    assert 4.0 < busy.value.retry_after_s <= 5.0


def test_a_refused_caller_takes_no_slot(engine: Engine) -> None:
    limiter = full_limiter(engine, window_s=0.3)
    with pytest.raises(LimiterBusy):
        limiter.acquire(BUCKET, max_wait_s=0.01)
    time.sleep(0.35)
    assert limiter.acquire(BUCKET, max_wait_s=0.01) < 0.05
    assert limiter.acquire(BUCKET, max_wait_s=0.01) < 0.05


def test_a_slot_within_the_maximum_wait_is_waited_for(engine: Engine) -> None:
    limiter = full_limiter(engine, window_s=0.2)
    waited = limiter.acquire(BUCKET, max_wait_s=1.0)
    assert 0.1 <= waited < 1.0
