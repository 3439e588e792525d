"""`GET /api/v1/sites/{site_id}/comm100/app-manifest`: the manifest to upload to Comm100."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from optibridge.services.comm100_app import app_manifest
from optibridge.sync.sites import load_settings
from optibridge.web.deps import PrincipalDep, RuntimeDep, public_url
from optibridge.web.schemas import error_responses

router = APIRouter(
    prefix="/api/v1/sites",
    tags=["comm100"],
    responses=error_responses(
        {401: "Missing or invalid token", 403: "The token may not do this", 404: "Unknown site"}
    ),
)


@router.get(
    "/{site_id}/comm100/app-manifest",
    summary="The site's Comm100 app manifest (2.0), ready to upload",
    responses={
        200: {
            "description": "manifest.json: the Optimove tab for chats and tickets, with this"
            " deployment's URLs. Without Comm100 sign-in, the URLs carry the placeholder"
            " REPLACE_WITH_AGENT_TOKEN for a site agent token."
        }
    },
)
def comm100_app_manifest(
    site_id: int, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_admin_of(site_id)
    ready = load_settings(runtime, site_id).sign_in_ready  # 404 for an unknown site
    return app_manifest(public_url(runtime, request), site_id, sign_in_ready=ready)
