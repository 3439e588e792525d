"""The control panel's sign-in: a signed session cookie, CSRF tokens, flash messages, forms.

No session table: the session is a cookie signed with itsdangerous (`URLSafeTimedSerializer`,
HMAC-SHA256) under keys derived from the deployment's secret keys (`OPTIBRIDGE_SECRET_KEY` or
`var/secret.key`), so every process that shares them accepts it. Each use has its own salt
(session, flash message, CSRF token, sign-in form), so a value signed for one can never be taken
for another. With several keys (a rotation under way) values are signed with the newest and
accepted under any, so no one is signed out by a new key until the old one is removed. The
signature's timestamp gives the session its lifetime. The cookie holds who signed in (role,
site, token id) and a random CSRF secret; never the token itself. Every request checks that the
token it was opened with still exists (revoking a token ends its sessions) and, for the
deployment's bootstrap token, that `OPTIBRIDGE_ADMIN_TOKEN` has not changed since. A Comm100
administrator signed in with Comm100 (`services.comm100_signin`) has a session of their one site
that holds while the site's Comm100 sign-in is set up as when they signed in.

CSRF: every POST form carries the session's CSRF secret, signed (synchronizer token); the login
form, before any session exists, carries a signed nonce that must match its nonce cookie.
The cookies are HttpOnly, SameSite=Lax, limited to `/ui`, and Secure when served over https.

A session that ends (it expires, its token is revoked, it is signed out or replaced in another
tab) while a page is open must not lose what was typed there silently (`drafts`):
`sent_from_ended_session` tells whether a form was sent from a page of this browser's own
session, by the session cookie still there or the signed mark that signing out (or in again)
leaves (`ENDED_COOKIE`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from fastapi import Request, Response
from itsdangerous import BadData, Signer, URLSafeTimedSerializer

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.safe_text import storable_text
from optibridge.secret_box import same_secret, token_digest
from optibridge.services.comm100_signin import still_signed_in
from optibridge.services.tokens import Principal, Role, is_admin_token_of

SESSION_COOKIE = "optibridge_session"
LOGIN_COOKIE = "optibridge_login"
FLASH_COOKIE = "optibridge_flash"
ENDED_COOKIE = "optibridge_ended"
COOKIE_PATH = "/ui"
SESSION_LIFETIME_S = 12 * 3600
LOGIN_NONCE_LIFETIME_S = 3600
FLASH_LIFETIME_S = 300
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 512 * 1024  # the settings form of a site with hundreds of mappings fits
# Processes on several hosts: a value signed by one whose clock runs a little ahead is not
# refused as signed in the future by the others.
CLOCK_SKEW_S = 60

_KEY_CONTEXT = b"optibridge control panel cookies v1"
FlashKind = Literal["success", "error", "info"]
# How old a page of an ended session may be for what was typed in it to be kept (`drafts`).
ENDED_PAGE_MAX_AGE_S = 7 * 24 * 3600
_DRAFT_KEY_CONTEXT = b"optibridge control panel drafts v1"

# What a signed value is for: the salt it is signed under.
Purpose = Literal["session", "flash", "csrf", "login", "ended"]
_PURPOSES: tuple[Purpose, ...] = ("session", "flash", "csrf", "login", "ended")
_SALT_PREFIX = "optibridge.ui."


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
class Flash:
    kind: FlashKind
    message: str


# --- signing ------------------------------------------------------------------------------


class UiSigner:
    """The control panel's signed values, with itsdangerous: one serializer per purpose (its
    salt), HMAC-SHA256, signed with the newest key and verified under any (itsdangerous
    compares signatures with `hmac.compare_digest`)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        """`keys` newest first, as the configuration lists them."""
        oldest_first = list(reversed(keys))  # itsdangerous signs with the last key
        signing = {"key_derivation": "hmac", "digest_method": hashlib.sha256}
        self._serializers = {
            purpose: URLSafeTimedSerializer(
                oldest_first, salt=_SALT_PREFIX + purpose, signer_kwargs=signing
            )
            for purpose in _PURPOSES
        }
        self._bootstrap = Signer(
            oldest_first,
            salt=_SALT_PREFIX + "bootstrap",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )
        # Drafts are encrypted too (they hold what an administrator typed), under keys of their
        # own derived from these.
        self._drafts = MultiFernet([Fernet(_draft_key(key)) for key in keys])

    def sign(self, purpose: Purpose, value: Any) -> str:
        return self._serializers[purpose].dumps(value)

    def unsign(self, purpose: Purpose, signed: str, max_age_s: int) -> tuple[Any, float] | None:
        """The value and when it was signed (epoch seconds), or None: not signed by us for this
        purpose (under any configured key), malformed, older than `max_age_s`, or signed more
        than `CLOCK_SKEW_S` in the future."""
        try:
            value, signed_at = self._serializers[purpose].loads(signed, return_timestamp=True)
        except BadData:
            return None
        moment = signed_at.timestamp()
        if not -CLOCK_SKEW_S <= time.time() - moment <= max_age_s:
            return None
        return value, moment

    def seal(self, value: bytes) -> str:
        """`value` encrypted and authenticated (Fernet) under the newest key."""
        return self._drafts.encrypt(value).decode("ascii")

    def open_sealed(self, sealed: str, max_age_s: int) -> bytes | None:
        """What `seal` sealed, or None: not ours, altered, or older than `max_age_s`."""
        try:
            return self._drafts.decrypt(sealed.encode("ascii"), ttl=max_age_s)
        except (InvalidToken, UnicodeEncodeError):
            return None

    def bootstrap_mark(self, bootstrap_token: str) -> str:
        """Which bootstrap token a session was opened with, without storing (a hash of) it."""
        return self._bootstrap.get_signature(token_digest(bootstrap_token)).decode()

    def is_bootstrap_mark(self, mark: str, bootstrap_token: str) -> bool:
        """Whether `mark` is `bootstrap_mark` of the token under any of the keys."""
        return self._bootstrap.verify_signature(token_digest(bootstrap_token), mark)


