"""The sync log (SPEC 4.3): list a site's records, show one with its Optimove calls, retry a
failed one, count outcomes, restore a change (SPEC 4.7). Used by the administration API, the
control panel and the CLI. Only a restore opens transactions of its own (it calls Optimove, which
no transaction waits on); the rest never commits.

The log reads as what happened to Optimove: what agents only looked at in the console's tab is
left out of the lists (unless asked for) and of the counts (counted apart); each event has its
name in words; a record says whether retrying it means anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from optibridge.domain.decide import Change
from optibridge.domain.records import (
    AGENT_CREATE,
    AGENT_EDIT,
    AGENT_EVENT_PREFIX,
    AGENT_LOOKUP,
    CHANNELS,
    FAILED,
    OUTCOMES,
    RECORD_STATES,
    RESTORE,
)
from optibridge.domain.restore import ChangeRecord, RestoreRefused, check_restorable
from optibridge.errors import BadRequest, Conflict, Invalid, NotFound, Problem
from optibridge.runtime import Runtime
from optibridge.services.tokens import Principal
from optibridge.store.models import OptimoveWrite, SyncRecord
from optibridge.store.sync_log import CallWithConfirmation, SyncLogRepository

# What callers build to filter the log: re-exported, so the web layer names it from here.
from optibridge.store.sync_log import SyncFilter as SyncFilter
from optibridge.sync.agents import Agent
from optibridge.sync.restore import Restorer, restore_record
from optibridge.sync.sites import get_site

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SUMMARY_HOURS = 24 * 31

# A cursor is "v1.<last id>.<filters digest>.<checksum>", base64url-encoded. The checksum makes a
# corrupted or hand-edited cursor fail loudly instead of silently skipping records. It is not a
# secret: a forged cursor could only page through records the caller may read anyway.
_CURSOR_VERSION = "v1"
_CURSOR_SALT = b"optibridge sync log cursor"


# Each event in words, as the sync log shows it; other Comm100 events read from their names.
EVENT_NAMES = {
    "chat_ended": "Chat ended",
    "offline_message_submitted": "Offline message submitted",
    "ticket_created": "Ticket created",
    "chat_started": "Chat started",
    "chat_wrapped_up": "Chat wrapped up",
    "backfill_chat_ended": "Chat ended (backfill)",
    "backfill_offline_message_submitted": "Offline message submitted (backfill)",
    "backfill_ticket_created": "Ticket created (backfill)",
    AGENT_LOOKUP: "Agent viewed the customer",
    AGENT_EDIT: "Agent edited the customer",
    AGENT_CREATE: "Agent created the customer",
    RESTORE: "Restore",
}


def event_name(event: str) -> str:
    """`chat_ended` → "Chat ended"; an event not listed reads from its name."""
    known = EVENT_NAMES.get(event)
    if known is not None:
        return known
    words = event.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:] if words else event


def is_agent_event(event: str) -> bool:
    """What an agent did in the console's tab, not one of Comm100's events."""
    return event.startswith(AGENT_EVENT_PREFIX)


@dataclass(frozen=True)
class LoggedChange:
    """A change as the sync log shows it: what a record wrote (old → new). Not a decision's
    `domain.decide.Change`: it is read back from the log, where anything may have been stored."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class SyncItem:
    """One record as the sync log shows it."""

    id: int
    channel: str
    event: str
    received_at: datetime
    updated_at: datetime
    state: str
    outcome: str | None
    reason: str | None
    customer_id: str | None
    comm100_ids: dict[str, Any]
    changes: list[LoggedChange]
    attempts: int
    error: str | None
    agent: Agent | None  # the Comm100 agent, for what an agent did in the tab
    restores: int | None  # for a restore: the record whose change it undoes
    event_name: str  # the event in words
    # A failed Comm100 event can be queued again; what an agent did in the tab can't (a view
    # changed nothing, a change is the agent's to make again, seeing the customer as it is).
    retryable: bool


