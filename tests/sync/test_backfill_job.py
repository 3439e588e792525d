"""The backfill job's steps, in-process, with Comm100 faked behind its small interface: pages
stored with their cursor, one record per conversation deduplicated against the sync log, the
pipeline never flooded, leases, pauses and cancels that win over a step under way, failures.
The pipeline's part (records becoming final) is played by hand here; tests/sync/
test_backfill.py runs the whole over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from optibridge.comm100.errors import BadCredentialsError, TransientError
from optibridge.comm100.history import HistoryPage, PastConversation, read_chat
from optibridge.comm100.webhooks import parse_livechat_webhook
from optibridge.config import Config
from optibridge.domain.backfills import Cursor, Kind
from optibridge.runtime import Runtime
from optibridge.sandbox.comm100 import payloads
from optibridge.services.sites import create_site
from optibridge.store import backfills as store
from optibridge.store.backfills import BackfillRow
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import Backfill, SyncRecord
from optibridge.sync.backfill import advance_backfill
from optibridge.sync.ingest import store_event

SITE = 10000
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 2, tzinfo=UTC)
VISITOR = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    running = Runtime.start(Config(data_dir=tmp_path))
    upgrade_to_head(running.engine)
    with running.unit_of_work() as session:
        create_site(session, running.box, SITE, "Acme")
    yield running
    running.close()


def chat(number: int, **changes: Any) -> dict[str, Any]:
    ended = SINCE + timedelta(minutes=number)
    return {
        "id": number,
        "guid": f"16c2cc3a-1b15-4b4f-9298-{number:012d}",
        "startTime": (ended - timedelta(minutes=1)).isoformat(),
        "endTime": ended.isoformat(),
        "visitorId": VISITOR,
        "customVariableResults": [{"name": "customer_id", "value": f"C{number}"}],
        **changes,
    }


@dataclass
class FakeComm100:
    """Pages by (kind, page index); every call is noted; `during` runs inside a call."""

    pages: dict[tuple[str, int], HistoryPage] = field(default_factory=dict)
    calls: list[tuple[str, int, int]] = field(default_factory=list)
    during: Callable[[], None] | None = None
    error: Exception | None = None

    def past_conversations(
        self, kind: Kind, since: datetime, until: datetime, *, page_index: int, page_size: int
    ) -> HistoryPage:
        assert (since, until) == (SINCE, UNTIL)
        self.calls.append((kind, page_index, page_size))
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        return self.pages.get((kind, page_index), HistoryPage((), 0, False))


def page(*items: PastConversation, total: int | None = None, more: bool = False) -> HistoryPage:
    return HistoryPage(tuple(items), total, more)


def new_backfill(runtime: Runtime, channel: str = "livechat") -> int:
    with runtime.unit_of_work() as session:
        row = store.create(
            session,
            SITE,
            channel,
            SINCE,
            UNTIL,
            Cursor.start(channel).to_json(),  # type: ignore[arg-type]
        )
    return row.id


def step(runtime: Runtime, fake: FakeComm100 | None, worker: str = "w1", size: int = 3) -> bool:
    return advance_backfill(runtime, worker, lambda _site: fake, page_size=size)


def row(runtime: Runtime, backfill_id: int) -> BackfillRow:
    with runtime.unit_of_work(read_only=True) as session:
        found = store.get(session, SITE, backfill_id)
    assert found is not None
    return found


def records(runtime: Runtime) -> list[SyncRecord]:
    with runtime.unit_of_work(read_only=True) as session:
        return list(session.scalars(select(SyncRecord).order_by(SyncRecord.id)))


def finish_records(runtime: Runtime, state: str = "done") -> None:
    """The pipeline's part: every replayed record final."""
    with runtime.unit_of_work() as session:
        session.execute(update(SyncRecord).values(state=state, outcome="updated"))


# --- pages and records -------------------------------------------------------------------------


