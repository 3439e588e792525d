"""Group commit (`store/group_commit.py`): deliveries that arrive while a commit is under way
share the next one, each answered only once its own record is committed; one bad record never
holds back another. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.orm import Session

from optibridge.store.group_commit import GroupCommit
from optibridge.store.models import SyncRecord
from optibridge.store.sync_records import NewRecord, insert_record
from tests.store.test_sync_log import SITE, add_site

DELIVERIES = 16


def new_record(dedupe_key: str | None = None) -> NewRecord:
    key = dedupe_key or uuid.uuid4().hex
    return NewRecord(SITE, "livechat", "chat_ended", key, f"visitor:{key}", {"chat_id": key}, {})


@pytest.fixture
def site(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        add_site(session)
    return engine


def release_at(gate: threading.Event, deliveries: int) -> Callable[[int], None]:
    """`on_queued` that opens `gate` once all but the first of `deliveries` wait in the queue
    (the first is inside its transaction, holding it open until then)."""

    def queued(count: int) -> None:
        if count == deliveries - 1:
            gate.set()

    return queued


def stored_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(SyncRecord)).scalar_one())


def test_deliveries_that_wait_share_one_commit_and_each_gets_its_own_record(site: Engine) -> None:
    # The first delivery's transaction is held open until the other 15 are queued, so they
    # are all in the next batch, whatever the timing.
    everyone_queued = threading.Event()
    inserts = 0
    commits_made: list[None] = []
    event.listen(site, "commit", lambda _connection: commits_made.append(None))

    def insert(connection: Connection, record: NewRecord) -> tuple[int, bool]:
        nonlocal inserts
        inserts += 1
        if inserts == 1:
            assert everyone_queued.wait(timeout=30)
        return insert_record(connection, record)

    commits = GroupCommit(site, insert=insert, on_queued=release_at(everyone_queued, DELIVERIES))
    with ThreadPoolExecutor(DELIVERIES) as pool:
        answers = list(pool.map(lambda _: commits.store(new_record()), range(DELIVERIES)))

    assert len({record_id for record_id, _ in answers}) == DELIVERIES
    assert not any(duplicate for _, duplicate in answers)
    assert stored_rows(site) == DELIVERIES
    assert len(commits_made) == 2  # the first alone, then the 15 that waited, together


def test_a_delivery_seen_twice_in_one_batch_is_one_record(site: Engine) -> None:
    release = threading.Event()
    first = True

    def insert(connection: Connection, record: NewRecord) -> tuple[int, bool]:
        nonlocal first
        if first:
            first = False
            assert release.wait(timeout=30)
        return insert_record(connection, record)

    commits = GroupCommit(site, insert=insert, on_queued=release_at(release, 3))
    twin = new_record("same-chat")
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(commits.store, [new_record(), twin, twin]))

    _opener, (first_id, first_dup), (second_id, second_dup) = answers
    assert first_id == second_id
    assert sorted([first_dup, second_dup]) == [False, True]
    assert stored_rows(site) == 2


def test_one_bad_record_fails_alone(site: Engine) -> None:
    release = threading.Event()
    calls = 0

    def insert(connection: Connection, record: NewRecord) -> tuple[int, bool]:
        nonlocal calls
        calls += 1
        if calls == 1:
            assert release.wait(timeout=30)
        if record.dedupe_key == "poison":
            raise ValueError("this record can't be stored")
        return insert_record(connection, record)

    commits = GroupCommit(site, insert=insert, on_queued=release_at(release, 5))
    records = [new_record(), new_record(), new_record("poison"), new_record(), new_record()]

    def store(record: NewRecord) -> str:
        try:
            commits.store(record)
        except ValueError as error:
            return str(error)
        return "stored"

    with ThreadPoolExecutor(len(records)) as pool:
        outcomes = list(pool.map(store, records))

    assert outcomes == ["stored", "stored", "this record can't be stored", "stored", "stored"]
    assert stored_rows(site) == 4
