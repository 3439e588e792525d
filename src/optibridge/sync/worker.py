"""The worker loop (ARCHITECTURE 2): claim → identify → read → decide → write.

Any number of workers, in any number of processes, may run against one database: records are
leased, one subject's records are taken one at a time, and Optimove's budget is shared through
the database limiter. A worker that dies lets its leases expire; another takes the work over.
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from optibridge.comm100.client import Comm100Client
from optibridge.comm100.errors import Comm100Error
from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Plan, decide, mapped_values, without_later_values
from optibridge.domain.identify import identify
from optibridge.domain.records import DONE, FAILED, RESTORE, conversation_of, live_event
from optibridge.errors import AppError
from optibridge.logs import get_logger
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.store.customer_memory import (
    linked_customer,
    looked_up_in_conversation,
    open_chats,
    remember_link,
)
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    claim,
    claim_customer,
    customer_busy,
    extend_leases,
    fields_written_later,
    requeue,
)
from optibridge.sync.backfill import advance_backfill
from optibridge.sync.batcher import PendingUpdate, WriteBatcher
from optibridge.sync.customers import read_for_record
from optibridge.sync.reconcile import reconcile_overdue_writes
from optibridge.sync.records import retry_or_fail, settle
from optibridge.sync.sites import (
    SiteSetup,
    load_site,
)

log = get_logger(__name__)

# Records the agent console made (lookups, edits, creations): never processed by workers.
CONSOLE_EVENT_PREFIX = "console_"
# A record waiting for another record of the same customer is looked at again after this.
CUSTOMER_BUSY_DELAY_S = 1.0


class RecordFailed(Exception):
    """This record can't succeed as it is (bad settings, a refusal): fail it with the reason."""


class TryLater(Exception):
    """A transient problem: retry the record with backoff."""


class LeaseKeeper:
    """Renews the worker's leases while a round runs, however long one call waits (a
    `Retry-After`, a slow Optimove): a second worker never takes a record still being worked.
    """

    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self._runtime = runtime
        self._worker_id = worker_id
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _keep(self) -> None:
        lease_s = self._runtime.config.worker_lease_s
        while not self._done.wait(lease_s / 3):
            try:
                with self._runtime.unit_of_work() as session:
                    extend_leases(session, self._worker_id, lease_s)
            except Exception:  # the next beat tries again; the lease still has two thirds left
                log.exception("lease_renewal_failed", worker=self._worker_id)


# How often a round that gathers writes looks for new events; after how long without one it
# stops waiting for more (unless agents have chats open); how often it counts those chats, and
# how far back it looks for them (a chat looked up longer ago is not waited for).
GATHER_POLL_S = 0.1
GATHER_QUIET_S = 1.0
OPEN_CHATS_CHECK_S = 1.0
OPEN_CHATS_HORIZON = timedelta(minutes=30)