def _draft_key(cookie_key: bytes) -> bytes:
    return base64.urlsafe_b64encode(hmac.new(cookie_key, _DRAFT_KEY_CONTEXT, "sha256").digest())


def cookie_keys(config: Config) -> tuple[bytes, ...]:
    """Keys for the control panel's cookies, derived from the deployment's secret keys, newest
    first (the derivation keeps the Fernet keys themselves out of any other use)."""
    return tuple(
        hmac.new(key, _KEY_CONTEXT, hashlib.sha256).digest() for key in config.secret_keys()
    )


def signer(request: Request) -> UiSigner:
    app_state = request.app.state
    found = getattr(app_state, "ui_signer", None)
    if isinstance(found, UiSigner):
        return found
    runtime: Runtime = app_state.runtime
    created = UiSigner(cookie_keys(runtime.config))
    app_state.ui_signer = created
    return created


@dataclass(frozen=True)
class Comm100Admin:
    """A Comm100 administrator Comm100 signed in (their site is the principal's)."""

    agent_id: str
    email: str | None
    sign_in_mark: str  # `services.comm100_signin.client_mark` of the set-up they came through

    @property
    def shown_as(self) -> str:
        return self.email or f"Comm100 agent {self.agent_id}"


@dataclass(frozen=True)
class UiSession:
    principal: Principal
    # The session's random CSRF secret, signed: the secret is only in the HttpOnly cookie, so a
    # page on another site can neither read nor make this token.
    csrf_token: str
    expires_at: float
    csrf_secret: str = field(repr=False)
    signer: UiSigner = field(repr=False, compare=False)
    comm100_admin: Comm100Admin | None = None


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


