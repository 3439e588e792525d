"""The console API (SPEC 5.4): what the agent console's Optimove tab does.

Authenticated by a site-scoped agent token or the console session the tab page issues; either
reaches one site only (another site answers 404, as for a missing one). Every call is recorded
in the site's sync log (events `console_lookup`, `console_edit`, `console_create`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from optibridge.console import changes
from optibridge.console import lookup as lookups
from optibridge.console.session import ConsoleCaller, authenticate_console
from optibridge.domain.records import Channel
from optibridge.errors import PayloadTooLarge, Unauthorized
from optibridge.web.deps import RuntimeDep
from optibridge.web.schemas import MALFORMED, ErrorResponse, error_responses

MAX_BODY_BYTES = 64 * 1024

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing, invalid or expired token or console session",
        404: "Unknown site (or a site this token does not reach)",
        413: "Body over 64 KiB",
        422: "Invalid input: every problem with a JSON pointer",
        429: "`busy`: Optimove's shared budget (50 calls per 10 s) has no slot soon enough",
        502: "Optimove (or Comm100) refused or failed; the message says why",
        504: "Optimove (or Comm100) did not answer in time",
    }
)


console_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ConsoleBearer",
    description="A site-scoped agent token, or the console session the tab page hands its script.",
)


def get_console_caller(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(console_bearer)],
) -> ConsoleCaller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "Send an agent token (or the tab's console session) as 'Authorization: Bearer <token>'."
        )
    return authenticate_console(runtime, credentials.credentials)


ConsoleCallerDep = Annotated[ConsoleCaller, Depends(get_console_caller)]


def limit_body(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES} bytes.")


router = APIRouter(
    prefix="/api/v1/sites/{site_id}/console",
    tags=["console"],
    responses=ERRORS,
    dependencies=[Depends(limit_body)],
)

Scalar = str | int | float | bool | None


# --- the conversation, as the host page posts it ---------------------------------------------


class _Open(BaseModel):
    """Tolerant like the webhook parser: unknown keys are kept and ignored."""

    model_config = ConfigDict(extra="allow")


class NamedValueIn(_Open):
    name: str | None = None
    value: Scalar = None


class VisitorIn(_Open):
    """The Live Chat visitor, with the keys of the Live Chat webhook's `visitor`."""

    id: str | int | None = Field(default=None, description="The visitor's guid.")
    name: Scalar = None
    email: Scalar = None
    phone: Scalar = None
    company: Scalar = None
    product_service: Scalar = None
    department: Scalar = None
    sso_id: Scalar = None
    custom_fields: list[NamedValueIn] = Field(
        default_factory=list, max_length=500, description="Pre-chat form answers by field name."
    )
    custom_variables: list[NamedValueIn] = Field(default_factory=list, max_length=500)


class LiveChatContextIn(_Open):
    chat_id: str | int | None = None
    visitor: VisitorIn | None = None


class RequesterIn(_Open):
    type: str | int | None = Field(default=None, description="`contact` or `visitor`.")
    id: str | int | None = Field(default=None, description="The contact's (or visitor's) guid.")


class TicketContextIn(_Open):
    ticket_id: str | int = Field(examples=[123])
    requester: RequesterIn | None = None


def _raw(context: BaseModel | None) -> dict[str, Any] | None:
    return None if context is None else context.model_dump(exclude_none=True)


class LiveChatLookupIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "livechat",
                    "context": {
                        "chat_id": "9f9f0000-0000-4000-8000-000000000001",
                        "visitor": {
                            "id": "5b0e2f4c-1111-4a4a-9d9d-000000000001",
                            "email": "grace@example.com",
                            "custom_variables": [{"name": "customer_id", "value": "C1002"}],
                        },
                    },
                }
            ]
        },
    )
    channel: Literal["livechat"]
    context: LiveChatContextIn


class TicketLookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["ticketing"]
    context: TicketContextIn


LookupIn = Annotated[LiveChatLookupIn | TicketLookupIn, Field(discriminator="channel")]


class _EditFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=200)
    values: dict[str, str | None] = Field(
        description="Optimove field (RealFieldName) → the new value, as the agent typed it.",
        examples=[{"PHONE": "+1 202 555 0199"}],
    )


