"""One record's trouble stays its own (SPEC 4.4), on SQLite and PostgreSQL: the batcher, the
read-back and the record's transitions, driven directly with an Optimove that records calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from optibridge.config import Config
from optibridge.domain.decide import Change, Plan
from optibridge.domain.records import AWAITING_CALLBACK, WORKING
from optibridge.domain.settings import SiteSettings
from optibridge.optimove.client import OptimoveClient
from optibridge.runtime import Runtime
from optibridge.services.sites import create_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import OptimoveCallLog, OptimoveWrite, SyncRecord
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    NewRecord,
    claim,
    finish,
    insert_record,
    requeue,
)
from optibridge.sync.batcher import PendingUpdate, WriteBatcher
from optibridge.sync.callbacks import apply_write_result, settle_callback
from optibridge.sync.sites import SiteSetup, StoredSettings
from optibridge.sync.worker import LeaseKeeper
from tests.support.vendor_fakes import CountingLimiter

SITES = (10000, 20000)


@dataclass
class FakeOptimove:
    """Answers every update with a request id; records what each call carried."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    broken_site: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(json.loads(request.content))
        return httpx.Response(200, json={"requestId": f"request-{len(self.calls):06d}"})

    def client(self) -> OptimoveClient:
        return OptimoveClient(
            "https://api.optimove.example/",
            "key",
            limiter=CountingLimiter(),
            http=httpx.Client(transport=httpx.MockTransport(self.handle)),
            sleep=lambda _: None,
        )

    def customers_sent(self) -> list[str]:
        return [entry["CustomerID"] for call in self.calls for entry in call.get(_LIST, [])]


_LIST = "CustomerNewAttributesValuesList"


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    config = Config(
        data_dir=tmp_path,
        database_url=database_url,
        sync_max_attempts=3,
        sync_retry_base_s=0.01,
        sync_retry_max_s=0.01,
        worker_lease_s=1.5,  # the keeper renews every 0.5 s
    )
    running = Runtime.start(config)
    upgrade_to_head(running.engine)
    with running.unit_of_work() as session:
        for site_id in SITES:
            create_site(session, running.box, site_id, f"site {site_id}")
    yield running
    running.close()


def claimed(runtime: Runtime, site_id: int, count: int) -> list[ClaimedRecord]:
    """`count` new records of `site_id`, claimed by worker "w"."""
    with runtime.engine.begin() as connection:
        for _ in range(count):
            insert_record(
                connection,
                NewRecord(
                    site_id=site_id,
                    channel="livechat",
                    event="chat_ended",
                    dedupe_key=f"{time.monotonic_ns()}",
                    order_key=f"visitor:{time.monotonic_ns()}",
                    comm100_ids={},
                    context={},
                ),
            )
    return [r for r in claim(runtime.engine, "w", 1000, 30) if r.site_id == site_id]


def update(record: ClaimedRecord, email: str) -> PendingUpdate:
    customer = f"C-{record.id}"
    plan = Plan(
        action="update",
        outcome="updated",
        reason="fill_empty",
        customer_id=customer,
        changes=(Change("EMAIL", None, email),),
        rejected=(),
    )
    return PendingUpdate(record=record, plan=plan)


def due(runtime: Runtime) -> list[ClaimedRecord]:
    """Claimed by "w" once due (a retry waits out its backoff: a hundredth of a second here)."""
    deadline = time.monotonic() + 30
    while not (found := claim(runtime.engine, "w", 10, 30)):
        assert time.monotonic() < deadline, "nothing came due"
        threading.Event().wait(0.01)
    return found


def rows(runtime: Runtime) -> dict[int, SyncRecord]:
    with runtime.unit_of_work(read_only=True) as session:
        return {row.id: row for row in session.scalars(select(SyncRecord))}


def setups(optimove: FakeOptimove) -> Any:
    client = optimove.client()

    def site_setup(site_id: int) -> SiteSetup:
        if site_id == optimove.broken_site:
            raise RuntimeError("this site's setup broke")
        stored = StoredSettings(SiteSettings(), "key", None)
        return SiteSetup(site_id, stored, [], callback_base=None, optimove=client)

    return site_setup


def test_a_record_whose_values_cant_be_sent_fails_alone_and_its_batch_is_sent(
    runtime: Runtime,
) -> None:
    optimove = FakeOptimove()
    batcher = WriteBatcher(runtime, setups(optimove))
    records = claimed(runtime, SITES[0], 5)
    poisoned = records[2]
    for record in records:
        batcher.add(update(record, "x\ud800@e.com" if record is poisoned else "ok@example.com"))
    batcher.flush()

    assert sorted(optimove.customers_sent()) == sorted(
        f"C-{r.id}" for r in records if r is not poisoned
    )
    after = rows(runtime)
    assert (after[poisoned.id].state, after[poisoned.id].outcome) == ("failed", "failed")
    assert "lone UTF-16 surrogate" in (after[poisoned.id].last_error or "")
    assert all(after[r.id].state == AWAITING_CALLBACK for r in records if r is not poisoned)


def test_a_site_whose_flush_breaks_holds_back_no_other_site(runtime: Runtime) -> None:
    optimove = FakeOptimove(broken_site=SITES[0])
    batcher = WriteBatcher(runtime, setups(optimove))
    broken, fine = claimed(runtime, SITES[0], 3), claimed(runtime, SITES[1], 3)
    for record in broken + fine:
        batcher.add(update(record, "ok@example.com"))
    batcher.flush()

    assert sorted(optimove.customers_sent()) == sorted(f"C-{r.id}" for r in fine)
    after = rows(runtime)
    assert all(after[r.id].state == AWAITING_CALLBACK for r in fine)
    for record in broken:  # tried again later, with the reason, one attempt spent
        row = after[record.id]
        assert (row.state, row.attempts) == ("queued", 1)
        assert "unexpected RuntimeError" in (row.last_error or "")


