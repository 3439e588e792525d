"""What the engine does for an agent in the console's tab (the console is its client).

- **The conversation**: the host page (or Comm100's App SDK) describes the chat or ticket; it is
  read by the same code as Comm100's webhooks (`read_host_context`), and a ticket's requester is
  completed from Comm100 (`completed_context`).
- **Records**: every lookup, edit and creation is a sync record (`domain.records.AGENT_*`), with
  the agent who made it. A change is inserted `working`, already held by the console, so no
  worker ever takes it; it holds its customer like a worker's record between read and write.
- **Writes** go through the batcher's `send_write`, so Optimove's callback (or a read-back)
  confirms them like any other; a change that can't be sent fails at once (the agent sees why
  and may try again: changes are never retried behind an agent's back).
- **Failures** reach the agent as plain sentences (`agent_message`, `for_agents`); the details
  go to the sync log.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from optibridge.comm100 import errors as comm100_errors
from optibridge.comm100.webhooks import (
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Change, Plan, attribute_chunks
from optibridge.domain.records import (
    AGENT_CHANGES,
    AGENT_EDIT,
    AGENT_LOOKUP,
    AWAITING_CALLBACK,
    DONE,
    FAILED,
    QUEUED,
    Channel,
    RecordState,
)
from optibridge.errors import AppError, Conflict, Invalid, NotFound, Problem
from optibridge.optimove import errors as optimove_errors
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.store.customer_memory import linked_customer, remember_link
from optibridge.store.models import OptimoveCallLog, SyncRecord
from optibridge.store.sync_records import (
    ClaimedRecord,
    Held,
    NewRecord,
    customer_busy,
    hold,
    insert_record,
    settle_write,
)
from optibridge.sync.batcher import PendingUpdate, WriteEntry, WriteNotSent, send_write
from optibridge.sync.customers import CustomerRead, note_calls, note_read, read_for_record
from optibridge.sync.records import CONSOLE_OWNER, settle
from optibridge.sync.sites import Comm100Busy, NotConnected, OptimoveBusy, SiteSetup

P = ParamSpec("P")
T = TypeVar("T")


# --- failures, in words an agent can act on -------------------------------------------------------


def agent_message(error: AppError) -> str:
    """What an agent is told about a vendor failure; the details go to the sync log."""
    if isinstance(error, OptimoveBusy | Comm100Busy):
        return error.message
    if isinstance(error, OptimoveError):
        vendor = "Optimove"
    elif isinstance(error, comm100_errors.Comm100Error):
        vendor = "Comm100"
    else:
        return error.message
    if isinstance(error, optimove_errors.BadCredentialsError | comm100_errors.BadCredentialsError):
        return f"{vendor} refused this site's API key: ask your administrator to check it."
    if isinstance(error, optimove_errors.NotOptimoveApiError | comm100_errors.NotComm100ApiError):
        return (
            f"The {vendor} connection is not set up right (its address does not answer like"
            f" {vendor}): ask your administrator."
        )
    if getattr(error, "retryable", False):
        return f"{vendor} can't be reached right now; try again in a moment."
    return (
        f"{error.message.rstrip('.')}. If it happens again, ask your administrator: the sync"
        " log has the details."
    )


def for_agents(function: Callable[P, T]) -> Callable[P, T]:
    """Vendor failures reach the agent as plain messages, with their status and code."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except (OptimoveError, comm100_errors.Comm100Error) as error:
            raise AppError(agent_message(error), [], error.status, error.code) from None

    return guarded


# --- the conversation the tab sits beside ---------------------------------------------------------


@dataclass(frozen=True)
class HostContext:
    """The conversation as the host page (or Comm100's SDK) described it."""

    channel: Channel
    context: ConversationContext
    comm100_ids: dict[str, str]
    ticket_id: str | None = None

    @property
    def order_key(self) -> str:
        """Agents' writes take their turn with the same subject's events (SPEC 4.4)."""
        if self.context.subject_kind and self.context.subject_id:
            return f"{self.context.subject_kind}:{self.context.subject_id}"
        return f"console:{uuid.uuid4().hex}"


