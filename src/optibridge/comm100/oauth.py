"""Comm100 sign-in: OAuth 2 authorization code against the site's Comm100 platform.

How Comm100's own sample backend knows which agent of which site is really there
(reference/comm100.md, "Who is calling"): the browser is sent to
`{platform}/oauth/authorize?client_id&response_type=code&siteid&scope=openid offline_access
&redirect_uri&state` (silent when the agent is already signed in to Comm100), comes back to the
redirect URI with a `code`, which is exchanged at `POST {platform}/oauth/token?siteId=` (a form:
`grant_type=authorization_code`, `code`, `client_id`, `client_secret`, `redirect_uri`) for an
access token, with which `GET {platform}/oauth/userinfo?siteId=` says `{AgentId, SiteId,
PartnerId, Email}` [3p].

Whether the agent is an administrator of the site is not in that documented answer. It is read
tolerantly from the user info when present (`IsAdmin`, any spelling) [?], else from the v4 API
as that agent, `GET global/agents/{AgentId}` → `isAdmin` [?]. When neither says, `is_admin` is
None and the caller decides (the control panel refuses: it never guesses someone an admin).

Secrets: the client secret and the code travel only in the form body, the access token only in
the `Authorization` header; none is ever put in a URL, a message or a log, and anything Comm100
says back is redacted before it is quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack
from urllib.parse import quote, urlencode

from optibridge.comm100.errors import (
    BadCredentialsError,
    InvalidRequestError,
    NotComm100ApiError,
    PrivateAddressError,
    TransientError,
    UnreachableError,
)
from optibridge.comm100.schemas import ShapeError, error_message, get
from optibridge.vendor_http.bodies import decode_body
from optibridge.vendor_http.client import (
    ClientOptions,
    SlotLimiter,
    Vendor,
    VendorClient,
    host_of,
    url_prefix,
)

AUTHORIZE = "oauth/authorize"
TOKEN = "oauth/token"  # noqa: S105 (a path)
USER_INFO = "oauth/userinfo"
AGENT = "global/agents/{agent_id}"
# What Comm100's sample asks for: who the agent is, and a refresh token.
SCOPE = "openid offline_access"
_MAX_ID_LENGTH = 100
_MAX_EMAIL_LENGTH = 254

COMM100_SIGN_IN = Vendor(
    name="Comm100",
    api="Comm100's sign-in (OAuth 2)",
    base_url_setting="the Comm100 platform URL",
    example_base_url="https://dash11.comm100.io",
    credentials="the OAuth client id and secret",
    credentials_advice=(
        "Check the OAuth client id and secret (Comm100 Control Panel → Global Settings →"
        " Security → OAuth Client) and that optibridge's redirect URL is registered there."
    ),
    error_message=error_message,
    bad_credentials=BadCredentialsError,
    not_the_api=NotComm100ApiError,
    private_address=PrivateAddressError,
    unreachable=UnreachableError,
    invalid_request=InvalidRequestError,
    transient=TransientError,
)

COMM100_AS_AGENT = Vendor(
    name="Comm100",
    api="Comm100's sign-in (OAuth 2)",
    base_url_setting="the Comm100 platform URL",
    example_base_url="https://dash11.comm100.io",
    credentials="the signed-in agent's access",
    credentials_advice="Sign in with Comm100 again.",
    error_message=error_message,
    bad_credentials=BadCredentialsError,
    not_the_api=NotComm100ApiError,
    private_address=PrivateAddressError,
    unreachable=UnreachableError,
    invalid_request=InvalidRequestError,
    transient=TransientError,
)


@dataclass(frozen=True)
class SignedInAgent:
    """Who Comm100 says signed in. `is_admin` is None when Comm100 did not say."""

    agent_id: str
    site_id: int
    email: str | None
    is_admin: bool | None


def checked_platform_url(platform_url: str) -> str:
    """The platform URL with one trailing slash; ValueError when it can't be one."""
    prefix = url_prefix(platform_url, query_allowed=False)
    if prefix is None:
        raise ValueError(
            "The Comm100 platform URL must be an http(s) address such as https://dash11.comm100.io."
        )
    return prefix


