"""When to try a record again, and when to stop trying."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from optibridge.config import Config
from optibridge.domain.records import FAILED, QUEUED
from optibridge.metrics import count_record_outcome
from optibridge.store.sync_records import Held, finish, requeue


def retry_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: between half and all of base·2^(attempt-1), capped."""
    ceiling: float = min(max_s, base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def retry_or_fail(
    session: Session,
    record_id: int,
    attempts_before: int,
    *,
    held: Held,
    error: str,
    retryable: bool,
    config: Config,
    reason: str | None = None,
) -> str:
    """After a failed attempt: back to the queue with backoff while attempts remain and trying
    again can help, else `failed` with the error. Returns the state it moved to ("" when the
    record was no longer as `held` says, and nothing changed)."""
    attempts = attempts_before + 1
    if retryable and attempts < config.sync_max_attempts:
        delay = retry_delay(attempts, config.sync_retry_base_s, config.sync_retry_max_s)
        moved = requeue(
            session, record_id, held=held, delay_s=delay, error=error, count_attempt=True
        )
        return QUEUED if moved else ""
    if retryable:
        error = f"gave up after {attempts} attempts: {error}"
    moved = finish(
        session, record_id, held=held, state=FAILED, outcome="failed", reason=reason, error=error
    )
    if moved:
        count_record_outcome("failed")
    return FAILED if moved else ""
