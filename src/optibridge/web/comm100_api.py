"""The Comm100 connection in the administration API: test it, list the fields it offers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from optibridge.services import comm100_connection as comm100_service
from optibridge.web.deps import PrincipalDep, RuntimeDep
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
    """Check the Comm100 connection now with one real call (the contact fields)."""
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
