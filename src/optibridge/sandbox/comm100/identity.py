"""Who is who on the sandbox's Comm100 platform: agents, OAuth clients, and what vouches for them.

The memory behind the OAuth 2 emulation (`optibridge.sandbox.comm100.oauth`): the agents of each
site, the OAuth clients site admins registered, and the authorization codes, access tokens and
refresh tokens issued. No HTTP here: the routes decide how to answer, this decides who is who.

Time is the provider's own clock (`now()`: the monotonic clock plus `clock_offset`), so that a
test moves it forward through `PUT /_sandbox/oauth/clock` instead of sleeping.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

# The simulator's agent is the platform's default agent (re-exported: the one id to know).
from optibridge.sandbox.comm100.simulation import DEFAULT_AGENT_ID as DEFAULT_AGENT_ID
from optibridge.sandbox.comm100.simulation import DEFAULT_AGENT_NAME, MASK

# Short, as codes are exchanged at once; RFC 6749 4.1.2 recommends at most 10 minutes.
CODE_LIFETIME_S = 60.0
ACCESS_TOKEN_LIFETIME_S = 3600
# Comm100 publishes no refresh token lifetime [?]: 30 days, IdentityServer's default.
REFRESH_TOKEN_LIFETIME_S = 30 * 24 * 3600.0
# The scopes of Comm100's documented authorize call; anything else is refused [?].
KNOWN_SCOPES = ("openid", "offline_access")
PARTNER_ID = 1  # userinfo's PartnerId: which Comm100 partner the site belongs to [?]
DEFAULT_AGENT_EMAIL = "agent@example.com"
DEFAULT_ADMIN_ID = "0c2f5e8a-3d1b-4f6a-9c7e-2b4d6f8a0e13"
DEFAULT_ADMIN_NAME = "Site Admin"
DEFAULT_ADMIN_EMAIL = "admin@example.com"


# --- what the control surface takes ------------------------------------------------------------


class _CamelModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


_SiteId = Annotated[StrictInt, Field(ge=1)]
_Email = Annotated[
    StrictStr, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
]
_Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256)]
# Visible ASCII: a client id travels in URLs, forms and Basic credentials.
_ClientId = Annotated[StrictStr, StringConstraints(pattern=r"^[!-~]{1,200}$")]
_Secret = Annotated[StrictStr, StringConstraints(min_length=1, max_length=512)]


class AgentIn(_CamelModel):
    """An agent of a site: `{"id", "siteId", "email", "name", "isAdmin", "password"?}`; an
    agent with a password must type it on the sign-in page."""

    id: uuid.UUID
    site_id: _SiteId
    email: _Email
    name: _Name
    is_admin: StrictBool = False
    password: _Secret | None = None


class OAuthClientIn(_CamelModel):
    """An OAuth client as a site admin registers it (Control Panel → Global Settings →
    Security → OAuth Client): its secret, where it may be redirected, its site."""

    client_id: _ClientId
    client_secret: _Secret
    redirect_uris: Annotated[list[StrictStr], Field(min_length=1, max_length=20)]
    site_id: _SiteId

    @field_validator("redirect_uris")
    @classmethod
    def _absolute_without_fragment(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            parts = urlsplit(uri)
            # RFC 6749 3.1.2: absolute, and no fragment.
            if parts.scheme not in {"http", "https"} or not parts.netloc or "#" in uri:
                raise ValueError(f"{uri!r} must be an absolute http(s) URL without a fragment")
        return list(dict.fromkeys(uris))


# --- who is who ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    id: str  # a lower-case guid
    site_id: int
    email: str
    name: str
    is_admin: bool
    password: str | None = None

    @classmethod
    def of(cls, given: AgentIn) -> Agent:
        return cls(
            str(given.id), given.site_id, given.email, given.name, given.is_admin, given.password
        )

    def as_dict(self) -> dict[str, Any]:
        """As the control surface shows it: a password only as `****`."""
        shown: dict[str, Any] = {
            "id": self.id,
            "siteId": self.site_id,
            "email": self.email,
            "name": self.name,
            "isAdmin": self.is_admin,
        }
        if self.password is not None:
            shown["password"] = MASK
        return shown

    def password_is(self, typed: str) -> bool:
        """Whether `typed` signs this agent in (anything does when it has no password)."""
        if self.password is None:
            return True
        # Constant-time, so the answer's timing does not tell how much of it was right.
        return hmac.compare_digest(typed.encode(), self.password.encode())

    def as_v4(self) -> dict[str, Any]:
        """The agent as `GET v4/global/agents/{id}` shows it (the v3 design's fields) [?]."""
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "email": self.email,
            "displayName": self.name,
            "firstName": first,
            "lastName": last,
            "isAdmin": self.is_admin,
            "isActive": True,
        }