def test_a_record_the_read_back_keeps_finding_unapplied_ends_within_its_attempts(
    runtime: Runtime,
) -> None:
    optimove = FakeOptimove()
    batcher = WriteBatcher(runtime, setups(optimove))
    [record] = claimed(runtime, SITES[0], 1)
    for attempt in range(1, runtime.config.sync_max_attempts + 1):
        batcher.add(update(record, "ok@example.com"))
        batcher.flush()
        with runtime.unit_of_work() as session:
            write = session.scalars(select(OptimoveWrite).order_by(OptimoveWrite.created_at)).all()[
                -1
            ]
            apply_write_result(
                session,
                write,
                {f"C-{record.id}": "the change is not in Optimove"},
                how="read back",
                retry_unapplied=runtime.config,
            )
        row = rows(runtime)[record.id]
        if attempt < runtime.config.sync_max_attempts:
            assert row.state == "queued"
            [record] = due(runtime)  # the next attempt
        else:
            assert (row.state, row.outcome) == ("failed", "failed")
            assert f"gave up after {attempt} attempts" in (row.last_error or "")


def test_a_transition_changes_nothing_once_the_record_is_held_by_another(runtime: Runtime) -> None:
    [record] = claimed(runtime, SITES[0], 1)
    with runtime.unit_of_work() as session:  # its lease ran out; another worker took it
        assert requeue(
            session, record.id, held=Held.by(record), delay_s=0, error=None, count_attempt=False
        )
    [taken] = claim(runtime.engine, "another", 10, 30)
    assert taken.id == record.id
    with runtime.unit_of_work() as session:
        assert not finish(
            session, record.id, held=Held.by(record), state="done", outcome="updated", reason="late"
        )
        assert not requeue(
            session, record.id, held=Held.by(record), delay_s=0, error="late", count_attempt=True
        )
    row = rows(runtime)[record.id]
    assert (row.state, row.claimed_by, row.attempts, row.outcome) == (WORKING, "another", 0, None)


def test_leases_are_renewed_while_a_round_outlasts_them(runtime: Runtime) -> None:
    """However long one call waits (a Retry-After), the keeper renews the lease before it runs
    out: watched until it has renewed it twice, nobody else could take the record."""
    [record] = claimed(runtime, SITES[0], 1)
    leases: list[float] = []
    with LeaseKeeper(runtime, "w"):
        deadline = time.monotonic() + 60
        while len(set(leases)) < 3:
            assert time.monotonic() < deadline, f"the lease was renewed {len(set(leases))} times"
            assert claim(runtime.engine, "another", 10, 30) == []
            row = rows(runtime)[record.id]
            assert row.lease_until is not None
            assert row.lease_until > time.time()
            leases.append(row.lease_until)
            threading.Event().wait(0.05)  # polling for the renewals, not timing them
    assert rows(runtime)[record.id].claimed_by == "w"


@dataclass
class ThrottlingOptimove(FakeOptimove):
    """Answers the first call 429 (Optimove's published body), then as FakeOptimove."""

    throttled: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.throttled == 0:
            self.throttled += 1
            return httpx.Response(429, json={"status": 429, "error": "Too Many Requests"})
        return super().handle(request)


def calls_of(runtime: Runtime, record_id: int) -> list[tuple[int | None, str | None]]:
    with runtime.unit_of_work(read_only=True) as session:
        rows = session.scalars(
            select(OptimoveCallLog)
            .where(OptimoveCallLog.record_id == record_id)
            .order_by(OptimoveCallLog.id)
        ).all()
        return [(row.status, row.detail) for row in rows]


def test_every_attempt_of_a_write_is_in_its_records_calls(runtime: Runtime) -> None:
    optimove = ThrottlingOptimove()
    batcher = WriteBatcher(runtime, setups(optimove))
    [record] = claimed(runtime, SITES[0], 1)
    batcher.add(update(record, "ok@example.com"))
    batcher.flush()
    statuses = sorted(status or 0 for status, _ in calls_of(runtime, record.id))
    assert statuses == [200, 429]
    assert any(
        "HTTP 429, tried again" in (detail or "") for _, detail in calls_of(runtime, record.id)
    )


def test_a_callback_naming_another_request_settles_nothing(runtime: Runtime) -> None:
    optimove = FakeOptimove()
    batcher = WriteBatcher(runtime, setups(optimove))
    [record] = claimed(runtime, SITES[0], 1)
    batcher.add(update(record, "ok@example.com"))
    batcher.flush()
    with runtime.unit_of_work(read_only=True) as session:
        write = session.scalars(select(OptimoveWrite)).one()
    body = json.dumps({"isSuccess": True, "requestId": "req-someone-else"}).encode()
    assert settle_callback(runtime, SITES[0], write.id, body) is False
    assert rows(runtime)[record.id].state == AWAITING_CALLBACK
    right = json.dumps({"isSuccess": True, "requestId": write.request_id}).encode()
    assert settle_callback(runtime, SITES[0], write.id, right) is True
    assert rows(runtime)[record.id].outcome == "updated"