@dataclass(frozen=True)
class CallItem:
    endpoint: str
    status: int | None
    request_id: str | None
    at: datetime
    duration_ms: float | None
    detail: str | None
    # For a write: True once Optimove's callback confirmed it, False if it reported a failure,
    # None while unsettled (and for reads).
    confirmed: bool | None
    lane: str | None = None  # the budget's lane it waited in (SPEC 4.5); None if not recorded


@dataclass(frozen=True)
class WriteItem:
    id: str
    kind: str
    state: str
    request_id: str | None
    sent_at: datetime | None
    settled_at: datetime | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class SyncDetail(SyncItem):
    calls: list[CallItem]
    write: WriteItem | None


@dataclass(frozen=True)
class SyncPage:
    items: list[SyncItem]
    next_cursor: str | None


@dataclass(frozen=True)
class SyncSummary:
    hours: int
    since: datetime
    until: datetime
    total: int
    outcomes: dict[str, int]
    in_progress: int
    agent_views: int  # customers agents looked up in the tab: activity, not counted above


def list_syncs(
    session: Session,
    site_id: int,
    filters: SyncFilter,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> SyncPage:
    """A page of the site's records, newest first; `next_cursor` continues after the last."""
    filters = _checked(filters)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid(
            "The request is not valid.",
            [Problem("", f"limit must be between 1 and {MAX_PAGE_SIZE}")],
        )
    before_id = decode_cursor(cursor, filters) if cursor else None
    get_site(session, site_id)
    records = SyncLogRepository(session).newest_first(
        site_id, filters, before_id=before_id, limit=limit + 1
    )
    page = records[:limit]
    more = len(records) > limit
    return SyncPage(
        items=[_item(record) for record in page],
        next_cursor=encode_cursor(page[-1].id, filters) if more else None,
    )


def get_sync(session: Session, site_id: int, record_id: int) -> SyncDetail:
    """A record with the Optimove calls made for it and its write (if any)."""
    get_site(session, site_id)
    repository = SyncLogRepository(session)
    record = repository.get(site_id, record_id)
    if record is None:
        raise NotFound(f"Sync record {record_id} does not exist for site {site_id}.")
    write = repository.latest_write(site_id, record)
    item = _item(record)
    return SyncDetail(
        **{field.name: getattr(item, field.name) for field in fields(SyncItem)},
        calls=[_call(call) for call in repository.calls_of(record.id)],
        write=_write(write) if write is not None else None,
    )


def retry_sync(
    session: Session,
    site_id: int,
    record_id: int,
    *,
    force: bool = False,
    now: float | None = None,
) -> SyncItem:
    """Queue a failed record again, due now, attempts reset (409 when it is not failed).

    A later event that already wrote to the same customer makes a retry 409 too, unless
    `force`: re-running the old event could put older values over newer ones.
    """
    get_site(session, site_id)
    repository = SyncLogRepository(session)
    failed = repository.get(site_id, record_id)
    if failed is not None and failed.event == AGENT_LOOKUP:
        raise Conflict(
            f"Record {record_id} is an agent's view of a customer in the Optimove tab: it "
            "changed nothing in Optimove, so there is nothing to retry (the agent presses "
            "Refresh in the tab to read it again)."
        )
    if failed is not None and is_agent_event(failed.event):
        raise Conflict(
            f"Record {record_id} is an agent's change from the console; the agent makes it "
            "again in the Optimove tab instead."
        )
    if failed is not None and failed.event == RESTORE:
        raise Conflict(
            f"Record {record_id} is a restore; restore the original record again from the sync"
            " log instead (it checks that the fields still hold what it wrote)."
        )
    if not force and failed is not None and failed.state == "failed" and failed.customer_id:
        newer = repository.newer_write(site_id, failed.customer_id, record_id)
        if newer is not None:
            raise Conflict(
                f"Record {newer}, a later event, already wrote to customer "
                f"{failed.customer_id}; retrying record {record_id} could put older values "
                "over it. Retry with force to do it anyway."
            )
    requeued = repository.requeue_failed(
        site_id, record_id, now=time.time() if now is None else now
    )
    record = repository.get(site_id, record_id)
    if record is None:
        raise NotFound(f"Sync record {record_id} does not exist for site {site_id}.")
    if not requeued:
        raise Conflict(
            f"Sync record {record_id} is {record.state}, not failed: only failed records "
            "can be retried."
        )
    return _item(record)


def restorer(
    principal: Principal, via: Literal["api", "control_panel"], agent: Agent | None = None
) -> Restorer:
    """Who asks for a restore, as its record keeps it: the credential in words (never its
    value) and, for an administrator Comm100 signed in, the agent."""
    if agent is not None:
        who = "a Comm100 administrator signed in with Comm100"
    elif principal.token_id is None:
        who = "the deployment's admin token (OPTIBRIDGE_ADMIN_TOKEN)"
    elif principal.site_id is None:
        who = f"deployment admin token {principal.token_id}"
    else:
        who = f"site admin token {principal.token_id}"
    return Restorer(who, via, agent)


def restore_refusal(item: SyncItem) -> str | None:
    """Why the record's change can't be restored, as far as the log tells before Optimove is
    read (a creation, a record that wrote nothing or is still under way); None: it may be."""
    record = ChangeRecord(
        record_id=item.id,
        channel=item.channel,  # type: ignore[arg-type]
        event=item.event,
        state=item.state,
        outcome=item.outcome,
        customer_id=item.customer_id,
        changes=tuple(Change(c.field, c.old, c.new) for c in item.changes),
    )
    try:
        check_restorable(record)
    except RestoreRefused as refused:
        return refused.message
    return None


def restore_sync(runtime: Runtime, site_id: int, record_id: int, by: Restorer) -> SyncDetail:
    """Write back the old values of record `record_id`'s change (SPEC 4.7): the new record
    that does it (its write awaiting Optimove's confirmation). 404 for no such record of the
    site; 409 with the reason when it can't be restored (a field changed since, a creation, a
    record that wrote nothing or is still under way)."""
    new_id = restore_record(runtime, site_id, record_id, by)
    with runtime.unit_of_work(read_only=True) as session:
        return get_sync(session, site_id, new_id)


def summarize(
    session: Session, site_id: int, *, hours: int, now: datetime | None = None
) -> SyncSummary:
    """How many of the site's records received in the last `hours` have each outcome."""
    if not 1 <= hours <= MAX_SUMMARY_HOURS:
        raise Invalid(
            "The request is not valid.",
            [Problem("", f"hours must be between 1 and {MAX_SUMMARY_HOURS}")],
        )
    get_site(session, site_id)
    until = now or datetime.now(UTC)
    since = until - timedelta(hours=hours)
    repository = SyncLogRepository(session)
    counts = repository.outcome_counts(site_id, since)
    outcomes: dict[str, int] = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    return SyncSummary(
        hours=hours,
        since=since,
        until=until,
        total=sum(counts.values()),
        outcomes=outcomes,
        in_progress=counts.get(None, 0),
        agent_views=repository.view_count(site_id, since),
    )


# --- cursors -----------------------------------------------------------------------------------


def encode_cursor(last_id: int, filters: SyncFilter) -> str:
    payload = f"{_CURSOR_VERSION}.{last_id}.{_filters_digest(filters)}"
    token = f"{payload}.{_checksum(payload)}"
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: SyncFilter) -> int:
    """The id the next page starts below; BadRequest for anything this service did not issue
    for these same filters."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        token = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        version, last_id, digest, checksum = token.split(".")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor() from None
    payload = f"{version}.{last_id}.{digest}"
    valid = (
        hmac.compare_digest(checksum, _checksum(payload))
        and version == _CURSOR_VERSION
        and last_id.isdigit()
    )
    if not valid:
        raise _bad_cursor()
    if digest != _filters_digest(filters):
        raise BadRequest(
            "The cursor was issued for other filters; use the filters it came with, "
            "or start again without a cursor.",
            [Problem("", "query parameter 'cursor': issued for other filters")],
        )
    return int(last_id)


def _bad_cursor() -> BadRequest:
    return BadRequest(
        "The cursor is not valid; use next_cursor exactly as it was returned.",
        [Problem("", "query parameter 'cursor': not a cursor this service issued")],
    )


def _checksum(payload: str) -> str:
    return hashlib.sha256(_CURSOR_SALT + payload.encode()).hexdigest()[:16]


def _filters_digest(filters: SyncFilter) -> str:
    canonical = json.dumps(
        {
            "outcome": filters.outcome,
            "channel": filters.channel,
            "customer_id": filters.customer_id,
            "event": filters.event,
            "state": filters.state,
            "since": filters.since.isoformat() if filters.since else None,
            "until": filters.until.isoformat() if filters.until else None,
            # Only when set: the cursors issued before views were left out stay valid.
            **({"include_views": True} if filters.include_views else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- conversions -------------------------------------------------------------------------------


def _checked(filters: SyncFilter) -> SyncFilter:
    """The filters with their period in UTC (naive times are taken as UTC), or 422."""
    problems = []
    for name, value, allowed in (
        ("outcome", filters.outcome, OUTCOMES),
        ("channel", filters.channel, CHANNELS),
        ("state", filters.state, RECORD_STATES),
    ):
        if value is not None and value not in allowed:
            problems.append(Problem("", f"{name} must be one of: {', '.join(allowed)}"))
    since = _as_utc_input(filters.since)
    until = _as_utc_input(filters.until)
    if since is not None and until is not None and since >= until:
        problems.append(Problem("", "since must be earlier than until"))
    if problems:
        raise Invalid("The filters are not valid.", problems)
    return SyncFilter(
        outcome=filters.outcome,
        channel=filters.channel,
        customer_id=filters.customer_id,
        event=filters.event,
        state=filters.state,
        since=since,
        until=until,
        include_views=filters.include_views,
    )


def _as_utc_input(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _item(record: SyncRecord) -> SyncItem:
    return SyncItem(
        id=record.id,
        channel=record.channel,
        event=record.event,
        received_at=record.received_at,
        updated_at=record.updated_at,
        state=record.state,
        outcome=record.outcome,
        reason=record.reason,
        customer_id=record.customer_id,
        comm100_ids=dict(record.comm100_ids),
        changes=[_change(entry) for entry in record.changes if isinstance(entry, dict)],
        attempts=record.attempts,
        error=record.last_error,
        agent=Agent.of_record(record.comm100_ids),
        restores=_restored_record(record),
        event_name=event_name(record.event),
        # A restore is never retried: restoring again checks again.
        retryable=record.state == FAILED
        and not is_agent_event(record.event)
        and record.event != RESTORE,
    )


def _restored_record(record: SyncRecord) -> int | None:
    named = (record.comm100_ids or {}).get("restores") if record.event == RESTORE else None
    return int(named) if isinstance(named, str) and named.isdigit() else None


def _change(entry: dict[str, Any]) -> LoggedChange:
    return LoggedChange(
        field=str(entry.get("field", "")),
        old=_text(entry.get("old")),
        new=_text(entry.get("new")),
    )


def _text(value: object) -> str | None:
    """Optimove values are strings; anything else stored by mistake is shown as its text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _call(entry: CallWithConfirmation) -> CallItem:
    call = entry.call
    confirmed = {"confirmed": True, "failed": False}.get(entry.write_state or "")
    return CallItem(
        endpoint=call.endpoint,
        status=call.status,
        request_id=call.request_id,
        at=call.at,
        duration_ms=call.duration_ms,
        detail=call.detail,
        confirmed=confirmed,
        lane=call.lane,
    )


def _write(write: OptimoveWrite) -> WriteItem:
    return WriteItem(
        id=write.id,
        kind=write.kind,
        state=write.state,
        request_id=write.request_id,
        sent_at=_from_epoch(write.sent_at),
        settled_at=_from_epoch(write.settled_at),
        result=write.result,
    )


def _from_epoch(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
