"""A sync record's transitions (`domain/records.py` draws them): the one module that moves
records between states. Every move is a compare-and-set on the state it expects and, while a
worker (or the console) works on it, on who holds it (`Held`): a holder whose lease ran out
changes nothing. Every settled record is counted once in the metrics, here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from optibridge.config import Config
from optibridge.domain.budget import backoff
from optibridge.domain.records import FAILED, QUEUED
from optibridge.metrics import count_record_outcome
from optibridge.store.sync_records import Held, finish, requeue

# Who holds an agent's change while it is written (workers have their own ids).
CONSOLE_OWNER = "console"


def settle(
    session: Session,
    record_id: int,
    *,
    held: Held,
    state: str,
    outcome: str,
    reason: str | None,
    customer_id: str | None = None,
    changes: list[dict[str, Any]] | None = None,
    asserted: Sequence[str] | None = None,
    error: str | None = None,
    count_attempt: bool = True,
) -> bool:
    """`done` or `failed` with its outcome, if the record is still as `held` says; counted."""
    moved = finish(
        session,
        record_id,
        held=held,
        state=state,
        outcome=outcome,
        reason=reason,
        customer_id=customer_id,
        changes=changes,
        asserted=asserted,
        error=error,
        count_attempt=count_attempt,
    )
    if moved:
        count_record_outcome(outcome)
    return moved


def retry_delay(attempt: int, base_s: float, max_s: float) -> float:
    """When the record is tried again: the same backoff as vendor calls (`domain.budget`)."""
    return backoff(attempt, base_s, max_s, random.random())


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
    moved = settle(
        session, record_id, held=held, state=FAILED, outcome="failed", reason=reason, error=error
    )
    return FAILED if moved else ""
