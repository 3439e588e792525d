"""Comm100 sign-in's routes (SPEC 5.4b): `/auth/comm100/start` and `/auth/comm100/callback`.

The work is `services.comm100_signin`'s; here is what the browser sees. An agent's sign-in runs
inside the Optimove tab (an iframe) and ends on the tab again with the console session in the
URL's fragment (`#ob_session=…&ob_nonce=…`: never sent to a server, never in a log or a
Referer), which the tab's script takes only with the nonce it made. An administrator's sign-in
ends in the control panel with a session of their site; the nonce is a cookie of its own.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from optibridge.console.pages import frame_ancestors, problem_page
from optibridge.console.session import issue_signed_in_session
from optibridge.errors import AppError, Forbidden
from optibridge.secret_box import same_secret
from optibridge.services.comm100_signin import (
    CALLBACK_PATH,
    START_PATH,
    STATE_LIFETIME_S,
    SignInState,
    checked_next,
    checked_nonce,
    finish,
    new_nonce,
    read_state,
    start,
)
from optibridge.services.tokens import Principal, Role
from optibridge.web.deps import RuntimeDep, public_url
from optibridge.web.schemas import ErrorResponse
from optibridge.web.ui.auth import Comm100Admin, set_flash, start_session

router = APIRouter(tags=["sign-in"])

# The control panel's sign-in nonce: only ever sent back to the callback.
NONCE_COOKIE = "optibridge_sign_in"
_COOKIE_PATH = "/auth/comm100"
_TITLE = "Sign-in with Comm100 failed"

SIGN_IN_PAGES: dict[int | str, dict[str, object]] = {
    status: {"description": description, "content": {"text/html": {}}}
    for status, description in {
        302: "On to Comm100's sign-in (start) or back to where the sign-in began (callback)",
        400: "The sign-in did not start here, expired, or Comm100 refused it",
        403: "Comm100 signed in someone of another site, or not an administrator",
        404: "No such site",
        409: "Comm100 sign-in is not set up for the site",
        502: "Comm100 answered otherwise than expected",
    }.items()
}
# A query that is not a site id answers in the API's error shape; a `next` or `nonce` that is
# refused answers with a page (the browser is on it).
SIGN_IN_PAGES[422] = {
    "model": ErrorResponse,
    "description": "The query is not valid (a page for `next` or `nonce`)",
    "content": {"text/html": {}},
}


@router.get(
    START_PATH,
    summary="Sign in with Comm100: on to the site's Comm100 sign-in",
    response_class=RedirectResponse,
    status_code=302,
    responses=SIGN_IN_PAGES,
)
def start_sign_in(
    request: Request,
    runtime: RuntimeDep,
    site_id: Annotated[int, Query(description="The Comm100 site to sign in to.")],
    next: Annotated[
        str,
        Query(description="Where to go after: the control panel (/ui/…) or the site's tab."),
    ],
    nonce: Annotated[
        str | None,
        Query(description="The tab's own nonce (it takes a session only with it)."),
    ] = None,
) -> Response:
    """Redirects to Comm100's authorize URL (silent when the agent is signed in to Comm100)."""
    root = request.scope.get("root_path", "")
    try:
        target = checked_next(site_id, _without_root(next, root))
        control_panel = target.startswith("/ui/")
        own_nonce = new_nonce() if control_panel else checked_nonce(nonce)
        url = start(runtime, site_id, target, own_nonce, public_url(runtime, request))
    except AppError as error:
        if next.startswith(f"{root}/ui/"):
            return _back_to_login(request, site_id, error.message)
        return problem_page(
            request, frame_ancestors(runtime, site_id), error.status, _TITLE, error.message
        )
    response = RedirectResponse(url, status_code=302)
    if control_panel:
        response.set_cookie(
            NONCE_COOKIE,
            own_nonce,
            max_age=int(STATE_LIFETIME_S),
            path=f"{root}{_COOKIE_PATH}",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",  # sent on the top-level navigation back from Comm100
        )
    _private(response)
    return response


@router.get(
    CALLBACK_PATH,
    summary="Where Comm100 sends the browser back after signing in",
    response_class=RedirectResponse,
    status_code=303,
    responses=SIGN_IN_PAGES,
)
def finish_sign_in(
    request: Request,
    runtime: RuntimeDep,
    code: Annotated[str | None, Query(description="Comm100's one-time code.")] = None,
    state: Annotated[str | None, Query(description="What the sign-in started with.")] = None,
    error: Annotated[str | None, Query(description="Comm100's refusal (OAuth 2).")] = None,
    error_description: Annotated[str | None, Query(description="Its explanation.")] = None,
) -> Response:
    """Checks the sign-in, starts the session, and goes back where the sign-in began."""
    root = request.scope.get("root_path", "")
    try:
        begun = read_state(runtime, state)
    except AppError as refused:
        return problem_page(request, ["'self'"], 400, _TITLE, refused.message)
    try:
        if error:
            explained = f": {error_description.strip()[:200]}" if error_description else ""
            raise AppError(f"Comm100 did not sign you in ({error.strip()[:60]}{explained}).")
        if begun.for_control_panel:
            return _admin_signed_in(request, runtime, begun, code or "")
        agent, mark = finish(runtime, begun, code or "", public_url(runtime, request))
    except AppError as failed:
        if begun.for_control_panel:
            return _back_to_login(request, begun.site_id, failed.message)
        return problem_page(
            request, frame_ancestors(runtime, begun.site_id), failed.status, _TITLE, failed.message
        )
    session = issue_signed_in_session(runtime, begun.site_id, agent.agent_id, agent.email, mark)
    fragment = urlencode({"ob_session": session, "ob_nonce": begun.nonce})
    response = RedirectResponse(f"{root}{begun.next_path}#{fragment}", status_code=303)
    _private(response)
    return response


def _admin_signed_in(
    request: Request, runtime: RuntimeDep, begun: SignInState, code: str
) -> Response:
    cookie = request.cookies.get(NONCE_COOKIE, "")
    if not cookie or not same_secret(cookie, begun.nonce):
        raise AppError(
            "This sign-in was started in another browser or window: start it again here."
        )
    agent, mark = finish(runtime, begun, code, public_url(runtime, request))
    if agent.is_admin is not True:
        said = "is not" if agent.is_admin is False else "was not confirmed by Comm100 as"
        raise Forbidden(
            f"{agent.email or 'This Comm100 account'} {said} an administrator of site"
            f" {begun.site_id}: only Comm100 administrators of the site can sign in to the"
            " control panel this way (agents use the Optimove tab)."
        )
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}{begun.next_path}", status_code=303)
    admin = Comm100Admin(agent.agent_id, agent.email, mark)
    start_session(request, response, Principal(Role.ADMIN, begun.site_id, None), admin)
    set_flash(
        request,
        response,
        "success",
        f"Signed in with Comm100 as {admin.shown_as}, administrator of site {begun.site_id}.",
    )
    response.delete_cookie(NONCE_COOKIE, path=f"{root}{_COOKIE_PATH}")
    _private(response)
    return response


def _back_to_login(request: Request, site_id: int, message: str) -> Response:
    root = request.scope.get("root_path", "")
    query = urlencode({"next": f"/ui/sites/{site_id}"})
    response = RedirectResponse(f"{root}/ui/login?{query}", status_code=303)
    set_flash(request, response, "error", message)
    _private(response)
    return response


def _without_root(path: str, root: str) -> str:
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _private(response: Response) -> None:
    # The answers carry where a session goes: never cached, never sent on as a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
