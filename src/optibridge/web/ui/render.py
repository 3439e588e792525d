"""Rendering the control panel's pages: templates, security headers, friendly error pages.

The API answers errors in JSON (`web/errors.py`); a person in a browser gets a page instead.
`PageRoute` does that for every control panel route: it catches what the JSON handlers would
otherwise turn into JSON and renders `ui/error.html` with the same status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from optibridge import __version__
from optibridge.errors import AppError
from optibridge.logs import get_logger
from optibridge.secret_box import SecretKeyMismatch
from optibridge.web.ui.auth import (
    CsrfRejected,
    FormRejected,
    LoginRequired,
    UiSession,
    clear_flash,
    current_session,
    posted_form,
    read_flash,
    safe_next,
    sent_from_ended_session,
    set_flash,
)
from optibridge.web.ui.drafts import Draft, Keeps, keep_draft, keeps_of, kept_values

log = get_logger(__name__)

WEB_DIR = Path(__file__).parent.parent
STATIC_DIR = WEB_DIR / "static"
STATIC_PATH = "/ui/static"

SECURITY_HEADERS = {
    # No inline script or style: everything the pages run comes from /ui/static.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show webhook URLs (they carry the site's secret): never kept in a shared cache.
    "Cache-Control": "no-store",
}

_environment = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _format_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def _sentence(text: str) -> str:
    """First letter up (the services write reasons to be embedded in sentences)."""
    return text[:1].upper() + text[1:]


_environment.filters["utc"] = _format_time
_environment.filters["sentence"] = _sentence


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: UiSession | None = None,
) -> HTMLResponse:
    """A page; the flash message left by a redirect is shown once."""
    root = request.scope.get("root_path", "")
    page_context = {
        "request_path": request.url.path,
        "session": session,
        "csrf_token": session.csrf_token if session is not None else "",
        "flash": read_flash(request),
        "version": __version__,
        "url": lambda path: f"{root}{path}",
        "static": lambda name: f"{root}{STATIC_PATH}/{name}?v={__version__}",
        **(context or {}),
    }
    body = _environment.get_template(template).render(page_context)
    response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
    clear_flash(request, response)
    return response


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 See Other: after a POST, the browser GETs the page (no resubmission on reload)."""
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}{path}", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(
        request,
        "ui/error.html",
        {"status": status, "title": title, "message": message},
        status=status,
        session=_session_or_none(request),
    )


def _session_or_none(request: Request) -> UiSession | None:
    try:
        return current_session(request)
    except Exception:  # an error page must render even when the database is the problem
        return None


_TITLES = {
    400: "That request could not be understood",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible right now",
    413: "Too large",
    415: "Not a form",
    422: "Not valid",
    502: "The other service failed",
    504: "The other service did not answer",
}


class PageRoute(APIRoute):
    """A control panel route: errors become pages, a missing session a redirect to sign in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if request.method != "GET":
                    return await session_ended(request, keeps_of(self.endpoint), signed_in=False)
                target = request.url.path
                if request.url.query:
                    target += f"?{request.url.query}"
                return redirect(request, f"/ui/login?next={quote(target, safe='/')}")
            except CsrfRejected as rejected:
                form = await posted_form(request)
                if form is not None and sent_from_ended_session(request, form):
                    # A page of this browser's earlier session, signed out or in again since.
                    return await session_ended(request, keeps_of(self.endpoint), signed_in=True)
                return error_page(request, 403, "This form has expired", rejected.reason)
            except FormRejected as rejected:
                return error_page(
                    request, rejected.status, _TITLES.get(rejected.status, "Error"), rejected.reason
                )
            except AppError as error:
                return error_page(
                    request, error.status, _TITLES.get(error.status, "Error"), error.message
                )
            except RequestValidationError:
                return error_page(
                    request, 404, _TITLES[404], "There is no such page in the control panel."
                )
            except SecretKeyMismatch as error:
                log.error("secret_key_mismatch", message=str(error))
                return error_page(
                    request, 500, "The service is misconfigured", str(error).capitalize() + "."
                )
            except Exception as error:
                log.exception("unexpected_error", error_type=type(error).__name__)
                return error_page(
                    request,
                    500,
                    "Something went wrong",
                    "Something went wrong on our side; it has been logged. Try again, and if it "
                    "keeps happening, tell whoever runs this service.",
                )

        return page_handler


# --- a form sent after its session had ended -------------------------------------------------

ENDED = "Your session had ended (it expired, or it was signed out elsewhere)"
ENDED_HERE = "That page was from a session that has ended"


async def session_ended(request: Request, keeps: Keeps | None, *, signed_in: bool) -> Response:
    """A form sent without its session: nothing is done, and the administrator is told so and
    brought back to the page it came from (after signing in again, unless `signed_in`), with
    what was typed filled in again where that is safe (`drafts`)."""
    back = _page_to_return_to(request)
    form = await posted_form(request)
    draft = None
    site = str(request.path_params.get("site_id", ""))
    if (
        keeps is not None
        and form is not None
        and site.isdigit()
        and sent_from_ended_session(request, form)
    ):
        site_id = int(site)
        draft = Draft(site_id, keeps.form, kept_values(keeps, form))
        back = f"/ui/sites/{site_id}#{keeps.anchor}"
    target = back if signed_in else f"/ui/login?next={quote(back, safe='/')}"
    response = redirect(request, target)
    kept = draft is not None and keep_draft(request, response, draft)
    opening = ENDED_HERE if signed_in else ENDED
    if kept:
        message = f"{opening}, so nothing was saved."
        if not signed_in:
            message += (
                " Sign in again to go back to the page, where what you typed is filled in"
                " again (API keys and secrets never are)."
            )
    elif draft is not None:
        message = (
            f"{opening}, so nothing was saved, and the form was too large to keep what you"
            " typed. " + ("Sign in again to go back to the page." if not signed_in else "")
        ).strip()
    else:
        message = f"{opening}, so that was not done. " + (
            "Sign in again to go back to the page, and do it again."
            if not signed_in
            else "Here is the page again: do it again."
        )
    set_flash(request, response, "info" if kept else "error", message)
    return response


def _page_to_return_to(request: Request) -> str:
    """The control panel page a form was sent from: the Referer when it is one of ours (it keeps
    the sync log's filters), else the page of the form's address."""
    root = request.scope.get("root_path", "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith(f"{root}/ui/"):
        page = referer.path[len(root) :] + (f"?{referer.query}" if referer.query else "")
        if safe_next(page, "") == page and not page.startswith("/ui/login"):
            return page
    site = re.match(r"/ui/sites/(\d+)(/syncs)?", request.url.path)
    if site is None:
        return "/ui/sites"
    return f"/ui/sites/{site.group(1)}{site.group(2) or ''}"