def authorize_url(
    platform_url: str, *, client_id: str, site_id: int, redirect_uri: str, state: str
) -> str:
    """Where to send the browser: Comm100's sign-in, which comes back to `redirect_uri`."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "siteid": str(site_id),
            "scope": SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        },
        quote_via=quote,
    )
    return f"{checked_platform_url(platform_url)}{AUTHORIZE}?{query}"


def sign_in(
    platform_url: str,
    api_base_url: str | None,
    site_id: int,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    need_admin: bool,
    limiter: SlotLimiter,
    **options: Unpack[ClientOptions],
) -> SignedInAgent:
    """The code exchanged and the agent read: who signed in, to which site, and (when
    `need_admin`) whether an administrator of it. Raises a `Comm100Error` saying what failed."""
    platform = checked_platform_url(platform_url)
    token = _TokenEndpoint(
        platform, site_id, client_secret, code, limiter=limiter, **options
    ).exchange(client_id=client_id, code=code, redirect_uri=redirect_uri)
    agent = _AsAgent(platform, site_id, token, limiter=limiter, **options).user_info()
    if need_admin and agent.is_admin is None and api_base_url:
        reader = _AsAgent(api_base_url, site_id, token, limiter=limiter, **options)
        return SignedInAgent(agent.agent_id, agent.site_id, agent.email, reader.is_admin(agent))
    return agent


class _TokenEndpoint(VendorClient):
    """`POST oauth/token`: sent once (a code can be used only once, so a retry could only
    fail), with the client's credentials in the form."""

    vendor = COMM100_SIGN_IN

    def __init__(
        self,
        platform: str,
        site_id: int,
        client_secret: str,
        code: str,
        *,
        limiter: SlotLimiter,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(
            platform,
            bucket=f"comm100:{host_of(platform)}",
            auth_headers={},
            redact={client_secret: "[client secret]", code: "[code]"},
            params={"siteId": str(site_id)},
            limiter=limiter,
            max_attempts=1,
            **options,
        )
        self._client_secret = client_secret

    def exchange(self, *, client_id: str, code: str, redirect_uri: str) -> str:
        endpoint = f"POST {TOKEN}"
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": self._client_secret,
            "redirect_uri": redirect_uri,
        }
        response = self._request("POST", TOKEN, endpoint, form=form)
        body = decode_body(response.content, response.headers.get("content-type"))
        token = get(body.value, "access_token") if isinstance(body.value, Mapping) else None
        if not isinstance(token, str) or not token.strip():
            raise NotComm100ApiError(
                f"Comm100's token endpoint answered {body.describe()} without an access token"
                f" ({endpoint}). Check the Comm100 platform URL.",
                upstream_status=response.status_code,
                endpoint=endpoint,
            )
        return token.strip()


class _AsAgent(VendorClient):
    """Calls made with the signed-in agent's access token (reads only, so retried)."""

    vendor = COMM100_AS_AGENT

    def __init__(
        self,
        base_url: str,
        site_id: int,
        access_token: str,
        *,
        limiter: SlotLimiter,
        **options: Unpack[ClientOptions],
    ) -> None:
        base = url_prefix(base_url, query_allowed=False) or base_url
        super().__init__(
            base,
            bucket=f"comm100:{host_of(base)}",
            auth_headers={"Authorization": f"Bearer {access_token}"},
            redact={access_token: "[access token]"},
            params={"siteId": str(site_id)},
            limiter=limiter,
            max_attempts=2,
            **options,
        )

    def user_info(self) -> SignedInAgent:
        endpoint = f"GET {USER_INFO}"
        response = self._request("GET", USER_INFO, endpoint)
        body = decode_body(response.content, response.headers.get("content-type"))
        try:
            return parse_user_info(body.value)
        except ShapeError as error:
            raise NotComm100ApiError(
                f"Comm100's user info {error} ({endpoint}).",
                upstream_status=response.status_code,
                endpoint=endpoint,
            ) from None

    def is_admin(self, agent: SignedInAgent) -> bool | None:
        """What the v4 API says of the agent; None when it can't say (no such endpoint,
        refused, or no such field): then no one is taken for an administrator."""
        path = AGENT.format(agent_id=quote(agent.agent_id, safe=""))
        endpoint = f"GET {AGENT}"
        try:
            response = self._request("GET", path, endpoint)
        except (NotComm100ApiError, InvalidRequestError, BadCredentialsError):
            return None
        body = decode_body(response.content, response.headers.get("content-type"))
        return _flag(_unwrapped(body.value), "isAdmin", "IsAdmin", "is_admin")


def parse_user_info(value: Any) -> SignedInAgent:
    """`{AgentId, SiteId, PartnerId, Email}` [3p], read in any casing, also wrapped in `data`;
    ShapeError (saying what is missing) when it does not name an agent and a site."""
    info = _unwrapped(value)
    if not isinstance(info, Mapping):
        raise ShapeError("is not a JSON object")
    agent_id = get(info, "AgentId", "agent_id", "sub")
    if isinstance(agent_id, bool) or not isinstance(agent_id, str | int):
        raise ShapeError("does not say which agent signed in (no AgentId)")
    agent_text = str(agent_id).strip()
    if not agent_text or len(agent_text) > _MAX_ID_LENGTH or not agent_text.isprintable():
        raise ShapeError("names no usable agent id")
    site = get(info, "SiteId", "site_id")
    if isinstance(site, str) and site.strip().isdigit():
        site = int(site.strip())
    if isinstance(site, bool) or not isinstance(site, int) or site <= 0:
        raise ShapeError("does not say which site the agent signed in to (no SiteId)")
    email = get(info, "Email", "email")
    usable_email = (
        email.strip()
        if isinstance(email, str) and 0 < len(email.strip()) <= _MAX_EMAIL_LENGTH
        else None
    )
    return SignedInAgent(
        agent_text, site, usable_email, _flag(info, "IsAdmin", "isAdmin", "is_admin")
    )


def _unwrapped(value: Any) -> Any:
    if isinstance(value, Mapping):
        inner = get(value, "data", "result")
        if isinstance(inner, Mapping):
            return inner
    return value


def _flag(value: Any, *names: str) -> bool | None:
    if not isinstance(value, Mapping):
        return None
    found = get(value, *names)
    if isinstance(found, bool):
        return found
    if isinstance(found, str) and found.strip().lower() in ("true", "false"):
        return found.strip().lower() == "true"
    return None
