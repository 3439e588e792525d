"""Who is calling the console API: a site-scoped token, or a console session.

A *console session* is short-lived, bound to one site, and sealed with the deployment's secret
key (Fernet, so it can't be forged or read). It comes one of two ways:

- **Comm100 sign-in** (SPEC 4.5): Comm100 vouched for the agent (`services.comm100_signin`);
  the session is that one agent of that one site, and lasts as long as the site's sign-in is set
  up the same way. Changes the agent makes are attributed to them, verified.
- **An agent token** in the tab's iframe URL (the weaker option, for a deployment without an
  OAuth client): the page checks it once and hands its script a session tied to the token, so
  revoking the token ends the session too. The agent id then comes from the URL, which anyone
  can type: it is recorded as said, never as verified.

Either credential reaches exactly one site: an agent token or session of site A gets 404 for
site B, as for a site that does not exist.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from optibridge.errors import NotFound, Unauthorized
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretKeyMismatch
from optibridge.services.comm100_signin import still_signed_in
from optibridge.services.tokens import Principal, Role, authenticate, still_grants
from optibridge.sync.agents import Agent
from optibridge.sync.sites import load_settings

SESSION_PREFIX = "obs_"
SESSION_TTL_S = 12 * 3600.0  # an agent's working day; reopening the tab issues a new one
_SESSION_KIND = "console-session"
_MAX_AGENT_ID_LENGTH = 100
# What an agent reads when the tab's token no longer works, and what to do about it.
NOT_VALID = (
    "The agent token in this tab's address is not valid (it may have been revoked): ask your"
    " administrator for a new one, then reopen the Optimove tab."
)
REVOKED = (
    "The agent token this tab was opened with has been revoked: ask your administrator for a"
    " new one (or for Comm100 sign-in), then reopen the Optimove tab."
)
SITE_UNKNOWN = (
    "This tab's site is not set up in optibridge: ask your administrator to check the"
    " Optimove app's address in Comm100."
)


@dataclass(frozen=True)
class ConsoleCaller:
    """An authenticated console caller: its principal, and the Comm100 agent it is: verified
    when Comm100 signed them in, else as the tab's URL says (None for a bare token). The agent
    is recorded, never used for access: access is the principal's."""

    principal: Principal
    agent_id: str | None = None
    agent_email: str | None = None
    agent_verified: bool = False

    @property
    def agent(self) -> Agent:
        return Agent(self.agent_id, self.agent_email, self.agent_verified)


def require_console_access(principal: Principal, site_id: int) -> None:
    """Agents and admins of `site_id` (or deployment admins) may use its console."""
    if principal.site_id is not None and principal.site_id != site_id:
        # The same answer as for a missing site: a token must not learn which sites exist.
        raise NotFound(SITE_UNKNOWN)


def clean_agent_id(agent_id: str | None) -> str | None:
    if agent_id is None:
        return None
    text = agent_id.strip()[:_MAX_AGENT_ID_LENGTH]
    return text if text and text.isprintable() else None


def issue_session(
    runtime: Runtime,
    principal: Principal,
    site_id: int,
    agent_id: str | None,
    *,
    now: float | None = None,
) -> str:
    """A console session for `site_id`, after the caller's token was checked for it."""
    require_console_access(principal, site_id)
    claims = {
        "kind": _SESSION_KIND,
        "site": site_id,
        "role": principal.role.value,
        "token": principal.token_id,
        "agent": clean_agent_id(agent_id),
        "exp": (time.time() if now is None else now) + SESSION_TTL_S,
    }
    return SESSION_PREFIX + runtime.box.seal(json.dumps(claims, separators=(",", ":")))


def issue_signed_in_session(
    runtime: Runtime,
    site_id: int,
    agent_id: str,
    agent_email: str | None,
    sign_in_mark: str,
    *,
    now: float | None = None,
) -> str:
    """A console session for the agent Comm100 signed in to `site_id` (`services.
    comm100_signin.finish` checked the site); `sign_in_mark` is the set-up it came from."""
    claims = {
        "kind": _SESSION_KIND,
        "site": site_id,
        "role": Role.AGENT.value,
        "token": None,
        "via": "comm100",
        "mark": sign_in_mark,
        "agent": clean_agent_id(agent_id),
        "email": agent_email,
        "exp": (time.time() if now is None else now) + SESSION_TTL_S,
    }
    return SESSION_PREFIX + runtime.box.seal(json.dumps(claims, separators=(",", ":")))


def authenticate_console(
    runtime: Runtime, credential: str, *, now: float | None = None
) -> ConsoleCaller:
    """The caller behind a bearer credential: a console session, or any valid token."""
    if credential.startswith(SESSION_PREFIX):
        return _open_session(runtime, credential[len(SESSION_PREFIX) :], now)
    bootstrap = runtime.config.admin_token
    with runtime.unit_of_work(read_only=True) as session:
        try:
            principal = authenticate(
                session, credential, bootstrap.get_secret_value() if bootstrap else None
            )
        except Unauthorized:
            raise Unauthorized(NOT_VALID) from None
    return ConsoleCaller(principal)


def _open_session(runtime: Runtime, sealed: str, now: float | None) -> ConsoleCaller:
    expired = Unauthorized("The console session has expired: reopen the Optimove tab.")
    try:
        claims = json.loads(runtime.box.open(sealed))
    except (SecretKeyMismatch, ValueError):
        raise Unauthorized("The console session is not valid: reopen the Optimove tab.") from None
    if not isinstance(claims, dict) or claims.get("kind") != _SESSION_KIND:
        raise Unauthorized("The console session is not valid: reopen the Optimove tab.")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or (time.time() if now is None else now) > expires:
        raise expired
    site_id, role, token_id = claims.get("site"), claims.get("role"), claims.get("token")
    if not isinstance(site_id, int) or role not in (Role.ADMIN.value, Role.AGENT.value):
        raise Unauthorized("The console session is not valid: reopen the Optimove tab.")
    if claims.get("via") == "comm100":
        if not still_signed_in(runtime, site_id, claims.get("mark")):
            raise Unauthorized(
                "Comm100 sign-in for this site was changed or switched off: reopen the"
                " Optimove tab to sign in again."
            )
        agent, email = claims.get("agent"), claims.get("email")
        return ConsoleCaller(
            Principal(role=Role.AGENT, site_id=site_id, token_id=None),
            agent if isinstance(agent, str) else None,
            email if isinstance(email, str) else None,
            agent_verified=isinstance(agent, str),
        )
    if token_id is None:
        if runtime.config.admin_token is None:  # the bootstrap admin token was removed
            raise expired
    else:
        with runtime.unit_of_work(read_only=True) as session:
            granted = still_grants(session, int(token_id), role, site_id)
        if not granted:
            raise Unauthorized(REVOKED)
    agent = claims.get("agent")
    return ConsoleCaller(
        Principal(role=Role(role), site_id=site_id, token_id=token_id),
        agent if isinstance(agent, str) else None,
    )


def check_access(runtime: Runtime, caller: ConsoleCaller, site_id: int) -> None:
    """The caller may use `site_id`'s console, and the site exists (else 404 either way)."""
    require_console_access(caller.principal, site_id)
    try:
        load_settings(runtime, site_id)
    except NotFound:
        raise NotFound(SITE_UNKNOWN) from None
