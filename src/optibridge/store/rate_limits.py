"""The rows behind the Optimove rate limiter: one per API key, holding recent send times.

Callers run these inside `write_locked(engine)`: on SQLite the whole database is then locked
(BEGIN IMMEDIATE), on PostgreSQL `lock_bucket` locks the one row with FOR UPDATE. Send times
(`stamps`) are integer microseconds since the epoch, on the database's clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from optibridge.domain.budget import PRIORITIES, Waiter
from optibridge.store.db import is_sqlite
from optibridge.store.models import RateLimitBucket


@dataclass(frozen=True)
class BucketState:
    stamps: tuple[int, ...]
    throttled_total: int
    waiters: tuple[Waiter, ...] = ()
    agent_seen_us: int = 0  # when an agent last asked for a slot (`domain/budget.py`)


def lock_bucket(connection: Connection, bucket: str) -> BucketState:
    """The bucket's state, locked until the transaction ends; created empty on first use."""
    state = _select_for_update(connection, bucket)
    if state is not None:
        return state
    insert = sqlite.insert if is_sqlite(connection) else postgresql.insert
    connection.execute(
        insert(RateLimitBucket)
        .values(bucket=bucket, stamps=[], throttled_total=0, waiters=[], agent_seen_us=0)
        .on_conflict_do_nothing(index_elements=["bucket"])
    )
    state = _select_for_update(connection, bucket)
    assert state is not None  # inserted above, or by a racer whose commit we waited for
    return state


def clock_us(connection: Connection) -> int:
    """Now, in microseconds: PostgreSQL's clock (shared by every machine), or this machine's.

    Read it after `lock_bucket`, so that time spent waiting for the lock counts.
    """
    if is_sqlite(connection):
        return time.time_ns() // 1000
    value = connection.execute(
        text("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint")
    ).scalar_one()
    return int(value)


def save_bucket(connection: Connection, bucket: str, state: BucketState) -> None:
    connection.execute(
        update(RateLimitBucket)
        .where(RateLimitBucket.bucket == bucket)
        .values(
            stamps=list(state.stamps),
            throttled_total=state.throttled_total,
            waiters=[[w.priority, w.waiter_id, w.until_us] for w in state.waiters],
            agent_seen_us=state.agent_seen_us,
        )
    )


def read_bucket(connection: Connection, bucket: str) -> BucketState | None:
    """The bucket without locking it (for reports and metrics)."""
    row = connection.execute(_SELECT.where(RateLimitBucket.bucket == bucket)).one_or_none()
    return None if row is None else _state(row)


def _select_for_update(connection: Connection, bucket: str) -> BucketState | None:
    query = _SELECT.where(RateLimitBucket.bucket == bucket)
    if not is_sqlite(connection):
        query = query.with_for_update()
    row = connection.execute(query).one_or_none()
    return None if row is None else _state(row)


_SELECT = select(
    RateLimitBucket.stamps,
    RateLimitBucket.throttled_total,
    RateLimitBucket.waiters,
    RateLimitBucket.agent_seen_us,
)


def _state(row: Any) -> BucketState:
    return BucketState(
        _stamps(row.stamps),
        int(row.throttled_total),
        _waiters(row.waiters),
        int(row.agent_seen_us or 0),
    )


def _waiters(raw: object) -> tuple[Waiter, ...]:
    """Whatever the JSON column holds, as waiters (anything unreadable is dropped)."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        Waiter(entry[0], entry[1], int(entry[2]))
        for entry in raw
        if isinstance(entry, list)
        and len(entry) == 3
        and entry[0] in PRIORITIES
        and isinstance(entry[1], str)
        and isinstance(entry[2], int | float)
        and not isinstance(entry[2], bool)
    )


def _stamps(raw: object) -> tuple[int, ...]:
    """Whatever the JSON column holds, as integer stamps (anything else is dropped)."""
    if not isinstance(raw, list):
        return ()
    return tuple(int(s) for s in raw if isinstance(s, int | float) and not isinstance(s, bool))
