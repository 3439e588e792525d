"""The administration API (SPEC 5.2): sites, settings, the Optimove connection, tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status

from optibridge.domain.settings import SiteSettings
from optibridge.services import settings as settings_service
from optibridge.services import sites as site_service
from optibridge.services import tokens as token_service
from optibridge.web.deps import PrincipalDep, RuntimeDep, public_url
from optibridge.web.schemas import (
    MALFORMED,
    AttributeList,
    AttributeOut,
    ConnectionTest,
    ConnectionTestResult,
    ErrorResponse,
    IssuedTokenOut,
    SiteCreate,
    SiteOut,
    TokenCreate,
    TokenOut,
    WebhookUrlsOut,
    error_responses,
)

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown site",
        422: "Invalid input: every problem with a JSON pointer",
    }
)
UPSTREAM_ERRORS = error_responses(
    {502: "Optimove refused or failed", 504: "Optimove did not answer in time"}
)
# A connection test is answered within about ten seconds: without a slot of Optimove's budget
# within a second, it is refused at once.
TEST_ERRORS = error_responses(
    {
        429: "Optimove's budget is in use: try again in the seconds the message says",
        502: "Optimove refused or failed",
        504: "Optimove did not answer in time",
    }
)

router = APIRouter(prefix="/api/v1/sites", responses=ERRORS)
# The settings body is validated by the settings service (every problem at once, with JSON
# pointers), so FastAPI can't derive its schema: it is written into the OpenAPI document by hand,
# its nested models as components like every other model's (`app.py` adds them).
SETTINGS_SCHEMA = SiteSettings.model_json_schema(
    mode="validation", ref_template="#/components/schemas/{model}"
)
SETTINGS_COMPONENTS: dict[str, Any] = SETTINGS_SCHEMA.pop("$defs", {})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    tags=["sites"],
    responses={409: {"model": ErrorResponse, "description": "The site exists"}},
)
def create_site(body: SiteCreate, runtime: RuntimeDep, principal: PrincipalDep) -> SiteOut:
    """Register a Comm100 site. Needs a deployment-wide admin token."""
    principal.require_deployment_admin()
    with runtime.unit_of_work() as session:
        site = site_service.create_site(session, runtime.box, body.site_id, body.name)
        return SiteOut.model_validate(site, from_attributes=True)


@router.get("", tags=["sites"])
def list_sites(runtime: RuntimeDep, principal: PrincipalDep) -> list[SiteOut]:
    """Every site this token may administer."""
    principal.require_admin()
    with runtime.unit_of_work() as session:
        sites = site_service.list_sites(session, only=principal.site_id)
        return [SiteOut.model_validate(site, from_attributes=True) for site in sites]


@router.get("/{site_id}", tags=["sites"])
def get_site(site_id: int, runtime: RuntimeDep, principal: PrincipalDep) -> SiteOut:
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        return SiteOut.model_validate(site_service.get_site(session, site_id), from_attributes=True)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["sites"])
def delete_site(site_id: int, runtime: RuntimeDep, principal: PrincipalDep) -> Response:
    """Remove a site with its settings and tokens, and first the Live Chat webhooks registered
    for it in Comm100. That is best effort: when Comm100 can't be reached or refuses, the site
    is deleted all the same and a log line (`comm100_webhooks_left`) says what was left."""
    principal.require_deployment_admin()
    site_service.delete_site(runtime, site_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{site_id}/settings", tags=["settings"])
def read_settings(site_id: int, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """The settings document (SPEC 3). API keys are masked, e.g. `****7f3a`."""
    principal.require_admin_of(site_id)
    return settings_service.read_document(runtime, site_id)


@router.put(
    "/{site_id}/settings",
    tags=["settings"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SETTINGS_SCHEMA}},
        }
    },
)
def write_settings(
    site_id: int,
    document: Annotated[dict[str, Any], Body()],
    runtime: RuntimeDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Validate and save the whole document; 422 lists every problem with a JSON pointer.

    An `api_key` that is omitted, null, or the masked value read back keeps the stored key;
    an empty string removes it.
    """
    principal.require_admin_of(site_id)
    return settings_service.save_document(runtime, site_id, document)


@router.post("/{site_id}/optimove/test", tags=["optimove"], responses=TEST_ERRORS)
def check_optimove_connection(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[ConnectionTest | None, Body()] = None,
) -> ConnectionTestResult:
    """Check the Optimove connection now with one real call (the attribute list), answered
    within about ten seconds (`OPTIBRIDGE_INTERACTIVE_TIMEOUT_S`, `_MAX_ATTEMPTS`)."""
    principal.require_admin_of(site_id)
    override = body.model_dump(exclude_none=True) if body else None
    count = settings_service.check_connection(runtime, site_id, override)
    return ConnectionTestResult(ok=True, attributes=count)


@router.get("/{site_id}/optimove/attributes", tags=["optimove"], responses=UPSTREAM_ERRORS)
def list_attributes(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    refresh: Annotated[bool, Query(description="Read from Optimove, not the cache.")] = False,
) -> AttributeList:
    """The account's customer attributes, cached for a few minutes (each read costs a call)."""
    principal.require_admin_of(site_id)
    stored = settings_service.load_settings(runtime, site_id)
    connection = settings_service.optimove_connection(stored)
    attributes, cached = settings_service.fetch_attributes(
        runtime, site_id, connection, saved=True, refresh=refresh
    )
    return AttributeList(
        items=[AttributeOut.model_validate(a, from_attributes=True) for a in attributes],
        cached=cached,
    )


@router.get("/{site_id}/webhooks", tags=["sites"])
def webhook_urls(
    site_id: int, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> WebhookUrlsOut:
    """The URLs to paste into Comm100. They carry the site's secret token: keep them private."""
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        site = site_service.get_site(session, site_id)
        urls = site_service.webhook_urls(runtime.box, site, public_url(runtime, request))
    return WebhookUrlsOut(
        livechat=urls.livechat, ticketing=urls.ticketing, optimove_callback=urls.optimove_callback
    )


@router.post("/{site_id}/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"])
def create_token(
    site_id: int, body: TokenCreate, runtime: RuntimeDep, principal: PrincipalDep
) -> IssuedTokenOut:
    """A token limited to this site: `agent` for the console tab, `admin` for this API."""
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        site_service.get_site(session, site_id)
        issued = token_service.issue_token(session, body.role, site_id, body.label)
        out = TokenOut.model_validate(issued.record, from_attributes=True)
    return IssuedTokenOut(**out.model_dump(), token=issued.token)


@router.get("/{site_id}/tokens", tags=["tokens"])
def list_tokens(site_id: int, runtime: RuntimeDep, principal: PrincipalDep) -> list[TokenOut]:
    """The site's tokens (never their values)."""
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        site_service.get_site(session, site_id)
        records = token_service.site_tokens(session, site_id)
        return [TokenOut.model_validate(record, from_attributes=True) for record in records]


@router.delete("/{site_id}/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(
    site_id: int, token_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> Response:
    principal.require_admin_of(site_id)
    with runtime.unit_of_work() as session:
        token_service.revoke_site_token(session, site_id, token_id)
    return Response(status_code=204)