class LiveChatEditIn(_EditFields):
    channel: Literal["livechat"]
    context: LiveChatContextIn | None = Field(
        default=None, description="The conversation, recorded with the change in the sync log."
    )


class TicketEditIn(_EditFields):
    channel: Literal["ticketing"]
    context: TicketContextIn | None = None


EditIn = Annotated[LiveChatEditIn | TicketEditIn, Field(discriminator="channel")]


class _CreateFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, str] = Field(
        default_factory=dict,
        description="The identification fields the conversation lacks, by the `key` the lookup"
        " listed in `create.asks` (e.g. `custom_variable:customer_id`).",
    )


class LiveChatCreateIn(_CreateFields):
    channel: Literal["livechat"]
    context: LiveChatContextIn


class TicketCreateIn(_CreateFields):
    channel: Literal["ticketing"]
    context: TicketContextIn


CreateIn = Annotated[LiveChatCreateIn | TicketCreateIn, Field(discriminator="channel")]


# --- what the tab shows -----------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FieldOut(_Out):
    field: str = Field(description="The Optimove field (RealFieldName).")
    label: str = Field(description="Its alias in the account, else its name.")
    value: str | None
    type: str | None = Field(description="Its FieldType (Nvarchar, Date, Bigint, …) if known.")


class AskOut(_Out):
    key: str = Field(description="Send the agent's value under this key in `answers`.")
    source: str
    name: str
    label: str = Field(
        examples=["customer ID"], description="The field in an agent's words, for the form."
    )


class CreateOfferOut(_Out):
    allowed: bool = Field(description="Whether the policy lets agents create this customer.")
    reason: str = Field(description="A plain sentence: how, or why not.")
    customer_id: str | None = Field(description="The id it would have, when already known.")
    asks: list[AskOut] = Field(description="The fields to ask the agent for (one is enough).")
    preview: list[FieldOut] = Field(description="What the creation writes, from the chat.")


class ConsoleViewOut(_Out):
    channel: str
    status: Literal[
        "matched", "no_match", "unidentified", "needs_contact", "disabled", "not_connected"
    ]
    message: str = Field(description="What to tell the agent, in one or two sentences.")
    customer_id: str | None
    customer_url: str | None = Field(description="*Open in Optimove*, when a URL can be made.")
    fields: list[FieldOut] = Field(description="The mapped fields marked show_in_console.")
    stale: bool = Field(description="Optimove could not be read: this is the last known data.")
    fetched_at: datetime | None = Field(description="When the data shown was read.")
    notice: str | None = Field(
        description="Why the data is stale, when it is; or, for fresh data, that the answer"
        " waited for Optimove's budget (a second or more): Optimove is the bottleneck."
    )
    missing: list[AskOut] = Field(description="Unidentified: the fields that have no value.")
    create: CreateOfferOut | None
    record_id: int | None = Field(description="This lookup's record in the sync log.")


class CreationPreviewOut(_Out):
    customer_id: str = Field(description="The id the customer will have in Optimove.")
    message: str = Field(description="The question to ask the agent.")
    fields: list[FieldOut] = Field(description="The values the creation writes.")


class ChangeOut(_Out):
    field: str
    old: str | None
    new: str


class ConsoleChangeOut(_Out):
    record_id: int = Field(description="The change's record in the sync log.")
    status: Literal["sent", "confirmed", "unchanged", "failed"] = Field(
        description="`sent`: waiting for Optimove's callback; `confirmed`: Optimove applied"
        " it; `unchanged`: nothing needed writing; `failed`: see `error`."
    )
    message: str
    customer_id: str | None
    changes: list[ChangeOut]
    error: str | None = None


# --- routes ---------------------------------------------------------------------------------


def _channel(body: BaseModel) -> Channel:
    channel: Channel = body.channel  # type: ignore[attr-defined]
    return channel


