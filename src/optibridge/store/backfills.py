"""The backfills' queries: creating and reading them, leasing one to a worker for a step, saving
a step's page with its records, and the administrator's moves (`domain/backfills.py`).

A backfill is leased like a record (`claimed_by`, `lease_until`): a worker that dies mid-step
lets the lease expire, and the next worker goes on from the cursor saved with the last page.
A step's records and its cursor are written in one transaction, and only while the backfill
is still running and still this worker's (compare-and-set): a pause or a cancel that came in
between wins, and the page is listed again later, its conversations deduplicated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from optibridge.domain.backfills import ACTIVE, BackfillState, Progress
from optibridge.domain.records import DONE, FAILED, QUEUED, UNFINISHED
from optibridge.store.models import Backfill, SyncRecord, utcnow


@dataclass(frozen=True)
class BackfillRow:
    """A detached copy of a backfill row."""

    id: int
    site_id: int
    channel: str
    since: datetime
    until: datetime
    state: str
    cursor: dict[str, Any]
    listed: int
    skipped: int
    already_synced: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    active_s: float
    running_since: float | None
    claimed_by: str | None
    failures: int

    @classmethod
    def of(cls, row: Backfill) -> BackfillRow:
        return cls(
            row.id,
            row.site_id,
            row.channel,
            row.since,
            row.until,
            row.state,
            dict(row.cursor or {}),
            row.listed,
            row.skipped,
            row.already_synced,
            row.error,
            row.created_at,
            row.updated_at,
            row.started_at,
            row.finished_at,
            row.active_s,
            row.running_since,
            row.claimed_by,
            row.failures,
        )

    def running_s(self, now: float) -> float:
        """Time spent running so far (pauses not counted)."""
        if self.running_since is None:
            return self.active_s
        return self.active_s + max(0.0, now - self.running_since)


@dataclass(frozen=True)
class RecordCounts:
    """What became of a backfill's replayed conversations, by their records' states."""

    done: int = 0
    failed: int = 0
    in_progress: int = 0


def progress(row: BackfillRow, counts: RecordCounts, total: int) -> Progress:
    return Progress(
        total=total,
        done=counts.done + row.already_synced,
        skipped=row.skipped,
        failed=counts.failed,
        in_progress=counts.in_progress,
        already_synced=row.already_synced,
    )


def create(
    session: Session,
    site_id: int,
    channel: str,
    since: datetime,
    until: datetime,
    cursor: dict[str, Any],
) -> BackfillRow:
    row = Backfill(
        site_id=site_id,
        channel=channel,
        since=since,
        until=until,
        state="queued",
        cursor=cursor,
        listed=0,
        skipped=0,
        already_synced=0,
        active_s=0.0,
        next_step_at=0.0,
        failures=0,
    )
    session.add(row)
    session.flush()
    return BackfillRow.of(row)


def get(session: Session, site_id: int, backfill_id: int) -> BackfillRow | None:
    row = session.get(Backfill, backfill_id)
    if row is None or row.site_id != site_id:
        return None
    return BackfillRow.of(row)


def of_site(session: Session, site_id: int, limit: int) -> list[BackfillRow]:
    """The site's backfills, newest first."""
    rows = session.scalars(
        select(Backfill)
        .where(Backfill.site_id == site_id)
        .order_by(Backfill.id.desc())
        .limit(limit)
    )
    return [BackfillRow.of(row) for row in rows]


def record_counts(session: Session, backfill_ids: Sequence[int]) -> dict[int, RecordCounts]:
    """Per backfill, its records by state (one query for them all)."""
    if not backfill_ids:
        return {}
    rows = session.execute(
        select(SyncRecord.backfill_id, SyncRecord.state, func.count())
        .where(SyncRecord.backfill_id.in_(backfill_ids))
        .group_by(SyncRecord.backfill_id, SyncRecord.state)
    ).all()
    tallies: dict[int, dict[str, int]] = {}
    for backfill_id, state, count in rows:
        if backfill_id is not None:
            tallies.setdefault(int(backfill_id), {})[state] = int(count)
    return {
        backfill_id: RecordCounts(
            done=tally.get(DONE, 0),
            failed=tally.get(FAILED, 0),
            in_progress=sum(tally.get(s, 0) for s in UNFINISHED),
        )
        for backfill_id, tally in tallies.items()
    }


def unfinished_records(session: Session, backfill_id: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(SyncRecord)
        .where(SyncRecord.backfill_id == backfill_id, SyncRecord.state.in_(UNFINISHED))
    )
    return int(count or 0)


