"""Comm100 sign-in (SPEC 4.5, 5.4b): who is calling, as Comm100 vouches for it.

Two journeys share one pair of routes (`/auth/comm100/start`, `/auth/comm100/callback`):

- an **agent** in the Optimove tab (an iframe in Comm100's agent console) gets a console session
  bound to that one agent of that one site;
- a Comm100 **administrator** of a site gets a control-panel session that sees only that site.

What travels between them is the OAuth `state`: sealed with the deployment's secret key (so it
can't be forged or read), it names the site, where to go next, and a nonce, and it expires after
ten minutes. The nonce binds the answer to the browser that started (RFC 6749 §10.12): the
control panel keeps it in a cookie; the tab, an iframe where cookies of a third-party site are
not reliable, keeps it in its own `sessionStorage` and accepts a session only with it.

A session from Comm100 lasts as long as the site's sign-in is set up the same way: changing or
removing the platform URL or OAuth client ends every session it gave (`client_mark`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from optibridge.comm100.errors import Comm100Error
from optibridge.comm100.oauth import SignedInAgent, authorize_url, sign_in
from optibridge.domain.settings import Comm100Settings
from optibridge.errors import AppError, Forbidden, Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretKeyMismatch
from optibridge.sync.sites import AGENT_TIMEOUT_S, comm100_agent_limiter, load_settings

CALLBACK_PATH = "/auth/comm100/callback"
START_PATH = "/auth/comm100/start"
STATE_LIFETIME_S = 600.0  # long enough to type a password at Comm100, short enough to be useless
_STATE_KIND = "comm100-sign-in"
_MAX_NEXT_LENGTH = 2000
_NONCE_LENGTH = (16, 100)


class SignInNotReady(AppError):
    """The site has no Comm100 sign-in set up (platform URL, OAuth client id and secret)."""

    def __init__(self, site_id: int) -> None:
        super().__init__(
            f"Comm100 sign-in is not set up for site {site_id}: an administrator sets the Comm100"
            " platform URL, OAuth client id and secret in the site's settings (Comm100 section).",
            [],
            409,
            "sign_in_not_set_up",
        )


class SignInFailed(AppError):
    """Comm100 did not sign the person in (refused, or answered otherwise than expected)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message, [], status, "sign_in_failed")


@dataclass(frozen=True)
class SignInState:
    """What the sign-in carries through Comm100 and back."""

    site_id: int
    next_path: str
    nonce: str

    @property
    def for_control_panel(self) -> bool:
        return self.next_path.startswith("/ui/")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def checked_nonce(nonce: str | None) -> str:
    text = (nonce or "").strip()
    low, high = _NONCE_LENGTH
    if not low <= len(text) <= high or not all(c.isalnum() or c in "-_" for c in text):
        raise Invalid(
            f"The sign-in's nonce must be {low} to {high} letters, digits, '-' or '_'.",
            [Problem("/nonce", "not a nonce")],
        )
    return text


