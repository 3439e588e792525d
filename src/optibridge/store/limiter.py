"""The rate limiter every process shares, one bucket per API key, kept in the database.

Each bucket's sliding log of send times (`domain/budget.py`) is a row in `rate_limit_buckets`,
updated atomically. Send times come from one clock every process agrees on: PostgreSQL's
`clock_timestamp()`, or this machine's clock on SQLite (which is single-machine anyway).
Transactions are tiny: lock the row, decide, write, commit; waiting happens outside them.
Vendor clients see it only through `vendor_http`'s `SlotLimiter` protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine

from optibridge.config import Config
from optibridge.domain.budget import MICROS, Decision, Slot, answered_at, decide, fill_window
from optibridge.store import rate_limits
from optibridge.store.db import write_locked
from optibridge.store.rate_limits import BucketState


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
    ) -> None:
        if limit < 1 or window_s <= 0 or margin_s < 0:
            raise ValueError("limit and window must be positive, margin not negative")
        self._engine = engine
        self.limit = limit
        self.window_us = round((window_s + margin_s) * MICROS)
        self._sleep = sleep
        self._monotonic = monotonic

    @classmethod
    def from_config(cls, engine: Engine, config: Config) -> RateLimiter:
        return cls(
            engine,
            limit=config.optimove_rate_limit,
            window_s=config.optimove_rate_window_s,
            margin_s=config.optimove_rate_margin_s,
        )

    def acquire(self, bucket: str, *, max_wait_s: float | None = None) -> float:
        """`take_slot`, for callers that only need the seconds waited."""
        return self.take_slot(bucket, max_wait_s=max_wait_s).waited_s

    def take_slot(self, bucket: str, *, max_wait_s: float | None = None) -> Slot:
        """Block until a call may be sent; the slot is taken. Tell `answered` when the call
        has its answer (or failed).

        `max_wait_s`: a caller that must not wait long (an agent in the console) gets
        `LimiterBusy` at once when no slot would come within that time, and takes no slot.
        """
        started = self._monotonic()
        while True:
            decision = self._try_acquire(bucket)
            if decision.admitted:
                return Slot(bucket, decision.stamps[-1], self._monotonic() - started)
            wait_s = decision.wait_us / MICROS
            if max_wait_s is not None and self._monotonic() - started + wait_s > max_wait_s:
                raise LimiterBusy(wait_s)
            self._sleep(wait_s)

    def answered(self, slot: Slot) -> None:
        """The call has its answer, or failed: its stamp moves to now (see the module)."""
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, slot.bucket)
            now = rate_limits.clock_us(connection)
            rate_limits.save_bucket(
                connection,
                slot.bucket,
                BucketState(answered_at(state.stamps, slot.stamp_us, now), state.throttled_total),
            )

    def record_throttled(self, bucket: str) -> None:
        """Optimove answered 429 anyway: count it, and make every process wait a full window."""
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
            rate_limits.save_bucket(
                connection,
                bucket,
                BucketState(fill_window(state.stamps, now, self.limit), state.throttled_total + 1),
            )

    def throttled_total(self, bucket: str) -> int:
        """How many 429s this bucket's calls have met, ever."""
        with self._engine.connect() as connection:
            state = rate_limits.read_bucket(connection, bucket)
        return 0 if state is None else state.throttled_total

    def _try_acquire(self, bucket: str) -> Decision:
        with write_locked(self._engine) as connection:
            state = rate_limits.lock_bucket(connection, bucket)
            now = rate_limits.clock_us(connection)
            decision = decide(state.stamps, now, self.limit, self.window_us)
            if decision.admitted:
                rate_limits.save_bucket(
                    connection, bucket, BucketState(decision.stamps, state.throttled_total)
                )
        return decision
