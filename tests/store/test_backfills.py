"""Backfills in the store, on SQLite and PostgreSQL: the migration that notes the conversation
of the records already there, one lease per backfill, live records claimed before a backfill's
replays, and what "later" means for a conversation replayed long after it happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Engine, select, text, update

from optibridge.store import backfills as store
from optibridge.store.db import make_engine
from optibridge.store.migrate import _alembic_config, upgrade_to_head
from optibridge.store.models import Backfill, SyncRecord
from optibridge.store.sync_records import claim, fields_written_later
from tests.store.test_sync_log import SITE, add_record, add_site
from tests.store.test_sync_records import queued, transaction

SINCE = datetime(2026, 3, 1, tzinfo=UTC)


def new_backfill(engine: Engine) -> int:
    with transaction(engine) as session:
        return store.create(session, SITE, "livechat", SINCE, SINCE + timedelta(days=1), {}).id


def test_the_migration_notes_the_conversation_of_the_records_already_there(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sites (site_id, name, webhook_token_enc, created_at) "
                "VALUES (:site, 'Acme', 'sealed', CURRENT_TIMESTAMP)"
            ),
            {"site": SITE},
        )
        for number, (event, ids) in enumerate(
            [
                ("chat_ended", '{"chat_id": "c-1", "visitor_id": "v-1"}'),
                ("offline_message_submitted", '{"offline_message_id": "m-1"}'),
                ("ticket_created", '{"ticket_id": "539"}'),
                ("chat_started", '{"chat_id": "c-1"}'),
                ("chat_ended", '{"visitor_id": "v-2"}'),
            ]
        ):
            connection.execute(
                text(
                    "INSERT INTO sync_records (site_id, channel, event, dedupe_key, order_key,"
                    " comm100_ids, context, received_at, updated_at, state, changes, attempts,"
                    " next_attempt_at) VALUES (:site, 'livechat', :event, :key, 'o', :ids, '{}',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'done', '[]', 1, 0)"
                ),
                {"site": SITE, "event": event, "key": f"k{number}", "ids": ids},
            )

    upgrade_to_head(engine)

    with engine.connect() as connection:
        keys = (
            connection.execute(select(SyncRecord.conversation_key).order_by(SyncRecord.id))
            .scalars()
            .all()
        )
    engine.dispose()
    assert keys == ["chat:c-1", "offline_message:m-1", "ticket:539", None, None]


def test_one_worker_at_a_time_holds_a_backfill(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
    backfill_id = new_backfill(engine)

    with transaction(engine) as session:
        first = store.claim(session, "w1", 60.0)
    with transaction(engine) as session:
        second = store.claim(session, "w2", 60.0)

    assert first is not None
    assert (first.id, first.state, first.claimed_by) == (backfill_id, "running", "w1")
    assert first.started_at is not None
    assert second is None
    with transaction(engine) as session:
        store.release(session, backfill_id, "w1")
    with transaction(engine) as session:
        again = store.claim(session, "w2", 60.0)
    assert again is not None
    assert again.claimed_by == "w2"


def test_a_page_is_not_saved_for_a_worker_that_lost_the_backfill(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
    backfill_id = new_backfill(engine)
    with transaction(engine) as session:
        store.claim(session, "w1", 60.0)
    with transaction(engine) as session:
        assert store.move(session, backfill_id, "running", "paused")

    with transaction(engine) as session:
        saved = store.save_page(
            session, backfill_id, "w1", cursor={}, listed=5, skipped=0, already_synced=0
        )

    assert not saved
    with transaction(engine) as session:
        row = session.get(Backfill, backfill_id)
        assert row is not None
        assert (row.listed, row.running_since) == (0, None)


def test_live_records_are_claimed_before_a_backfills_replays(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
    backfill_id = new_backfill(engine)
    with transaction(engine) as session:
        replays = [
            queued(session, order_key=f"visitor:b{n}", customer_id=None, backfill_id=backfill_id)
            for n in range(3)
        ]
        live = queued(session, order_key="visitor:live", customer_id=None)

    claimed = claim(engine, "worker", 2, 30)

    assert [record.id for record in claimed] == [live, replays[0]]
    assert [record.backfilled for record in claimed] == [False, True]


def test_a_replayed_conversation_leaves_what_later_conversations_set(engine: Engine) -> None:
    happened = datetime(2026, 3, 1, 10, tzinfo=UTC)
    with transaction(engine) as session:
        add_site(session)
        backfill_id = store.create(
            session, SITE, "livechat", SINCE, SINCE + timedelta(days=1), {}
        ).id
        # A live chat received after the replayed one happened, but stored before it.
        after = add_record(session, customer_id="C-1", changes=[{"field": "EMAIL"}])
        before = add_record(session, customer_id="C-1", changes=[{"field": "PHONE"}])
        replayed = add_record(
            session,
            customer_id="C-1",
            state="working",
            outcome=None,
            changes=[],
            backfill_id=backfill_id,
            occurred_at=happened,
        )
        session.execute(
            update(SyncRecord)
            .where(SyncRecord.id == before.id)
            .values(received_at=happened - timedelta(hours=1))
        )
        session.execute(
            update(SyncRecord)
            .where(SyncRecord.id == after.id)
            .values(received_at=happened + timedelta(hours=1))
        )

    with transaction(engine) as session:
        by_id = fields_written_later(session, SITE, "C-1", replayed.id)
        by_time = fields_written_later(session, SITE, "C-1", replayed.id, occurred_at=happened)

    assert by_id == {}  # by arrival, nothing came after it
    assert by_time == {"email": after.id}


def test_records_are_counted_per_backfill_by_state(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
    first, second = new_backfill(engine), new_backfill(engine)
    with transaction(engine) as session:
        for state in ("done", "done", "failed", "queued", "awaiting_callback"):
            add_record(session, state=state, backfill_id=first)
        add_record(session, state="done", backfill_id=second)
        add_record(session, state="done")  # live

    with transaction(engine) as session:
        counts = store.record_counts(session, [first, second])
        unfinished = store.unfinished_records(session, first)

    assert counts[first] == store.RecordCounts(done=2, failed=1, in_progress=2)
    assert counts[second] == store.RecordCounts(done=1)
    assert unfinished == 2


def test_the_sync_log_knows_which_conversations_it_has(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        add_record(session, conversation_key="chat:c-1")
        add_record(session, conversation_key="ticket:7")

    with transaction(engine) as session:
        present = store.present_conversations(session, SITE, ["chat:c-1", "chat:c-2", "ticket:7"])
        other_site = store.present_conversations(session, SITE + 1, ["chat:c-1"])

    assert present == {"chat:c-1", "ticket:7"}
    assert other_site == set()
