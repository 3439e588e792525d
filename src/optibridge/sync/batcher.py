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

from optibridge.domain.decide import Change, Plan, attribute_chunks
from optibridge.domain.records import AWAITING_CALLBACK, FAILED
from optibridge.logs import get_logger
from optibridge.optimove.errors import OptimoveError
from optibridge.optimove.schemas import CustomerUpdate
from optibridge.runtime import Runtime
from optibridge.store.models import OptimoveCallLog, OptimoveWrite
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    add_write,
    finish,
    log_call,
    mark_write_sent,
    note_write_attempts,
    settle_write,
)
from optibridge.sync.customers import call_logs
from optibridge.sync.records import retry_or_fail, settle
from optibridge.sync.sites import SiteSetup
from optibridge.vendor_http.client import CallRecord, recording_attempts

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
    """Gathers a round's updates and writes them; a record whose data can't be sent, and a site
    whose flush breaks, fail alone: every other record of the batch, of the site and of other
    sites is still written."""

    def __init__(self, runtime: Runtime, site_setup: Callable[[int], SiteSetup]) -> None:
        self._runtime = runtime
        self._site_setup = site_setup
        self._updates: list[PendingUpdate] = []

    def add(self, pending: PendingUpdate) -> None:
        if self._refused(pending):
            return
        self._updates.append(pending)

    def sites_waiting(self) -> set[int]:
        """The sites whose updates wait to be flushed."""
        return {p.record.site_id for p in self._updates}

    def full(self) -> bool:
        return len({(p.record.site_id, p.customer_id) for p in self._updates}) >= (
            MAX_CUSTOMERS_PER_CALL
        )

    def create(self, pending: PendingUpdate) -> None:
        """UpsertCustomer now; more than 10 attributes take more than one call."""
        if self._refused(pending):
            return
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
            try:
                self._flush_site(site_id, pendings)
            except Exception as error:  # one site's trouble must not hold back another's
                log.exception("site_flush_failed", site_id=site_id, error_type=type(error).__name__)
                self._give_back(pendings, f"the write could not be sent: {describe(error)}")

    def _flush_site(self, site_id: int, pendings: Sequence[PendingUpdate]) -> None:
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
            self._unsent(failure, entries)
            return False
        return True

    def _refused(self, pending: PendingUpdate) -> bool:
        """A record whose values can't be put in a request fails at once, alone, saying why."""
        why = unsendable(pending.customer_id, pending.plan.changes)
        if why is None:
            return False
        with self._runtime.unit_of_work() as session:
            settle(
                session,
                pending.record.id,
                held=Held.by(pending.record),
                state=FAILED,
                outcome="failed",
                reason=pending.plan.reason,
                customer_id=pending.customer_id,
                error=f"Nothing was sent to Optimove: {why}.",
            )
        return True

    def _give_back(self, pendings: Sequence[PendingUpdate], error: str) -> None:
        """Records of a flush that broke, still unsent: tried again later, within their
        attempts (those already sent are past `working`, and the guard leaves them be)."""
        with self._runtime.unit_of_work() as session:
            for pending in pendings:
                retry_or_fail(
                    session,
                    pending.record.id,
                    pending.record.attempts,
                    held=Held.by(pending.record),
                    error=error,
                    retryable=True,
                    config=self._runtime.config,
                    reason=pending.plan.reason,
                )

    def _unsent(self, failure: WriteNotSent, entries: Sequence[WriteEntry]) -> None:
        """The call failed: its records go back to the queue, or fail when retrying can't help."""
        with self._runtime.unit_of_work() as session:
            settle_write(session, failure.write_id, "failed", {"error": failure.message})
            for entry in entries:
                for pending in entry.pending:
                    retry_or_fail(
                        session,
                        pending.record.id,
                        pending.record.attempts,
                        held=Held(AWAITING_CALLBACK),
                        error=failure.message,
                        retryable=failure.retryable,
                        config=self._runtime.config,
                        reason=pending.plan.reason,
                    )


def unsendable(customer_id: str, changes: Sequence[Change]) -> str | None:
    """Why these values can't be put in a request to Optimove, or None. Every door makes text
    storable (`safe_text`), so this only meets what was stored before it did."""
    texts = [("the customer id", customer_id)]
    for change in changes:
        texts.append((f"the name of {change.field!r}", change.field))
        if change.new is not None:
            texts.append((change.field, change.new))
    for where, text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} holds a character that is not valid text (a lone UTF-16 surrogate)"
    return None


