"""The shared limiter on a real database (SQLite and PostgreSQL), with real time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from optibridge.config import Config
from optibridge.domain import budget
from optibridge.domain.budget import LaneDecision
from optibridge.optimove.client import CallRecord, OptimoveClient, bucket_for_api_key
from optibridge.store import limiter as limiter_module
from optibridge.store.limiter import LimiterBusy, RateLimiter
from optibridge.store.models import RateLimitBucket
from tests.support.windows import max_in_any_window

BUCKET = bucket_for_api_key("test-key")


def small_limiter(engine: Engine, limit: int = 3, sleeps: list[float] | None = None) -> RateLimiter:
    """3 calls per 0.2 s (+ 0.05 s margin): fast enough for tests. `sleeps`, when given,
    collects every wait the limiter asked for (it still waits them, on the real clock)."""

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(seconds)

    return RateLimiter(engine, limit=limit, window_s=0.2, margin_s=0.05, sleep=sleep)


def test_calls_within_the_limit_do_not_wait(engine: Engine) -> None:
    sleeps: list[float] = []
    limiter = small_limiter(engine, sleeps=sleeps)
    for _ in range(3):
        limiter.acquire(BUCKET)
    assert sleeps == []


def test_the_call_over_the_limit_waits_for_the_window_plus_margin(engine: Engine) -> None:
    sleeps: list[float] = []
    limiter = small_limiter(engine, sleeps=sleeps)
    started = time.monotonic()
    for _ in range(3):
        limiter.acquire(BUCKET)
    assert sleeps == []
    waited = limiter.acquire(BUCKET)
    assert sleeps  # the fourth call had to wait for the first to leave the window
    assert time.monotonic() - started >= 0.25
    assert waited >= sum(sleeps) >= 0.15


def test_each_api_key_has_its_own_window(engine: Engine) -> None:
    sleeps: list[float] = []
    limiter = small_limiter(engine, limit=1, sleeps=sleeps)
    limiter.acquire(bucket_for_api_key("key-a"))
    limiter.acquire(bucket_for_api_key("key-b"))
    assert sleeps == []


def test_processes_agree_through_the_database(engine: Engine) -> None:
    """Two limiters (as in two processes) on one database share the window."""
    first, second = small_limiter(engine, limit=2), small_limiter(engine, limit=2)
    first.acquire(BUCKET)
    first.acquire(BUCKET)
    assert second.acquire(BUCKET) >= 0.15


def test_a_slow_call_holds_its_place_until_it_is_answered(engine: Engine) -> None:
    """The vendor may have counted a slow call only just before answering: the window runs
    from the answer, not from when the call was let through."""
    limiter = small_limiter(engine, limit=1)
    slot = limiter.take_slot(BUCKET)
    time.sleep(0.15)  # the call is on its way
    limiter.answered(slot)
    answered = time.monotonic()
    limiter.acquire(BUCKET)
    assert time.monotonic() - answered >= 0.2  # a whole window after the answer
    with engine.connect() as connection:
        stamps = connection.execute(select(RateLimitBucket.stamps)).scalar_one()
    assert len(stamps) == 1  # the answered call's stamp left with the window, nothing leaked


def test_a_429_is_counted_and_makes_everyone_wait_a_whole_window(engine: Engine) -> None:
    limiter = small_limiter(engine)
    limiter.acquire(BUCKET)
    limiter.record_throttled(BUCKET)
    assert limiter.throttled_total(BUCKET) == 1
    other_process = small_limiter(engine)
    assert other_process.acquire(BUCKET) >= 0.2


def test_an_unused_key_was_never_throttled(engine: Engine) -> None:
    assert small_limiter(engine).throttled_total(bucket_for_api_key("fresh")) == 0


def test_the_database_holds_a_digest_of_the_key_never_the_key(engine: Engine) -> None:
    small_limiter(engine).acquire(bucket_for_api_key("my-very-secret-key"))
    with engine.connect() as connection:
        buckets = connection.execute(select(RateLimitBucket.bucket)).scalars().all()
    assert buckets == [bucket_for_api_key("my-very-secret-key")]
    assert "my-very-secret-key" not in buckets[0]


def test_the_limiter_is_built_from_the_configuration(engine: Engine) -> None:
    config = Config(optimove_rate_limit=7, optimove_rate_window_s=2, optimove_rate_margin_s=0.25)
    limiter = RateLimiter.from_config(engine, config)
    assert (limiter.limit, limiter.window_us) == (7, 2_250_000)


def test_many_threads_never_put_more_than_the_limit_in_a_window(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, threads, calls_each = 4, 12, 4
    limiter = RateLimiter(engine, limit=limit, window_s=0.25, margin_s=0.05)
    admitted: list[int] = []
    real_decide = budget.decide_in_lane

    def recording_decide(*args: Any, **kwargs: Any) -> LaneDecision:
        lane = real_decide(*args, **kwargs)
        if lane.decision.admitted:
            admitted.append(lane.decision.stamps[-1])
        return lane

    monkeypatch.setattr(limiter_module, "decide_in_lane", recording_decide)
    start = threading.Barrier(threads)

    def worker(_: int) -> None:
        start.wait()
        for _ in range(calls_each):
            limiter.acquire(BUCKET)

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    elapsed = time.monotonic() - started

    total = threads * calls_each
    assert len(admitted) == total
    assert max_in_any_window(admitted, limiter.window_us) <= limit
    # 48 calls at 4 per 0.3 s need at least 11 full windows after the first burst (how much
    # longer a busy machine takes is for the benchmarks).
    assert elapsed >= (total // limit - 1) * 0.3


class _GaveUp(Exception):
    pass


def test_a_waiting_agent_makes_live_and_background_callers_stand_aside_until_it_gives_up(
    engine: Engine,
) -> None:
    # Two views of one bucket, as two processes would have: the agent's sees it full (limit 1),
    # the worker's has room (limit 2). The agent's claim is in the database, so the worker,
    # with room, still stands aside while the agent waits.
    agent_waiting, agent_may_go = threading.Event(), threading.Event()

    def agent_sleep(_seconds: float) -> None:
        agent_waiting.set()
        agent_may_go.wait()
        raise _GaveUp

    agent_view = RateLimiter(engine, limit=1, window_s=60, margin_s=0, sleep=agent_sleep)
    worker_view = RateLimiter(engine, limit=2, window_s=60, margin_s=0)
    worker_view.take_slot(BUCKET, priority="live")  # one slot used: the agent's view is full

    def agent() -> None:
        with pytest.raises(_GaveUp):
            agent_view.take_slot(BUCKET, priority="agent")

    thread = threading.Thread(target=agent)
    thread.start()
    assert agent_waiting.wait(timeout=30)
    for priority in ("live", "background"):
        with pytest.raises(LimiterBusy):
            worker_view.take_slot(BUCKET, priority=priority, max_wait_s=0)
    agent_may_go.set()
    thread.join()

    # The agent gave up and said so: the worker takes the room at once.
    assert worker_view.take_slot(BUCKET, priority="live", max_wait_s=0).waited_s >= 0


@pytest.mark.parametrize("priority", budget.PRIORITIES)
def test_a_call_is_reported_with_the_lane_its_slot_was_taken_in(
    engine: Engine, priority: budget.Priority
) -> None:
    """What the site page's chart of the budget counts by (`CallRecord.lane`)."""
    records: list[CallRecord] = []
    client = OptimoveClient(
        "https://optimove.example/",
        "test-key",
        limiter=small_limiter(engine).for_priority(priority),
        http=httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=[]))),
        on_call=records.append,
    )
    client.get_attribute_list()
    assert [record.lane for record in records] == [priority]


def test_an_agent_at_work_keeps_spare_slots_from_live_events_in_every_process(
    engine: Engine,
) -> None:
    """20 calls per window: live events stop at 18 once an agent has asked for a slot, as seen
    by another limiter on the same database (another process)."""

    def limiter() -> RateLimiter:
        return RateLimiter(engine, limit=20, window_s=60, margin_s=0)

    for _ in range(17):
        limiter().take_slot(BUCKET, priority="live")
    limiter().take_slot(BUCKET, priority="agent")
    with pytest.raises(LimiterBusy):
        limiter().take_slot(BUCKET, max_wait_s=0, priority="live")
    limiter().take_slot(BUCKET, max_wait_s=0, priority="agent")  # a spare one, at once
    limiter().take_slot(BUCKET, max_wait_s=0, priority="agent")
    with pytest.raises(LimiterBusy):
        limiter().take_slot(BUCKET, max_wait_s=0, priority="agent")  # the limit itself