def test_each_page_becomes_records_and_the_cursor_moves_on(runtime: Runtime) -> None:
    fake = FakeComm100(
        {
            ("chat", 1): page(read_chat(chat(1)), read_chat(chat(2)), total=3, more=True),
            ("chat", 2): page(read_chat(chat(3)), total=3),
        }
    )
    backfill_id = new_backfill(runtime)

    assert step(runtime, fake)
    assert step(runtime, fake)

    stored = records(runtime)
    assert [r.event for r in stored] == ["backfill_chat_ended"] * 3
    assert [r.conversation_key for r in stored] == [
        f"chat:16c2cc3a-1b15-4b4f-9298-{n:012d}" for n in (1, 2, 3)
    ]
    assert {r.backfill_id for r in stored} == {backfill_id}
    assert stored[0].occurred_at == SINCE + timedelta(minutes=1)
    assert stored[0].context["event"] == "chat_ended"  # the rules see a live chat_ended
    assert stored[0].context["custom_variables"] == {"customer_id": "C1"}
    now = row(runtime, backfill_id)
    assert (now.state, now.listed, now.claimed_by) == ("running", 3, None)
    assert Cursor.from_json("livechat", now.cursor).kind == "offline_message"
    assert fake.calls == [("chat", 1, 3), ("chat", 2, 3)]


def test_what_cant_be_replayed_is_skipped_and_what_is_synced_already_counts_as_done(
    runtime: Runtime,
) -> None:
    # Chat 1 was synced live: its webhook came, with the same chat id.
    live = parse_livechat_webhook(
        payloads.chat_ended(
            visitor=payloads.Visitor(id=VISITOR),
            chat=payloads.Chat(
                id="16c2cc3a-1b15-4b4f-9298-000000000001",
                start_time=SINCE,
                end_time=SINCE + timedelta(minutes=1),
            ),
        )
    )
    store_event(runtime, SITE, live)
    fake = FakeComm100(
        {
            ("chat", 1): page(
                read_chat(chat(1)),
                read_chat(chat(2, endTime=None)),  # never ended
                read_chat(chat(3)),
                read_chat(chat(3)),  # listed twice
            )
        }
    )
    backfill_id = new_backfill(runtime)

    step(runtime, fake, size=10)

    now = row(runtime, backfill_id)
    assert (now.listed, now.skipped, now.already_synced) == (4, 1, 2)
    replayed = [r for r in records(runtime) if r.backfill_id == backfill_id]
    assert [r.comm100_ids["chat_id"] for r in replayed] == ["16c2cc3a-1b15-4b4f-9298-000000000003"]


def test_a_record_with_the_webhooks_dedupe_key_counts_as_synced(runtime: Runtime) -> None:
    """Records stored before conversations were noted have no key: the dedupe key finds them."""
    live = parse_livechat_webhook(
        payloads.chat_ended(
            visitor=payloads.Visitor(id=VISITOR),
            chat=payloads.Chat(
                id="16c2cc3a-1b15-4b4f-9298-000000000001",
                start_time=SINCE,
                end_time=SINCE + timedelta(minutes=1),
            ),
        )
    )
    store_event(runtime, SITE, live)
    with runtime.unit_of_work() as session:
        session.execute(update(SyncRecord).values(conversation_key=None))
    backfill_id = new_backfill(runtime)

    step(runtime, FakeComm100({("chat", 1): page(read_chat(chat(1)))}), size=10)

    assert row(runtime, backfill_id).already_synced == 1
    assert len(records(runtime)) == 1


def test_no_page_is_listed_while_a_page_of_records_is_unfinished(runtime: Runtime) -> None:
    fake = FakeComm100(
        {
            ("chat", 1): page(*(read_chat(chat(n)) for n in (1, 2, 3)), more=True),
            ("chat", 2): page(read_chat(chat(4))),
        }
    )
    new_backfill(runtime)

    assert step(runtime, fake)
    assert not step(runtime, fake)  # three unfinished, the page size: the pipeline goes first
    assert len(fake.calls) == 1
    finish_records(runtime)
    assert step(runtime, fake)
    assert len(records(runtime)) == 4


def test_it_is_done_once_all_is_listed_and_every_record_is_final(runtime: Runtime) -> None:
    fake = FakeComm100({("chat", 1): page(read_chat(chat(1)))})
    backfill_id = new_backfill(runtime)
    step(runtime, fake)  # chats
    step(runtime, fake)  # offline messages: none

    assert not step(runtime, fake)  # one record still to apply
    assert row(runtime, backfill_id).state == "running"
    finish_records(runtime)
    assert step(runtime, fake)

    done = row(runtime, backfill_id)
    assert (done.state, done.finished_at is not None, done.running_since) == ("done", True, None)
    assert done.active_s > 0
    with runtime.unit_of_work(read_only=True) as session:
        counts = store.record_counts(session, [backfill_id])[backfill_id]
        progress = store.progress(done, counts, Cursor.from_json("livechat", done.cursor).total)
    assert (progress.total, progress.done, progress.skipped, progress.failed) == (1, 1, 0, 0)


