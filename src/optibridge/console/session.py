"""Who is calling the console API: a site-scoped token, or the session the tab page issued.

The tab's iframe URL carries a long-lived agent token (an administrator pastes it into the
Comm100 app's widget URL). The page checks it once and hands its script a *console session*
instead: short-lived, bound to one site, sealed with the deployment's secret key (Fernet, so
it can't be forged or read), and tied to the token it came from, so revoking that token ends
the session too. The script never needs the token itself.

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
from optibridge.services.tokens import Principal, Role, authenticate, still_grants
from optibridge.sync.sites import load_settings

SESSION_PREFIX = "obs_"
SESSION_TTL_S = 12 * 3600.0  # an agent's working day; reopening the tab issues a new one
_SESSION_KIND = "console-session"
_MAX_AGENT_ID_LENGTH = 100


@dataclass(frozen=True)
class ConsoleCaller:
    """An authenticated console caller: its principal, and the Comm100 agent it says it is
    (from the tab's URL; None for a bare token). The agent id is recorded, never trusted for
    access: access is the principal's."""

    principal: Principal
    agent_id: str | None = None


def require_console_access(principal: Principal, site_id: int) -> None:
    """Agents and admins of `site_id` (or deployment admins) may use its console."""
    if principal.site_id is not None and principal.site_id != site_id:
        # The same answer as for a missing site: a token must not learn which sites exist.
        raise NotFound(f"Site {site_id} does not exist.")


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


def authenticate_console(
    runtime: Runtime, credential: str, *, now: float | None = None
) -> ConsoleCaller:
    """The caller behind a bearer credential: a console session, or any valid token."""
    if credential.startswith(SESSION_PREFIX):
        return _open_session(runtime, credential[len(SESSION_PREFIX) :], now)
    bootstrap = runtime.config.admin_token
    with runtime.unit_of_work(read_only=True) as session:
        principal = authenticate(
            session, credential, bootstrap.get_secret_value() if bootstrap else None
        )
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
    if token_id is None:
        if runtime.config.admin_token is None:  # the bootstrap admin token was removed
            raise expired
    else:
        with runtime.unit_of_work(read_only=True) as session:
            granted = still_grants(session, int(token_id), role, site_id)
        if not granted:
            raise Unauthorized("The token this console session came from was revoked.")
    agent = claims.get("agent")
    return ConsoleCaller(
        Principal(role=Role(role), site_id=site_id, token_id=token_id),
        agent if isinstance(agent, str) else None,
    )


def check_access(runtime: Runtime, caller: ConsoleCaller, site_id: int) -> None:
    """The caller may use `site_id`'s console, and the site exists (else 404 either way)."""
    require_console_access(caller.principal, site_id)
    load_settings(runtime, site_id)