@router.post("/lookup", summary="The customer of a conversation (cached read)")
def lookup(
    site_id: int, body: Annotated[LookupIn, Body()], runtime: RuntimeDep, caller: ConsoleCallerDep
) -> ConsoleViewOut:
    """Identify the conversation's customer and show its console fields, or say why not.

    A customer read in the last `OPTIBRIDGE_CUSTOMER_CACHE_TTL_S` seconds comes from the cache
    (the chat-end decision then needs no read either). When Optimove can't be read, the last
    known data comes back with `stale: true`; with none known, the error.
    """
    view = lookups.lookup(
        runtime, site_id, caller, _channel(body), _raw(body.context) or {}, refresh=False
    )
    return ConsoleViewOut.model_validate(view)


@router.post("/refresh", summary="The customer of a conversation, read from Optimove now")
def refresh(
    site_id: int, body: Annotated[LookupIn, Body()], runtime: RuntimeDep, caller: ConsoleCallerDep
) -> ConsoleViewOut:
    """As `lookup`, but always reads Optimove (never the cache)."""
    view = lookups.lookup(
        runtime, site_id, caller, _channel(body), _raw(body.context) or {}, refresh=True
    )
    return ConsoleViewOut.model_validate(view)


@router.post(
    "/edit",
    summary="Write an agent's changes to a customer",
    responses={409: {"model": ErrorResponse, "description": "Another write is under way"}},
)
def edit(
    site_id: int, body: Annotated[EditIn, Body()], runtime: RuntimeDep, caller: ConsoleCallerDep
) -> ConsoleChangeOut:
    """Validate and convert the values (422 naming each problem), then write the ones that
    differ from Optimove's at once. `status: sent` until Optimove's callback confirms it: poll
    `GET …/console/changes/{record_id}`. Only fields shown in the console can be edited, and
    never emptied. 409 while another write to the customer is under way."""
    change = changes.edit(
        runtime,
        site_id,
        caller,
        _channel(body),
        _raw(body.context),
        body.customer_id,
        body.values,
    )
    return ConsoleChangeOut.model_validate(change)


@router.post(
    "/create",
    summary="Create the conversation's customer",
    responses={
        403: {"model": ErrorResponse, "description": "`creation_not_allowed` by the policy"},
        409: {
            "model": ErrorResponse,
            "description": "`needs_contact` (a ticket by a visitor), the customer exists, or"
            " another write is under way",
        },
    },
)
def create(
    site_id: int, body: Annotated[CreateIn, Body()], runtime: RuntimeDep, caller: ConsoleCallerDep
) -> ConsoleChangeOut:
    """Create the customer with UpsertCustomer and the mapped values of the conversation.

    Allowed when the channel's policy (`on_chat_end` / `on_ticket_created`) has `no_match`
    other than `never`. The id comes from the identification rules; when the conversation
    lacks it, `answers` gives it (by a key of the lookup's `create.asks`).
    """
    change = changes.create(
        runtime, site_id, caller, _channel(body), _raw(body.context) or {}, body.answers
    )
    return ConsoleChangeOut.model_validate(change)


@router.post(
    "/create/preview",
    summary="What creating the conversation's customer would do, to confirm first",
    responses={
        403: {"model": ErrorResponse, "description": "`creation_not_allowed` by the policy"},
        409: {"model": ErrorResponse, "description": "`needs_contact` (a ticket by a visitor)"},
    },
)
def create_preview(
    site_id: int, body: Annotated[CreateIn, Body()], runtime: RuntimeDep, caller: ConsoleCallerDep
) -> CreationPreviewOut:
    """The id the customer will have and the values it will get, with the same body as
    `create`, checked the same way: the tab asks the agent to confirm before it creates.
    No customer is read from Optimove or written, and nothing is recorded."""
    preview = changes.creation_preview(
        runtime, site_id, caller, _channel(body), _raw(body.context) or {}, body.answers
    )
    return CreationPreviewOut.model_validate(preview)


@router.get("/changes/{record_id}", summary="Whether Optimove confirmed an edit or creation")
def change_status(
    site_id: int, record_id: int, runtime: RuntimeDep, caller: ConsoleCallerDep
) -> ConsoleChangeOut:
    change = changes.change_status(runtime, site_id, caller, record_id)
    return ConsoleChangeOut.model_validate(change)
