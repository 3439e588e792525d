"""The site page's *Webhooks in Comm100* card: `POST /ui/sites/{site_id}/comm100/webhooks`
(*Register in Comm100*) registers or repairs the site's Live Chat webhooks through Comm100's API.
What the card shows is drawn with the rest of the page (`site_settings.webhooks_card`)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.errors import AppError
from optibridge.services import comm100_webhooks as webhooks_service
from optibridge.services.comm100_webhooks import WebhookReport
from optibridge.web.deps import RuntimeDep, public_url
from optibridge.web.ui.auth import check_csrf, set_flash
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.render import redirect
from optibridge.web.ui.site_cards import Result, sentence
from optibridge.web.ui.site_settings import SitePage, site_page_response

router = page_router()


@router.post("/sites/{site_id}/comm100/webhooks", response_class=HTMLResponse)
def register_comm100_webhooks(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Register in Comm100*: the Live Chat webhooks registered or repaired through Comm100's
    API; other integrations' webhooks replaced only when the box is ticked. A refusal is shown
    in the card, with Comm100's status (403 without Manage Integration)."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    try:
        report = webhooks_service.register_webhooks(
            runtime,
            site_id,
            public_url(runtime, request),
            replace_elsewhere=form.get("replace_elsewhere") == "on",
        )
    except AppError as error:
        if error.status == 404:
            raise
        failed = Result(False, sentence(error.message))
        page = SitePage(webhooks_result=failed, status=error.status)
        return site_page_response(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}#comm100-webhooks")
    set_flash(request, response, "success", _registered(report))
    return response


def _registered(report: WebhookReport) -> str:
    if not report.changed:
        return "The Live Chat webhooks were registered in Comm100 already: nothing to change."
    return "Registered in Comm100. " + " ".join(report.changed)