# --- leases, pauses, cancels -------------------------------------------------------------------


def test_a_leased_backfill_is_not_stepped_by_another_worker_until_its_lease_ends(
    runtime: Runtime,
) -> None:
    backfill_id = new_backfill(runtime)
    with runtime.unit_of_work() as session:
        assert store.claim(session, "dead-worker", 60.0) is not None  # and then it died
    fake = FakeComm100({("chat", 1): page(read_chat(chat(1)))})

    assert not step(runtime, fake, worker="w2")
    assert fake.calls == []
    with runtime.unit_of_work() as session:
        session.execute(update(Backfill).values(lease_until=time.time() - 1))
    assert step(runtime, fake, worker="w2")
    assert row(runtime, backfill_id).listed == 1


def test_a_pause_during_a_step_wins_and_the_page_is_listed_again_on_resume(
    runtime: Runtime,
) -> None:
    backfill_id = new_backfill(runtime)

    def pause() -> None:
        with runtime.unit_of_work() as session:
            store.move(session, backfill_id, "running", "paused")

    fake = FakeComm100({("chat", 1): page(read_chat(chat(1)))}, during=pause)

    assert not step(runtime, fake)
    assert records(runtime) == []
    paused = row(runtime, backfill_id)
    assert (paused.state, paused.listed, paused.running_since) == ("paused", 0, None)
    assert not step(runtime, fake)  # a paused backfill is not stepped
    with runtime.unit_of_work() as session:
        store.move(session, backfill_id, "paused", "running")
    fake.during = None
    assert step(runtime, fake)
    assert len(records(runtime)) == 1


def test_a_cancel_drops_the_records_no_worker_touched(runtime: Runtime) -> None:
    backfill_id = new_backfill(runtime)
    step(
        runtime,
        FakeComm100({("chat", 1): page(read_chat(chat(1)), read_chat(chat(2)))}),
        size=10,
    )
    with runtime.unit_of_work() as session:
        first = session.scalars(select(SyncRecord).order_by(SyncRecord.id)).first()
        assert first is not None
        first.state = "working"
    with runtime.unit_of_work() as session:
        assert store.move(session, backfill_id, "running", "cancelled")
        assert store.drop_unreplayed(session, backfill_id) == 1

    assert [r.state for r in records(runtime)] == ["working"]
    assert row(runtime, backfill_id).state == "cancelled"


# --- failures ----------------------------------------------------------------------------------


def test_a_listing_that_fails_is_tried_again_later(runtime: Runtime) -> None:
    backfill_id = new_backfill(runtime)
    fake = FakeComm100(error=TransientError("Comm100 answered HTTP 503."))

    assert not step(runtime, fake)

    waiting = row(runtime, backfill_id)
    assert waiting.state == "running"
    assert waiting.failures == 1
    assert "trying again" in (waiting.error or "")
    with runtime.unit_of_work(read_only=True) as session:
        assert session.get(Backfill, backfill_id).next_step_at > time.time()  # type: ignore[union-attr]
    assert not step(runtime, FakeComm100())  # not due yet


def test_a_listing_comm100_refuses_fails_the_backfill(runtime: Runtime) -> None:
    backfill_id = new_backfill(runtime)

    step(runtime, FakeComm100(error=BadCredentialsError("Comm100 refused the API key.")))

    failed = row(runtime, backfill_id)
    assert (failed.state, failed.claimed_by) == ("failed", None)
    assert "refused the API key" in (failed.error or "")


def test_without_comm100_it_fails_saying_what_to_connect(runtime: Runtime) -> None:
    backfill_id = new_backfill(runtime)

    step(runtime, None)

    failed = row(runtime, backfill_id)
    assert failed.state == "failed"
    assert "Comm100 is not connected" in (failed.error or "")
