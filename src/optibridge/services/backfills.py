"""Backfills as an administrator sees them (SPEC 4.7, 5.2): start one for a channel and a
period, list and read them with their progress and ETA, pause, resume and cancel them.

The work itself is the engine's (`sync/backfill.py`, run by every worker). Starting checks what
the work will need: Comm100 connected (past conversations are read from its API), the channel
enabled (a disabled channel's conversations would all be skipped), a period in the past, and no
other backfill of the channel under way (its records would wait behind each other; two periods
that overlap are harmless, as each conversation is replayed once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from optibridge.domain.backfills import (
    ACTIVE,
    Action,
    BackfillState,
    Cursor,
    NotAllowed,
    Progress,
    after,
    eta_s,
    per_minute,
)
from optibridge.domain.records import CHANNELS, Channel
from optibridge.errors import Conflict, Invalid, NotFound, Problem
from optibridge.runtime import Runtime
from optibridge.services.comm100_connection import comm100_connection
from optibridge.store import backfills as store
from optibridge.store.backfills import BackfillRow, RecordCounts
from optibridge.sync.sites import get_site, load_settings

CHANNEL_NAMES = {"livechat": "Live Chat", "ticketing": "Ticketing & Messaging"}
DEFAULT_LIST_SIZE = 20
MAX_LIST_SIZE = 100


@dataclass(frozen=True)
class BackfillView:
    """A backfill and where it stands."""

    id: int
    site_id: int
    channel: str
    since: datetime
    until: datetime
    state: str
    total: int
    done: int
    skipped: int
    failed: int
    in_progress: int
    already_synced: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eta_s: float | None
    per_minute: float | None
    error: str | None

    @property
    def percent(self) -> int:
        """How far it is, in whole percent (a bar's width)."""
        if self.state == "done":
            return 100
        if self.total <= 0:
            return 0
        return min(100, (self.done + self.skipped + self.failed) * 100 // self.total)


def view(row: BackfillRow, counts: RecordCounts, now: float) -> BackfillView:
    channel: Channel = row.channel  # type: ignore[assignment]
    total = Cursor.from_json(channel, row.cursor).total
    progress: Progress = store.progress(row, counts, total)
    running_s = row.running_s(now)
    return BackfillView(
        id=row.id,
        site_id=row.site_id,
        channel=row.channel,
        since=row.since,
        until=row.until,
        state=row.state,
        total=progress.total,
        done=progress.done,
        skipped=progress.skipped,
        failed=progress.failed,
        in_progress=progress.in_progress,
        already_synced=progress.already_synced,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        eta_s=_eta(row.state, progress, running_s),
        per_minute=per_minute(progress, running_s),
        error=row.error,
    )


def _eta(state: str, progress: Progress, running_s: float) -> float | None:
    if state == "done":
        return 0.0
    if state not in ACTIVE:
        return None  # paused or over: no pace to go by
    return eta_s(progress, running_s)


def start(
    runtime: Runtime,
    site_id: int,
    channel: str,
    since: datetime,
    until: datetime | None,
    *,
    now: datetime | None = None,
) -> BackfillView:
    """A new backfill of `channel`'s conversations of [since, until) (until: now by default,
    and never later than now), queued for the workers."""
    moment = now or datetime.now(UTC)
    since, until = _aware(since), _aware(until) if until is not None else moment
    until = min(until, moment)
    problems: list[Problem] = []
    if channel not in CHANNELS:
        problems.append(Problem("/channel", "must be livechat or ticketing"))
    if since >= until:
        problems.append(
            Problem(
                "/since", "must be before `until` (which is now at the latest): the period is empty"
            )
        )
    if problems:
        raise Invalid("The backfill can't be started.", problems)
    stored = load_settings(runtime, site_id)
    comm100_connection(runtime, stored)  # 422 with what is missing
    if not stored.settings.channel(channel).enabled:  # type: ignore[arg-type]
        raise Invalid(
            "The backfill can't be started.",
            [
                Problem(
                    f"/{channel}/enabled",
                    f"{CHANNEL_NAMES[channel]} is not enabled: its conversations would all be "
                    "skipped. Enable it (and save its rules) first.",
                )
            ],
        )
    with runtime.unit_of_work() as session:
        get_site(session, site_id)
        under_way = [
            b
            for b in store.of_site(session, site_id, MAX_LIST_SIZE)
            if b.channel == channel and b.state in (*ACTIVE, "paused")
        ]
        if under_way:
            raise Conflict(
                f"A backfill of {CHANNEL_NAMES[channel]} is already {under_way[0].state} "
                f"(#{under_way[0].id}): wait for it, or cancel it, before starting another."
            )
        row = store.create(
            session,
            site_id,
            channel,
            since,
            until,
            Cursor.start(channel).to_json(),  # type: ignore[arg-type]
        )
    return view(row, RecordCounts(), time.time())


def list_backfills(
    runtime: Runtime, site_id: int, limit: int = DEFAULT_LIST_SIZE
) -> list[BackfillView]:
    """The site's backfills, newest first."""
    with runtime.unit_of_work(read_only=True) as session:
        get_site(session, site_id)
        rows = store.of_site(session, site_id, limit)
        counts = store.record_counts(session, [row.id for row in rows])
    now = time.time()
    return [view(row, counts.get(row.id, RecordCounts()), now) for row in rows]


def get_backfill(runtime: Runtime, site_id: int, backfill_id: int) -> BackfillView:
    with runtime.unit_of_work(read_only=True) as session:
        row = _found(session, site_id, backfill_id)
        counts = store.record_counts(session, [row.id]).get(row.id, RecordCounts())
    return view(row, counts, time.time())


def act(runtime: Runtime, site_id: int, backfill_id: int, action: Action) -> BackfillView:
    """Pause, resume or cancel; 409 when the move does not apply to its state. A pause lets the
    records already queued finish (at most a page); a cancel removes those no worker took, so
    a later backfill may replay their conversations."""
    with runtime.unit_of_work() as session:
        row = _found(session, site_id, backfill_id)
        state: BackfillState = row.state  # type: ignore[assignment]
        try:
            moved_to = after(state, action, started=row.started_at is not None)
        except NotAllowed as refused:
            raise Conflict(str(refused)) from None
        if not store.move(session, backfill_id, row.state, moved_to):
            raise Conflict("The backfill changed meanwhile: look again, then try.")
        if moved_to == "cancelled":
            store.drop_unreplayed(session, backfill_id)
    return get_backfill(runtime, site_id, backfill_id)


def _found(session: Session, site_id: int, backfill_id: int) -> BackfillRow:
    get_site(session, site_id)
    row = store.get(session, site_id, backfill_id)
    if row is None:
        raise NotFound(f"Site {site_id} has no backfill {backfill_id}.")
    return row


def _aware(moment: datetime) -> datetime:
    """A time given without a zone is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