def default_agents(site_id: int) -> list[Agent]:
    """The simulator's agent (not an admin) and one admin, both of `site_id`."""
    return [
        Agent(DEFAULT_AGENT_ID, site_id, DEFAULT_AGENT_EMAIL, DEFAULT_AGENT_NAME, False),
        Agent(DEFAULT_ADMIN_ID, site_id, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_NAME, True),
    ]


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    site_id: int

    @classmethod
    def of(cls, given: OAuthClientIn) -> OAuthClient:
        return cls(given.client_id, given.client_secret, tuple(given.redirect_uris), given.site_id)

    def secret_is(self, secret: str) -> bool:
        # Constant-time, so the answer's timing does not tell how much of a secret was right.
        return hmac.compare_digest(secret.encode(), self.client_secret.encode())

    def public_view(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "clientSecret": MASK,
            "redirectUris": list(self.redirect_uris),
            "siteId": self.site_id,
        }


# --- what vouches for whom ------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a code or token vouches for: this agent of this site, to this client, this scope."""

    client_id: str
    site_id: int
    agent_id: str
    scope: tuple[str, ...]
    # The code every token descends from: reusing the code revokes them all (RFC 6749 10.5).
    family: str


@dataclass
class _Code:
    grant: Grant
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class _Token:
    grant: Grant
    expires_at: float


@dataclass(frozen=True)
class Tokens:
    """What `/oauth/token` answers on success."""

    access_token: str
    refresh_token: str | None
    grant: Grant

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = " ".join(self.grant.scope)
        return body


@dataclass(frozen=True)
class Refusal:
    """A token request refused: an RFC 6749 5.2 error code and why."""

    error: str
    description: str


def _invalid_grant(description: str) -> Refusal:
    return Refusal("invalid_grant", description)


