"""The sync engine's queries: storing events, claiming them with leases, settling writes.

Claims follow ARCHITECTURE 2: on PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite a
`BEGIN IMMEDIATE` transaction (see `write_locked`). A record is claimable only when it is the
oldest unfinished record of its `order_key` (one Comm100 visitor or contact), so one subject's
events are applied one at a time and in order; and, once its customer is known, only when no
earlier record of that customer is unfinished.

One customer's records are also ordered across subjects (two visitors, a chat and a ticket):
the customer is only known after identification, so the worker's guard (`customer_busy`, under
a per-customer lock) makes a record wait for every earlier record already known to be that
customer's. An earlier record identified only after a later one was applied is "overtaken":
`fields_written_later` names what the later ones wrote, and the older event leaves it alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from optibridge.domain.records import AWAITING_CALLBACK, DONE, QUEUED, UNFINISHED, WORKING
from optibridge.store.db import is_sqlite, write_locked
from optibridge.store.models import (
    OptimoveCallLog,
    OptimoveWrite,
    SyncRecord,
    utcnow,
)


@dataclass(frozen=True)
class NewRecord:
    site_id: int
    channel: str
    event: str
    dedupe_key: str
    order_key: str
    comm100_ids: dict[str, str]
    context: dict[str, Any]
    conversation_key: str | None = None
    # A backfill's replay: which backfill, and when the conversation happened.
    backfill_id: int | None = None
    occurred_at: datetime | None = None


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
    claimed_by: str  # the worker (or "console") holding it: transitions check it is still so
    # Put back in the queue by an administrator (`SyncLogRepository.requeue_failed`, the only
    # path that leaves a record queued with no attempts and its failure's error): it is re-run
    # as asked, even over what later events of its customer wrote meanwhile.
    retried_by_hand: bool = False
    # A backfill's replay: its calls wait on the budget's lowest lane, and it happened then.
    backfilled: bool = False
    occurred_at: datetime | None = None


def _insert_statement(dialect: str) -> Any:
    """The intake's insert, built once per dialect with its values as parameters: each webhook
    only binds them (the hottest statement of the service)."""
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    return (
        insert(SyncRecord)
        .values({column: bindparam(column) for column in _INSERTED})
        .on_conflict_do_nothing(index_elements=["site_id", "dedupe_key"])
        .returning(SyncRecord.id)
    )


_INSERTED = (
    "site_id",
    "channel",
    "event",
    "dedupe_key",
    "order_key",
    "comm100_ids",
    "context",
    "received_at",
    "updated_at",
    "state",
    "changes",
    "attempts",
    "next_attempt_at",
    "conversation_key",
    "backfill_id",
    "occurred_at",
)
_INSERTS = {dialect: _insert_statement(dialect) for dialect in ("sqlite", "postgresql")}


def insert_record(connection: Connection, record: NewRecord) -> tuple[int, bool]:
    """Store an event once; returns (record id, True when this delivery was seen before)."""
    now = utcnow()
    statement = _INSERTS["sqlite" if is_sqlite(connection) else "postgresql"]
    inserted = connection.execute(
        statement,
        {
            "site_id": record.site_id,
            "channel": record.channel,
            "event": record.event,
            "dedupe_key": record.dedupe_key,
            "order_key": record.order_key,
            "comm100_ids": record.comm100_ids,
            "context": record.context,
            "received_at": now,
            "updated_at": now,
            "state": QUEUED,
            "changes": [],
            "attempts": 0,
            "next_attempt_at": 0.0,
            "conversation_key": record.conversation_key,
            "backfill_id": record.backfill_id,
            "occurred_at": record.occurred_at,
        },
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
    blocked_by_subject = exists().where(
        and_(
            earlier.site_id == SyncRecord.site_id,
            earlier.order_key == SyncRecord.order_key,
            earlier.id < SyncRecord.id,
            earlier.state.in_(UNFINISHED),
        )
    )
    # A record already known to be a customer's (it met the guard before) waits for every
    # earlier unfinished record of that customer, whatever their subjects.
    earlier_of_customer = aliased(SyncRecord)
    blocked_by_customer = exists().where(
        and_(
            earlier_of_customer.site_id == SyncRecord.site_id,
            earlier_of_customer.customer_id == SyncRecord.customer_id,
            earlier_of_customer.id < SyncRecord.id,
            earlier_of_customer.state.in_(UNFINISHED),
        )
    )
    claimable = and_(
        SyncRecord.next_attempt_at <= now,
        (SyncRecord.state == QUEUED)
        | ((SyncRecord.state == WORKING) & (SyncRecord.lease_until < now)),
    )
    query = (
        select(SyncRecord)
        .where(claimable, ~blocked_by_subject, ~blocked_by_customer)
        # Live events first: a backfill's replays take what is left (SPEC 4.7).
        .order_by(SyncRecord.backfill_id.is_not(None), SyncRecord.id)
        .limit(limit)
    )
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
            claimed_by=worker_id,
            retried_by_hand=row["attempts"] == 0 and row["last_error"] is not None,
            backfilled=row["backfill_id"] is not None,
            occurred_at=row["occurred_at"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Held:
    """What a transition expects of the record: its state, and (when given) who holds it.

    Every transition is a compare-and-set on these: a worker whose lease ran out, and whose
    record another worker took meanwhile, changes nothing (the transition answers False).
    """

    state: str
    owner: str | None = None

    @classmethod
    def by(cls, record: ClaimedRecord) -> Held:
        """The record as its holder has it while working on it."""
        return cls(WORKING, record.claimed_by)


def _held(held: Held) -> Any:
    condition = SyncRecord.state == held.state
    if held.owner is not None:
        condition = condition & (SyncRecord.claimed_by == held.owner)
    return condition


def hold(
    session: Session, record_id: int, *, held: Held, owner: str, lease_s: float, customer_id: str
) -> bool:
    """Take a record for `owner` (working, leased, its customer known)."""
    moved = session.execute(
        update(SyncRecord)
        .where(SyncRecord.id == record_id, _held(held))
        .values(
            state=WORKING,
            claimed_by=owner,
            lease_until=time.time() + lease_s,
            customer_id=customer_id,
            updated_at=utcnow(),
        )
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def extend_leases(session: Session, worker_id: str, lease_s: float) -> None:
    """Every record the worker is still working on is leased `lease_s` from now."""
    session.execute(
        update(SyncRecord)
        .where(SyncRecord.claimed_by == worker_id, SyncRecord.state == WORKING)
        .values(lease_until=time.time() + lease_s)
    )


def finish(
    session: Session,
    record_id: int,
    *,
    held: Held,
    state: str,
    outcome: str | None,
    reason: str | None,
    customer_id: str | None = None,
    changes: list[dict[str, Any]] | None = None,
    asserted: Sequence[str] | None = None,
    error: str | None = None,
    count_attempt: bool = True,
) -> bool:
    """Settle the record (or move it to `awaiting_callback`), if it is still as `held` says."""
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
    if asserted is not None:
        values["asserted_fields"] = list(asserted)
    if error is not None or state == DONE:
        values["last_error"] = error
    if count_attempt:
        values["attempts"] = SyncRecord.attempts + 1
    moved = session.execute(
        update(SyncRecord).where(SyncRecord.id == record_id, _held(held)).values(**values)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def requeue(
    session: Session,
    record_id: int,
    *,
    held: Held,
    delay_s: float,
    error: str | None,
    count_attempt: bool,
    customer_id: str | None = None,
) -> bool:
    """Back to the queue, due after `delay_s` (a retry, or waiting for the customer), if it is
    still as `held` says."""
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
    moved = session.execute(
        update(SyncRecord).where(SyncRecord.id == record_id, _held(held)).values(**values)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def customer_busy(session: Session, site_id: int, customer_id: str, record_id: int) -> bool:
    """Another record of this customer is between its read and its confirmed write, or an
    earlier one (`id < record_id`) already known to be this customer's is still to be applied.

    Takes the customer's lock for the rest of the transaction, so that the caller's check and
    its `claim_customer` are one step: two records of one customer never both pass.
    """
    _lock_customer(session, site_id, customer_id)
    other = session.execute(
        select(SyncRecord.id)
        .where(
            SyncRecord.site_id == site_id,
            SyncRecord.customer_id == customer_id,
            SyncRecord.id != record_id,
            or_(
                SyncRecord.state.in_((WORKING, AWAITING_CALLBACK)),
                (SyncRecord.state == QUEUED) & (SyncRecord.id < record_id),
            ),
        )
        .limit(1)
    ).first()
    return other is not None


def _lock_customer(session: Session, site_id: int, customer_id: str) -> None:
    """On PostgreSQL a transaction-scoped advisory lock per (site, customer); SQLite needs none
    (a transaction that may write holds the database's write lock from its start)."""
    if _is_sqlite(session):
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('optibridge.customer'), hashtext(:key))"),
        {"key": f"{site_id}:{customer_id}"},
    )


