"""The control panel's sign-in: a signed session cookie, CSRF tokens, flash messages, forms.

No session table: the session is a cookie signed with HMAC-SHA256 under a key derived from the
deployment's secret key (`OPTIBRIDGE_SECRET_KEY` or `var/secret.key`), so every process that
shares the secret key accepts it. With several keys (a rotation under way) cookies and CSRF
tokens are signed with the first and accepted under any, so no one is signed out by a new key
until the old one is removed. The cookie holds who signed in (role, site, token id), when
the session ends, and a random CSRF secret; never the token itself. Every request checks that
the token it was opened with still exists (revoking a token ends its sessions) and, for the
deployment's bootstrap token, that `OPTIBRIDGE_ADMIN_TOKEN` has not changed since.

CSRF: every POST form carries a token derived from the session's CSRF secret (synchronizer
token); the login form, before any session exists, carries one derived from a nonce cookie.
The cookies are HttpOnly, SameSite=Lax, limited to `/ui`, and Secure when served over https.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from fastapi import Request, Response

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.safe_text import storable_text
from optibridge.secret_box import same_secret, token_digest
from optibridge.services.tokens import Principal, Role, is_admin_token_of

SESSION_COOKIE = "optibridge_session"
LOGIN_COOKIE = "optibridge_login"
FLASH_COOKIE = "optibridge_flash"
COOKIE_PATH = "/ui"
SESSION_LIFETIME_S = 12 * 3600
LOGIN_NONCE_LIFETIME_S = 3600
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 512 * 1024  # the settings form of a site with hundreds of mappings fits

_KEY_CONTEXT = b"optibridge control panel cookies v1"
FlashKind = Literal["success", "error", "info"]


class LoginRequired(Exception):
    """No valid session: the page handler answers with a redirect to the login page."""


class CsrfRejected(Exception):
    """A POST without the form's CSRF token (or with a stale one): answered 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FormRejected(Exception):
    """A POST body that is not a plain HTML form (wrong type, too large)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class UiSession:
    principal: Principal
    # A MAC of the session's random CSRF secret: the secret is only in the HttpOnly cookie, so
    # a page on another site can neither read nor compute this token.
    csrf_token: str
    expires_at: float
    # The same MAC under every configured key: a form rendered before a new key was put in
    # front (or by a process still without it) is still accepted.
    accepted_csrf_tokens: tuple[str, ...]


@dataclass(frozen=True)
class Flash:
    kind: FlashKind
    message: str


# --- signing ------------------------------------------------------------------------------


class Signer:
    """`base64url(json).signature`: HMAC-SHA256 bound to a purpose, so a value signed for one
    cookie can never be replayed as another. Signs with the first key, verifies with any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = tuple(keys)

    def mac(self, purpose: str, data: str) -> str:
        return _hmac_hex(self._keys[0], purpose, data)

    def macs(self, purpose: str, data: str) -> tuple[str, ...]:
        """The MAC under each key, the first key's first: every one of them is accepted."""
        return tuple(_hmac_hex(key, purpose, data) for key in self._keys)

    def verify(self, purpose: str, data: str, given: str) -> bool:
        # Compared with every key, not stopping at a match: the time taken says nothing about
        # which key signed.
        return any([same_secret(given, expected) for expected in self.macs(purpose, data)])

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        data = base64.urlsafe_b64encode(
            json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        ).decode()
        return f"{data.rstrip('=')}.{self.mac(purpose, data.rstrip('='))}"

    def unsign(self, purpose: str, value: str) -> dict[str, Any] | None:
        data, _, signature = value.partition(".")
        if not data or not signature:
            return None
        if not self.verify(purpose, data, signature):
            return None
        try:
            decoded = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return decoded if isinstance(decoded, dict) else None


def _hmac_hex(key: bytes, purpose: str, data: str) -> str:
    return hmac.new(key, f"{purpose}|{data}".encode(), hashlib.sha256).hexdigest()


def cookie_keys(config: Config) -> tuple[bytes, ...]:
    """Keys for the control panel's cookies, derived from the deployment's secret keys, newest
    first (the derivation keeps the Fernet keys themselves out of any other use)."""
    return tuple(
        hmac.new(key, _KEY_CONTEXT, hashlib.sha256).digest() for key in config.secret_keys()
    )


def signer(request: Request) -> Signer:
    app_state = request.app.state
    found = getattr(app_state, "ui_signer", None)
    if isinstance(found, Signer):
        return found
    runtime: Runtime = app_state.runtime
    created = Signer(cookie_keys(runtime.config))
    app_state.ui_signer = created
    return created


# --- cookies ------------------------------------------------------------------------------


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def _delete_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def _bootstrap_mark(request: Request, bootstrap_token: str) -> str:
    """Which bootstrap token a session was opened with, without storing (a hash of) it."""
    return signer(request).mac("bootstrap", token_digest(bootstrap_token))[:32]


def _is_bootstrap_mark(request: Request, mark: str, bootstrap_token: str) -> bool:
    """Whether `mark` is `_bootstrap_mark` of the token under any of the keys."""
    macs = signer(request).macs("bootstrap", token_digest(bootstrap_token))
    return any([same_secret(mark, mac[:32]) for mac in macs])


