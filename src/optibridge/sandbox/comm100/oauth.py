"""Comm100's OAuth 2 (authorization code) as the sandbox's platform answers it.

`router` holds the platform's routes (`oauth/authorize`, `oauth/sign-in`, `oauth/sign-out`,
`oauth/token`, `oauth/userinfo`; other verbs on them are answered 405). Who is who is
`optibridge.sandbox.comm100.identity`'s, the control surface `oauth_control`'s; the behaviour
as a whole is documented in `optibridge.sandbox.comm100.app`.

The browser's sign-in to the platform is a cookie naming an agent, signed (itsdangerous) with
the provider's key, which a reset replaces. Every call is logged without its secrets: a query
or form value is shown only when its name is in `_SHOWN`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from optibridge.sandbox.comm100.identity import (
    KNOWN_SCOPES,
    PARTNER_ID,
    Agent,
    IdentityProvider,
    OAuthClient,
    Refusal,
    Tokens,
    new_grant,
)
from optibridge.sandbox.comm100.simulation import MASK
from optibridge.sandbox.comm100.state import LoggedRequest, SandboxState

COOKIE_NAME = "comm100_sandbox_agent"
_COOKIE_SALT = "comm100-sandbox-sign-in"
MAX_FORM_BYTES = 64 * 1024
# Parameters the request log may show; any other value (code, client_secret, refresh_token,
# state, and whatever a client adds) is masked.
_SHOWN = frozenset(
    {"client_id", "response_type", "siteid", "scope", "redirect_uri", "prompt", "grant_type"}
    | {"agent_id", "cancel"}  # the sign-in form's (its `password` is masked)
)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The sign-in page refuses to be framed, as identity providers' pages commonly do [?]: a
# client must not count on signing in inside an iframe (silent sign-in, all redirects, works).
_PAGE_HEADERS = {
    **_NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
_PROMPTS = frozenset({"none", "login", "consent", "select_account"})

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _sandbox_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


_StateDep = Annotated[SandboxState, Depends(_sandbox_state)]
Params = dict[str, list[str]]


def params_of(items: Iterable[tuple[str, str]]) -> Params:
    """Parameters by lower-case name (Comm100's ASP.NET binds names case-insensitively); an
    empty value counts as absent (RFC 6749 3.1)."""
    params: Params = {}
    for name, value in items:
        if value != "":
            params.setdefault(name.lower(), []).append(value)
    return params


def _site_param(params: Params) -> int | None:
    values = params.get("siteid", [])
    if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
        return None
    return int(values[0])


def masked(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value if name.lower() in _SHOWN else MASK) for name, value in items]


def _record(state: SandboxState, request: Request, path: str) -> LoggedRequest:
    query = urlencode(masked(request.query_params.multi_items()), safe="*")
    return state.requests.record(request.method, path, query)


def _root(request: Request) -> str:
    """The sandbox's path prefix wherever it is mounted ('' when it is the whole server)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, template: str, status: int, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(root=_root(request), **context)
    return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)


def _message_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return _page(request, "oauth/message.html", status, title=title, message=message, alert=True)


# --- the authorization request -----------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizeRequest:
    """An authorization request found valid."""

    client: OAuthClient
    redirect_uri: str
    site_id: int
    scope: tuple[str, ...]
    state: str | None
    prompt: frozenset[str]

    def hidden_fields(self) -> list[tuple[str, str]]:
        """What the sign-in form carries back, to be checked again."""
        fields = [
            ("client_id", self.client.client_id),
            ("response_type", "code"),
            ("siteid", str(self.site_id)),
            ("scope", " ".join(self.scope)),
            ("redirect_uri", self.redirect_uri),
        ]
        return fields + ([("state", self.state)] if self.state is not None else [])


@dataclass(frozen=True)
class Untrusted:
    """Refused before the redirect URI is trusted: a page, never a redirect (RFC 6749 4.1.2.1)."""

    message: str