def describe(error: BaseException) -> str:
    """An error in words for the sync log: a vendor's own message, else what kind it was."""
    if isinstance(error, OptimoveError):
        return str(error)
    return f"unexpected {type(error).__name__}"


class WriteNotSent(Exception):
    """The call failed. Its write is still `sending` and its records `awaiting_callback`: the
    caller settles them (the batcher retries or fails them; the console fails them at once).
    `error` is what went wrong: an `OptimoveError`, or anything else that broke the call."""

    def __init__(self, write_id: str, error: Exception) -> None:
        super().__init__(describe(error))
        self.write_id = write_id
        self.error = error

    @property
    def message(self) -> str:
        return describe(self.error)

    @property
    def retryable(self) -> bool:
        # Anything but a vendor's refusal may pass (a bug, a dropped connection): try again.
        return not isinstance(self.error, OptimoveError) or self.error.retryable


def send_write(
    runtime: Runtime, setup: SiteSetup, kind: str, entries: Sequence[WriteEntry]
) -> str | None:
    """One UpdateCustomerAttributes (`kind` "update") or UpsertCustomer ("upsert") call.

    The write is recorded first, in the transaction that moves its records to
    `awaiting_callback` (only those still held by their worker); then it is sent with its id in
    the CallbackURL, so the callback (or a read-back) settles the records. Returns the write
    id (None when no record of it is still held: nothing was sent); `WriteNotSent` when the
    call failed.
    """
    client = setup.optimove
    if all(p.record.backfilled for e in entries for p in e.pending):
        # Only a backfill's replays: the budget's lowest lane (with a live one, the live lane).
        client = setup.optimove_background or client
    assert client is not None  # a plan that writes was made with a connected account
    write_id = str(uuid.uuid4())
    endpoint = UPSERT_ENDPOINT if kind == "upsert" else UPDATE_ENDPOINT
    site_id = entries[0].pending[0].record.site_id
    with runtime.unit_of_work() as session:
        held = {
            pending.record.id
            for entry in entries
            for pending in entry.pending
            if finish(
                session,
                pending.record.id,
                held=Held.by(pending.record),
                state=AWAITING_CALLBACK,
                outcome="pending",
                reason=pending.plan.reason,
                customer_id=pending.customer_id,
                changes=[_change_json(c) for c in pending.plan.changes],
                asserted=pending.plan.asserted,
                count_attempt=False,
            )
        }
        # A record another worker took over (its lease ran out) is that worker's to write.
        entries = [e for e in entries if any(p.record.id in held for p in e.pending)]
        if not entries:
            return None
        payload = {e.customer_id: {c.field: c.new for c in e.changes} for e in entries}
        add_write(
            session,
            OptimoveWrite(
                id=write_id, site_id=site_id, kind=kind, payload=payload, created_at=time.time()
            ),
        )
        for entry in entries:
            for pending in entry.pending:
                if pending.record.id in held:
                    log_call(
                        session,
                        OptimoveCallLog(
                            record_id=pending.record.id, endpoint=endpoint, write_id=write_id
                        ),
                    )
    callback_url = f"{setup.callback_base}&write={write_id}" if setup.callback_base else None
    started = time.perf_counter()
    with recording_attempts() as attempts:
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
        except Exception as error:  # the write is recorded: whatever broke, its records settle
            _note_attempts(runtime, write_id, attempts, final_detail=describe(error))
            raise WriteNotSent(write_id, error) from error
    _note_attempts(runtime, write_id, attempts, final_detail=None)
    with runtime.unit_of_work() as session:
        mark_write_sent(session, write_id, accepted.request_id)
    log.info(
        "optimove_write_sent",
        kind=kind,
        customers=len(entries),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return write_id


def _note_attempts(
    runtime: Runtime, write_id: str, attempts: Sequence[CallRecord], *, final_detail: str | None
) -> None:
    """Every attempt of the write on its records' calls (a 429 retried too)."""
    logs = call_logs(attempts, last_detail=None, write_id=write_id)
    with runtime.unit_of_work() as session:
        note_write_attempts(session, write_id, logs[:-1], logs[-1] if logs else None, final_detail)


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