def fields_written_later(
    session: Session,
    site_id: int,
    customer_id: str,
    record_id: int,
    *,
    occurred_at: datetime | None = None,
) -> dict[str, int]:
    """Fields (case-folded) that later records of this customer set or are setting (wrote, or
    found equal under `overwrite`), each with the latest such record: an older event processed
    after them must not put its values over.

    Later means received after this record; for a conversation replayed by a backfill, whose
    record comes long after it happened (`occurred_at`), it means any record of a conversation
    that happened after it (a live one happened when it was received).
    """
    if occurred_at is None:
        later = SyncRecord.id > record_id
    else:
        happened = func.coalesce(SyncRecord.occurred_at, SyncRecord.received_at)
        later = (SyncRecord.id != record_id) & (happened > occurred_at)
    rows = session.execute(
        select(SyncRecord.id, SyncRecord.changes, SyncRecord.asserted_fields)
        .where(
            SyncRecord.site_id == site_id,
            SyncRecord.customer_id == customer_id,
            later,
            SyncRecord.outcome.in_(("updated", "created", "pending", "unchanged")),
        )
        .order_by(SyncRecord.id)
    ).all()
    written: dict[str, int] = {}
    for later_id, changes, asserted in rows:
        fields = [c.get("field") for c in changes or [] if isinstance(c, dict)]
        fields.extend(asserted or [])
        for field in fields:
            if isinstance(field, str):
                written[field.casefold()] = int(later_id)
    return written