@dataclass(frozen=True)
class ErrorRedirect:
    """Refused after the redirect URI is trusted: the error goes back to the client."""

    redirect_uri: str
    error: str
    description: str
    state: str | None

    def location(self) -> str:
        answer = [("error", self.error), ("error_description", self.description)]
        return with_query(self.redirect_uri, answer, self.state)


def with_query(uri: str, params: list[tuple[str, str]], state: str | None) -> str:
    """`uri` with `params` (and `state`, if any) added to its own query."""
    parts = urlsplit(uri)
    added = urlencode(params + ([("state", state)] if state is not None else []))
    return urlunsplit(parts._replace(query=f"{parts.query}&{added}" if parts.query else added))


def check_authorize(
    params: Params, provider: IdentityProvider, sites: list[int]
) -> AuthorizeRequest | Untrusted | ErrorRedirect:
    """RFC 6749 4.1.1 as the platform checks it: the client, its redirect URI and site first."""
    client_ids = params.get("client_id", [])
    if len(client_ids) != 1:
        return Untrusted("client_id is missing or given more than once.")
    client = provider.clients.get(client_ids[0])
    if client is None:
        return Untrusted(f"There is no OAuth client {client_ids[0]!r} on this platform.")
    uris = params.get("redirect_uri", [])
    if len(uris) != 1:
        return Untrusted("redirect_uri is missing or given more than once.")
    if uris[0] not in client.redirect_uris:
        return Untrusted("redirect_uri is not one of the client's registered redirect URLs.")
    site_id = _site_param(params)
    if site_id is None:
        return Untrusted("siteid is missing, given more than once, or not a site id.")
    if site_id != client.site_id:
        return Untrusted(f"The OAuth client is not registered on site {site_id}.")
    if site_id not in sites:
        return Untrusted(f"There is no site {site_id} on this platform.")
    states = params.get("state", [])
    state = states[0] if len(states) == 1 else None

    def refuse(error: str, description: str) -> ErrorRedirect:
        return ErrorRedirect(uris[0], error, description, state)

    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        return refuse("invalid_request", f"Given more than once: {', '.join(repeated)}.")
    response_type = params.get("response_type", [""])[0]
    if not response_type:
        return refuse("invalid_request", "response_type is required.")
    if response_type != "code":
        return refuse("unsupported_response_type", "Only response_type=code is supported.")
    scope = tuple(dict.fromkeys(params.get("scope", [""])[0].split()))
    unknown = [s for s in scope if s not in KNOWN_SCOPES]
    if unknown:
        return refuse("invalid_scope", f"Unknown scope: {' '.join(unknown)}.")
    if "openid" not in scope:
        return refuse("invalid_scope", "The scope must include openid.")
    prompt = frozenset(params.get("prompt", [""])[0].split())
    if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        return refuse("invalid_request", "prompt is not valid.")
    return AuthorizeRequest(client, uris[0], site_id, scope, state, prompt)


# --- the browser's sign-in ---------------------------------------------------------------------


def _serializer(provider: IdentityProvider) -> URLSafeSerializer:
    return URLSafeSerializer(provider.cookie_key, salt=_COOKIE_SALT)


def signed_in_agent(request: Request, provider: IdentityProvider, site_id: int) -> Agent | None:
    """The agent of `site_id` this browser is signed in as, if any."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    try:
        agent_id = _serializer(provider).loads(value)
    except BadSignature:
        return None
    return provider.agent(agent_id, site_id) if isinstance(agent_id, str) else None


def sign_in(response: Response, request: Request, provider: IdentityProvider, agent: Agent) -> None:
    """Sign this browser in as `agent`: for the sandbox's paths only, wherever it is mounted;
    `Lax` is enough, as the service's tab is served from the same site in the demo."""
    response.set_cookie(
        COOKIE_NAME,
        _serializer(provider).dumps(agent.id),
        path=_root(request) or "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _signed_in(
    state: SandboxState, checked: AuthorizeRequest, agent: Agent, status: int
) -> RedirectResponse:
    """The code for `agent`, sent back to the client."""
    grant = new_grant(checked.client.client_id, checked.site_id, agent.id, checked.scope)
    code = state.identity.issue_code(grant, checked.redirect_uri)
    location = with_query(checked.redirect_uri, [("code", code)], checked.state)
    return RedirectResponse(location, status_code=status, headers=_NO_STORE)