def checked_next(site_id: int, next_path: str | None) -> str:
    """Where to go after signing in: a path of this service only (never another origin), and
    only the site's own tab or the control panel."""
    target = (next_path or "").strip()
    parts = urlsplit(target)
    problem = None
    if not target:
        problem = "is missing"
    elif (
        len(target) > _MAX_NEXT_LENGTH
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        problem = "must be a path of this service (starting with one '/')"
    elif not (
        target.startswith("/ui/")
        or target.startswith(f"/console/{site_id}/livechat")
        or target.startswith(f"/console/{site_id}/ticketing")
    ):
        problem = f"must be the control panel (/ui/…) or site {site_id}'s Optimove tab"
    if problem is not None:
        raise Invalid(f"next {problem}.", [Problem("/next", f"next {problem}")])
    return target.split("#", 1)[0]


def redirect_uri(public_base: str) -> str:
    """The address Comm100 sends the browser back to; registered in the site's OAuth client."""
    return public_base.rstrip("/") + CALLBACK_PATH


def client_mark(section: Comm100Settings) -> str:
    """Which sign-in set-up a session came from (a digest: no setting is stored in it)."""
    material = json.dumps([section.platform_url, section.oauth_client_id])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def start(runtime: Runtime, site_id: int, next_path: str, nonce: str, public_base: str) -> str:
    """Comm100's authorize URL for `site_id` (NotFound for an unknown site, SignInNotReady)."""
    stored = load_settings(runtime, site_id)
    section = stored.settings.comm100
    if not stored.sign_in_ready:
        raise SignInNotReady(site_id)
    assert section.platform_url  # sign_in_ready
    assert section.oauth_client_id
    claims = {
        "kind": _STATE_KIND,
        "site": site_id,
        "next": next_path,
        "nonce": nonce,
        "exp": time.time() + STATE_LIFETIME_S,
    }
    return authorize_url(
        section.platform_url,
        client_id=section.oauth_client_id,
        site_id=site_id,
        redirect_uri=redirect_uri(public_base),
        state=runtime.box.seal(json.dumps(claims, separators=(",", ":"))),
    )


def read_state(runtime: Runtime, state: str | None) -> SignInState:
    """The state Comm100 brought back, if it is ours and still fresh; else Invalid."""
    refused = Invalid(
        "This sign-in did not start here or took longer than ten minutes: start again.",
        [Problem("/state", "not a sign-in state of this service")],
    )
    if not state or len(state) > 4000:
        raise refused
    try:
        claims = json.loads(runtime.box.open(state))
    except (SecretKeyMismatch, ValueError):  # not sealed by us, or not JSON
        raise refused from None
    if not isinstance(claims, dict) or claims.get("kind") != _STATE_KIND:
        raise refused
    expires, site_id = claims.get("exp"), claims.get("site")
    next_path, nonce = claims.get("next"), claims.get("nonce")
    if (
        not isinstance(expires, int | float)
        or time.time() > expires
        or not isinstance(site_id, int)
        or not isinstance(next_path, str)
        or not isinstance(nonce, str)
    ):
        raise refused
    return SignInState(site_id, next_path, nonce)


def finish(
    runtime: Runtime, state: SignInState, code: str, public_base: str
) -> tuple[SignedInAgent, str]:
    """The agent Comm100 signed in (for the site the sign-in started for) and the set-up's
    `client_mark`. A control-panel sign-in also learns whether the agent is an admin."""
    stored = load_settings(runtime, state.site_id)
    section = stored.settings.comm100
    secret = stored.comm100_oauth_secret
    if not stored.sign_in_ready or not secret:
        raise SignInNotReady(state.site_id)
    assert section.platform_url  # sign_in_ready
    assert section.oauth_client_id
    if not code or len(code) > 4000:
        raise Invalid(
            "Comm100 came back without a sign-in code: start again.",
            [Problem("/code", "missing")],
        )
    try:
        agent = sign_in(
            section.platform_url,
            section.api_base_url,
            state.site_id,
            client_id=section.oauth_client_id,
            client_secret=secret,
            code=code,
            redirect_uri=redirect_uri(public_base),
            need_admin=state.for_control_panel,
            limiter=comm100_agent_limiter(runtime),
            http=runtime.http,
            timeout_s=min(runtime.config.comm100_timeout_s, AGENT_TIMEOUT_S),
        )
    except Comm100Error as error:
        raise SignInFailed(f"Comm100 did not sign you in: {error.message}") from None
    if agent.site_id != state.site_id:
        raise Forbidden(
            f"Comm100 signed you in to site {agent.site_id}, not to site {state.site_id}:"
            " sign in to Comm100 with an account of that site."
        )
    return agent, client_mark(section)


def still_signed_in(runtime: Runtime, site_id: int, mark: object) -> bool:
    """Whether a session from Comm100 sign-in still holds: the site exists and its sign-in is
    set up as when the session began."""
    try:
        stored = load_settings(runtime, site_id)
    except AppError:
        return False
    return (
        stored.sign_in_ready
        and isinstance(mark, str)
        and client_mark(stored.settings.comm100) == mark
    )