def read_host_context(channel: Channel, raw: Mapping[str, Any]) -> HostContext:
    """The host's context, parsed by the same code as Comm100's webhooks (422 when unreadable).

    Live Chat: `{"chat_id", "visitor": {…the webhook's visitor keys…}}`.
    Ticketing: `{"ticket_id", "requester": {"type": "contact" | "visitor", "id"}}`.
    """
    try:
        if channel == "livechat":
            body: dict[str, Any] = {"event": AGENT_LOOKUP}
            if raw.get("visitor") is not None:
                body["visitor"] = raw["visitor"]
            if raw.get("chat_id") is not None:
                body["chat_id"] = raw["chat_id"]
            event = parse_livechat_webhook(body)
            return HostContext(channel, event.context, dict(event.comm100_ids))
        requester = raw.get("requester")
        ticket: dict[str, Any] = {"Id": raw.get("ticket_id")}
        if isinstance(requester, Mapping):
            ticket["ContactOrVisitorId"] = requester.get("id")
            ticket["ContactOrVisitorType"] = requester.get("type")
        event = parse_ticket_trigger({"TicketInfo": ticket})
    except WebhookShapeError as error:
        raise Invalid(
            "The conversation context is not readable.", [Problem("/context", str(error))]
        ) from None
    return HostContext(
        channel, event.context, dict(event.comm100_ids), event.comm100_ids.get("ticket_id")
    )


def empty_host_context(channel: Channel, event: str) -> HostContext:
    """A conversation the host did not describe (an edit sent without its context)."""
    return HostContext(channel, ConversationContext(channel=channel, event=event), {})


def completed_context(setup: SiteSetup, host: HostContext) -> ConversationContext:
    """A ticket's requester read from Comm100 (its contact fields and identities)."""
    context = host.context
    if host.channel != "ticketing" or context.subject_kind == "visitor":
        return context
    if setup.comm100 is None:
        raise NotConnected(
            "The Comm100 connection is not set up (API base, agent e-mail, API key), so the"
            " ticket's contact can't be read: ask your administrator."
        )
    return setup.comm100.complete_ticket_context(context, host.ticket_id)


def linked_customer_of(runtime: Runtime, site_id: int, context: ConversationContext) -> str | None:
    """The customer this conversation's visitor or contact was last known as."""
    if not (context.subject_kind and context.subject_id):
        return None
    with runtime.unit_of_work(read_only=True) as session:
        return linked_customer(session, site_id, context.subject_kind, context.subject_id)


# --- records of what agents did -------------------------------------------------------------------


# How the agent of a record is known (`comm100_ids["agent_source"]`).
AGENT_SIGNED_IN = "comm100_sign_in"  # Comm100 vouched for them (OAuth)
AGENT_AS_SAID = "tab_address"  # the agentId in the tab's URL: anyone can type it


@dataclass(frozen=True)
class Agent:
    """Who is doing it: the Comm100 agent, as far as known; `verified` when Comm100 signed
    them in, else only as the tab's address said."""

    agent_id: str | None = None
    email: str | None = None
    verified: bool = False

    def ids(self) -> dict[str, str]:
        """What a record keeps of the agent, beside the conversation's Comm100 ids."""
        if not self.agent_id:
            return {}
        ids = {
            "agent_id": self.agent_id,
            "agent_source": AGENT_SIGNED_IN if self.verified else AGENT_AS_SAID,
        }
        if self.email:
            ids["agent_email"] = self.email
        return ids

    @classmethod
    def of_record(cls, comm100_ids: Mapping[str, Any]) -> Agent | None:
        """The agent a record keeps (`ids`), or None for a record no agent made."""
        agent_id = comm100_ids.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            return None
        email = comm100_ids.get("agent_email")
        return cls(
            agent_id,
            email if isinstance(email, str) and email else None,
            comm100_ids.get("agent_source") == AGENT_SIGNED_IN,
        )


