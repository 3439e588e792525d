"""*Preview*, beside *Save* on the site page (SPEC 4.7): `POST /ui/sites/{site_id}/preview`
takes the settings form as it is on screen (nothing is saved) and shows, in a table under the
form, what those settings would do to the chosen channel's recent conversations: per
conversation its outcome and the changes old → new, from Optimove's current data, nothing
written. Settings *Save* would refuse are shown with every problem, as *Save* shows them."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.domain.preview import DEFAULT_PREVIEW_LIMIT
from optibridge.domain.records import Channel
from optibridge.errors import AppError, Invalid, NotFound
from optibridge.services import preview as preview_service
from optibridge.services import settings as settings_service
from optibridge.web.deps import RuntimeDep
from optibridge.web.ui.auth import check_csrf
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.drafts import keeps_typed
from optibridge.web.ui.settings_form import (
    CHANNELS,
    ErrorIndex,
    document_with_form,
    form_from_post,
    is_settings_field,
    known_pointers,
)
from optibridge.web.ui.site_cards import sentence
from optibridge.web.ui.site_settings import PreviewCard, SitePage, site_page_response

router = page_router()


@router.post("/sites/{site_id}/preview", response_class=HTMLResponse)
@keeps_typed("settings", is_settings_field, anchor="settings")  # the form on screen, unsaved
def preview_settings(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Preview*: the settings form as posted (not saved), decided over the chosen channel's
    recent conversations; the page comes back with the form as it was and a table of results."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    posted = form_from_post(form)
    chosen = form.get("preview_channel", "")
    if chosen not in CHANNELS:
        card = PreviewCard("livechat", problem="Choose the channel whose conversations to preview.")
        page = SitePage(form=posted.with_spares(), preview=card, status=422)
        return site_page_response(request, runtime, session, site_id, page)
    channel: Channel = "livechat" if chosen == "livechat" else "ticketing"
    document = document_with_form(settings_service.read_document(runtime, site_id), posted)
    try:
        result = preview_service.preview(runtime, site_id, document, channel, DEFAULT_PREVIEW_LIMIT)
    except Invalid as invalid:
        shown = posted.compacted()
        page = SitePage(
            form=shown.with_spares(),
            errors=ErrorIndex(invalid.details, known_pointers(shown)),
            summary_title="The settings can't be previewed",
            preview=PreviewCard(channel, problem=_NOT_PREVIEWED),
            status=422,
        )
    except NotFound:
        raise
    except AppError as error:
        card = PreviewCard(channel, problem=sentence(error.message))
        page = SitePage(form=posted.with_spares(), preview=card, status=error.status)
    else:
        page = SitePage(form=posted.with_spares(), preview=PreviewCard(channel, result))
    return site_page_response(request, runtime, session, site_id, page)


_NOT_PREVIEWED = "Nothing was previewed: correct the problems listed above, then preview again."
