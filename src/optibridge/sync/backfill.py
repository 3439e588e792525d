"""The backfill job (SPEC 4.7): a period's past conversations, listed from Comm100 a page at a
time and stored as sync records that the normal pipeline applies.

Each worker round takes at most one step of one backfill (`advance_backfill`):

1. lease the oldest backfill due (`store.backfills.claim`);
2. while more than a page of its records is still unfinished, do nothing (the pipeline works
   on them at the budget's lowest lane, and a backfill never floods the queue live events go
   through);
3. when everything is listed and every record is final, it is done;
4. else list the page at the cursor (Comm100, at background priority), and store it in one
   transaction with the cursor after it: each conversation becomes a record (event
   `backfill_<live event>`, the live webhook's dedupe key), unless the sync log has it already
   (its `conversation_key`: synced live, or by another backfill), or it can't be replayed.

A listing Comm100 fails (unreachable, 5xx, its limit) is tried again later, with backoff; one it
refuses (credentials, permissions, a request it can't take) fails the backfill with the reason.
No outside call is made inside a database transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from optibridge.comm100.errors import Comm100Error
from optibridge.comm100.history import HistoryPage, PastConversation
from optibridge.domain.backfills import KIND_NAMES, Cursor, Kind
from optibridge.domain.budget import backoff
from optibridge.domain.records import Channel, backfill_event
from optibridge.errors import AppError
from optibridge.logs import get_logger
from optibridge.runtime import Runtime
from optibridge.store import backfills as store
from optibridge.store.backfills import BackfillRow
from optibridge.store.sync_records import NewRecord, insert_record

log = get_logger(__name__)

# A listing that failed is tried again after a backoff growing to this.
RETRY_BASE_S = 2.0
RETRY_MAX_S = 120.0


class PastConversations(Protocol):
    """What a backfill needs of Comm100 (`Comm100Client` is one)."""

    def past_conversations(
        self, kind: Kind, since: datetime, until: datetime, *, page_index: int, page_size: int
    ) -> HistoryPage: ...


def advance_backfill(
    runtime: Runtime,
    worker_id: str,
    comm100_for: Callable[[int], PastConversations | None],
    *,
    page_size: int,
) -> bool:
    """One step of the backfill most due, if any; True when a page was stored or the backfill
    ended. `comm100_for(site_id)` is the site's Comm100 client at background priority (None:
    not connected)."""
    with runtime.unit_of_work() as session:
        backfill = store.claim(session, worker_id, runtime.config.worker_lease_s)
    if backfill is None:
        return False
    delay_s, error = 0.0, None
    try:
        return _step(runtime, worker_id, backfill, comm100_for, page_size)
    except Comm100Error as problem:
        if not problem.retryable:
            _fail(runtime, worker_id, backfill, f"Comm100 refused the listing: {problem}")
            return True
        delay_s = backoff(backfill.failures + 1, RETRY_BASE_S, RETRY_MAX_S, random.random())
        error = f"Listing from Comm100 failed, trying again: {problem}"
        log.info("backfill_listing_failed", backfill=backfill.id, error=str(problem))
        return False
    except AppError as problem:  # the site's settings can't be read, or it is gone
        _fail(runtime, worker_id, backfill, problem.message)
        return True
    finally:
        with runtime.unit_of_work() as session:
            store.release(session, backfill.id, worker_id, delay_s=delay_s, error=error)


def _step(
    runtime: Runtime,
    worker_id: str,
    backfill: BackfillRow,
    comm100_for: Callable[[int], PastConversations | None],
    page_size: int,
) -> bool:
    channel: Channel = backfill.channel  # type: ignore[assignment]
    cursor = Cursor.from_json(channel, backfill.cursor)
    with runtime.unit_of_work(read_only=True) as session:
        unfinished = store.unfinished_records(session, backfill.id)
    if cursor.listed_all:
        if unfinished:
            return False
        with runtime.unit_of_work() as session:
            ended = store.finish(session, backfill.id, worker_id, "done", None)
        if ended:
            log.info("backfill_done", backfill=backfill.id, site_id=backfill.site_id)
        return ended
    if unfinished >= page_size:
        return False
    comm100 = comm100_for(backfill.site_id)
    if comm100 is None:
        _fail(
            runtime,
            worker_id,
            backfill,
            "Comm100 is not connected for this site (API base URL, agent e-mail and API key): "
            "past conversations can't be read.",
        )
        return True
    assert cursor.kind is not None
    page = comm100.past_conversations(
        cursor.kind, backfill.since, backfill.until, page_index=cursor.page, page_size=page_size
    )
    following = cursor.after_page(channel, len(page.items), page.total, page.more)
    try:
        with runtime.unit_of_work() as session:
            skipped, synced = _store_page(session, backfill, page.items)
            saved = store.save_page(
                session,
                backfill.id,
                worker_id,
                cursor=following.to_json(),
                listed=len(page.items),
                skipped=skipped,
                already_synced=synced,
            )
            if not saved:
                raise _Superseded
    except _Superseded:  # paused or cancelled meanwhile: nothing of this page is kept
        return False
    log.info(
        "backfill_page_stored",
        backfill=backfill.id,
        kind=KIND_NAMES[cursor.kind],
        page=cursor.page,
        listed=len(page.items),
        skipped=skipped,
        already_synced=synced,
    )
    return True


class _Superseded(Exception):
    """The backfill left `running`, or another worker took it, while its page was listed."""


def _store_page(
    session: Session, backfill: BackfillRow, items: Sequence[PastConversation]
) -> tuple[int, int]:
    """The page's conversations as records; returns (skipped, already synced)."""
    keys = [i.event.conversation_key for i in items if i.event and i.event.conversation_key]
    present = store.present_conversations(session, backfill.site_id, keys)
    skipped = synced = 0
    connection = session.connection()
    for item in items:
        event = item.event
        if event is None or event.conversation_key is None:
            skipped += 1
            continue
        if event.conversation_key in present:
            synced += 1
            continue
        _, duplicate = insert_record(
            connection,
            NewRecord(
                site_id=backfill.site_id,
                channel=event.channel,
                event=backfill_event(event.event),
                dedupe_key=event.dedupe_key,
                order_key=event.order_key,
                comm100_ids=dict(event.comm100_ids),
                context=event.context.to_json(),
                conversation_key=event.conversation_key,
                backfill_id=backfill.id,
                occurred_at=item.occurred_at,
            ),
        )
        if duplicate:
            synced += 1
        present.add(event.conversation_key)  # listed twice on one page: once is enough
    return skipped, synced


def _fail(runtime: Runtime, worker_id: str, backfill: BackfillRow, error: str) -> None:
    with runtime.unit_of_work() as session:
        store.finish(session, backfill.id, worker_id, "failed", error)
    log.warning("backfill_failed", backfill=backfill.id, site_id=backfill.site_id, error=error)