def claim_customer(session: Session, record_id: int, customer_id: str) -> None:
    session.execute(
        update(SyncRecord).where(SyncRecord.id == record_id).values(customer_id=customer_id)
    )


# --- writes and their confirmation ------------------------------------------------------------


def add_write(session: Session, write: OptimoveWrite) -> None:
    session.add(write)
    session.flush()


def log_call(session: Session, call: OptimoveCallLog) -> None:
    session.add(call)
    session.flush()


def mark_write_sent(session: Session, write_id: str, request_id: str | None) -> None:
    now = time.time()
    session.execute(
        update(OptimoveWrite)
        .where(OptimoveWrite.id == write_id, OptimoveWrite.state == "sending")
        .values(state="sent", request_id=request_id, sent_at=now)
    )
    # Its calls' statuses are each attempt's (`note_write_attempts`); the id is the write's.
    session.execute(
        update(OptimoveCallLog)
        .where(OptimoveCallLog.write_id == write_id)
        .values(request_id=request_id)
    )


def call_for_record(call: OptimoveCallLog, record_id: int) -> OptimoveCallLog:
    """The call, as made for `record_id`: one call is logged on each record it served (a read
    may be noted on a record made after it, a write on every record it carried)."""
    return OptimoveCallLog(
        record_id=record_id,
        endpoint=call.endpoint,
        status=call.status,
        write_id=call.write_id,
        at=call.at,
        duration_ms=call.duration_ms,
        detail=call.detail,
        lane=call.lane,
    )


def note_write_attempts(
    session: Session,
    write_id: str,
    retried: Sequence[OptimoveCallLog],
    last: OptimoveCallLog | None,
    final_detail: str | None = None,
) -> None:
    """Every attempt of a write on each of its records' calls: the `retried` ones added before
    the answer, and the write's own line given the `last` attempt's status (a refusal's too),
    time and lane, so it comes after them."""
    record_ids = session.scalars(
        select(OptimoveCallLog.record_id).where(
            OptimoveCallLog.write_id == write_id, OptimoveCallLog.status.is_(None)
        )
    ).all()
    for record_id in record_ids:
        for attempt in retried:
            session.add(call_for_record(attempt, record_id))
    values: dict[str, Any] = {"status": last.status if last is not None else None}
    if last is not None:
        values["at"] = last.at
        if last.lane is not None:
            values["lane"] = last.lane
    if final_detail is not None:
        values["detail"] = final_detail
    session.execute(
        update(OptimoveCallLog)
        .where(OptimoveCallLog.write_id == write_id, OptimoveCallLog.status.is_(None))
        .values(**values)
    )
    session.flush()


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


def has_unsettled_write(session: Session, record_id: int) -> bool:
    """Part of the record's change is in a call still waiting for its confirmation.

    Writes already settled don't count, whatever their result: a failed one belongs to an
    earlier attempt (its failure sent the record back to the queue, or failed it), and the
    record's change is being written again since.
    """
    write_ids = select(OptimoveCallLog.write_id).where(
        OptimoveCallLog.record_id == record_id, OptimoveCallLog.write_id.is_not(None)
    )
    unsettled = session.execute(
        select(OptimoveWrite.id)
        .where(OptimoveWrite.id.in_(write_ids), OptimoveWrite.state.in_(("sending", "sent")))
        .limit(1)
    ).first()
    return unsettled is not None


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


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def keep_write_taken(session: Session, write_id: str) -> None:
    """The write's reconciliation is still under way: it stays taken a timeout from now (a
    read-back of many customers can outlast one), so no other worker starts it again."""
    now = time.time()
    session.execute(
        update(OptimoveWrite)
        .where(OptimoveWrite.id == write_id, OptimoveWrite.state.in_(("sending", "sent")))
        .values(sent_at=now, created_at=now)
    )


def take_overdue_write(session: Session, write_id: str, overdue_before: float) -> bool:
    """Claim a write's reconciliation (compare-and-set on its timestamps), so that only one
    worker reads its customers back; the next look, if needed, comes a timeout later (and
    `keep_write_taken` pushes that further while the read-back goes on)."""
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
