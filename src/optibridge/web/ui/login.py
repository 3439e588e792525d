"""Signing in and out of the control panel: `/ui/login` (an admin token) and `/ui/logout`.

The session is a signed cookie (`auth`); the login form carries a CSRF token of its own, bound to
a nonce cookie, since no session exists yet.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.errors import Unauthorized
from optibridge.services.tokens import Role, authenticate
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
def login_page(request: Request, next: str | None = None) -> Response:
    if current_session(request) is not None:
        return redirect(request, safe_next(next))
    return _login_form(request, next_path=safe_next(next), error=None, status=200)


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
            "That token is not valid. Use an admin token as printed by `optibridge serve` or "
            "`optibridge demo`, or one created with `optibridge tokens create`.",
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


def _login_form(request: Request, next_path: str, error: str | None, status: int) -> Response:
    nonce, token = login_form_token(request)
    response = render(
        request,
        "ui/login.html",
        {"login_csrf": token, "next_path": next_path, "error": error},
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
    end_session(request, response)
    set_flash(request, response, "info", "You are signed out.")
    return response