@dataclass
class IdentityProvider:
    """The platform's sign-in memory; a sandbox reset replaces it (everyone is signed out: the
    sign-in cookie's key is new)."""

    agents: list[Agent] = field(default_factory=list)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    clock_offset: float = 0.0
    cookie_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, _Token] = field(default_factory=dict)
    _refresh: dict[str, _Token] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() + self.clock_offset

    def agent(self, agent_id: str, site_id: int) -> Agent | None:
        wanted = agent_id.lower()
        return next((a for a in self.agents if a.id == wanted and a.site_id == site_id), None)

    def agents_of(self, site_id: int) -> list[Agent]:
        return [a for a in self.agents if a.site_id == site_id]

    def issue_code(self, grant: Grant, redirect_uri: str) -> str:
        self._forget_expired()
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(grant, redirect_uri, self.now() + CODE_LIFETIME_S)
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str | None, site_id: int
    ) -> Tokens | Refusal:
        """Tokens for a code, once. Any attempt uses the code up, as a code that leaked must
        not be tried again; a second use revokes what the first one was given."""
        issued = self._codes.get(code)
        if issued is None:
            return _invalid_grant("The authorization code is unknown.")
        if issued.used:
            self._revoke_family(issued.grant.family)
            return _invalid_grant(
                "The authorization code was used already; the tokens issued for it are revoked."
            )
        issued.used = True
        grant = issued.grant
        if issued.expires_at <= self.now():
            return _invalid_grant("The authorization code has expired.")
        if grant.client_id != client_id:
            return _invalid_grant("The authorization code was issued to another client.")
        if redirect_uri != issued.redirect_uri:
            return _invalid_grant("redirect_uri differs from the one the code was issued for.")
        if grant.site_id != site_id:
            return _invalid_grant(f"The authorization code is not for site {site_id}.")
        if self.agent(grant.agent_id, grant.site_id) is None:
            return _invalid_grant("The agent no longer exists.")
        refresh_expires_at = self.now() + REFRESH_TOKEN_LIFETIME_S
        return self._issue_tokens(grant, refresh_expires_at)

    def refresh(
        self, refresh_token: str, client_id: str, site_id: int, scope: tuple[str, ...] | None
    ) -> Tokens | Refusal:
        """New tokens for a refresh token, which is used up (rotated) [?]; the new refresh token
        keeps the old one's expiry (an absolute lifetime)."""
        self._forget_expired()
        issued = self._refresh.get(refresh_token)
        if issued is None:
            return _invalid_grant("The refresh token is unknown, used or expired.")
        grant = issued.grant
        if grant.client_id != client_id:
            return _invalid_grant("The refresh token was issued to another client.")
        if grant.site_id != site_id:
            return _invalid_grant(f"The refresh token is not for site {site_id}.")
        if scope is not None and not set(scope) <= set(grant.scope):
            return Refusal("invalid_scope", "The scope asked for exceeds the one granted.")
        if self.agent(grant.agent_id, grant.site_id) is None:
            return _invalid_grant("The agent no longer exists.")
        del self._refresh[refresh_token]
        narrowed = grant if scope is None else _narrowed(grant, scope)
        return self._issue_tokens(narrowed, issued.expires_at)

    def access(self, token: str) -> tuple[Grant, Agent] | None:
        """Whom a live access token vouches for; None when it is unknown, expired, or its
        client or agent is gone."""
        issued = self._access.get(token)
        if issued is None or issued.expires_at <= self.now():
            return None
        grant = issued.grant
        agent = self.agent(grant.agent_id, grant.site_id)
        if agent is None or grant.client_id not in self.clients:
            return None
        return grant, agent

    def _issue_tokens(self, grant: Grant, refresh_expires_at: float) -> Tokens:
        access = secrets.token_urlsafe(32)
        self._access[access] = _Token(grant, self.now() + ACCESS_TOKEN_LIFETIME_S)
        refresh = None
        if "offline_access" in grant.scope:  # OpenID Connect: refresh tokens are offline access
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = _Token(grant, refresh_expires_at)
        return Tokens(access, refresh, grant)

    def _revoke_family(self, family: str) -> None:
        for tokens in (self._access, self._refresh):
            for token in [t for t, issued in tokens.items() if issued.grant.family == family]:
                del tokens[token]

    def _forget_expired(self) -> None:
        """Bound the memory of a long demo. A used code is kept as long as tokens it gave may
        live, to recognise its reuse."""
        now = self.now()
        for code in [
            c
            for c, issued in self._codes.items()
            if issued.expires_at + (REFRESH_TOKEN_LIFETIME_S if issued.used else 0.0) <= now
        ]:
            del self._codes[code]
        for tokens in (self._access, self._refresh):
            for token in [t for t, issued in tokens.items() if issued.expires_at <= now]:
                del tokens[token]


def _narrowed(grant: Grant, scope: tuple[str, ...]) -> Grant:
    return Grant(grant.client_id, grant.site_id, grant.agent_id, scope, grant.family)


def new_grant(client_id: str, site_id: int, agent_id: str, scope: tuple[str, ...]) -> Grant:
    return Grant(client_id, site_id, agent_id, scope, family=secrets.token_hex(8))