def _sign_in_page(
    request: Request,
    state: SandboxState,
    checked: AuthorizeRequest,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    return _page(
        request,
        "oauth/sign_in.html",
        status,
        site_id=checked.site_id,
        client_id=checked.client.client_id,
        agents=state.identity.agents_of(checked.site_id),
        hidden=checked.hidden_fields(),
        error=error,
    )


router = APIRouter(tags=["Comm100 OAuth 2"])


@router.get("/oauth/authorize", summary="Authorization endpoint (authorization code)")
async def authorize(request: Request, state: _StateDep) -> Response:
    """`client_id`, `response_type=code`, `siteid`, `scope` (`openid offline_access`),
    `redirect_uri`, `state`, `prompt`: see the sandbox's description."""
    entry = _record(state, request, "/oauth/authorize")
    params = params_of(request.query_params.multi_items())
    checked = check_authorize(params, state.identity, state.sites)
    response: Response
    if isinstance(checked, Untrusted):
        response = _message_page(request, 400, "This sign-in request is not valid", checked.message)
    elif isinstance(checked, ErrorRedirect):
        response = RedirectResponse(checked.location(), status_code=302, headers=_NO_STORE)
    else:
        agent = signed_in_agent(request, state.identity, checked.site_id)
        entry.user = agent.email if agent else None
        if agent is not None and not checked.prompt & {"login", "select_account"}:
            response = _signed_in(state, checked, agent, 302)
        elif "none" in checked.prompt:
            refusal = ErrorRedirect(
                checked.redirect_uri, "login_required", "Nobody is signed in.", checked.state
            )
            response = RedirectResponse(refusal.location(), status_code=302, headers=_NO_STORE)
        else:
            response = _sign_in_page(request, state, checked)
    entry.status = response.status_code
    return response


async def _read_form(request: Request) -> list[tuple[str, str]] | None:
    """The urlencoded body's fields; None if it is too large, of another type or not UTF-8."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        return None
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


@router.post("/oauth/sign-in", summary="The sign-in page's form: be this agent")
async def sign_in_form(request: Request, state: _StateDep) -> Response:
    """The authorization request again (checked again) with the chosen `agent_id`, or
    `cancel` (the client then gets `access_denied`)."""
    entry = _record(state, request, "/oauth/sign-in")
    form = await _read_form(request)
    entry.body = dict(masked(form)) if form is not None else None
    response = _answer_sign_in(request, state, form, entry)
    entry.status = response.status_code
    return response


def _answer_sign_in(
    request: Request, state: SandboxState, form: list[tuple[str, str]] | None, entry: LoggedRequest
) -> Response:
    if form is None:
        return _message_page(
            request, 400, "Not a sign-in form", "Expected a small urlencoded form."
        )
    params = params_of(form)
    checked = check_authorize(params, state.identity, state.sites)
    if isinstance(checked, Untrusted):
        return _message_page(request, 400, "This sign-in request is not valid", checked.message)
    if isinstance(checked, ErrorRedirect):
        return RedirectResponse(checked.location(), status_code=303, headers=_NO_STORE)
    if "cancel" in params:
        refusal = ErrorRedirect(
            checked.redirect_uri, "access_denied", "The agent refused.", checked.state
        )
        return RedirectResponse(refusal.location(), status_code=303, headers=_NO_STORE)
    chosen = params.get("agent_id", [""])[0]
    agent = state.identity.agent(chosen, checked.site_id)
    if agent is None:
        error = f"Choose one of the agents of site {checked.site_id}."
        return _sign_in_page(request, state, checked, 422, error)
    entry.user = agent.email
    if not agent.password_is(params.get("password", [""])[0]):
        error = f"Wrong password for {agent.email}."
        return _sign_in_page(request, state, checked, 422, error)
    response = _signed_in(state, checked, agent, 303)
    sign_in(response, request, state.identity, agent)
    return response


@router.post("/oauth/sign-out", summary="Sign this browser out of the platform")
async def sign_out(request: Request, state: _StateDep) -> Response:
    entry = _record(state, request, "/oauth/sign-out")
    response = _page(
        request,
        "oauth/message.html",
        200,
        title="Signed out",
        message="This browser is signed out of the Comm100 sandbox.",
        alert=False,
    )
    response.delete_cookie(COOKIE_NAME, path=_root(request) or "/", httponly=True, samesite="lax")
    entry.status = response.status_code
    return response


# --- the token endpoint ------------------------------------------------------------------------


def _token_error(status: int, error: str, description: str, *, basic: bool = False) -> Response:
    headers = dict(_NO_STORE)
    if basic:  # RFC 6749 5.2: a client that tried Basic is told to try it again
        headers["WWW-Authenticate"] = 'Basic realm="Comm100"'
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass(frozen=True)
class _ClientCredentials:
    client_id: str
    secret: str
    basic: bool


def _client_credentials(
    authorization: str | None, form: Mapping[str, str]
) -> _ClientCredentials | Response:
    """HTTP Basic (RFC 6749 2.3.1: each part form-urlencoded) or the form's
    `client_id` and `client_secret`; not both."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        client_id = form.get("client_id")
        if client_id is None:
            return _token_error(401, "invalid_client", "Client authentication is required.")
        return _ClientCredentials(client_id, form.get("client_secret", ""), basic=False)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _token_error(401, "invalid_client", "Malformed Basic credentials.", basic=True)
    user, separator, password = decoded.partition(":")
    if not separator:
        return _token_error(401, "invalid_client", "Malformed Basic credentials.", basic=True)
    client_id = unquote_plus(user)
    if "client_secret" in form:
        description = "Use one client authentication method, not Basic and the form."
        return _token_error(400, "invalid_request", description)
    if form.get("client_id", client_id) != client_id:
        return _token_error(400, "invalid_request", "client_id differs from the Basic user.")
    return _ClientCredentials(client_id, unquote_plus(password), basic=True)


def answer_token_request(
    state: SandboxState,
    authorization: str | None,
    query: Params,
    form_items: list[tuple[str, str]] | None,
) -> tuple[Response, str | None]:
    """RFC 6749 4.1.3 and 6 as the platform answers them, and who asked (the client id)."""
    if form_items is None:
        description = "The body must be application/x-www-form-urlencoded (UTF-8)."
        return _token_error(400, "invalid_request", description), None
    params = params_of(form_items)
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        description = f"Given more than once: {', '.join(repeated)}."
        return _token_error(400, "invalid_request", description), None
    form = {name: values[0] for name, values in params.items()}
    credentials = _client_credentials(authorization, form)
    if isinstance(credentials, Response):
        return credentials, None
    client = state.identity.clients.get(credentials.client_id)
    if client is None or not client.secret_is(credentials.secret):
        description = "Unknown client or wrong client secret."
        return _token_error(401, "invalid_client", description, basic=credentials.basic), None
    return _grant_tokens(state.identity, client, query, form), client.client_id


def _grant_tokens(
    provider: IdentityProvider, client: OAuthClient, query: Params, form: dict[str, str]
) -> Response:
    grant_type = form.get("grant_type")
    if grant_type is None:
        return _token_error(400, "invalid_request", "grant_type is required.")
    if grant_type not in {"authorization_code", "refresh_token"}:
        description = "grant_type must be authorization_code or refresh_token."
        return _token_error(400, "unsupported_grant_type", description)
    site_id = _site_param(query)
    if site_id is None:
        return _token_error(400, "invalid_request", "The siteId query parameter is required.")
    result: Tokens | Refusal
    if grant_type == "authorization_code":
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if code is None or redirect_uri is None:
            return _token_error(400, "invalid_request", "code and redirect_uri are required.")
        result = provider.redeem_code(code, client.client_id, redirect_uri, site_id)
    else:
        refresh_token = form.get("refresh_token")
        if refresh_token is None:
            return _token_error(400, "invalid_request", "refresh_token is required.")
        scope = tuple(form["scope"].split()) if "scope" in form else None
        result = provider.refresh(refresh_token, client.client_id, site_id, scope)
    if isinstance(result, Refusal):
        return _token_error(400, result.error, result.description)
    return JSONResponse(result.as_response(), headers=_NO_STORE)


@router.post("/oauth/token", summary="Token endpoint (authorization_code, refresh_token)")
async def token(request: Request, state: _StateDep) -> Response:
    """A urlencoded form; the client authenticates with HTTP Basic or `client_id` and
    `client_secret` in the form; `siteId` in the query."""
    entry = _record(state, request, "/oauth/token")
    form = await _read_form(request)
    entry.body = dict(masked(form)) if form is not None else None
    query = params_of(request.query_params.multi_items())
    authorization = request.headers.get("authorization")
    response, entry.user = answer_token_request(state, authorization, query, form)
    entry.status = response.status_code
    return response


# --- user info ---------------------------------------------------------------------------------


def _bearer_error(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    headers = {**_NO_STORE, "WWW-Authenticate": challenge}
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


def answer_userinfo(
    state: SandboxState, authorization: str | None, query: Params
) -> tuple[Response, str | None]:
    """The documented `{AgentId, SiteId, PartnerId, Email}`, and who asked (the e-mail)."""
    scheme, _, token = (authorization or "").partition(" ")
    found = state.identity.access(token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        description = "The access token is missing, unknown or expired."
        return _bearer_error(401, "invalid_token", description), None
    grant, agent = found
    site_id = _site_param(query)
    if site_id is None:
        description = "The siteId query parameter is required."
        return _bearer_error(400, "invalid_request", description), agent.email
    if site_id != grant.site_id:
        description = f"The access token is not for site {site_id}."
        return _bearer_error(403, "insufficient_scope", description), agent.email
    info: dict[str, Any] = {
        "AgentId": agent.id,
        "SiteId": agent.site_id,
        "PartnerId": PARTNER_ID,
        "Email": agent.email,
    }
    if state.behaviour.userinfo_is_admin:
        info["IsAdmin"] = agent.is_admin
    return JSONResponse(info, headers=_NO_STORE), agent.email


@router.api_route("/oauth/userinfo", methods=["GET", "POST"], summary="The signed-in agent")
async def userinfo(request: Request, state: _StateDep) -> Response:
    """`Authorization: Bearer <access_token>` and `siteId` in the query."""
    entry = _record(state, request, "/oauth/userinfo")
    query = params_of(request.query_params.multi_items())
    authorization = request.headers.get("authorization")
    response, entry.user = answer_userinfo(state, authorization, query)
    entry.status = response.status_code
    return response


# --- other verbs -------------------------------------------------------------------------------

_ALLOWED = {
    "/oauth/authorize": ("GET",),
    "/oauth/sign-in": ("POST",),
    "/oauth/sign-out": ("POST",),
    "/oauth/token": ("POST",),
    "/oauth/userinfo": ("GET", "POST"),
}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _not_allowed(path: str, allowed: tuple[str, ...]) -> Callable[..., Awaitable[Response]]:
    # Without these, the v4 API's catch-all would answer them (with a 401 for no credentials).
    async def answer(request: Request, state: _StateDep) -> Response:
        entry = _record(state, request, path)
        body = {
            "error": "invalid_request",
            "error_description": f"{request.method} is not allowed.",
        }
        response = JSONResponse(body, status_code=405, headers={"Allow": ", ".join(allowed)})
        entry.status = response.status_code
        return response

    return answer


for _path, _allowed in _ALLOWED.items():
    router.add_api_route(
        _path,
        _not_allowed(_path, _allowed),
        methods=[m for m in _METHODS if m not in _allowed],
        include_in_schema=False,
    )
