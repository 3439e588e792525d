"""Group commit for the webhook intake: many deliveries' records in one durable transaction.

SPEC 4.4 answers a webhook only once its record is on disk, so every 202 costs a commit, and on
SQLite with `synchronous=FULL` a commit is a disk sync (docs/benchmarks.md: 139 per second one
at a time). Deliveries that arrive while a commit is under way don't need a sync each: the
first waiting thread becomes the leader, takes everything queued (up to `max_batch`), inserts it
in one transaction and commits once; each delivery is answered when its own batch is on disk,
never before. With one delivery at a time nothing changes; with many, the syncs are shared.

One bad record never holds back another: when a batch's transaction fails, its records are
stored one by one, each with its own transaction, and only the one that fails gets its error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from optibridge.store.db import write_locked
from optibridge.store.sync_records import NewRecord, insert_record

MAX_BATCH = 64


@dataclass
class _Delivery:
    record: NewRecord
    result: tuple[int, bool] | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Stores new records durably, sharing commits between the threads that store at once."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        insert: Callable[[Connection, NewRecord], tuple[int, bool]] = insert_record,
        on_queued: Callable[[int], None] | None = None,
    ) -> None:
        """`on_queued`: told how many deliveries wait after each arrives (for tests)."""
        self._engine = engine
        self._on_queued = on_queued
        self._max_batch = max_batch
        self._insert = insert
        self._turn = threading.Condition()
        self._queued: list[_Delivery] = []
        self._leading = False

    def store(self, record: NewRecord) -> tuple[int, bool]:
        """(record id, True when this delivery was seen before), once it is committed."""
        delivery = _Delivery(record)
        with self._turn:
            self._queued.append(delivery)
            if self._on_queued is not None:
                self._on_queued(len(self._queued))
            while not delivery.done:
                if self._leading:
                    self._turn.wait()
                    continue
                self._leading = True
                batch = self._queued[: self._max_batch]
                del self._queued[: self._max_batch]
                self._turn.release()
                try:
                    self._commit(batch)
                finally:
                    self._turn.acquire()
                    self._leading = False
                    self._turn.notify_all()
        if delivery.error is not None:
            raise delivery.error
        assert delivery.result is not None
        return delivery.result

    def _commit(self, batch: list[_Delivery]) -> None:
        try:
            try:
                with write_locked(self._engine) as connection:
                    results = [self._insert(connection, d.record) for d in batch]
            except Exception as error:
                if len(batch) == 1:
                    batch[0].error = error
                else:  # find the one that failed: each alone, in its own transaction
                    for delivery in batch:
                        self._one(delivery)
                return
            for delivery, result in zip(batch, results, strict=True):
                delivery.result = result
        finally:
            for delivery in batch:  # whatever happened, nobody waits for ever
                if delivery.result is None and delivery.error is None:
                    delivery.error = RuntimeError("the record was not stored")
                delivery.done = True

    def _one(self, delivery: _Delivery) -> None:
        try:
            with write_locked(self._engine) as connection:
                delivery.result = self._insert(connection, delivery.record)
        except Exception as error:  # this delivery's own failure, answered to its sender
            delivery.error = error
