"""The settings preview in the administration API (SPEC 4.7, 5.2): what settings would do to
the channel's recent conversations, computed from Optimove's current data, nothing written."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from optibridge.domain.preview import DEFAULT_PREVIEW_LIMIT, MAX_PREVIEW_LIMIT
from optibridge.domain.records import OUTCOMES, Channel
from optibridge.services import preview as preview_service
from optibridge.web.admin_api import SETTINGS_SCHEMA
from optibridge.web.deps import PrincipalDep, RuntimeDep
from optibridge.web.schemas import MALFORMED, error_responses
from optibridge.web.syncs_api import ChangeOut

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown site",
        409: "Optimove is not connected for this site (`not_connected`)",
        422: "Invalid input: every problem with a JSON pointer (the settings as *Save* checks"
        " them; a connection that differs from the saved one)",
        502: "Optimove or Comm100 refused or failed",
        504: "Optimove or Comm100 did not answer in time",
    }
)

router = APIRouter(prefix="/api/v1/sites", tags=["settings"], responses=ERRORS)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"anyOf": [SETTINGS_SCHEMA, {"type": "null"}]}),
    ] = Field(
        default=None,
        description="The settings document to try (SPEC 3), as `PUT …/settings` takes it;"
        " omitted or null: the saved settings. Keys omitted or masked are the stored ones; the"
        " Optimove and Comm100 connections must be the saved ones.",
    )
    channel: Channel
    limit: int = Field(
        default=DEFAULT_PREVIEW_LIMIT,
        ge=1,
        le=MAX_PREVIEW_LIMIT,
        description="How many of the channel's most recent conversations to preview.",
    )


class LeftOutOut(BaseModel):
    field: str
    reason: str


class PreviewedConversationOut(BaseModel):
    record_id: int = Field(description="The sync record the conversation was recorded as.")
    event: str = Field(examples=["chat_ended"])
    received_at: datetime
    comm100_ids: dict[str, Any] = Field(description="The Comm100 ids of the chat, ticket, …")
    recorded_outcome: str | None = Field(
        description="The outcome it had when it arrived, under the settings of the time."
    )
    customer_id: str | None = Field(description="The customer these settings identify.")
    outcome: str | None = Field(
        description="What these settings would do: "
        + ", ".join(o for o in OUTCOMES if o not in ("failed", "pending"))
        + "; null when it could not be decided (see `error`)."
    )
    reason: str | None = Field(description="Why, in words.")
    changes: list[ChangeOut] = Field(description="What would be written, old → new.")
    left_out: list[LeftOutOut] = Field(description="Mapped values that would not be written.")
    error: str | None = Field(
        description="Why it could not be decided (e.g. Optimove refused to read the customer)."
    )


class PreviewOut(BaseModel):
    channel: Channel
    found: int = Field(description="Recent conversations of the channel found (≤ limit).")
    limited_by_budget: bool = Field(
        description="True when fewer than `found` are shown: Optimove's (or Comm100's) budget"
        " had no slot soon for a preview, which only uses what agents and live events leave."
    )
    budget_note: str | None = Field(description="What the budget left out, in words.")
    optimove_reads: int = Field(
        description="Optimove calls the preview made (a customer fresh in the read cache costs"
        " none)."
    )
    conversations: list[PreviewedConversationOut] = Field(description="Newest first.")


@router.post("/{site_id}/preview")
def preview_settings(
    site_id: int, body: PreviewRequest, runtime: RuntimeDep, principal: PrincipalDep
) -> PreviewOut:
    """What these settings (or the saved ones) would do to the channel's most recent
    conversations: per conversation its ids, the outcome, and the changes old → new.

    Each conversation is decided as if it arrived now, by the same rules as a live event, from
    the customer as Optimove has it now. Nothing is written: no Optimove write, no sync record.
    The reads use the budget's lowest priority and stop when no slot comes soon
    (`limited_by_budget`).
    """
    principal.require_admin_of(site_id)
    result = preview_service.preview(runtime, site_id, body.settings, body.channel, body.limit)
    return preview_out(result)


def preview_out(result: preview_service.Preview) -> PreviewOut:
    return PreviewOut(
        channel=result.channel,
        found=result.found,
        limited_by_budget=result.limited_by_budget,
        budget_note=result.budget_note,
        optimove_reads=result.optimove_reads,
        conversations=[_conversation(item) for item in result.previewed],
    )


def _conversation(item: preview_service.PreviewedConversation) -> PreviewedConversationOut:
    past, plan = item.conversation, item.plan
    return PreviewedConversationOut(
        record_id=past.record_id,
        event=past.event,
        received_at=past.received_at,
        comm100_ids=past.comm100_ids,
        recorded_outcome=past.recorded_outcome,
        customer_id=plan.customer_id if plan else None,
        outcome=plan.outcome if plan else None,
        reason=plan.reason if plan else None,
        changes=[ChangeOut(field=c.field, old=c.old, new=c.new) for c in plan.changes]
        if plan
        else [],
        left_out=[LeftOutOut(field=f, reason=why) for f, why in plan.rejected] if plan else [],
        error=item.error,
    )
