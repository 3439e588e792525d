"""The sync log's queries, on SQLite and PostgreSQL, against records seeded through the ORM.

`add_site`, `add_record`, `add_write` and `add_call` are also used by the web, CLI and metrics
tests of the sync log (they seed what the worker will write).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from optibridge.store.db import session_factory
from optibridge.store.models import OptimoveCallLog, OptimoveWrite, Site, SyncRecord
from optibridge.store.sync_log import SyncFilter, SyncLogRepository

SITE = 10000
OTHER_SITE = 20000


def add_site(session: Session, site_id: int = SITE) -> None:
    session.add(Site(site_id=site_id, name=f"Site {site_id}", webhook_token_enc="sealed"))
    session.flush()


def add_record(session: Session, site_id: int = SITE, **fields: Any) -> SyncRecord:
    """A record as the worker leaves it; by default a chat that updated one field."""
    values: dict[str, Any] = {
        "channel": "livechat",
        "event": "chat_ended",
        "dedupe_key": uuid.uuid4().hex,
        "order_key": "customer:C-1",
        "comm100_ids": {"chat_id": "chat-1", "visitor_id": "visitor-1"},
        "state": "done",
        "outcome": "updated",
        "reason": "fill_empty: 1 empty field filled",
        "customer_id": "C-1",
        "changes": [{"field": "EMAIL", "old": None, "new": "ann@example.com"}],
        "attempts": 1,
    }
    values.update(fields)
    record = SyncRecord(site_id=site_id, **values)
    session.add(record)
    session.flush()
    return record


def add_write(session: Session, site_id: int = SITE, **fields: Any) -> OptimoveWrite:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": "update",
        "state": "confirmed",
        "request_id": "req-1",
        "payload": {"C-1": {"EMAIL": "ann@example.com"}},
        "created_at": time.time(),
        "sent_at": time.time(),
        "settled_at": time.time(),
        "result": {"isSuccess": True, "requestId": "req-1"},
    }
    values.update(fields)
    write = OptimoveWrite(site_id=site_id, **values)
    session.add(write)
    session.flush()
    return write


def add_call(session: Session, record: SyncRecord, **fields: Any) -> OptimoveCallLog:
    values: dict[str, Any] = {
        "endpoint": "GET Customers/{customer_id}/Attributes",
        "status": 200,
        "duration_ms": 42.0,
    }
    values.update(fields)
    call = OptimoveCallLog(record_id=record.id, **values)
    session.add(call)
    session.flush()
    return call


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session, session.begin():
        add_site(session, SITE)
        add_site(session, OTHER_SITE)
        yield session


def listed(session: Session, filters: SyncFilter, before_id: int | None = None) -> list[int]:
    records = SyncLogRepository(session).newest_first(SITE, filters, before_id=before_id, limit=100)
    return [record.id for record in records]


def test_records_are_listed_newest_first_and_only_for_their_site(session: Session) -> None:
    first = add_record(session).id
    add_record(session, OTHER_SITE)
    second = add_record(session).id
    assert listed(session, SyncFilter()) == [second, first]


def test_a_listing_continues_below_the_last_id_seen(session: Session) -> None:
    ids = [add_record(session).id for _ in range(5)]
    assert listed(session, SyncFilter(), before_id=ids[2]) == [ids[1], ids[0]]


@pytest.mark.parametrize(
    ("filters", "matching"),
    [
        (SyncFilter(outcome="failed"), {"outcome": "failed", "state": "failed"}),
        (SyncFilter(channel="ticketing"), {"channel": "ticketing", "event": "ticket_created"}),
        (SyncFilter(customer_id="C-2"), {"customer_id": "C-2"}),
        (SyncFilter(event="offline_message_submitted"), {"event": "offline_message_submitted"}),
        (SyncFilter(state="queued"), {"state": "queued", "outcome": None}),
    ],
)
def test_each_filter_keeps_only_the_matching_records(
    session: Session, filters: SyncFilter, matching: dict[str, Any]
) -> None:
    add_record(session)
    match = add_record(session, **matching).id
    add_record(session)
    assert listed(session, filters) == [match]


def test_the_period_includes_since_and_excludes_until(session: Session) -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    before = add_record(session, received_at=start - timedelta(seconds=1)).id
    at_start = add_record(session, received_at=start).id
    at_end = add_record(session, received_at=start + timedelta(hours=1)).id
    period = SyncFilter(since=start, until=start + timedelta(hours=1))
    assert listed(session, period) == [at_start]
    assert before not in listed(session, period)
    assert at_end not in listed(session, period)


def test_the_period_compares_instants_not_wall_clock_text(session: Session) -> None:
    noon_utc = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    record = add_record(session, received_at=noon_utc).id
    paris = noon_utc.astimezone(timezone(timedelta(hours=1)))  # 13:00+01:00
    assert listed(session, SyncFilter(since=paris)) == [record]
    assert listed(session, SyncFilter(since=paris + timedelta(seconds=1))) == []


def test_a_records_calls_come_in_order_with_their_writes_state(session: Session) -> None:
    write = add_write(session, state="confirmed")
    record = add_record(session, write_id=write.id)
    add_call(session, record, at=datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC), write_id=write.id)
    add_call(session, record, at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    calls = SyncLogRepository(session).calls_of(record.id)
    assert [(entry.call.write_id, entry.write_state) for entry in calls] == [
        (None, None),
        (write.id, "confirmed"),
    ]


def test_a_records_write_is_found_through_its_calls(session: Session) -> None:
    write = add_write(session)
    record = add_record(session)
    add_call(session, record, endpoint="POST Customers/UpdateCustomerAttributes", write_id=write.id)
    assert SyncLogRepository(session).latest_write(SITE, record) is write


def test_the_latest_of_a_records_writes_is_its_write(session: Session) -> None:
    first = add_write(session, created_at=1000.0)
    second = add_write(session, created_at=2000.0)
    record = add_record(session, write_id=first.id)
    add_call(session, record, write_id=second.id)
    assert SyncLogRepository(session).latest_write(SITE, record) is second


def test_a_record_without_writes_has_none(session: Session) -> None:
    record = add_record(session)
    add_call(session, record)
    assert SyncLogRepository(session).latest_write(SITE, record) is None


def test_a_write_of_another_site_is_never_shown(session: Session) -> None:
    write = add_write(session, OTHER_SITE)
    record = add_record(session, write_id=write.id)
    assert SyncLogRepository(session).latest_write(SITE, record) is None


def test_outcomes_are_counted_over_the_period_for_one_site(session: Session) -> None:
    now = datetime.now(UTC)
    add_record(session, outcome="created")
    add_record(session, outcome="created")
    add_record(session, outcome=None, state="queued")
    add_record(session, outcome="failed", received_at=now - timedelta(hours=30))
    add_record(session, OTHER_SITE, outcome="created")
    counts = SyncLogRepository(session).outcome_counts(SITE, since=now - timedelta(hours=24))
    assert counts == {"created": 2, None: 1}


def test_a_failed_record_is_queued_again_with_its_error_kept(session: Session) -> None:
    record = add_record(
        session, state="failed", outcome="failed", attempts=5, last_error="Optimove timed out"
    )
    assert SyncLogRepository(session).requeue_failed(SITE, record.id, now=1234.5)
    session.refresh(record)
    assert (record.state, record.outcome, record.reason) == ("queued", None, None)
    assert (record.attempts, record.next_attempt_at) == (0, 1234.5)
    assert record.last_error == "Optimove timed out"


@pytest.mark.parametrize("state", ["queued", "working", "awaiting_callback", "done"])
def test_only_a_failed_record_can_be_queued_again(session: Session, state: str) -> None:
    record = add_record(session, state=state, attempts=2)
    assert not SyncLogRepository(session).requeue_failed(SITE, record.id, now=1.0)
    session.refresh(record)
    assert (record.state, record.attempts) == (state, 2)


def test_a_failed_record_of_another_site_is_not_queued_again(session: Session) -> None:
    record = add_record(session, OTHER_SITE, state="failed", outcome="failed")
    assert not SyncLogRepository(session).requeue_failed(SITE, record.id, now=1.0)
    session.refresh(record)
    assert record.state == "failed"


def test_queue_stats_count_every_site_and_find_the_oldest_queued(session: Session) -> None:
    now = time.time()
    oldest = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    add_record(session, state="queued", outcome=None, next_attempt_at=now - 1, received_at=oldest)
    add_record(session, OTHER_SITE, state="queued", outcome=None, next_attempt_at=now - 1)
    add_record(session, state="queued", outcome=None, next_attempt_at=now + 60)
    add_record(session, state="done", outcome="updated")
    add_record(session, state="failed", outcome="failed")
    stats = SyncLogRepository(session).queue_stats(now)
    assert stats.by_state_and_outcome == {
        ("queued", None): 3,
        ("done", "updated"): 1,
        ("failed", "failed"): 1,
    }
    assert stats.due == 2
    assert stats.oldest_queued_received_at == oldest
