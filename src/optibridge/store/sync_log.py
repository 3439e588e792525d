"""The sync log's queries: what the API, the CLI and /metrics read about sync records.

Site-scoped reads always filter by `site_id` in SQL, so one site's records can never be read
through another site's URL. Timestamps given to these queries must be timezone-aware UTC:
SQLite stores `DateTime(timezone=True)` as naive UTC text and compares it as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from optibridge.domain.records import AGENT_LOOKUP
from optibridge.store.models import OptimoveCallLog, OptimoveWrite, SyncRecord, utcnow


@dataclass(frozen=True)
class SyncFilter:
    """Which records to list; None means any. `since` is inclusive, `until` exclusive.

    What agents only looked at in the console (`console_lookup`) is agent activity, not a sync
    (SPEC 4.3): left out unless `include_views`, or asked for by its event."""

    outcome: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    event: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_views: bool = False


@dataclass(frozen=True)
class CallWithConfirmation:
    """A logged Optimove call and, when it was a write, that write's state."""

    call: OptimoveCallLog
    write_state: str | None


@dataclass(frozen=True)
class QueueStats:
    """Every site's records at one instant, for /metrics."""

    by_state_and_outcome: dict[tuple[str, str | None], int]
    due: int
    oldest_queued_received_at: datetime | None


class SyncLogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def newest_first(
        self, site_id: int, filters: SyncFilter, *, before_id: int | None, limit: int
    ) -> list[SyncRecord]:
        """Up to `limit` of the site's records matching `filters`, with ids below `before_id`."""
        query = select(SyncRecord).where(SyncRecord.site_id == site_id, *_conditions(filters))
        if before_id is not None:
            query = query.where(SyncRecord.id < before_id)
        query = query.order_by(SyncRecord.id.desc()).limit(limit)
        return list(self.session.scalars(query))

    def newest_of_events(
        self, site_id: int, channel: str, events: Sequence[str], limit: int
    ) -> list[SyncRecord]:
        """The site's `limit` newest records of `channel` whose event is one of `events`."""
        query = (
            select(SyncRecord)
            .where(
                SyncRecord.site_id == site_id,
                SyncRecord.channel == channel,
                SyncRecord.event.in_(tuple(events)),
            )
            .order_by(SyncRecord.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def get(self, site_id: int, record_id: int) -> SyncRecord | None:
        query = select(SyncRecord).where(SyncRecord.id == record_id, SyncRecord.site_id == site_id)
        return self.session.scalars(query).first()

    def calls_of(self, record_id: int) -> list[CallWithConfirmation]:
        """The record's Optimove calls in the order they were made."""
        query = (
            select(OptimoveCallLog, OptimoveWrite.state)
            .outerjoin(OptimoveWrite, OptimoveWrite.id == OptimoveCallLog.write_id)
            .where(OptimoveCallLog.record_id == record_id)
            .order_by(OptimoveCallLog.at, OptimoveCallLog.id)
        )
        return [CallWithConfirmation(call, state) for call, state in self.session.execute(query)]

    def latest_write(self, site_id: int, record: SyncRecord) -> OptimoveWrite | None:
        """The last write that carried the record's changes: its `write_id`, or any write its
        calls name (a batch names its write on each record's call; a split record has several).
        """
        named = select(OptimoveCallLog.write_id).where(
            OptimoveCallLog.record_id == record.id, OptimoveCallLog.write_id.is_not(None)
        )
        carried: ColumnElement[bool] = OptimoveWrite.id.in_(named)
        if record.write_id is not None:
            carried = or_(OptimoveWrite.id == record.write_id, carried)
        query = (
            select(OptimoveWrite)
            .where(OptimoveWrite.site_id == site_id, carried)
            .order_by(OptimoveWrite.created_at.desc(), OptimoveWrite.id.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def outcome_counts(self, site_id: int, since: datetime) -> dict[str | None, int]:
        """How many of the site's records received since `since` have each outcome (None:
        not decided yet); agents' views are not counted (`view_count`)."""
        query = (
            select(SyncRecord.outcome, func.count())
            .where(
                SyncRecord.site_id == site_id,
                SyncRecord.received_at >= _utc(since),
                SyncRecord.event != AGENT_LOOKUP,
            )
            .group_by(SyncRecord.outcome)
        )
        return {outcome: count for outcome, count in self.session.execute(query)}

    def view_count(self, site_id: int, since: datetime) -> int:
        """How many times agents looked a customer up in the console since `since`."""
        query = select(func.count()).where(
            SyncRecord.site_id == site_id,
            SyncRecord.received_at >= _utc(since),
            SyncRecord.event == AGENT_LOOKUP,
        )
        return self.session.scalar(query) or 0

    def received_outcomes(self, site_id: int, since: datetime) -> list[tuple[datetime, str | None]]:
        """(received at, outcome) of each of the site's records received since `since`, agents'
        views left out; for the sync log's picture of the day."""
        query = select(SyncRecord.received_at, SyncRecord.outcome).where(
            SyncRecord.site_id == site_id,
            SyncRecord.received_at >= _utc(since),
            SyncRecord.event != AGENT_LOOKUP,
        )
        return [(at, outcome) for at, outcome in self.session.execute(query)]

    def call_times(self, site_id: int, since: datetime) -> list[datetime]:
        """When each Optimove call made for the site's records since `since` was sent, in
        order (`calls_since`)."""
        return [at for at, _lane in self.calls_since(site_id, since)]

    def calls_since(self, site_id: int, since: datetime) -> list[tuple[datetime, str | None]]:
        """(sent at, the budget's lane) of each Optimove call made for the site's records since
        `since`, in order, once per call: a write that carried several records is logged on
        each of them, and counted here once (on its first record)."""
        query = (
            select(
                OptimoveCallLog.at,
                OptimoveCallLog.lane,
                OptimoveCallLog.write_id,
                OptimoveCallLog.record_id,
            )
            .join(SyncRecord, SyncRecord.id == OptimoveCallLog.record_id)
            .where(SyncRecord.site_id == site_id, OptimoveCallLog.at >= _utc(since))
        )
        rows = list(self.session.execute(query))
        first_record: dict[str, int] = {}
        for _at, _lane, write_id, record_id in rows:
            if write_id is not None:
                first_record[write_id] = min(record_id, first_record.get(write_id, record_id))
        return sorted(
            (
                (at, lane)
                for at, lane, write_id, record_id in rows
                if write_id is None or first_record[write_id] == record_id
            ),
            key=lambda call: call[0],
        )

    def newer_write(self, site_id: int, customer_id: str, after_id: int) -> int | None:
        """The id of a later record that wrote to this customer, if any."""
        found = self.session.execute(
            select(SyncRecord.id)
            .where(
                SyncRecord.site_id == site_id,
                SyncRecord.customer_id == customer_id,
                SyncRecord.id > after_id,
                SyncRecord.outcome.in_(("updated", "created", "pending")),
            )
            .order_by(SyncRecord.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return int(found) if found is not None else None

    def requeue_failed(self, site_id: int, record_id: int, *, now: float) -> bool:
        """Put a failed record back in the queue, due now, with its attempts reset.

        One conditional UPDATE, so a record that is not failed (or no longer is) is never
        touched. `last_error`, `changes` and `write_id` stay as history until the next attempt
        replaces them; `outcome` and `reason` are cleared because they are being re-decided.
        Returns False when no failed record of that site has that id.
        """
        statement = (
            update(SyncRecord)
            .where(
                SyncRecord.id == record_id,
                SyncRecord.site_id == site_id,
                SyncRecord.state == "failed",
            )
            .values(
                state="queued",
                outcome=None,
                reason=None,
                attempts=0,
                next_attempt_at=now,
                claimed_by=None,
                lease_until=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session="fetch")
        )
        result = cast("CursorResult[Any]", self.session.execute(statement))
        return result.rowcount == 1

    def queue_stats(self, now: float) -> QueueStats:
        """Counts over every site: one grouped scan, the due count and the oldest queued."""
        grouped = select(SyncRecord.state, SyncRecord.outcome, func.count()).group_by(
            SyncRecord.state, SyncRecord.outcome
        )
        due = select(func.count()).where(
            SyncRecord.state == "queued", SyncRecord.next_attempt_at <= now
        )
        oldest = select(func.min(SyncRecord.received_at)).where(SyncRecord.state == "queued")
        oldest_at = self.session.scalar(oldest)
        return QueueStats(
            by_state_and_outcome={
                (state, outcome): count for state, outcome, count in self.session.execute(grouped)
            },
            due=self.session.scalar(due) or 0,
            oldest_queued_received_at=oldest_at,
        )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("sync log queries take timezone-aware datetimes")
    return moment.astimezone(UTC)


def _conditions(filters: SyncFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.outcome is not None:
        conditions.append(SyncRecord.outcome == filters.outcome)
    if filters.channel is not None:
        conditions.append(SyncRecord.channel == filters.channel)
    if filters.customer_id is not None:
        conditions.append(SyncRecord.customer_id == filters.customer_id)
    if filters.event is not None:
        conditions.append(SyncRecord.event == filters.event)
    elif not filters.include_views:
        conditions.append(SyncRecord.event != AGENT_LOOKUP)
    if filters.state is not None:
        conditions.append(SyncRecord.state == filters.state)
    if filters.since is not None:
        conditions.append(SyncRecord.received_at >= _utc(filters.since))
    if filters.until is not None:
        conditions.append(SyncRecord.received_at < _utc(filters.until))
    return conditions
