"""The sync log API (SPEC 5.2): a site's records, one record with its Optimove calls, retry,
restore, and the outcome counts the control panel shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from optibridge.domain.records import OUTCOMES, RECORD_STATES, Channel, Outcome, RecordState
from optibridge.services import syncs as sync_service
from optibridge.web.deps import PrincipalDep, RuntimeDep
from optibridge.web.schemas import MALFORMED, ErrorResponse, error_responses

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown site (or record)",
        422: "Invalid parameter: the details name it",
    }
)

router = APIRouter(prefix="/api/v1/sites", tags=["syncs"], responses=ERRORS)


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    field: str = Field(description="The Optimove field (RealFieldName).")
    old: str | None = Field(description="The value in Optimove before (null: empty).")
    new: str | None = Field(description="The value written.")


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    agent_id: str = Field(description="The Comm100 agent's id.")
    email: str | None = Field(description="The agent's e-mail, when known.")
    verified: bool = Field(
        description="True when Comm100 signed the agent in (OAuth); false when only the tab's"
        " address named them (anyone can type it)."
    )


class SyncItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel: str = Field(description="livechat or ticketing.")
    event: str = Field(
        examples=["chat_ended"],
        description="Comm100's event, or what an agent did in the Optimove tab: console_lookup"
        " (viewed a customer), console_edit, console_create.",
    )
    event_name: str = Field(
        examples=["Chat ended"], description="The event in words, as the control panel shows it."
    )
    received_at: datetime
    updated_at: datetime
    state: str = Field(
        description="Where the record is in the pipeline: " + ", ".join(RECORD_STATES) + "."
    )
    outcome: str | None = Field(
        description="What it meant for the customer (SPEC 4.3): "
        + ", ".join(OUTCOMES)
        + "; null until decided."
    )
    reason: str | None = Field(description="Why this outcome, in words.")
    customer_id: str | None = Field(description="The Optimove customer id, once identified.")
    comm100_ids: dict[str, Any] = Field(description="The Comm100 ids of the chat, ticket, …")
    changes: list[ChangeOut] = Field(description="The fields written (or to write), old → new.")
    attempts: int
    error: str | None = Field(description="The last error; kept after a retry until replaced.")
    agent: AgentOut | None = Field(
        description="Who did it, for an agent's lookup or change in the Optimove tab, or the"
        " Comm100 administrator who restored a change; null for Comm100's events."
    )
    restores: int | None = Field(
        default=None,
        description="For a restore (event `restore`): the record whose change it undid. Who"
        " asked is in `comm100_ids.restored_by` (and `agent`).",
    )
    retryable: bool = Field(
        description="Whether POST …/retry can queue it again: a failed Comm100 event. An agent's"
        " view or change never is (a view changed nothing; a change is the agent's to make"
        " again)."
    )


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    endpoint: str = Field(examples=["POST Customers/UpdateCustomerAttributes"])
    status: int | None = Field(description="HTTP status; null when nothing answered.")
    request_id: str | None
    at: datetime
    duration_ms: float | None
    detail: str | None
    confirmed: bool | None = Field(
        description="For a write: confirmed by Optimove's callback (true), reported failed "
        "(false), or not settled yet (null). Null for reads."
    )
    lane: str | None = Field(
        default=None,
        description="The lane of Optimove's budget the call waited in: `agent` (the tab, "
        "connection tests), `live` (events), `background` (read-backs, backfills, previews); "
        "null for calls logged before lanes were recorded.",
    )


class WriteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str = Field(description="update or upsert.")
    state: str = Field(description="sending, sent, confirmed or failed.")
    request_id: str | None
    sent_at: datetime | None
    settled_at: datetime | None
    result: dict[str, Any] | None = Field(description="What Optimove's callback reported.")


class SyncDetailOut(SyncItemOut):
    calls: list[CallOut] = Field(description="Every Optimove call made for this record.")
    write: WriteOut | None = Field(description="The write that carried this record's changes.")


class SyncPageOut(BaseModel):
    items: list[SyncItemOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class SyncSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    hours: int
    since: datetime
    until: datetime
    total: int = Field(description="Records received in the period.")
    outcomes: dict[str, int] = Field(description="Records per outcome, every outcome listed.")
    in_progress: int = Field(description="Records received in the period not decided yet.")
    agent_views: int = Field(
        description="Customers agents looked up in the Optimove tab in the period: agent"
        " activity, not counted in `total` or `outcomes`."
    )


@router.get("/{site_id}/syncs")
def list_syncs(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    outcome: Outcome | None = None,
    channel: Channel | None = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    event: Annotated[str | None, Query(max_length=64, examples=["chat_ended"])] = None,
    state: RecordState | None = None,
    since: Annotated[
        datetime | None, Query(description="Received at or after (ISO 8601; naive means UTC).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Received before.")] = None,
    include_views: Annotated[
        bool,
        Query(
            description="Also list what agents only looked at in the Optimove tab"
            " (`console_lookup` records): agent activity, not syncs, so left out by default."
            " `event=console_lookup` lists them too."
        ),
    ] = False,
    limit: Annotated[int, Query(ge=1, le=sync_service.MAX_PAGE_SIZE)] = (
        sync_service.DEFAULT_PAGE_SIZE
    ),
    cursor: Annotated[
        str | None,
        Query(
            max_length=200, description="`next_cursor` of the previous page, with the same filters."
        ),
    ] = None,
) -> SyncPageOut:
    """The site's sync records, newest first, one page at a time: what happened to Optimove.
    What agents only looked at in the Optimove tab is listed only with `include_views=true`.

    A cursor belongs to the filters it was issued with; a cursor that was altered, or is used
    with other filters, is refused with 400.
    """
    principal.require_admin_of(site_id)
    filters = sync_service.SyncFilter(
        outcome=outcome,
        channel=channel,
        customer_id=customer_id,
        event=event,
        state=state,
        since=since,
        until=until,
        include_views=include_views,
    )
    with runtime.unit_of_work(read_only=True) as session:
        page = sync_service.list_syncs(session, site_id, filters, limit=limit, cursor=cursor)
    return SyncPageOut(
        items=[SyncItemOut.model_validate(item, from_attributes=True) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{site_id}/syncs/summary")
def summarize_syncs(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    hours: Annotated[int, Query(ge=1, le=sync_service.MAX_SUMMARY_HOURS)] = 24,
) -> SyncSummaryOut:
    """How many records received in the last `hours` ended with each outcome; agents' views
    are counted apart (`agent_views`)."""
    principal.require_admin_of(site_id)
    with runtime.unit_of_work(read_only=True) as session:
        summary = sync_service.summarize(session, site_id, hours=hours)
    return SyncSummaryOut.model_validate(summary, from_attributes=True)


@router.get("/{site_id}/syncs/{record_id}")
def get_sync(
    site_id: int, record_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> SyncDetailOut:
    """One record with the Optimove calls made for it and their confirmation."""
    principal.require_admin_of(site_id)
    with runtime.unit_of_work(read_only=True) as session:
        detail = sync_service.get_sync(session, site_id, record_id)
    return SyncDetailOut.model_validate(detail, from_attributes=True)


@router.post(
    "/{site_id}/syncs/{record_id}/retry",
    responses={
        409: {
            "model": ErrorResponse,
            "description": "Not failed, an agent's view or change (not retryable), or a later"
            " event already wrote to the customer",
        }
    },
)
def retry_sync(
    site_id: int,
    record_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    force: Annotated[
        bool,
        Query(description="Retry even though a later event already wrote to the customer."),
    ] = False,
) -> SyncItemOut:
    """Queue a failed record again: due now, attempts reset, outcome re-decided.

    Its last error is kept until the next attempt replaces it. 409 when the record is not
    failed, is an agent's view or change in the Optimove tab (`retryable` false), or when a
    later event already wrote to the same customer (unless `force`).
    """
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        item = sync_service.retry_sync(session, site_id, record_id, force=force)
    return SyncItemOut.model_validate(item, from_attributes=True)


@router.post(
    "/{site_id}/syncs/{record_id}/restore",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(
        {
            409: "Not restored, with the reason: a field changed since the record wrote it"
            " (`restore_changed_since`, each field in `details`), a creation"
            " (`restore_of_creation`: Optimove customers can't be deleted), a record that"
            " wrote nothing (`nothing_to_restore`) or is still under way"
            " (`restore_not_settled`), the customer gone (`restore_customer_gone`), another"
            " change to the customer under way (`conflict`), Optimove not connected"
            " (`not_connected`)",
            429: "Optimove's budget has no slot soon (`busy`); try again in a few seconds",
            502: "Optimove refused or failed",
            504: "Optimove did not answer in time",
        }
    ),
)
def restore_sync(
    site_id: int, record_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> SyncDetailOut:
    """Undo a change: write back the old values of the fields the record changed (an event's,
    an agent's, or a restore's own), as a new record, event `restore`, that names the record
    (`restores`) and who asked (`comm100_ids.restored_by`).

    The customer is read from Optimove first; when any field no longer holds the value the
    record wrote, nothing is written and the answer is 409 naming the field and what it holds
    now. The answer (202) is the new record, its write awaiting Optimove's confirmation; the
    sync log shows it confirmed (outcome `updated`) once Optimove's callback comes.
    """
    principal.require_admin_of(site_id)
    restorer = sync_service.restorer(principal, "api")
    detail = sync_service.restore_sync(runtime, site_id, record_id, restorer)
    return SyncDetailOut.model_validate(detail, from_attributes=True)
