"""One rate limiter per Optimove API key, shared by every process through the database.

Optimove allows 50 requests per 10 seconds per key, counted over a sliding window of arrival
times. We keep a sliding *log*: the send times of the recent calls, in the key's
`rate_limit_buckets` row, updated atomically. A call is admitted only while fewer than `limit`
sends lie inside the last `window_s + margin_s` seconds. A call's stamp is its admission time
while it is in flight, and moves to the time of its answer once it has one (`answered`): the
answer comes after Optimove counted the call, so however long the call took to get there (a
busy machine, a slow network), the log never shows it earlier than Optimove saw it. The margin
covers calls still in flight. (A GCRA-style token bucket would not do: it lets the
51st call through 0.2 s after a burst of 50, which Optimove's window refuses.)

Send times come from one clock every process agrees on: PostgreSQL's `clock_timestamp()`, or
this machine's clock on SQLite (which is single-machine anyway). Transactions are tiny: lock the
row, decide, write, commit; waiting happens outside them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from optibridge.config import Config
from optibridge.store import rate_limits
from optibridge.store.db import write_locked
from optibridge.store.rate_limits import BucketState
from optibridge.vendor_http.client import Slot

MICROS = 1_000_000


def bucket_for_api_key(api_key: str) -> str:
    """The bucket id of a key: a digest, so the key itself is never stored."""
    digest = hashlib.sha256(api_key.strip().encode("utf-8")).hexdigest()
    return f"optimove:{digest[:32]}"


@dataclass(frozen=True)
class Decision:
    """Whether a call may be sent now; `stamps` is the log to keep if it is."""

    admitted: bool
    stamps: tuple[int, ...]
    wait_us: int  # when refused: the least time after which a call would be admitted


def decide(stamps: Sequence[int], now_us: int, limit: int, window_us: int) -> Decision:
    """Admit a call at `now_us` iff fewer than `limit` stamps lie in the window ending now.

    A stamp `s` occupies the window while `now - window < s`. Time never runs backwards in the
    log: a clock that stepped back is treated as standing still at the latest stamp, so the
    recorded stamps always keep the promise, whatever the clock did.
    """
    if limit < 1 or window_us <= 0:
        raise ValueError("limit and window must be positive")
    now = max(now_us, max(stamps, default=now_us))
    recent = sorted(s for s in stamps if s > now - window_us)
    if len(recent) < limit:
        return Decision(True, (*recent, now), 0)
    # Full: wait until all but limit - 1 of them have left the window.
    leaving = recent[len(recent) - limit]
    return Decision(False, tuple(recent), leaving + window_us - now)


def fill_window(stamps: Sequence[int], now_us: int, limit: int) -> tuple[int, ...]:
    """The log after Optimove answered 429: full until a whole window has passed from now."""
    now = max(now_us, max(stamps, default=now_us))
    return (now,) * limit


def answered_at(stamps: Sequence[int], sent_us: int, now_us: int) -> tuple[int, ...]:
    """The log once the call admitted at `sent_us` has its answer at `now_us`: its stamp moves
    to the answer (if it already left the log, the answer's stamp is added all the same)."""
    now = max(now_us, max(stamps, default=now_us))
    kept = list(stamps)
    if sent_us in kept:
        kept.remove(sent_us)
    return tuple(sorted((*kept, now)))


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