def record_lookup(
    runtime: Runtime,
    agent: Agent,
    site_id: int,
    host: HostContext,
    context: ConversationContext,
    *,
    outcome: str,
    reason: str | None,
    customer_id: str | None = None,
    read: CustomerRead | None = None,
    error: str | None = None,
    calls: Sequence[OptimoveCallLog] = (),
) -> int:
    """A lookup, settled at once, with the Optimove read it made (if any: `read`, or the
    `calls` of a read that failed); a read that found the customer links the conversation's
    visitor or contact to it."""
    failed = error is not None
    with runtime.unit_of_work() as session:
        record_id = _insert(session, agent, site_id, host, context, AGENT_LOOKUP, unique=True)
        settle(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            state=FAILED if failed else DONE,
            outcome=outcome,
            reason=reason,
            customer_id=customer_id,
            changes=[],
            error=error,
            count_attempt=False,
        )
        if (
            customer_id is not None
            and read is not None
            and read.found
            and context.subject_kind
            and context.subject_id
        ):
            remember_link(session, site_id, context.subject_kind, context.subject_id, customer_id)
    if read is not None and customer_id is not None:
        note_read(runtime, record_id, site_id, customer_id, read)
    note_calls(runtime, record_id, calls)
    return record_id


def record_refused_edit(
    runtime: Runtime, agent: Agent, site_id: int, host: HostContext, customer_id: str, refused: str
) -> None:
    """An edit refused before anything was read or sent, in the sync log all the same."""
    with runtime.unit_of_work() as session:
        record_id = _insert(session, agent, site_id, host, host.context, AGENT_EDIT, unique=True)
        settle(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            state=DONE,
            outcome="unchanged",
            reason=f"nothing written: the values were refused ({refused})",
            customer_id=customer_id,
            changes=[],
            count_attempt=False,
        )


def start_change(
    runtime: Runtime,
    agent: Agent,
    site_id: int,
    host: HostContext,
    event: str,
    customer_id: str,
    context: ConversationContext | None = None,
) -> ClaimedRecord:
    """The change's record, taking its customer (409 while another write to it is under way).

    It is inserted `working`, already held by the console, in one transaction, so no worker
    ever sees it queued; it holds the customer like a worker's record between read and write.
    """
    conversation = context or host.context
    with runtime.unit_of_work() as session:
        if customer_busy(session, site_id, customer_id, 0):
            raise Conflict(
                f"Another change to customer {customer_id} is being written to Optimove right"
                " now; try again in a few seconds."
            )
        record_id = _insert(session, agent, site_id, host, conversation, event, unique=False)
        hold(
            session,
            record_id,
            held=Held(QUEUED),  # inserted just now, in this transaction
            owner=CONSOLE_OWNER,
            lease_s=runtime.config.worker_lease_s,
            customer_id=customer_id,
        )
        row = session.get(SyncRecord, record_id)
        assert row is not None
        return ClaimedRecord(
            id=record_id,
            site_id=site_id,
            channel=host.channel,
            event=event,
            order_key=row.order_key,
            comm100_ids=dict(row.comm100_ids),
            context=dict(row.context),
            attempts=0,
            claimed_by=CONSOLE_OWNER,
        )


def read_for_change(
    runtime: Runtime,
    setup: SiteSetup,
    record: ClaimedRecord,
    customer_id: str,
    *,
    refresh: bool = False,
    details_of: Sequence[str] = (),
) -> CustomerRead:
    """The customer before a change, noted on its record; a failed read fails the record
    (nothing is sent on a guess) and is raised for the agent to see."""
    try:
        return read_for_record(
            runtime,
            setup,
            record.id,
            customer_id,
            max_age_s=runtime.config.customer_cache_ttl_s,
            refresh=refresh,
            details_of=details_of,
        )
    except AppError as error:
        fail_change(runtime, record, f"Optimove could not be read, so nothing was sent: {error}")
        raise


