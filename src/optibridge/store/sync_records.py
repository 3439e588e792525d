"""The sync engine's queries: storing events, claiming them with leases, settling writes.

Claims follow ARCHITECTURE 2: on PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite a
`BEGIN IMMEDIATE` transaction (see `write_locked`). A record is claimable only when it is the
oldest unfinished record of its `order_key` (one Comm100 visitor or contact), so one subject's
events are applied one at a time and in order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from optibridge.store.db import is_sqlite, write_locked
from optibridge.store.models import (
    CustomerCache,
    CustomerLink,
    OptimoveCallLog,
    OptimoveWrite,
    SyncRecord,
    utcnow,
)

QUEUED = "queued"
WORKING = "working"
AWAITING_CALLBACK = "awaiting_callback"
DONE = "done"
FAILED = "failed"
UNFINISHED = (QUEUED, WORKING, AWAITING_CALLBACK)


@dataclass(frozen=True)
class NewRecord:
    site_id: int
    channel: str
    event: str
    dedupe_key: str
    order_key: str
    comm100_ids: dict[str, str]
    context: dict[str, Any]


@dataclass(frozen=True)
class ClaimedRecord:
    """A detached copy of what the worker needs; the row itself is updated by id."""

    id: int
    site_id: int
    channel: str
    event: str
    order_key: str
    comm100_ids: dict[str, Any]
    context: dict[str, Any]
    attempts: int


def insert_record(connection: Connection, record: NewRecord) -> tuple[int, bool]:
    """Store an event once; returns (record id, True when this delivery was seen before)."""
    insert = sqlite.insert if is_sqlite(connection) else postgresql.insert
    now = utcnow()
    inserted = connection.execute(
        insert(SyncRecord)
        .values(
            site_id=record.site_id,
            channel=record.channel,
            event=record.event,
            dedupe_key=record.dedupe_key,
            order_key=record.order_key,
            comm100_ids=record.comm100_ids,
            context=record.context,
            received_at=now,
            updated_at=now,
            state=QUEUED,
            changes=[],
            attempts=0,
            next_attempt_at=0.0,
        )
        .on_conflict_do_nothing(index_elements=["site_id", "dedupe_key"])
        .returning(SyncRecord.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return int(inserted), False
    existing = connection.execute(
        select(SyncRecord.id).where(
            SyncRecord.site_id == record.site_id, SyncRecord.dedupe_key == record.dedupe_key
        )
    ).scalar_one()
    return int(existing), True


def claim(engine: Engine, worker_id: str, limit: int, lease_s: float) -> list[ClaimedRecord]:
    """Lease up to `limit` due records, each the oldest unfinished one of its subject.

    Expired leases (a worker that died) make their records claimable again.
    """
    now = time.time()
    earlier = aliased(SyncRecord)
    blocked = exists().where(
        and_(
            earlier.site_id == SyncRecord.site_id,
            earlier.order_key == SyncRecord.order_key,
            earlier.id < SyncRecord.id,
            earlier.state.in_(UNFINISHED),
        )
    )
    claimable = and_(
        SyncRecord.next_attempt_at <= now,
        (SyncRecord.state == QUEUED)
        | ((SyncRecord.state == WORKING) & (SyncRecord.lease_until < now)),
    )
    query = select(SyncRecord).where(claimable, ~blocked).order_by(SyncRecord.id).limit(limit)
    with write_locked(engine) as connection:
        if not is_sqlite(connection):
            query = query.with_for_update(skip_locked=True, of=SyncRecord)
        rows = connection.execute(query).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        connection.execute(
            update(SyncRecord)
            .where(SyncRecord.id.in_(ids))
            .values(
                state=WORKING,
                claimed_by=worker_id,
                lease_until=now + lease_s,
                updated_at=utcnow(),
            )
        )
    return [
        ClaimedRecord(
            id=row["id"],
            site_id=row["site_id"],
            channel=row["channel"],
            event=row["event"],
            order_key=row["order_key"],
            comm100_ids=dict(row["comm100_ids"] or {}),
            context=dict(row["context"] or {}),
            attempts=row["attempts"],
        )
        for row in rows
    ]


def extend_leases(session: Session, worker_id: str, ids: Sequence[int], lease_s: float) -> None:
    session.execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(ids), SyncRecord.claimed_by == worker_id)
        .where(SyncRecord.state == WORKING)
        .values(lease_until=time.time() + lease_s)
    )


def finish(
    session: Session,
    record_id: int,
    *,
    state: str,
    outcome: str | None,
    reason: str | None,
    customer_id: str | None = None,
    changes: list[dict[str, Any]] | None = None,
    error: str | None = None,
    count_attempt: bool = True,
) -> None:
    values: dict[str, Any] = {
        "state": state,
        "outcome": outcome,
        "reason": reason,
        "updated_at": utcnow(),
        "lease_until": None,
    }
    if customer_id is not None:
        values["customer_id"] = customer_id
    if changes is not None:
        values["changes"] = changes
    if error is not None or state == DONE:
        values["last_error"] = error
    if count_attempt:
        values["attempts"] = SyncRecord.attempts + 1
    session.execute(update(SyncRecord).where(SyncRecord.id == record_id).values(**values))


def requeue(
    session: Session,
    record_id: int,
    *,
    delay_s: float,
    error: str | None,
    count_attempt: bool,
    customer_id: str | None = None,
) -> None:
    """Back to the queue, due after `delay_s` (a retry, or waiting for the customer)."""
    values: dict[str, Any] = {
        "state": QUEUED,
        "next_attempt_at": time.time() + delay_s,
        "lease_until": None,
        "claimed_by": None,
        "updated_at": utcnow(),
    }
    if error is not None:
        values["last_error"] = error
    if customer_id is not None:
        values["customer_id"] = customer_id
    if count_attempt:
        values["attempts"] = SyncRecord.attempts + 1
    session.execute(update(SyncRecord).where(SyncRecord.id == record_id).values(**values))


def customer_busy(session: Session, site_id: int, customer_id: str, record_id: int) -> bool:
    """Another record of this customer is between its read and its confirmed write."""
    other = session.execute(
        select(SyncRecord.id)
        .where(
            SyncRecord.site_id == site_id,
            SyncRecord.customer_id == customer_id,
            SyncRecord.id != record_id,
            SyncRecord.state.in_((WORKING, AWAITING_CALLBACK)),
        )
        .limit(1)
    ).first()
    return other is not None


def claim_customer(session: Session, record_id: int, customer_id: str) -> None:
    session.execute(
        update(SyncRecord).where(SyncRecord.id == record_id).values(customer_id=customer_id)
    )


# --- links and the read cache -----------------------------------------------------------------


def linked_customer(session: Session, site_id: int, kind: str, subject_id: str) -> str | None:
    link = session.get(CustomerLink, (site_id, kind, subject_id))
    return link.customer_id if link else None


def remember_link(
    session: Session, site_id: int, kind: str, subject_id: str, customer_id: str
) -> None:
    link = session.get(CustomerLink, (site_id, kind, subject_id))
    if link is None:
        session.add(
            CustomerLink(
                site_id=site_id, subject_kind=kind, subject_id=subject_id, customer_id=customer_id
            )
        )
    elif link.customer_id != customer_id:
        link.customer_id = customer_id
        link.updated_at = utcnow()
    session.flush()


@dataclass(frozen=True)
class CachedCustomer:
    found: bool
    attributes: dict[str, str | None]
    fetched_at: float


def cached_customer(
    session: Session, site_id: int, customer_id: str, max_age_s: float
) -> CachedCustomer | None:
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None or time.time() - row.fetched_at > max_age_s:
        return None
    return CachedCustomer(row.found, dict(row.attributes or {}), row.fetched_at)


def cache_customer(
    session: Session,
    site_id: int,
    customer_id: str,
    attributes: dict[str, str | None] | None,
) -> None:
    """Remember a read (None: not found). Our own confirmed writes refresh it too."""
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None:
        row = CustomerCache(site_id=site_id, customer_id=customer_id, fetched_at=time.time())
        session.add(row)
    row.found = attributes is not None
    row.attributes = dict(attributes or {})
    row.fetched_at = time.time()
    session.flush()


def patch_cached_customer(
    session: Session, site_id: int, customer_id: str, written: dict[str, str | None]
) -> None:
    """Apply a confirmed write to the cached copy, so the next event needs no read."""
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is None:
        return
    row.attributes = {**(row.attributes or {}), **written}
    row.found = True
    session.flush()


def forget_cached_customer(session: Session, site_id: int, customer_id: str) -> None:
    row = session.get(CustomerCache, (site_id, customer_id))
    if row is not None:
        session.delete(row)
        session.flush()


# --- writes and their confirmation ------------------------------------------------------------


def add_write(session: Session, write: OptimoveWrite) -> None:
    session.add(write)
    session.flush()


def log_call(session: Session, call: OptimoveCallLog) -> None:
    session.add(call)
    session.flush()


def mark_write_sent(
    session: Session, write_id: str, request_id: str | None, status: int | None
) -> None:
    now = time.time()
    session.execute(
        update(OptimoveWrite)
        .where(OptimoveWrite.id == write_id, OptimoveWrite.state == "sending")
        .values(state="sent", request_id=request_id, sent_at=now)
    )
    session.execute(
        update(OptimoveCallLog)
        .where(OptimoveCallLog.write_id == write_id)
        .values(status=status, request_id=request_id)
    )


def get_write(session: Session, write_id: str) -> OptimoveWrite | None:
    return session.get(OptimoveWrite, write_id, with_for_update=not _is_sqlite(session))


def write_by_request_id(session: Session, site_id: int, request_id: str) -> OptimoveWrite | None:
    return session.scalars(
        select(OptimoveWrite).where(
            OptimoveWrite.site_id == site_id, OptimoveWrite.request_id == request_id
        )
    ).first()


def records_of_write(session: Session, write_id: str) -> list[SyncRecord]:
    record_ids = select(OptimoveCallLog.record_id).where(OptimoveCallLog.write_id == write_id)
    return list(
        session.scalars(
            select(SyncRecord).where(SyncRecord.id.in_(record_ids)).order_by(SyncRecord.id)
        )
    )


def writes_of_record(session: Session, record_id: int) -> list[OptimoveWrite]:
    write_ids = select(OptimoveCallLog.write_id).where(
        OptimoveCallLog.record_id == record_id, OptimoveCallLog.write_id.is_not(None)
    )
    return list(session.scalars(select(OptimoveWrite).where(OptimoveWrite.id.in_(write_ids))))


def overdue_writes(session: Session, sent_before: float, sending_before: float) -> list[str]:
    """Writes whose confirmation never came, and writes whose sender died mid-call."""
    rows = session.execute(
        select(OptimoveWrite.id).where(
            ((OptimoveWrite.state == "sent") & (OptimoveWrite.sent_at < sent_before))
            | ((OptimoveWrite.state == "sending") & (OptimoveWrite.created_at < sending_before))
        )
    ).all()
    return [row[0] for row in rows]


def settle_write(
    session: Session, write_id: str, state: str, result: dict[str, Any] | None
) -> None:
    session.execute(
        update(OptimoveWrite)
        .where(OptimoveWrite.id == write_id)
        .values(state=state, result=result, settled_at=time.time())
    )


def queue_depth(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(SyncRecord).where(SyncRecord.state == QUEUED)
        )
        or 0
    )


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def take_overdue_write(session: Session, write_id: str, overdue_before: float) -> bool:
    """Claim a write's reconciliation (compare-and-set on its timestamps), so that only one
    worker reads its customers back; the next look, if needed, comes a timeout later."""
    now = time.time()
    taken = session.execute(
        update(OptimoveWrite)
        .where(
            OptimoveWrite.id == write_id,
            ((OptimoveWrite.state == "sent") & (OptimoveWrite.sent_at < overdue_before))
            | ((OptimoveWrite.state == "sending") & (OptimoveWrite.created_at < overdue_before)),
        )
        .values(sent_at=now, created_at=now)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]
