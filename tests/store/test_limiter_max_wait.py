"""A caller that must not wait long (an agent in the console) gets `LimiterBusy` instead."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from optibridge.optimove.client import bucket_for_api_key
from optibridge.store.limiter import LimiterBusy, RateLimiter

BUCKET = bucket_for_api_key("max-wait-key")


def full_limiter(engine: Engine, window_s: float, sleeps: list[float] | None = None) -> RateLimiter:
    """A limiter whose two slots are taken; `sleeps` collects every wait it asks for."""

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(seconds)

    limiter = RateLimiter(engine, limit=2, window_s=window_s, margin_s=0.0, sleep=sleep)
    limiter.acquire(BUCKET)
    limiter.acquire(BUCKET)
    return limiter


def test_a_slot_that_would_come_too_late_is_refused_at_once(engine: Engine) -> None:
    sleeps: list[float] = []
    limiter = full_limiter(engine, window_s=5.0, sleeps=sleeps)
    with pytest.raises(LimiterBusy) as busy:
        limiter.acquire(BUCKET, max_wait_s=0.5)
    assert sleeps == []  # no sleeping towards a slot it can't get
    assert 4.0 < busy.value.retry_after_s <= 5.0


def test_a_refused_caller_takes_no_slot(engine: Engine) -> None:
    sleeps: list[float] = []
    limiter = full_limiter(engine, window_s=0.3, sleeps=sleeps)
    with pytest.raises(LimiterBusy):
        limiter.acquire(BUCKET, max_wait_s=0.01)
    time.sleep(0.35)  # the window passes (time passing, not synchronisation)
    limiter.acquire(BUCKET, max_wait_s=0.01)
    limiter.acquire(BUCKET, max_wait_s=0.01)
    assert sleeps == []  # both slots were free again: the refused caller had taken neither


def test_a_slot_within_the_maximum_wait_is_waited_for(engine: Engine) -> None:
    limiter = full_limiter(engine, window_s=0.2)
    waited = limiter.acquire(BUCKET, max_wait_s=1.0)
    assert waited >= 0.1
