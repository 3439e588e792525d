"""Reading a customer from Optimove: the one read the engine and the agent console share.

A read is one Optimove call, the scarcest thing we have (reference/optimove.md: no bulk read,
50 calls per 10 s per key). So every read goes through here: a fresh enough copy in the read
cache (`customer_cache`, kept current by our own confirmed writes) is used instead, what the
read teaches about attributes (aliases, types) is learned for the account, and the read is noted
on its sync record (the call) and in the cache (the values), in one place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.store.customer_memory import cache_customer, cached_customer
from optibridge.store.models import OptimoveCallLog, utcnow
from optibridge.store.sync_records import call_for_record, log_call
from optibridge.sync.sites import SiteSetup
from optibridge.vendor_http.client import CallRecord, recording_attempts


@dataclass(frozen=True)
class CustomerRead:
    """A customer as read (from the cache or Optimove), and what the read cost.

    `attributes` is None when Optimove has no such customer. `calls` are the Optimove attempts
    made, in order (none when the cache answered; a 429 retried is one of them);
    `from_optimove` says the values are new to the cache. `stale` marks the last known values,
    shown because Optimove failed (`error` says how).
    """

    attributes: dict[str, str | None] | None
    fetched_at: float
    calls: tuple[OptimoveCallLog, ...] = ()
    from_optimove: bool = False
    stale: bool = False
    error: OptimoveError | None = None

    @property
    def found(self) -> bool:
        return self.attributes is not None


def read_customer(
    runtime: Runtime,
    setup: SiteSetup,
    customer_id: str,
    *,
    max_age_s: float,
    refresh: bool = False,
    stale_ok: bool = False,
    details_of: Sequence[str] = (),
) -> CustomerRead:
    """The customer from the cache when its copy is at most `max_age_s` old (unless `refresh`,
    or the labels and types of `details_of` are not known yet: a read teaches them), else from
    Optimove. When Optimove fails: with `stale_ok`, the last known values marked stale (and the
    error); else, or with none known, the error is raised."""
    if not refresh and setup.knows_details(details_of):
        with runtime.unit_of_work(read_only=True) as session:
            cached = cached_customer(session, setup.site_id, customer_id, max_age_s)
        if cached is not None:
            return CustomerRead(cached.attributes if cached.found else None, cached.fetched_at)
    client = setup.require_optimove()
    with recording_attempts() as attempts:
        try:
            customer = client.get_customer_attributes(customer_id)
        except OptimoveError as error:
            if not stale_ok:
                raise
            with runtime.unit_of_work(read_only=True) as session:
                last = cached_customer(session, setup.site_id, customer_id, math.inf)
            if last is None:
                raise
            calls = call_logs(attempts, last_detail=str(error))
            found = last.attributes if last.found else None
            return CustomerRead(found, last.fetched_at, calls=calls, stale=True, error=error)
    if customer is not None:
        setup.learn(customer)
    calls = call_logs(attempts, last_detail="found" if customer is not None else "not found")
    attributes = customer.values() if customer is not None else None
    return CustomerRead(attributes, time.time(), calls=calls, from_optimove=True)


def call_logs(
    attempts: Sequence[CallRecord], *, last_detail: str | None, write_id: str | None = None
) -> tuple[OptimoveCallLog, ...]:
    """Each attempt as a line of the record's calls: the retried ones say why they were
    retried, the last one says `last_detail`."""
    logs = []
    for index, attempt in enumerate(attempts):
        last = index == len(attempts) - 1
        logs.append(
            OptimoveCallLog(
                endpoint=attempt.endpoint,
                status=attempt.status,
                write_id=write_id,
                at=datetime.fromtimestamp(attempt.sent_at, UTC) if attempt.sent_at else utcnow(),
                duration_ms=round(attempt.duration_s * 1000, 1),
                detail=last_detail if last else _retried(attempt),
                lane=attempt.lane,
            )
        )
    return tuple(logs)


def _retried(attempt: CallRecord) -> str:
    what = f"HTTP {attempt.status}" if attempt.status is not None else "no answer"
    return f"attempt {attempt.attempt}: {what}, tried again"


@dataclass(frozen=True)
class Attempts:
    """The Optimove attempts made inside a `recording_reads` block."""

    records: list[CallRecord]

    @property
    def waited_s(self) -> float:
        """How long the attempts waited for Optimove's budget, all together."""
        return sum(record.limiter_wait_s for record in self.records)

    def calls(self, *, last_detail: str | None) -> tuple[OptimoveCallLog, ...]:
        """As a record's calls (`call_logs`): the last one says `last_detail`."""
        return call_logs(self.records, last_detail=last_detail)


@contextmanager
def recording_reads() -> Iterator[Attempts]:
    """The attempts of the reads made inside the block, those of a read that raised too."""
    with recording_attempts() as records:
        yield Attempts(records)


def read_for_record(
    runtime: Runtime,
    setup: SiteSetup,
    record_id: int,
    customer_id: str,
    *,
    max_age_s: float,
    refresh: bool = False,
    details_of: Sequence[str] = (),
) -> CustomerRead:
    """`read_customer` for a sync record, noted on it (`note_read`). A read that fails is noted
    too, every attempt with its status, the last saying why: the record shows what was tried
    before it was retried or failed."""
    with recording_reads() as attempts:
        try:
            read = read_customer(
                runtime,
                setup,
                customer_id,
                max_age_s=max_age_s,
                refresh=refresh,
                details_of=details_of,
            )
        except OptimoveError as error:
            note_calls(runtime, record_id, attempts.calls(last_detail=str(error)))
            raise
    note_read(runtime, record_id, setup.site_id, customer_id, read)
    return read


def note_calls(runtime: Runtime, record_id: int, calls: Sequence[OptimoveCallLog]) -> None:
    """Optimove calls made for `record_id`, in the order they were made."""
    if not calls:
        return
    with runtime.unit_of_work() as session:
        for call in calls:
            log_call(session, call_for_record(call, record_id))


def note_read(
    runtime: Runtime, record_id: int, site_id: int, customer_id: str, read: CustomerRead
) -> None:
    """Put the read on its record (the attempts made) and its values in the cache."""
    if not read.calls and not read.from_optimove:
        return
    with runtime.unit_of_work() as session:
        for call in read.calls:
            log_call(session, call_for_record(call, record_id))
        if read.from_optimove:
            cache_customer(session, site_id, customer_id, read.attributes)