def start_session(
    request: Request,
    response: Response,
    principal: Principal,
    comm100_admin: Comm100Admin | None = None,
) -> None:
    runtime: Runtime = request.app.state.runtime
    bootstrap = runtime.config.admin_token
    payload: dict[str, Any] = {
        "role": principal.role.value,
        "site": principal.site_id,
        "token": principal.token_id,
        "boot": (
            signer(request).bootstrap_mark(bootstrap.get_secret_value())
            if principal.token_id is None and bootstrap is not None
            else None
        ),
        "csrf": secrets.token_urlsafe(24),
    }
    if comm100_admin is not None:
        payload["via"] = "comm100"
        payload["agent"] = comm100_admin.agent_id
        payload["email"] = comm100_admin.email
        payload["mark"] = comm100_admin.sign_in_mark
    _set_cookie(
        request, response, SESSION_COOKIE, signer(request).sign("session", payload), max_age=None
    )
    _delete_cookie(request, response, LOGIN_COOKIE)
    # Pages of the session this one replaces may still be open: their forms stay recognisable.
    raw = request.cookies.get(SESSION_COOKIE)
    replaced = signer(request).unsign("session", raw, ENDED_PAGE_MAX_AGE_S) if raw else None
    if replaced is not None and isinstance(replaced[0], dict):
        secret = replaced[0].get("csrf")
        if isinstance(secret, str):
            _leave_ended_mark(request, response, secret)


def end_session(request: Request, response: Response, session: UiSession | None = None) -> None:
    """Sign out; `session` (the one ending) leaves its mark for the pages still open
    (`ended_session_secret`)."""
    _delete_cookie(request, response, SESSION_COOKIE)
    if session is not None:
        _leave_ended_mark(request, response, session.csrf_secret)


def _leave_ended_mark(request: Request, response: Response, csrf_secret: str) -> None:
    mark = signer(request).sign("ended", csrf_secret)
    _set_cookie(request, response, ENDED_COOKIE, mark, max_age=ENDED_PAGE_MAX_AGE_S)


def ended_session_secrets(request: Request) -> set[str]:
    """The CSRF secrets of this browser's sessions: the session cookie's, valid or not any more
    (expired, token revoked), and the one in the mark the last sign-out or sign-in left. A form
    whose token carries one was sent from a page of this browser's own session."""
    ui_signer = signer(request)
    found: set[str] = set()
    raw = request.cookies.get(SESSION_COOKIE)
    unsigned = ui_signer.unsign("session", raw, ENDED_PAGE_MAX_AGE_S) if raw else None
    if unsigned is not None and isinstance(unsigned[0], dict):
        secret = unsigned[0].get("csrf")
        if isinstance(secret, str):
            found.add(secret)
    mark = request.cookies.get(ENDED_COOKIE)
    ended = ui_signer.unsign("ended", mark, ENDED_PAGE_MAX_AGE_S) if mark else None
    if ended is not None and isinstance(ended[0], str):
        found.add(ended[0])
    return found


def sent_from_ended_session(request: Request, form: dict[str, str]) -> bool:
    """Whether `form` came from a page of this browser's session, now ended (see
    `ended_session_secret`): a page elsewhere can neither read nor make its token."""
    token = form.get(CSRF_FIELD, "")
    unsigned = signer(request).unsign("csrf", token, ENDED_PAGE_MAX_AGE_S) if token else None
    if unsigned is None:
        return False
    return any(_same_text(unsigned[0], secret) for secret in ended_session_secrets(request))


