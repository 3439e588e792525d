"""The rate limiter every process shares, one bucket per API key, kept in the database.

Each bucket's sliding log of send times (`domain/budget.py`) is a row in `rate_limit_buckets`,
updated atomically. Send times come from one clock every process agrees on: PostgreSQL's
`clock_timestamp()`, or this machine's clock on SQLite (which is single-machine anyway).
Transactions are tiny: lock the row, decide, write, commit; waiting happens outside them.
Vendor clients see it only through `vendor_http`'s `SlotLimiter` protocol, each through the view
of its priority (`for_priority`): an agent's calls first, live events next, background work
last (SPEC 4.5, `domain/budget.py: decide_in_lane`). Who is waiting is kept in the bucket's row
too, so the order holds across processes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace

from sqlalchemy import Engine

from optibridge.config import Config
from optibridge.domain.budget import (
    GROUP_MARK,
    MICROS,
    WAITER_POLL_US,
    Decision,
    GroupLimit,
    Priority,
    Slot,
    answered_at,
    decide_in_lane,
    fill_window,
    free_slots,
    parse_group_limits,
    without_waiter,
)
from optibridge.store import rate_limits
from optibridge.store.db import write_locked


class LimiterBusy(Exception):
    """No slot within the caller's maximum wait; `retry_after_s`: when one would come."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"no slot for {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class RateLimiter:
    """Admits calls per bucket (one bucket per API key) so the window is never overrun."""

    def __init__(
        self,
        engine: Engine,
        *,
        limit: int = 50,
        window_s: float = 10.0,
        margin_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        group_limits: Mapping[str, GroupLimit] | None = None,
    ) -> None:
        if limit < 1 or window_s <= 0 or margin_s < 0:
            raise ValueError("limit and window must be positive, margin not negative")
        self._engine = engine
        self.limit = limit
        self.window_us = round((window_s + margin_s) * MICROS)
        # Endpoint groups with limits of their own: their buckets end in "#group".
        self._group_limits = {
            group: (limit.calls, round((limit.window_s + margin_s) * MICROS))
            for group, limit in (group_limits or {}).items()
        }
        self._sleep = sleep
        self._monotonic = monotonic

    @classmethod
    def from_config(cls, engine: Engine, config: Config) -> RateLimiter:
        return cls(
            engine,
            limit=config.optimove_rate_limit,
            window_s=config.optimove_rate_window_s,
            margin_s=config.optimove_rate_margin_s,
            group_limits=parse_group_limits(config.optimove_group_limits),
        )

    def limits_of(self, bucket: str) -> tuple[int, int]:
        """(calls, window µs) of a bucket: its endpoint group's own, else the key's."""
        _key, mark, group = bucket.rpartition(GROUP_MARK)
        if mark and group in self._group_limits:
            return self._group_limits[group]
        return self.limit, self.window_us

    def acquire(
        self, bucket: str, *, max_wait_s: float | None = None, priority: Priority = "live"
    ) -> float:
        """`take_slot`, for callers that only need the seconds waited."""
        return self.take_slot(bucket, max_wait_s=max_wait_s, priority=priority).waited_s

    def for_priority(self, priority: Priority) -> PriorityLimiter:
        """This limiter as a vendor client of `priority` uses it (a `SlotLimiter`)."""
        return PriorityLimiter(self, priority)

    def take_slot(
        self, bucket: str, *, max_wait_s: float | None = None, priority: Priority = "live"
    ) -> Slot:
        """Block until a call may be sent; the slot is taken. Tell `answered` when the call
        has its answer (or failed).

        `priority`: who gets the next slot when several wait (`domain/budget.py`).
        `max_wait_s`: a caller that must not wait long (an agent in the console) gets
        `LimiterBusy` at once when no slot would come within that time, and takes no slot.
        """
        started = self._monotonic()
        waiter_id = uuid.uuid4().hex
        try:
            while True:
                decision = self._try_acquire(bucket, priority, waiter_id)
                if decision.admitted:
                    return Slot(bucket, decision.stamps[-1], self._monotonic() - started, priority)
                wait_s = decision.wait_us / MICROS
                if max_wait_s is not None and self._monotonic() - started + wait_s > max_wait_s:
                    raise LimiterBusy(wait_s)
                # Ask again at least every WAITER_POLL_US, which keeps this caller's claim fresh.
                self._sleep(min(wait_s, WAITER_POLL_US / MICROS))
        except BaseException:
            # Given up (busy, interrupted, stopping): no one need stand aside for it any more.
            self._stop_waiting(bucket, waiter_id)
            raise

    def answered(self, slot: Slot) -> None:
        """The call has its answer, or failed: its stamp moves to now (see the module)."""
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, slot.bucket)
            now = rate_limits.clock_us(connection)
            rate_limits.save_bucket(
                connection,
                slot.bucket,
                replace(state, stamps=answered_at(state.stamps, slot.stamp_us, now)),
            )

    def record_throttled(self, bucket: str) -> None:
        """Optimove answered 429 anyway: count it, and make every process wait a full window."""
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
            rate_limits.save_bucket(
                connection,
                bucket,
                replace(
                    state,
                    stamps=fill_window(state.stamps, now, self.limits_of(bucket)[0]),
                    throttled_total=state.throttled_total + 1,
                ),
            )

    def free_slots(self, bucket: str) -> int:
        """How many calls the bucket would admit now (a glance: nothing is locked or taken)."""
        with self._engine.connect() as connection:
            state = rate_limits.read_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
        limit, window_us = self.limits_of(bucket)
        if state is None:
            return limit
        return free_slots(state.stamps, state.waiters, now, limit, window_us)

    def throttled_total(self, bucket: str) -> int:
        """How many 429s this bucket's calls have met, ever."""
        with self._engine.connect() as connection:
            state = rate_limits.read_bucket(connection, bucket)
        return 0 if state is None else state.throttled_total

    def _try_acquire(self, bucket: str, priority: Priority, waiter_id: str) -> Decision:
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
            limit, window_us = self.limits_of(bucket)
            lane = decide_in_lane(
                state.stamps,
                state.waiters,
                now,
                limit,
                window_us,
                priority=priority,
                waiter_id=waiter_id,
                agent_seen_us=state.agent_seen_us,
            )
            decision = lane.decision
            stamps = decision.stamps if decision.admitted else state.stamps
            if (
                decision.admitted
                or lane.waiters != state.waiters
                or lane.agent_seen_us != state.agent_seen_us
            ):
                rate_limits.save_bucket(
                    connection,
                    bucket,
                    replace(
                        state, stamps=stamps, waiters=lane.waiters, agent_seen_us=lane.agent_seen_us
                    ),
                )
        return decision

    def _stop_waiting(self, bucket: str, waiter_id: str) -> None:
        """A caller gave up: the others need not stand aside for it any longer."""
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
            rate_limits.save_bucket(
                connection,
                bucket,
                replace(state, waiters=without_waiter(state.waiters, waiter_id, now)),
            )


class PriorityLimiter:
    """The shared limiter as the vendor clients of one priority use it (`SlotLimiter`)."""

    def __init__(self, limiter: RateLimiter, priority: Priority) -> None:
        self.limiter = limiter
        self.priority = priority

    def take_slot(self, bucket: str, *, max_wait_s: float | None = None) -> Slot:
        return self.limiter.take_slot(bucket, max_wait_s=max_wait_s, priority=self.priority)

    def answered(self, slot: Slot) -> None:
        self.limiter.answered(slot)

    def record_throttled(self, bucket: str) -> None:
        self.limiter.record_throttled(bucket)
