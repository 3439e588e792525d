"""The Optimove tab (SPEC 5.4): `/console/{site_id}/livechat` and `/console/{site_id}/ticketing`.

An iframe in the Comm100 agent console. Its URL carries the agent token (Comm100 adds `siteId`,
`agentId` and `domain`); the page checks the token, hands its script a console session in a
meta tag, and the script does the rest through the console API. No inline script or style, so
the Content-Security-Policy allows only this origin's files; `frame-ancestors` lets Comm100's
consoles (and this service itself, and the site's configured Comm100 host) embed it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from optibridge.console.session import (
    SESSION_PREFIX,
    authenticate_console,
    clean_agent_id,
    issue_session,
)
from optibridge.domain.records import Channel
from optibridge.domain.settings import CHANNEL_NAMES
from optibridge.errors import AppError, NotFound, Unauthorized
from optibridge.runtime import Runtime
from optibridge.services.comm100_signin import START_PATH
from optibridge.sync.sites import load_settings
from optibridge.web.deps import RuntimeDep

CONSOLE = Path(__file__).parent  # its own templates/ and static/
templates = Jinja2Templates(directory=CONSOLE / "templates")

# Comm100's agent consoles live under these (dash11.comm100.io, ….comm100.com).
COMM100_FRAME_ANCESTORS = ("https://*.comm100.com", "https://*.comm100.io")
_ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


def _asset_version(name: str) -> str:
    return hashlib.sha256((CONSOLE / "static" / name).read_bytes()).hexdigest()[:12]


_VERSIONS = {name: _asset_version(name) for name in _ASSETS}

router = APIRouter(tags=["console"])

SiteIdQuery = Annotated[
    str | None, Query(alias="siteId", description="Added by Comm100; must match the path.")
]
AgentIdQuery = Annotated[
    str | None, Query(alias="agentId", description="Added by Comm100: the agent's id.")
]
TokenQuery = Annotated[
    str | None,
    Query(description="A site-scoped agent token (put in the app's widget URL by the admin)."),
]


# A tab that can't be shown is still a page (an agent reads it in the iframe), with its status.
TAB_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"text/html": {}}}
    for status, description in {
        400: "The tab's address names another site than Comm100 opened it for",
        401: "No agent token, or one that is not valid (revoked, another site's)",
        404: "The site is not set up for this token",
    }.items()
}


@router.get(
    "/console/{site_id}/livechat",
    response_class=HTMLResponse,
    summary="The Optimove tab beside a chat (an iframe page)",
    responses=TAB_REFUSALS,
)
def livechat_tab(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    site_query: SiteIdQuery = None,
    agent_id: AgentIdQuery = None,
    token: TokenQuery = None,
) -> Response:
    """The tab asks the Comm100 agent console that frames it for the current chat and its
    visitor through the App SDK's message protocol, and follows the agent's selection."""
    return _tab(request, runtime, site_id, "livechat", site_query, agent_id, token)


@router.get(
    "/console/{site_id}/ticketing",
    response_class=HTMLResponse,
    summary="The Optimove tab beside a ticket (an iframe page)",
    responses=TAB_REFUSALS,
)
def ticketing_tab(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    site_query: SiteIdQuery = None,
    agent_id: AgentIdQuery = None,
    token: TokenQuery = None,
) -> Response:
    """As the Live Chat tab, for the current ticket and its requester."""
    return _tab(request, runtime, site_id, "ticketing", site_query, agent_id, token)


@router.get("/console/static/{name}", include_in_schema=False)
def console_asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"No console file {name!r}.")
    return FileResponse(
        CONSOLE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def _tab(
    request: Request,
    runtime: Runtime,
    site_id: int,
    channel: Channel,
    site_query: str | None,
    agent_id: str | None,
    token: str | None,
) -> Response:
    # Until the caller is known to belong to this site, a refusal tells nothing about it (the
    # site's own Comm100 host would show whether it exists, and where its Comm100 lives).
    ancestors = ["'self'", *COMM100_FRAME_ANCESTORS]
    try:
        if site_query is not None and site_query.strip() != str(site_id):
            return problem_page(
                request,
                ancestors,
                400,
                "This tab belongs to another site",
                f"Comm100 opened it for site {site_query.strip()[:20]}, but its address is for"
                f" site {site_id}: ask your administrator to fix the app's widget URL.",
            )
        sign_in_url = ""
        if token and not token.startswith(SESSION_PREFIX):
            caller = authenticate_console(runtime, token)
            session = issue_session(runtime, caller.principal, site_id, agent_id)
            load_settings(runtime, site_id)  # 404 for a site that does not exist
        elif _sign_in_ready(runtime, site_id):
            # The script signs the agent in with Comm100 (or uses the session it has).
            session = ""
            sign_in_url = _sign_in_url(request, site_id)
        else:
            raise Unauthorized(
                "This tab can't tell who you are: ask your administrator to set up Comm100"
                " sign-in for the site, or to add an agent token to the Optimove app's widget"
                " URL (token=…)."
            )
    except Unauthorized as error:
        return problem_page(request, ancestors, 401, "Optimove can't be shown", error.message)
    except NotFound:
        return problem_page(
            request,
            ancestors,
            404,
            "Optimove can't be shown",
            f"Site {site_id} is not set up in optibridge for this token: ask your administrator"
            " to check the Optimove app's address in Comm100.",
        )
    except AppError as error:
        return problem_page(
            request, ancestors, error.status, "Optimove can't be shown", error.message
        )
    ancestors = frame_ancestors(runtime, site_id)
    root = request.scope.get("root_path", "")
    response = templates.TemplateResponse(
        request,
        "tab.html",
        {
            "channel": channel,
            "channel_name": CHANNEL_NAMES[channel],
            "conversation": "chat" if channel == "livechat" else "ticket",
            "site_id": site_id,
            "agent_id": clean_agent_id(agent_id) or "",
            "session": session,
            "sign_in_url": sign_in_url,
            "api_base": f"{root}/api/v1/sites/{site_id}/console",
            "css_url": f"{root}/console/static/console.css?v={_VERSIONS['console.css']}",
            "js_url": f"{root}/console/static/console.js?v={_VERSIONS['console.js']}",
        },
    )
    _secure(response, ancestors)
    return response


def problem_page(
    request: Request, ancestors: list[str], status: int, title: str, message: str
) -> Response:
    """A page the tab shows instead of the customer: what went wrong, with its status."""
    root = request.scope.get("root_path", "")
    response = templates.TemplateResponse(
        request,
        "problem.html",
        {
            "title": title,
            "message": message,
            "css_url": f"{root}/console/static/console.css?v={_VERSIONS['console.css']}",
        },
        status_code=status,
    )
    _secure(response, ancestors)
    return response


def _sign_in_ready(runtime: Runtime, site_id: int) -> bool:
    try:
        return load_settings(runtime, site_id).sign_in_ready
    except NotFound:
        return False


def _sign_in_url(request: Request, site_id: int) -> str:
    """Where the script starts Comm100 sign-in, coming back to this very page (it adds its
    nonce)."""
    root = request.scope.get("root_path", "")
    path = request.url.path
    here = path[len(root) :] if root and path.startswith(root) else path
    if request.url.query:
        here += "?" + request.url.query
    return f"{root}{START_PATH}?" + urlencode({"site_id": site_id, "next": here})


def frame_ancestors(runtime: Runtime, site_id: int) -> list[str]:
    """Who may embed the tab: this service, Comm100's consoles, and the origin of the site's
    Comm100 API base when it is elsewhere (a sandbox, whose simulator embeds the tab)."""
    ancestors = ["'self'", *COMM100_FRAME_ANCESTORS]
    try:
        api_base = load_settings(runtime, site_id).settings.comm100.api_base_url
    except AppError:
        return ancestors
    if api_base:
        parts = urlsplit(api_base)
        origin = f"{parts.scheme}://{parts.netloc}"
        if not any(ch in origin for ch in " ;,'\"") and origin not in ancestors:
            ancestors.append(origin)
    return ancestors


def _secure(response: Response, ancestors: list[str]) -> None:
    response.headers["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors " + " ".join(ancestors),
        )
    )
    # The address carries a token: never send it on as a Referer, never keep the page.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
