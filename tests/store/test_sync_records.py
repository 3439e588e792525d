"""The engine's ordering queries, on SQLite and PostgreSQL: which records may be claimed, the
per-customer guard, and what later records of a customer wrote."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from optibridge.store.db import session_factory
from optibridge.store.models import OptimoveWrite
from optibridge.store.sync_log import SyncLogRepository
from optibridge.store.sync_records import (
    claim,
    claim_customer,
    customer_busy,
    fields_written_later,
    has_unsettled_write,
)
from tests.store.test_sync_log import SITE, add_call, add_record, add_site, add_write


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """As the worker's unit of work: on SQLite it holds the write lock from the start."""
    with session_factory(engine)() as session, session.begin():
        session.connection(execution_options={"sqlite_immediate": True})
        yield session


def queued(session: Session, **fields: Any) -> int:
    values: dict[str, Any] = {"state": "queued", "outcome": None, "changes": [], "attempts": 0}
    return add_record(session, SITE, **{**values, **fields}).id


def test_a_record_whose_customer_is_known_waits_at_claim_for_that_customers_earlier_one(
    engine: Engine,
) -> None:
    with transaction(engine) as session:
        add_site(session)
        # The earlier record is not due yet (it waits for a retry): nothing of C-1 may pass it.
        queued(session, customer_id="C-1", order_key="visitor:a", next_attempt_at=time.time() + 60)
        queued(session, customer_id="C-1", order_key="visitor:b")
        unrelated = queued(session, customer_id=None, order_key="visitor:c")
    assert [record.id for record in claim(engine, "worker", 10, 30)] == [unrelated]


def test_an_earlier_queued_record_of_the_customer_makes_a_later_one_wait(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        earlier = queued(session, customer_id="C-1", order_key="visitor:a")
        later = queued(session, customer_id=None, order_key="visitor:b")
    with transaction(engine) as session:
        assert customer_busy(session, SITE, "C-1", later)
        assert not customer_busy(session, SITE, "C-1", earlier)


def test_a_record_between_its_read_and_its_write_makes_any_other_wait(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        earlier = queued(session, customer_id=None, order_key="visitor:a")
        queued(session, state="awaiting_callback", customer_id="C-1", order_key="visitor:b")
    with transaction(engine) as session:
        assert customer_busy(session, SITE, "C-1", earlier)


def test_a_failed_earlier_record_holds_nothing(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        queued(session, state="failed", outcome="failed", customer_id="C-1")
        later = queued(session, customer_id=None, order_key="visitor:b")
    with transaction(engine) as session:
        assert not customer_busy(session, SITE, "C-1", later)


def race_through_the_guard(engine: Engine, customer: str, records: list[int]) -> list[int]:
    """Each record's worker, released at the same moment (a barrier), checks the guard and
    claims `customer` if it passed; the records that passed."""
    together = threading.Barrier(len(records))
    passed: list[int] = []

    def guard(record_id: int) -> None:
        together.wait()
        with transaction(engine) as session:
            if not customer_busy(session, SITE, customer, record_id):
                claim_customer(session, record_id, customer)
                passed.append(record_id)

    workers = [threading.Thread(target=guard, args=(record,)) for record in records]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return passed


def test_two_records_of_one_customer_never_both_pass_the_guard(engine: Engine) -> None:
    """Two workers, each holding a record it has just identified as the same customer's, race
    through the guard: exactly one of them may claim the customer, every time."""
    with transaction(engine) as session:
        add_site(session)
    for round_ in range(10):
        with transaction(engine) as session:
            records = [
                queued(session, state="working", customer_id=None, order_key=f"v:{round_}:{n}")
                for n in range(2)
            ]
        passed = race_through_the_guard(engine, f"C-{round_}", records)
        assert len(passed) == 1, (round_, passed)


def test_fields_written_later_name_the_latest_record_that_wrote_each(engine: Engine) -> None:
    def change(field: str) -> list[dict[str, str | None]]:
        return [{"field": field, "old": None, "new": "x"}]

    with transaction(engine) as session:
        add_site(session)
        older = queued(session, customer_id="C-1")
        email = add_record(session, customer_id="C-1", changes=change("EMAIL")).id
        phone = add_record(
            session,
            state="awaiting_callback",
            outcome="pending",
            customer_id="C-1",
            changes=change("Phone"),
        ).id
        email_again = add_record(session, customer_id="C-1", changes=change("EMAIL")).id
        add_record(session, customer_id="C-2", changes=change("VIP_LEVEL"))
        add_record(session, outcome="unchanged", customer_id="C-1", changes=[])
        add_record(session, outcome="failed", customer_id="C-1", changes=change("AGE"))
    with transaction(engine) as session:
        assert fields_written_later(session, SITE, "C-1", older) == {
            "email": email_again,
            "phone": phone,
        }
        assert fields_written_later(session, SITE, "C-1", email_again) == {}
    assert email < phone


def test_fields_a_later_event_found_equal_count_as_set_by_it(engine: Engine) -> None:
    """Under `overwrite`, a later event whose values Optimove already held ended `unchanged`,
    yet the customer holds its values: an older event must not put its own over them."""
    with transaction(engine) as session:
        add_site(session)
        older = queued(session, customer_id="C-1")
        unchanged = add_record(
            session, outcome="unchanged", customer_id="C-1", changes=[], asserted_fields=["EMAIL"]
        ).id
        partly = add_record(
            session,
            customer_id="C-1",
            changes=[{"field": "PHONE", "old": "1", "new": "2"}],
            asserted_fields=["PHONE", "LAST_NAME"],
        ).id
        add_record(session, outcome="no_match", customer_id="C-1", asserted_fields=["AGE"])
    with transaction(engine) as session:
        assert fields_written_later(session, SITE, "C-1", older) == {
            "email": unchanged,
            "phone": partly,
            "last_name": partly,
        }


def test_a_record_retried_by_an_administrator_is_marked_so_when_claimed(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        fresh = queued(session, order_key="visitor:a", customer_id="C-1")
        failed = add_record(
            session,
            state="failed",
            outcome="failed",
            order_key="visitor:b",
            customer_id="C-2",
            last_error="Optimove refused it",
            attempts=3,
        ).id
        retrying = queued(
            session, order_key="visitor:c", customer_id="C-3", attempts=2, last_error="timed out"
        )
    with transaction(engine) as session:
        assert SyncLogRepository(session).requeue_failed(SITE, failed, now=time.time())
    claimed = {record.id: record.retried_by_hand for record in claim(engine, "w", 10, 30)}
    assert claimed == {fresh: False, failed: True, retrying: False}


def test_only_a_write_still_awaiting_confirmation_holds_a_record(engine: Engine) -> None:
    with transaction(engine) as session:
        add_site(session)
        record = add_record(session, state="awaiting_callback", outcome="pending")
        # An earlier attempt's call failed (the record was queued again), the new one is out.
        failed = add_write(session, state="failed")
        current = add_write(session, state="sent")
        for write in (failed, current):
            add_call(session, record, write_id=write.id)
    with transaction(engine) as session:
        assert has_unsettled_write(session, record.id)
        session.execute(
            update(OptimoveWrite).where(OptimoveWrite.id == current.id).values(state="confirmed")
        )
        assert not has_unsettled_write(session, record.id)
