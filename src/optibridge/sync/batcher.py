"""The write batcher (ARCHITECTURE 3): many records' changes in as few Optimove calls as allowed.

Updates wait in the batcher during a worker round and go out together: up to 1,000 customers per
UpdateCustomerAttributes call and 10 attributes per customer (beyond 10, the rest go in the next
call), merged per customer in event order. Creations go out at once with UpsertCustomer (it takes
one customer per call).

Each call is recorded as an `OptimoveWrite` *before* it is sent, so a crash mid-call leaves a
trace that reconciliation resolves by reading the customers back, instead of writing twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optibridge.domain.decide import Change, Plan, attribute_chunks
from optibridge.logs import get_logger
from optibridge.metrics import count_record_outcome
from optibridge.optimove.errors import OptimoveError
from optibridge.optimove.schemas import CustomerUpdate
from optibridge.runtime import Runtime
from optibridge.store.models import OptimoveCallLog, OptimoveWrite
from optibridge.store.sync_records import (
    AWAITING_CALLBACK,
    FAILED,
    ClaimedRecord,
    add_write,
    finish,
    log_call,
    mark_write_sent,
    requeue,
    settle_write,
)
from optibridge.sync.retry import retry_delay

if TYPE_CHECKING:
    from optibridge.sync.worker import SiteSetup

log = get_logger(__name__)

MAX_CUSTOMERS_PER_CALL = 1000
UPDATE_ENDPOINT = "POST Customers/UpdateCustomerAttributes"
UPSERT_ENDPOINT = "PUT Customers/UpsertCustomer"


@dataclass(frozen=True)
class PendingUpdate:
    record: ClaimedRecord
    plan: Plan

    @property
    def customer_id(self) -> str:
        assert self.plan.customer_id is not None  # plans that write always name the customer
        return self.plan.customer_id


@dataclass(frozen=True)
class WriteEntry:
    """One customer's part of one call, and the records it settles."""

    customer_id: str
    changes: tuple[Change, ...]
    pending: tuple[PendingUpdate, ...]


class WriteBatcher:
    def __init__(self, runtime: Runtime, site_setup: Callable[[int], SiteSetup]) -> None:
        self._runtime = runtime
        self._site_setup = site_setup
        self._updates: list[PendingUpdate] = []

    def add(self, pending: PendingUpdate) -> None:
        self._updates.append(pending)

    def full(self) -> bool:
        return len({(p.record.site_id, p.customer_id) for p in self._updates}) >= (
            MAX_CUSTOMERS_PER_CALL
        )

    def record_ids(self) -> list[int]:
        return [pending.record.id for pending in self._updates]

    def create(self, pending: PendingUpdate) -> None:
        """UpsertCustomer now; more than 10 attributes take more than one call."""
        setup = self._site_setup(pending.record.site_id)
        # A customer with no mapped values is still created, with its id alone.
        for chunk in attribute_chunks(pending.plan.changes) or [()]:
            entry = WriteEntry(pending.customer_id, chunk, (pending,))
            if not self._send(setup, "upsert", [entry]):
                return

    def flush(self) -> None:
        updates, self._updates = self._updates, []
        by_site: dict[int, list[PendingUpdate]] = {}
        for pending in updates:
            by_site.setdefault(pending.record.site_id, []).append(pending)
        for site_id, pendings in by_site.items():
            setup = self._site_setup(site_id)
            unsent: set[int] = set()
            for call in _calls(pendings):
                # A customer whose earlier call failed is back in the queue (or failed): the
                # rest of its change waits for its next attempt.
                entries = [e for e in call if unsent.isdisjoint(p.record.id for p in e.pending)]
                if entries and not self._send(setup, "update", entries):
                    unsent.update(p.record.id for e in entries for p in e.pending)

    def _send(self, setup: SiteSetup, kind: str, entries: Sequence[WriteEntry]) -> bool:
        """Record the write, send it, note what Optimove said. False when it failed."""
        try:
            send_write(self._runtime, setup, kind, entries)
        except WriteNotSent as failure:
            self._unsent(failure.write_id, entries, failure.error)
            return False
        return True

    def _unsent(self, write_id: str, entries: Sequence[WriteEntry], error: OptimoveError) -> None:
        """The call failed: its records go back to the queue, or fail when retrying can't help."""
        config = self._runtime.config
        with self._runtime.unit_of_work() as session:
            settle_write(session, write_id, "failed", {"error": str(error)})
            for entry in entries:
                for pending in entry.pending:
                    attempts = pending.record.attempts + 1
                    if error.retryable and attempts < config.sync_max_attempts:
                        requeue(
                            session,
                            pending.record.id,
                            delay_s=retry_delay(
                                attempts, config.sync_retry_base_s, config.sync_retry_max_s
                            ),
                            error=str(error),
                            count_attempt=True,
                        )
                    else:
                        count_record_outcome("failed")
                        finish(
                            session,
                            pending.record.id,
                            state=FAILED,
                            outcome="failed",
                            reason=pending.plan.reason,
                            error=str(error),
                        )


