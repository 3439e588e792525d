"""The site page's *Optimove tab in Comm100* card: Comm100 sign-in and the app manifest.

- `POST /ui/sites/{site_id}/comm100-sign-in`: save (or switch off) Comm100 sign-in: the
  platform URL, the OAuth client id and its secret (write-only; empty keeps the stored one).
- `GET /ui/sites/{site_id}/comm100-app/manifest.json`: the manifest to upload to Comm100.
- `POST /ui/sites/{site_id}/comm100-app/manifest-with-token`: for a site without sign-in, the
  manifest with a new site agent token in its URLs (the weaker option, said so on the page).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.errors import Invalid
from optibridge.services import settings as settings_service
from optibridge.services.comm100_app import app_manifest
from optibridge.services.tokens import Role, issue_token
from optibridge.web.deps import RuntimeDep, public_url
from optibridge.web.ui.auth import check_csrf, set_flash
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.drafts import keeps_typed
from optibridge.web.ui.render import redirect
from optibridge.web.ui.settings_form import ErrorIndex
from optibridge.web.ui.site_cards import Result
from optibridge.web.ui.site_settings import SitePage, site_page_response

router = page_router()

SIGN_IN_KEYS = ("platform_url", "oauth_client_id")
MANIFEST_LABEL = "Comm100 app manifest"


@router.post("/sites/{site_id}/comm100-sign-in", response_class=HTMLResponse)
@keeps_typed("sign_in", SIGN_IN_KEYS, anchor="comm100-app")
def save_sign_in(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Save sign-in*, or *Switch off sign-in* (`action=off`): all three settings or none."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    switching_off = form.get("action") == "off"
    values: dict[str, str | None] = {key: form.get(key, "").strip() for key in SIGN_IN_KEYS}
    secret = form.get("oauth_client_secret", "").strip()
    if switching_off:
        values = {**dict.fromkeys(SIGN_IN_KEYS), "oauth_client_secret": ""}  # "" removes it
    elif secret:
        values["oauth_client_secret"] = secret
    try:
        document = settings_service.read_document(runtime, site_id)
        document["comm100"] = {**document.get("comm100", {}), **values}
        settings_service.save_document(runtime, site_id, document)
    except Invalid as invalid:
        typed = {key: str(values.get(key) or "") for key in SIGN_IN_KEYS}
        page = SitePage(
            errors=ErrorIndex(invalid.details),
            typed={"sign_in": typed},
            results={"sign_in": Result(False, "Comm100 sign-in was not saved: see the problems.")},
            status=422,
        )
        return site_page_response(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}#comm100-app")
    set_flash(
        request,
        response,
        "success",
        "Comm100 sign-in is switched off: the tab needs an agent token in its address again."
        if switching_off
        else "Comm100 sign-in is saved: agents in the Optimove tab sign in with Comm100. Upload"
        " the app manifest again if its addresses carried a token.",
    )
    return response


@router.get("/sites/{site_id}/comm100-app/manifest.json")
def download_manifest(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep
) -> Response:
    session.principal.require_admin_of(site_id)
    stored = settings_service.load_settings(runtime, site_id)
    manifest = app_manifest(
        public_url(runtime, request), site_id, sign_in_ready=stored.sign_in_ready
    )
    return _download(manifest)


@router.post("/sites/{site_id}/comm100-app/manifest-with-token")
def download_manifest_with_token(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """A new agent token of this site, in the manifest's URLs (it is shown nowhere else)."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    stored = settings_service.load_settings(runtime, site_id)
    if stored.sign_in_ready:  # no token is needed: never hand one out for nothing
        return download_manifest(site_id, request, runtime, session)
    with runtime.unit_of_work() as db:
        issued = issue_token(db, Role.AGENT, site_id, MANIFEST_LABEL)
    manifest = app_manifest(
        public_url(runtime, request), site_id, sign_in_ready=False, agent_token=issued.token
    )
    return _download(manifest)


def _download(manifest: dict[str, Any]) -> Response:
    return Response(
        json.dumps(manifest, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="manifest.json"',
            "Cache-Control": "no-store",
        },
    )