def present_conversations(session: Session, site_id: int, keys: Sequence[str]) -> set[str]:
    """Which of these conversations the site's sync log has already (live or backfilled)."""
    if not keys:
        return set()
    found = session.scalars(
        select(SyncRecord.conversation_key).where(
            SyncRecord.site_id == site_id, SyncRecord.conversation_key.in_(list(keys))
        )
    )
    return {key for key in found if key is not None}


# --- a worker's step ------------------------------------------------------------------------------


def claim(session: Session, worker_id: str, lease_s: float) -> BackfillRow | None:
    """Lease the oldest backfill due for a step (queued, or running with no live lease); it is
    running from now on. None when none is due."""
    now = time.time()
    due = (
        Backfill.state.in_(ACTIVE)
        & (Backfill.next_step_at <= now)
        & (Backfill.claimed_by.is_(None) | (Backfill.lease_until < now))
    )
    query = select(Backfill).where(due).order_by(Backfill.id).limit(1)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).first()
    if row is None:
        return None
    row.claimed_by = worker_id
    row.lease_until = now + lease_s
    if row.state == "queued":
        row.state = "running"
    if row.started_at is None:
        row.started_at = utcnow()
    if row.running_since is None:
        row.running_since = now
    row.updated_at = utcnow()
    session.flush()
    return BackfillRow.of(row)


def _held(backfill_id: int, worker_id: str) -> Any:
    return (
        (Backfill.id == backfill_id)
        & (Backfill.claimed_by == worker_id)
        & (Backfill.state == "running")
    )


def save_page(
    session: Session,
    backfill_id: int,
    worker_id: str,
    *,
    cursor: dict[str, Any],
    listed: int,
    skipped: int,
    already_synced: int,
) -> bool:
    """The page's counts and the cursor after it, if the backfill is still running and this
    worker's (False: roll the step back, its records with it)."""
    moved = session.execute(
        update(Backfill)
        .where(_held(backfill_id, worker_id))
        .values(
            cursor=cursor,
            listed=Backfill.listed + listed,
            skipped=Backfill.skipped + skipped,
            already_synced=Backfill.already_synced + already_synced,
            error=None,
            failures=0,
            updated_at=utcnow(),
        )
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def finish(
    session: Session, backfill_id: int, worker_id: str, state: BackfillState, error: str | None
) -> bool:
    """Done (or failed, with the error), if it is still running and this worker's."""
    now = time.time()
    moved = session.execute(
        update(Backfill)
        .where(_held(backfill_id, worker_id))
        .values(
            state=state,
            error=error,
            finished_at=utcnow(),
            updated_at=utcnow(),
            active_s=Backfill.active_s + (now - func.coalesce(Backfill.running_since, now)),
            running_since=None,
            claimed_by=None,
            lease_until=None,
        )
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def release(
    session: Session,
    backfill_id: int,
    worker_id: str,
    *,
    delay_s: float = 0.0,
    error: str | None = None,
) -> None:
    """The step is over: the lease is given up; the next step is due after `delay_s` (a listing
    that failed waits, says why in `error`, and counts as one more failure in a row)."""
    values: dict[str, Any] = {
        "claimed_by": None,
        "lease_until": None,
        "next_step_at": time.time() + delay_s,
    }
    if error is not None:
        values["error"] = error
        values["failures"] = Backfill.failures + 1
        values["updated_at"] = utcnow()
    session.execute(
        update(Backfill)
        .where(Backfill.id == backfill_id, Backfill.claimed_by == worker_id)
        .values(**values)
    )


# --- an administrator's moves ---------------------------------------------------------------------


def move(session: Session, backfill_id: int, expected: str, state: BackfillState) -> bool:
    """Compare-and-set the state. Leaving `running` stops its clock; entering it restarts it.
    Whoever holds the lease keeps it until its step ends (its page then is not saved)."""
    now = time.time()
    values: dict[str, Any] = {"state": state, "updated_at": utcnow()}
    if expected == "running":
        values["active_s"] = Backfill.active_s + (now - func.coalesce(Backfill.running_since, now))
        values["running_since"] = None
    if state == "running":
        values["running_since"] = now
        values["next_step_at"] = 0.0
    if state == "cancelled":
        values["finished_at"] = utcnow()
    moved = session.execute(
        update(Backfill)
        .where(Backfill.id == backfill_id, Backfill.state == expected)
        .values(**values)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def drop_unreplayed(session: Session, backfill_id: int) -> int:
    """A cancelled backfill's records that no worker has touched: removed, so that the
    conversations they stood for can be replayed by a later backfill. Returns how many."""
    gone = session.execute(
        delete(SyncRecord).where(
            SyncRecord.backfill_id == backfill_id,
            SyncRecord.state == QUEUED,
            SyncRecord.attempts == 0,
            SyncRecord.last_error.is_(None),
        )
    )
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
