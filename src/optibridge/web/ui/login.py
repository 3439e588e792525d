"""Signing in and out of the control panel: `/ui/login` (an admin token, or on to Comm100's
sign-in for a Comm100 administrator of one site) and `/ui/logout`.

The session is a signed cookie (`auth`); the login form carries a CSRF token of its own, bound to
a nonce cookie, since no session exists yet.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.errors import NotFound, Unauthorized
from optibridge.services.comm100_signin import START_PATH
from optibridge.services.tokens import Role, authenticate
from optibridge.sync.sites import load_settings
from optibridge.web.deps import RuntimeDep
from optibridge.web.ui.auth import (
    check_csrf,
    check_login_csrf,
    current_session,
    end_session,
    login_form_token,
    remember_login_nonce,
    safe_next,
    set_flash,
    start_session,
)
from optibridge.web.ui.deps import FormDep, page_router
from optibridge.web.ui.render import redirect, render

router = page_router()


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, runtime: RuntimeDep, next: str | None = None, site_id: str | None = None
) -> Response:
    if current_session(request) is not None:
        return redirect(request, safe_next(next))
    if site_id is None:
        return _login_form(request, next_path=safe_next(next), error=None, status=200)
    return _comm100_choice(request, runtime, safe_next(next), site_id)


def _comm100_choice(
    request: Request, runtime: RuntimeDep, next_path: str, site_id: str
) -> Response:
    """The login page with the way on to Comm100's sign-in for one site: a link, not a form's
    redirect, since the page's CSP lets forms go nowhere but here."""
    site = site_id.strip()
    if not site.isdigit() or not 0 < int(site) < 2**31:
        return _login_form(
            request,
            next_path,
            None,
            status=422,
            comm100_error="Enter a Comm100 site id (a number).",
        )
    number = int(site)
    try:
        ready = load_settings(runtime, number).sign_in_ready
    except NotFound:
        ready = False
    if not ready:
        return _login_form(
            request,
            next_path,
            None,
            status=409,
            comm100_error=(
                f"Comm100 sign-in is not set up for site {number} in optibridge: sign in with an"
                " admin token, then set it up on the site's page (Comm100 section)."
            ),
        )
    target = next_path if next_path != "/ui/sites" else f"/ui/sites/{number}"
    root = request.scope.get("root_path", "")
    start_url = f"{root}{START_PATH}?" + urlencode({"site_id": number, "next": target})
    return _login_form(request, next_path, None, status=200, comm100_start=(number, start_url))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    check_login_csrf(request, form)
    next_path = safe_next(form.get("next"))
    token = form.get("token", "").strip()
    if not token:
        return _login_form(request, next_path, "Enter an admin token.", status=422)
    bootstrap = runtime.config.admin_token
    try:
        with runtime.unit_of_work(read_only=True) as db:
            principal = authenticate(db, token, bootstrap.get_secret_value() if bootstrap else None)
    except Unauthorized:
        return _login_form(
            request,
            next_path,
            "That token is not valid, or it was revoked. Copy the whole admin token again"
            " (where to find one is said above).",
            status=401,
        )
    if principal.role is not Role.ADMIN:
        return _login_form(
            request,
            next_path,
            "That is an agent token (for the agent console). The control panel needs an admin "
            "token.",
            status=403,
        )
    response = redirect(request, next_path)
    start_session(request, response, principal)
    return response


def _login_form(
    request: Request,
    next_path: str,
    error: str | None,
    status: int,
    *,
    comm100_error: str | None = None,
    comm100_start: tuple[int, str] | None = None,
) -> Response:
    nonce, token = login_form_token(request)
    response = render(
        request,
        "ui/login.html",
        {
            "login_csrf": token,
            "next_path": next_path,
            "error": error,
            "comm100_error": comm100_error,
            "comm100_start": comm100_start,
        },
        status=status,
    )
    remember_login_nonce(request, response, nonce)
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, form: FormDep) -> Response:
    session = current_session(request)
    if session is not None:
        check_csrf(session, form)
    response = redirect(request, "/ui/login")
    end_session(request, response, session)
    set_flash(request, response, "info", "You are signed out.")
    return response