class WriteNotSent(Exception):
    """The call failed. Its write is still `sending` and its records `awaiting_callback`: the
    caller settles them (the batcher retries or fails them; the console fails them at once)."""

    def __init__(self, write_id: str, error: OptimoveError) -> None:
        super().__init__(str(error))
        self.write_id = write_id
        self.error = error


def send_write(runtime: Runtime, setup: SiteSetup, kind: str, entries: Sequence[WriteEntry]) -> str:
    """One UpdateCustomerAttributes (`kind` "update") or UpsertCustomer ("upsert") call.

    The write is recorded first, in the transaction that moves its records to
    `awaiting_callback`; then it is sent with its id in the CallbackURL, so the callback (or a
    read-back) settles the records. Returns the write id; `WriteNotSent` when the call failed.
    """
    client = setup.optimove
    assert client is not None  # a plan that writes was made with a connected account
    write_id = str(uuid.uuid4())
    endpoint = UPSERT_ENDPOINT if kind == "upsert" else UPDATE_ENDPOINT
    payload = {e.customer_id: {c.field: c.new for c in e.changes} for e in entries}
    site_id = entries[0].pending[0].record.site_id
    with runtime.unit_of_work() as session:
        add_write(
            session,
            OptimoveWrite(
                id=write_id, site_id=site_id, kind=kind, payload=payload, created_at=time.time()
            ),
        )
        for entry in entries:
            for pending in entry.pending:
                log_call(
                    session,
                    OptimoveCallLog(
                        record_id=pending.record.id, endpoint=endpoint, write_id=write_id
                    ),
                )
                finish(
                    session,
                    pending.record.id,
                    state=AWAITING_CALLBACK,
                    outcome="pending",
                    reason=pending.plan.reason,
                    customer_id=pending.customer_id,
                    changes=[_change_json(c) for c in pending.plan.changes],
                    asserted=pending.plan.asserted,
                    count_attempt=False,
                )
    callback_url = f"{setup.callback_base}&write={write_id}" if setup.callback_base else None
    started = time.perf_counter()
    try:
        if kind == "upsert":
            [entry] = entries
            accepted = client.upsert_customer(
                entry.customer_id, payload[entry.customer_id], callback_url
            )
        else:
            accepted = client.update_customer_attributes(
                [CustomerUpdate(cid, values) for cid, values in payload.items()], callback_url
            )
    except OptimoveError as error:
        raise WriteNotSent(write_id, error) from error
    with runtime.unit_of_work() as session:
        mark_write_sent(session, write_id, accepted.request_id, 200)
    log.info(
        "optimove_write_sent",
        kind=kind,
        customers=len(entries),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return write_id


def _calls(pendings: Sequence[PendingUpdate]) -> list[list[WriteEntry]]:
    """Merge per customer (later events win), then cut into calls of ≤1,000 customers with
    ≤10 attributes each; a customer's attributes beyond 10 go in the following call."""
    merged: dict[str, dict[str, Change]] = {}
    owners: dict[str, list[PendingUpdate]] = {}
    for pending in pendings:
        fields = merged.setdefault(pending.customer_id, {})
        for change in pending.plan.changes:
            earlier = fields.get(change.field)
            fields[change.field] = Change(
                change.field, earlier.old if earlier else change.old, change.new
            )
        owners.setdefault(pending.customer_id, []).append(pending)
    rounds: list[list[WriteEntry]] = []
    for customer_id, fields in merged.items():
        for index, chunk in enumerate(attribute_chunks(list(fields.values()))):
            while len(rounds) <= index:
                rounds.append([])
            rounds[index].append(WriteEntry(customer_id, chunk, tuple(owners[customer_id])))
    return [
        entries[start : start + MAX_CUSTOMERS_PER_CALL]
        for entries in rounds
        for start in range(0, len(entries), MAX_CUSTOMERS_PER_CALL)
    ]


def _change_json(change: Change) -> dict[str, str | None]:
    return {"field": change.field, "old": change.old, "new": change.new}