def current_session(request: Request) -> UiSession | None:
    """The signed-in administrator, or None (no cookie, tampered, expired, token revoked)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    ui_signer = signer(request)
    unsigned = ui_signer.unsign("session", raw, SESSION_LIFETIME_S)
    if unsigned is None:
        return None
    payload, signed_at = unsigned
    try:
        role = Role(payload["role"])
        site_id = payload["site"]
        token_id = payload["token"]
        csrf_secret = str(payload["csrf"])
    except (KeyError, TypeError, ValueError):
        return None
    if role is not Role.ADMIN:
        return None
    comm100_admin = _comm100_admin(payload)
    if comm100_admin is not None:
        runtime: Runtime = request.app.state.runtime
        if not isinstance(site_id, int) or not still_signed_in(
            runtime, site_id, comm100_admin.sign_in_mark
        ):
            return None
    elif payload.get("via") is not None or not _still_valid(
        request, token_id, site_id, payload.get("boot")
    ):
        return None
    return UiSession(
        principal=Principal(role=role, site_id=site_id, token_id=token_id),
        csrf_token=ui_signer.sign("csrf", csrf_secret),
        expires_at=signed_at + SESSION_LIFETIME_S,
        csrf_secret=csrf_secret,
        signer=ui_signer,
        comm100_admin=comm100_admin,
    )


def _comm100_admin(payload: dict[str, Any]) -> Comm100Admin | None:
    if payload.get("via") != "comm100":
        return None
    agent, email, mark = payload.get("agent"), payload.get("email"), payload.get("mark")
    if not isinstance(agent, str) or not isinstance(mark, str):
        return None
    return Comm100Admin(agent, email if isinstance(email, str) else None, mark)


def _still_valid(request: Request, token_id: object, site_id: object, mark: object) -> bool:
    runtime: Runtime = request.app.state.runtime
    if token_id is None:
        bootstrap = runtime.config.admin_token
        return (
            bootstrap is not None
            and site_id is None
            and isinstance(mark, str)
            and signer(request).is_bootstrap_mark(mark, bootstrap.get_secret_value())
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
    (`remember_login_nonce`), the token (the nonce, signed) into the form, and a POST must bring
    both."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    return nonce, signer(request).sign("login", nonce)


def remember_login_nonce(request: Request, response: Response, nonce: str) -> None:
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_LIFETIME_S)


def check_login_csrf(request: Request, form: dict[str, str]) -> None:
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce:
        raise CsrfRejected(
            "Your browser did not send back the sign-in page's cookie. Allow cookies for this "
            "site, then open the sign-in page again."
        )
    unsigned = signer(request).unsign("login", form.get(CSRF_FIELD, ""), LOGIN_NONCE_LIFETIME_S)
    if unsigned is None or not _same_text(unsigned[0], nonce):
        raise CsrfRejected("The sign-in form has expired. Open the sign-in page again.")


def check_csrf(session: UiSession, form: dict[str, str]) -> None:
    unsigned = session.signer.unsign("csrf", form.get(CSRF_FIELD, ""), SESSION_LIFETIME_S)
    if unsigned is None or not _same_text(unsigned[0], session.csrf_secret):
        raise CsrfRejected(
            "This form was not sent from this control panel session (its security token is "
            "missing or out of date). Go back, reload the page, and try again."
        )


def _same_text(value: object, expected: str) -> bool:
    return isinstance(value, str) and same_secret(value, expected)


# --- flash messages ------------------------------------------------------------------------


def set_flash(request: Request, response: Response, kind: FlashKind, message: str) -> None:
    value = signer(request).sign("flash", {"kind": kind, "message": message})
    _set_cookie(request, response, FLASH_COOKIE, value, max_age=FLASH_LIFETIME_S)


def read_flash(request: Request) -> Flash | None:
    """The message left by the previous request (a redirect); `clear_flash` once shown."""
    raw = request.cookies.get(FLASH_COOKIE)
    unsigned = signer(request).unsign("flash", raw, FLASH_LIFETIME_S) if raw else None
    payload = unsigned[0] if unsigned is not None else None
    if not isinstance(payload, dict):
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
    form = {
        storable_text(name): storable_text(value)
        for name, value in parse_qsl(text, keep_blank_values=True)
    }
    request.state.ui_form = form  # for the page's error handling (`posted_form`)
    return form


async def posted_form(request: Request) -> dict[str, str] | None:
    """The form of this POST, read once (`read_form`), or None when it can't be read."""
    read: object = getattr(request.state, "ui_form", None)
    if isinstance(read, dict):
        return read
    try:
        return await read_form(request)
    except (FormRejected, RuntimeError):  # not a form, or its body is gone
        return None


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