def start_session(request: Request, response: Response, principal: Principal) -> None:
    runtime: Runtime = request.app.state.runtime
    bootstrap = runtime.config.admin_token
    payload = {
        "role": principal.role.value,
        "site": principal.site_id,
        "token": principal.token_id,
        "boot": (
            _bootstrap_mark(request, bootstrap.get_secret_value())
            if principal.token_id is None and bootstrap is not None
            else None
        ),
        "csrf": secrets.token_urlsafe(24),
        "exp": int(time.time()) + SESSION_LIFETIME_S,
    }
    _set_cookie(
        request, response, SESSION_COOKIE, signer(request).sign("session", payload), max_age=None
    )
    _delete_cookie(request, response, LOGIN_COOKIE)


def end_session(request: Request, response: Response) -> None:
    _delete_cookie(request, response, SESSION_COOKIE)


def current_session(request: Request) -> UiSession | None:
    """The signed-in administrator, or None (no cookie, tampered, expired, token revoked)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    payload = signer(request).unsign("session", raw)
    if payload is None:
        return None
    try:
        role = Role(payload["role"])
        site_id = payload["site"]
        token_id = payload["token"]
        csrf_secret = str(payload["csrf"])
        expires_at = float(payload["exp"])
    except (KeyError, TypeError, ValueError):
        return None
    if expires_at < time.time() or role is not Role.ADMIN:
        return None
    if not _still_valid(request, token_id, site_id, payload.get("boot")):
        return None
    principal = Principal(role=role, site_id=site_id, token_id=token_id)
    csrf_tokens = signer(request).macs("csrf", csrf_secret)
    return UiSession(
        principal=principal,
        csrf_token=csrf_tokens[0],
        expires_at=expires_at,
        accepted_csrf_tokens=csrf_tokens,
    )


def _still_valid(request: Request, token_id: object, site_id: object, mark: object) -> bool:
    runtime: Runtime = request.app.state.runtime
    if token_id is None:
        bootstrap = runtime.config.admin_token
        return (
            bootstrap is not None
            and site_id is None
            and isinstance(mark, str)
            and _is_bootstrap_mark(request, mark, bootstrap.get_secret_value())
        )
    if not isinstance(token_id, int) or not (site_id is None or isinstance(site_id, int)):
        return False
    with runtime.unit_of_work(read_only=True) as session:
        return is_admin_token_of(session, token_id, site_id)


def require_session(request: Request) -> UiSession:
    session = current_session(request)
    if session is None:
        raise LoginRequired
    return session


# --- the login form's CSRF token (before there is a session) -------------------------------


def login_form_token(request: Request) -> tuple[str, str]:
    """`(nonce, token)` for the login form: the nonce goes into a cookie
    (`remember_login_nonce`), the token into the form, and a POST must bring both."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    return nonce, signer(request).mac("login", nonce)


def remember_login_nonce(request: Request, response: Response, nonce: str) -> None:
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_LIFETIME_S)


def check_login_csrf(request: Request, form: dict[str, str]) -> None:
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce:
        raise CsrfRejected(
            "Your browser did not send back the sign-in page's cookie. Allow cookies for this "
            "site, then open the sign-in page again."
        )
    if not signer(request).verify("login", nonce, form.get(CSRF_FIELD, "")):
        raise CsrfRejected("The sign-in form has expired. Open the sign-in page again.")


def check_csrf(session: UiSession, form: dict[str, str]) -> None:
    given = form.get(CSRF_FIELD, "")
    if not any([same_secret(given, token) for token in session.accepted_csrf_tokens]):
        raise CsrfRejected(
            "This form was not sent from this control panel session (its security token is "
            "missing or out of date). Go back, reload the page, and try again."
        )


# --- flash messages ------------------------------------------------------------------------


def set_flash(request: Request, response: Response, kind: FlashKind, message: str) -> None:
    value = signer(request).sign("flash", {"kind": kind, "message": message})
    _set_cookie(request, response, FLASH_COOKIE, value, max_age=300)


def read_flash(request: Request) -> Flash | None:
    """The message left by the previous request (a redirect); `clear_flash` once shown."""
    raw = request.cookies.get(FLASH_COOKIE)
    payload = signer(request).unsign("flash", raw) if raw else None
    if payload is None:
        return None
    kind = payload.get("kind")
    message = payload.get("message")
    if kind not in ("success", "error", "info") or not isinstance(message, str):
        return None
    return Flash(kind=kind, message=message)


def clear_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        _delete_cookie(request, response, FLASH_COOKIE)


# --- posted forms ---------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the last value of a repeated
    name wins; the pages never repeat one). No multipart: the pages upload no files."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormRejected(415, "This address only takes forms sent by the control panel.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormRejected(413, "The form is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRejected(413, "The form is too large.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormRejected(400, "The form is not valid UTF-8.") from None
    return {
        storable_text(name): storable_text(value)
        for name, value in parse_qsl(text, keep_blank_values=True)
    }


def safe_next(target: str | None, default: str = "/ui/sites") -> str:
    """Where to go after signing in or acting: only a path of the control panel itself."""
    if (
        not target
        or not target.startswith("/ui/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return default
    return target