def settle_change(runtime: Runtime, record: ClaimedRecord, plan: Plan) -> None:
    """A change that writes nothing (`plan.action` is "none"), settled with its outcome (by
    whoever holds it: the console for an agent's change, or a restore)."""
    with runtime.unit_of_work() as session:
        settle(
            session,
            record.id,
            held=Held.by(record),
            state=DONE,
            outcome=plan.outcome,
            reason=plan.reason,
            customer_id=plan.customer_id,
            changes=[],
            count_attempt=False,
        )


def fail_change(runtime: Runtime, record: ClaimedRecord, error: str) -> None:
    with runtime.unit_of_work() as session:
        settle(
            session,
            record.id,
            held=Held.by(record),
            state=FAILED,
            outcome="failed",
            reason=None,
            error=error,
            count_attempt=False,
        )


def send_change(runtime: Runtime, setup: SiteSetup, record: ClaimedRecord, plan: Plan) -> None:
    """The plan's write(s) now, ≤ 10 attributes per call (UpsertCustomer for a creation); a
    failure fails the record at once and is raised for the agent."""
    kind = "upsert" if plan.action == "create" else "update"
    pending = PendingUpdate(record=record, plan=plan)
    for chunk in attribute_chunks(plan.changes) or [()]:
        entry = WriteEntry(pending.customer_id, chunk, (pending,))
        try:
            send_write(runtime, setup, kind, [entry])
        except WriteNotSent as failure:
            with runtime.unit_of_work() as session:
                settle_write(session, failure.write_id, "failed", {"error": failure.message})
                settle(
                    session,
                    record.id,
                    held=Held(AWAITING_CALLBACK),
                    state=FAILED,
                    outcome="failed",
                    reason=plan.reason,
                    error=failure.message,
                    count_attempt=False,
                )
            if isinstance(failure.error, AppError):
                raise failure.error from None
            raise AppError(
                "The change could not be sent to Optimove: try again in a moment, and if it"
                " fails again, ask your administrator (the sync log has the details).",
                status=502,
                code="optimove_failed",
            ) from failure


@dataclass(frozen=True)
class ChangeState:
    """Where an agent's change is, as its record says."""

    record_id: int
    event: str
    state: RecordState
    outcome: str | None
    customer_id: str | None
    changes: list[Change] = field(default_factory=list)
    error: str | None = None


def change_state(runtime: Runtime, site_id: int, record_id: int) -> ChangeState:
    """An agent's change by its record (404 for any other record, or another site's)."""
    with runtime.unit_of_work(read_only=True) as session:
        record = session.get(SyncRecord, record_id)
        if record is None or record.site_id != site_id or record.event not in AGENT_CHANGES:
            raise NotFound(f"Console change {record_id} does not exist for site {site_id}.")
        changes = [
            Change(str(c.get("field")), c.get("old"), str(c.get("new")))
            for c in record.changes
            if isinstance(c, dict)
        ]
        return ChangeState(
            record_id,
            record.event,
            record.state,  # type: ignore[arg-type]
            record.outcome,
            record.customer_id,
            changes,
            record.last_error,
        )


def _insert(
    session: Session,
    agent: Agent,
    site_id: int,
    host: HostContext,
    context: ConversationContext,
    event: str,
    *,
    unique: bool,
) -> int:
    ids = {**host.comm100_ids, **agent.ids()}
    record_id, _duplicate = insert_record(
        session.connection(),
        NewRecord(
            site_id=site_id,
            channel=host.channel,
            event=event,
            dedupe_key=uuid.uuid4().hex,
            order_key=f"console:{uuid.uuid4().hex}" if unique else host.order_key,
            comm100_ids=ids,
            context=replace(context, event=event).to_json(),
        ),
    )
    return record_id
