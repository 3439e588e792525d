"""The site's Comm100 app manifest (2.0), filled in with this deployment's tab URLs.

Comm100's manifest 2.0 (reference/comm100.md, "Agent console apps") keys `agentConsole.widgets`
by widget type. The chat side tab is `chatSideTab` [doc]; the ticket side tab's key is not
confirmed, `ticketSideTab` by analogy [?]: an administrator whose upload is refused for it can
remove that entry and keep the chat tab (docs/agent-console.md says how).

The widget URLs are absolute (the app is hosted here, not in the uploaded package). With
Comm100 sign-in set up they carry nothing secret: the tab signs the agent in itself. Without
it, they carry a placeholder for a site-scoped agent token (the weaker option: anyone who sees
the URL can use the site's console), unless the caller passes a token it just issued.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from optibridge import __version__
from optibridge.domain.records import Channel

# Comm100's widget type per channel; the ticketing key is unconfirmed (see the module).
WIDGET_TYPES: dict[Channel, str] = {"livechat": "chatSideTab", "ticketing": "ticketSideTab"}
TOKEN_PLACEHOLDER = "REPLACE_WITH_AGENT_TOKEN"  # noqa: S105 (a placeholder, not a secret)
ICON_PATH = "/console/static/icon.svg"


def tab_url(public_base: str, site_id: int, channel: Channel, token: str | None = None) -> str:
    """Where Comm100 opens the tab; `token` only for a deployment without Comm100 sign-in."""
    url = f"{public_base.rstrip('/')}/console/{site_id}/{channel}"
    return f"{url}?{urlencode({'token': token})}" if token else url


def app_manifest(
    public_base: str,
    site_id: int,
    *,
    sign_in_ready: bool,
    agent_token: str | None = None,
) -> dict[str, Any]:
    """The manifest to upload to Comm100 (Control Panel → Apps & Integrations → My Apps)."""
    token = None if sign_in_ready else (agent_token or TOKEN_PLACEHOLDER)
    icon = public_base.rstrip("/") + ICON_PATH
    widgets = {
        widget_type: {
            "id": f"optimove-{channel}",
            "label": "Optimove",
            "icon": icon,
            "url": tab_url(public_base, site_id, channel, token),
        }
        for channel, widget_type in WIDGET_TYPES.items()
    }
    return {
        "manifestVersion": "2.0",
        "name": "Optimove",
        "description": (
            "The Optimove customer beside each chat and ticket: see, refresh, edit and create"
            f" customers (served by optibridge for site {site_id})."
        ),
        "version": __version__,
        "agentConsole": {"widgets": widgets},
    }
