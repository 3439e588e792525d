"""The Comm100 connection in the administration API: test it, list the fields it offers, and
the Live Chat webhooks the service registers in Comm100 (their state; register or repair)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from optibridge.services import comm100_connection as comm100_service
from optibridge.services import comm100_webhooks as webhooks_service
from optibridge.web.deps import PrincipalDep, RuntimeDep, public_url
from optibridge.web.schemas import MALFORMED, ErrorResponse, error_responses

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown site",
        422: "Invalid input: every problem with a JSON pointer",
    }
)

WEBHOOK_ERRORS = error_responses(
    {
        403: "The token may not do this; or, with the code `comm100_missing_permission`, "
        "Comm100 refused: the agent whose API key the site uses lacks the Manage Integration "
        "permission",
        422: "Comm100 is not connected (`invalid`, each missing setting with its JSON pointer); "
        "for a `POST`, also: Comm100 could not reach this service's address, or the body is "
        "not valid",
        502: "Comm100 refused the credentials or failed (`comm100_bad_credentials`, "
        "`comm100_unavailable`, …)",
        504: "Comm100 did not answer in time",
    }
)

router = APIRouter(prefix="/api/v1/sites", tags=["comm100"], responses=ERRORS)


class Comm100ConnectionTest(BaseModel):
    """Optional: test these values instead of the saved ones (e.g. before saving). An omitted,
    empty or masked `api_key` means the stored key."""

    model_config = ConfigDict(extra="forbid")
    api_base_url: str | None = Field(default=None, examples=["https://api11.comm100.io/v4"])
    agent_email: str | None = None
    api_key: str | None = None


class Comm100ConnectionResult(BaseModel):
    ok: bool
    contact_fields: int = Field(description="How many contact fields the site has.")


class FieldChoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    source: str = Field(description="The FieldRef source (SPEC 2).")
    name: str = Field(description="The FieldRef name.")
    label: str = Field(description="How Comm100 labels it.")


class FieldGroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    label: str = Field(examples=["Pre-chat window fields"])
    choices: list[FieldChoiceOut]


class FieldChoicesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    livechat: list[FieldGroupOut]
    ticketing: list[FieldGroupOut]
    read_from_comm100: bool = Field(
        description="False when only the fixed lists could be offered (see `problem`)."
    )
    problem: str | None = Field(description="Why the lists are incomplete, in words.")


@router.post(
    "/{site_id}/comm100/test",
    responses={
        429: {"model": ErrorResponse, "description": "Comm100's budget is in use: try later"},
        502: {"model": ErrorResponse, "description": "Comm100 refused or failed"},
        504: {"model": ErrorResponse, "description": "Comm100 did not answer in time"},
    },
)
def check_comm100_connection(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[Comm100ConnectionTest | None, Body()] = None,
) -> Comm100ConnectionResult:
    """Check the Comm100 connection now with one real call (the contact fields), answered
    within about ten seconds (`OPTIBRIDGE_INTERACTIVE_TIMEOUT_S`, `_MAX_ATTEMPTS`)."""
    principal.require_admin_of(site_id)
    override = body.model_dump(exclude_none=True) if body else None
    count = comm100_service.check_connection(runtime, site_id, override)
    return Comm100ConnectionResult(ok=True, contact_fields=count)


@router.get("/{site_id}/comm100/fields")
def list_comm100_fields(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    refresh: Annotated[bool, Query(description="Read from Comm100, not the cache.")] = False,
) -> FieldChoicesOut:
    """The Comm100 fields each channel can map or identify by, grouped as in Comm100.

    Read with the saved connection and reused for a few minutes. When Comm100 can't be read,
    the fixed lists (system fields, contact identities) are returned with the reason.
    """
    principal.require_admin_of(site_id)
    choices = comm100_service.field_choices(runtime, site_id, refresh=refresh)
    return FieldChoicesOut.model_validate(choices, from_attributes=True)


class WebhookStateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    event: str = Field(
        description="The Live Chat event, as Comm100's API names it.", examples=["chatEnds"]
    )
    name: str = Field(description="Its name in Comm100.", examples=["Chat Ended"])
    state: Literal["registered", "missing", "elsewhere"] = Field(
        description="`registered`: a webhook for the event points at this service's Live Chat "
        "URL for the site; `missing`: the event has no webhook; `elsewhere`: its webhooks "
        "point at other addresses (another integration's, or an older address of this "
        "service)."
    )
    message: str = Field(description="What the state means and what to do, in words.")
    elsewhere: list[str] = Field(
        description="Where the event's other webhooks point, by origin only (their full "
        "addresses may carry someone else's secret)."
    )
    repairable: bool = Field(
        description="Whether a `POST` would change something for this event (not counting "
        "webhooks of others replaced on request)."
    )


class TicketTriggerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    state: Literal["manual"] = Field(
        description="Always `manual`: Comm100 does not publish the API fields of a trigger's "
        "webhook action, so the trigger is set up by hand."
    )
    event: str = Field(examples=["whenTicketIsCreated"])
    message: str = Field(description="Why it is set up by hand, and the steps, in one text.")
    steps: list[str] = Field(description="The steps to take in Comm100's control panel, in order.")


class Comm100WebhooksOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    livechat: list[WebhookStateOut] = Field(
        description="Per needed event (`chatEnds`, `offlineMessageIsSubmitted`), its state."
    )
    ticket_trigger: TicketTriggerOut
    changed: list[str] = Field(
        description="What this call did in Comm100, in words (a `POST`; empty when nothing "
        "was needed)."
    )
    warning: str | None = Field(
        description="Why Comm100 can't reach this service's address, when it can't."
    )


class Comm100WebhooksRegister(BaseModel):
    """Optional: `replace_elsewhere` also points (or removes) the needed events' webhooks that
    go to other addresses. They may be another integration's: by default they are left."""

    model_config = ConfigDict(extra="forbid")
    replace_elsewhere: StrictBool = False


@router.get("/{site_id}/comm100/webhooks", responses=WEBHOOK_ERRORS)
def comm100_webhooks(
    site_id: int, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> Comm100WebhooksOut:
    """What Comm100 has registered for this site, per needed Live Chat event (one call to
    `livechat/webhooks`), and the ticket trigger, which is set up by hand. 422 when Comm100 is
    not connected. No URL of this service is shown: they carry the site's secret token."""
    principal.require_admin_of(site_id)
    report = webhooks_service.webhook_report(runtime, site_id, public_url(runtime, request))
    return Comm100WebhooksOut.model_validate(report, from_attributes=True)


@router.post("/{site_id}/comm100/webhooks", responses=WEBHOOK_ERRORS)
def register_comm100_webhooks(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[Comm100WebhooksRegister | None, Body()] = None,
) -> Comm100WebhooksOut:
    """Register or repair the Live Chat webhooks through Comm100's API, idempotently: what is
    registered is left alone, what is missing is created, this service's webhooks at an older
    address are pointed here. Webhooks to other addresses stay unless `replace_elsewhere`.
    422 when Comm100 is not connected, or could not reach this service's address."""
    principal.require_admin_of(site_id)
    report = webhooks_service.register_webhooks(
        runtime,
        site_id,
        public_url(runtime, request),
        replace_elsewhere=body.replace_elsewhere if body else False,
    )
    return Comm100WebhooksOut.model_validate(report, from_attributes=True)