@dataclass
class Worker:
    runtime: Runtime
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    stop: threading.Event = field(default_factory=threading.Event)
    # Each round reloads the sites it meets (their settings may have changed).
    _sites: dict[int, SiteSetup | Exception] = field(default_factory=dict, init=False)
    # Comm100 clients outlive rounds: each caches the site's contact-field names.
    _comm100_clients: dict[tuple[Any, ...], Comm100Client] = field(default_factory=dict, init=False)

    def run_forever(self) -> None:
        log.info("worker_started", worker=self.worker_id)
        while not self.stop.is_set():
            try:
                processed = self.run_once()
            except Exception:
                log.exception("worker_round_failed", worker=self.worker_id)
                processed = 0
            if processed == 0:
                self.stop.wait(self.runtime.config.worker_poll_s)
        log.info("worker_stopped", worker=self.worker_id)

    def run_once(self) -> int:
        """One round: settle overdue writes, take a backfill one step on, then claim and process
        what is due."""
        config = self.runtime.config
        self._sites = {}
        reconcile_overdue_writes(self.runtime, self._site_setup)
        advance_backfill(
            self.runtime,
            self.worker_id,
            self._backfill_comm100,
            page_size=config.backfill_page_size,
        )
        claimed = claim(
            self.runtime.engine, self.worker_id, config.worker_batch_size, config.worker_lease_s
        )
        if not claimed:
            return 0
        batcher = WriteBatcher(self.runtime, self._site_setup)
        with LeaseKeeper(self.runtime, self.worker_id):
            self._process_all(claimed, batcher)
            processed = len(claimed) + self._gather(batcher, len(claimed))
            batcher.flush()
        return processed

    def _process_all(self, claimed: list[ClaimedRecord], batcher: WriteBatcher) -> None:
        for position, record in enumerate(claimed):
            if self.stop.is_set():
                self._release(claimed[position:])
                return
            self._process_safely(record, batcher)
            if batcher.full():
                batcher.flush()

    def _gather(self, batcher: WriteBatcher, taken: int) -> int:
        """The round's updates wait (at most `write_gather_max_s`) while more writes are surely
        coming, to share their call: one UpdateCustomerAttributes carries up to 1,000 customers
        (SPEC 4.6). More are coming while agents have chats open in the tab (their ends will
        come), and while events keep arriving on a busy budget; events already queued join at
        once while the round (`taken` records so far) is smaller than a claim. Otherwise, with
        budget to spare, they go at once. Returns how many records joined."""
        config = self.runtime.config
        deadline = time.monotonic() + config.write_gather_max_s
        last_arrival = time.monotonic()
        open_chats = _Throttled(OPEN_CHATS_CHECK_S, self._open_chats)
        joined = 0
        while (
            batcher.sites_waiting()
            and not batcher.full()
            and not self.stop.is_set()
            and time.monotonic() < deadline
        ):
            sites = batcher.sites_waiting()
            # Events arriving on a busy budget first: a glance at one row, where the open
            # chats scan the last half hour's lookups (again after every arrival).
            more_coming = (
                # Nothing came for a while: the next event may be minutes away.
                time.monotonic() - last_arrival < GATHER_QUIET_S and self._budget_busy(sites)
            ) or open_chats.value(sites) > 0
            if not more_coming and taken + joined >= config.worker_batch_size:
                break  # a whole claim's worth, and nothing says more is coming: send it
            more = claim(
                self.runtime.engine, self.worker_id, config.worker_batch_size, config.worker_lease_s
            )
            if more:
                last_arrival = time.monotonic()
                open_chats.expire()  # a chat that ended is not open any more
                self._process_all(more, batcher)
                joined += len(more)
                continue
            if not more_coming:
                break
            self.stop.wait(min(GATHER_POLL_S, max(0.0, deadline - time.monotonic())))
        return joined

    def _open_chats(self, site_ids: set[int]) -> int:
        """The chats agents looked up in the tab lately that have not ended yet."""
        since = datetime.now(UTC) - OPEN_CHATS_HORIZON
        with self.runtime.unit_of_work(read_only=True) as session:
            return open_chats(session, site_ids, since)

    def _budget_busy(self, site_ids: set[int]) -> bool:
        """Whether any of these sites' Optimove budgets is in use beyond
        `write_gather_busy_share` of its window (see config)."""
        limiter = self.runtime.limiter
        wanted = limiter.limit * (1 - self.runtime.config.write_gather_busy_share)
        for site_id in site_ids:
            setup = self._sites.get(site_id)
            client = setup.optimove if isinstance(setup, SiteSetup) else None
            if client is not None and limiter.free_slots(client.bucket) < wanted:
                return True
        return False

    # --- one record ----------------------------------------------------------------------

    def _process_safely(self, record: ClaimedRecord, batcher: WriteBatcher) -> None:
        if record.attempts >= self.runtime.config.sync_max_attempts and not record.retried_by_hand:
            # Back in the queue with no attempt left (a read-back found the change missing):
            # every record ends within its attempts.
            self._fail(record, f"gave up after {record.attempts} attempts")
            return
        try:
            self._process(record, batcher)
        except RecordFailed as failure:
            self._fail(record, str(failure))
        except (TryLater, OptimoveError, Comm100Error) as problem:
            retryable = not isinstance(problem, AppError) or getattr(problem, "retryable", True)
            if isinstance(problem, TryLater) or retryable:
                self._retry(record, str(problem))
            else:
                self._fail(record, str(problem))
        except Exception as error:  # a bug must not lose the event: retry, then fail visibly
            log.exception("record_failed_unexpectedly", record=record.id)
            self._retry(record, f"unexpected error: {type(error).__name__}")

    def _process(self, record: ClaimedRecord, batcher: WriteBatcher) -> None:
        if record.event.startswith(CONSOLE_EVENT_PREFIX):
            # An agent's change that was not confirmed: the agent saw that and makes it again;
            # replaying it later, unseen, could undo what happened since.
            raise RecordFailed(
                "An agent's change from the console is not replayed in the background; "
                "the agent makes it again in the Optimove tab."
            )
        if record.event == RESTORE:
            # Its administrator saw it fail (or the process stopped mid-way); replaying it
            # later, unseen and unchecked, could undo what happened since.
            raise RecordFailed(
                "A restore is not replayed in the background; restore again from the sync log."
            )
        setup = self._site_setup(record.site_id)
        if record.backfilled:
            setup = setup.in_background()
        settings = setup.settings
        channel = settings.channel(record.channel)  # type: ignore[arg-type]
        policy = channel.policy(live_event(record.event))
        context = ConversationContext.from_json(record.context)
        if not channel.enabled or policy is None:
            reason = (
                f"{record.channel} integration is not enabled"
                if not channel.enabled
                else f"'{record.event}' events change nothing in Optimove"
            )
            self._finish(record, outcome="skipped", reason=reason)
            return
        if record.channel == "ticketing":
            context = self._with_requester(setup, record, context)

        with self.runtime.unit_of_work(read_only=True) as session:
            linked = (
                linked_customer(session, record.site_id, context.subject_kind, context.subject_id)
                if context.subject_kind and context.subject_id
                else None
            )
        identification = identify(channel.identification, context, linked)
        if identification.customer_id is None:
            values, rejected = mapped_values(channel.field_mapping, context, setup.field_types)
            plan = decide(
                policy=policy,
                channel_enabled=True,
                identification=identification,
                current=None,
                values=values,
                rejected=rejected,
                field_types=setup.field_types,
                requester_is_visitor=context.requester_is_visitor,
            )
            self._finish(record, outcome=plan.outcome, reason=plan.reason)
            return

        customer_id = identification.customer_id
        written_later: dict[str, int] = {}
        with self.runtime.unit_of_work() as session:
            if customer_busy(session, record.site_id, customer_id, record.id):
                requeue(
                    session,
                    record.id,
                    held=Held.by(record),
                    delay_s=CUSTOMER_BUSY_DELAY_S * (1 + random.random()),
                    error=None,
                    count_attempt=False,
                    customer_id=customer_id,
                )
                return
            claim_customer(session, record.id, customer_id)
            if not record.retried_by_hand:
                written_later = fields_written_later(
                    session,
                    record.site_id,
                    customer_id,
                    record.id,
                    occurred_at=record.occurred_at if record.backfilled else None,
                )

        current = self._current_attributes(setup, record, customer_id)
        # After the read: it may have taught us field types the attribute list lacks.
        values, rejected = mapped_values(channel.field_mapping, context, setup.field_types)
        values, overtaken = without_later_values(values, written_later)
        rejected = (*rejected, *overtaken)
        plan = decide(
            policy=policy,
            channel_enabled=True,
            identification=identification,
            current=current,
            values=values,
            rejected=rejected,
            field_types=setup.field_types,
            requester_is_visitor=context.requester_is_visitor,
        )
        if current is not None and context.subject_kind and context.subject_id:
            with self.runtime.unit_of_work() as session:
                remember_link(
                    session, record.site_id, context.subject_kind, context.subject_id, customer_id
                )
        if plan.action == "none":
            self._finish(record, outcome=plan.outcome, reason=plan.reason, plan=plan)
        elif plan.action == "update":
            batcher.add(PendingUpdate(record=record, plan=plan))
        else:
            batcher.create(PendingUpdate(record=record, plan=plan))

    def _with_requester(
        self, setup: SiteSetup, record: ClaimedRecord, context: ConversationContext
    ) -> ConversationContext:
        """A ticket's requester read from Comm100: contact fields and identities."""
        if context.subject_kind == "visitor":
            return context  # a visitor has no contact to read
        if setup.comm100 is None:
            raise RecordFailed(
                "The Comm100 connection is not set up (API base, agent e-mail, API key): "
                "a ticket's contact can't be read."
            )
        ticket_id = record.comm100_ids.get("ticket_id")
        return setup.comm100.complete_ticket_context(
            context, str(ticket_id) if ticket_id is not None else None
        )

    def _current_attributes(
        self, setup: SiteSetup, record: ClaimedRecord, customer_id: str
    ) -> dict[str, str | None] | None:
        """The customer as Optimove has it (None: not found), from the cache when fresh: the
        read an agent made beside this very conversation serves its end however long it lasted
        (SPEC 4.6; kept current by Refresh and our own writes, bounded by
        `conversation_read_max_age_s`)."""
        self._optimove(setup)
        read = read_for_record(
            self.runtime,
            setup,
            record.id,
            customer_id,
            max_age_s=self._max_age(record, customer_id),
        )
        return read.attributes

    def _max_age(self, record: ClaimedRecord, customer_id: str) -> float:
        config = self.runtime.config
        conversation = conversation_of(record.comm100_ids)
        longest = config.conversation_read_max_age_s
        if conversation is None or longest <= config.customer_cache_ttl_s:
            return config.customer_cache_ttl_s
        since = datetime.now(UTC) - timedelta(seconds=longest)
        with self.runtime.unit_of_work(read_only=True) as session:
            seen = looked_up_in_conversation(
                session, record.site_id, customer_id, conversation, since
            )
        return longest if seen else config.customer_cache_ttl_s

    # --- bookkeeping ---------------------------------------------------------------------

    def _finish(
        self, record: ClaimedRecord, *, outcome: str, reason: str, plan: Plan | None = None
    ) -> None:
        with self.runtime.unit_of_work() as session:
            moved = settle(
                session,
                record.id,
                held=Held.by(record),
                state=DONE,
                outcome=outcome,
                reason=reason,
                customer_id=plan.customer_id if plan else None,
                changes=[],
                asserted=plan.asserted if plan else None,
            )
        if not moved:
            log.warning("record_no_longer_held", record=record.id, worker=self.worker_id)

    def _fail(self, record: ClaimedRecord, error: str) -> None:
        self._after_failure(record, error, retryable=False)

    def _retry(self, record: ClaimedRecord, error: str) -> None:
        self._after_failure(record, error, retryable=True)

    def _after_failure(self, record: ClaimedRecord, error: str, *, retryable: bool) -> None:
        with self.runtime.unit_of_work() as session:
            moved = retry_or_fail(
                session,
                record.id,
                record.attempts,
                held=Held.by(record),
                error=error,
                retryable=retryable,
                config=self.runtime.config,
            )
        if moved == FAILED:
            log.warning("record_failed", record=record.id, error=error)
        elif not moved:
            log.warning("record_no_longer_held", record=record.id, worker=self.worker_id)

    def _release(self, records: list[ClaimedRecord]) -> None:
        """Stopping: hand unprocessed records back at once instead of waiting for the lease."""
        with self.runtime.unit_of_work() as session:
            for record in records:
                requeue(
                    session,
                    record.id,
                    held=Held.by(record),
                    delay_s=0,
                    error=None,
                    count_attempt=False,
                )

    # --- per-site setup ------------------------------------------------------------------

    def _site_setup(self, site_id: int) -> SiteSetup:
        sites = self._sites
        known = sites.get(site_id)
        if isinstance(known, Exception):
            raise known
        if known is not None:
            return known
        try:
            setup = self._load_site(site_id)
        except (RecordFailed, TryLater, AppError) as problem:
            sites[site_id] = problem
            raise
        sites[site_id] = setup
        return setup

    def _load_site(self, site_id: int) -> SiteSetup:
        return load_site(
            self.runtime, site_id, lane="engine", comm100_clients=self._comm100_clients
        )

    def _backfill_comm100(self, site_id: int) -> Comm100Client | None:
        """The site's Comm100 client at background priority, for a backfill's listing (the
        site's Optimove account is not needed, nor read, to list)."""
        setup = load_site(
            self.runtime,
            site_id,
            lane="engine",
            with_attributes=False,
            comm100_clients=self._comm100_clients,
        )
        return setup.comm100_background

    def _optimove(self, setup: SiteSetup) -> OptimoveClient:
        if setup.optimove is None:
            raise RecordFailed("Optimove is not connected for this site (Base URL and API key).")
        return setup.optimove


class _Throttled:
    """`compute(arg)`, computed again only every `every_s` seconds (or after `expire`)."""

    def __init__(self, every_s: float, compute: Callable[[set[int]], int]) -> None:
        self._every_s = every_s
        self._compute = compute
        self._at = -math.inf
        self._value = 0

    def value(self, arg: set[int]) -> int:
        if time.monotonic() - self._at >= self._every_s:
            self._value = self._compute(arg)
            self._at = time.monotonic()
        return self._value

    def expire(self) -> None:
        self._at = -math.inf
