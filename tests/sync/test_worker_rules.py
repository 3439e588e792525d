"""Worker rules that need no vendor: what it refuses to replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.services.sites import create_site
from optibridge.services.tokens import Role, issue_token
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import SyncRecord
from optibridge.store.sync_records import NewRecord, insert_record
from optibridge.sync.worker import Worker


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    running = Runtime.start(Config(data_dir=tmp_path))
    upgrade_to_head(running.engine)
    with running.unit_of_work() as session:
        create_site(session, running.box, 10000, "Acme")
    yield running
    running.close()


def test_an_agents_unconfirmed_console_change_is_failed_not_replayed(runtime: Runtime) -> None:
    record = NewRecord(
        site_id=10000,
        channel="livechat",
        event="console_edit",
        dedupe_key="console-edit-1",
        order_key="visitor:v1",
        comm100_ids={},
        context={"channel": "livechat", "event": "console_edit"},
    )
    with runtime.engine.begin() as connection:
        record_id, _ = insert_record(connection, record)
    assert Worker(runtime).run_once() == 1
    with runtime.unit_of_work(read_only=True) as session:
        row = session.scalars(select(SyncRecord).where(SyncRecord.id == record_id)).one()
    assert (row.state, row.outcome) == ("failed", "failed")
    assert "makes it again" in (row.last_error or "")


def test_a_restore_left_unfinished_is_failed_not_replayed(runtime: Runtime) -> None:
    """A restore whose process stopped mid-way (its lease ran out) is not written unchecked."""
    record = NewRecord(
        site_id=10000,
        channel="livechat",
        event="restore",
        dedupe_key="restore-1",
        order_key="restore:1",
        comm100_ids={"restores": "7"},
        context={"channel": "livechat", "event": "restore"},
    )
    with runtime.engine.begin() as connection:
        record_id, _ = insert_record(connection, record)
    assert Worker(runtime).run_once() == 1
    with runtime.unit_of_work(read_only=True) as session:
        row = session.scalars(select(SyncRecord).where(SyncRecord.id == record_id)).one()
    assert (row.state, row.outcome) == ("failed", "failed")
    assert "restore again from the sync log" in (row.last_error or "")


def test_an_agent_token_is_always_limited_to_one_site(runtime: Runtime) -> None:
    with runtime.unit_of_work() as session, pytest.raises(ValueError, match="one site"):
        issue_token(session, Role.AGENT, None)
