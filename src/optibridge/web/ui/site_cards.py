"""The site page's cards that say how things stand: small views built from the services, so that
`site_settings` (the page and its forms) stays one screenful of routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from optibridge.errors import AppError
from optibridge.runtime import Runtime
from optibridge.services import comm100_webhooks as webhooks_service
from optibridge.services.activity import budget_hour
from optibridge.services.comm100_connection import FieldChoices
from optibridge.services.comm100_signin import redirect_uri
from optibridge.services.comm100_webhooks import WebhookState
from optibridge.services.settings import StoredSettings
from optibridge.web.ui.budget_chart import BudgetChart, budget_chart


@dataclass(frozen=True)
class Status:
    kind: Literal["on", "off", "failing"]
    text: str


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    title: str = ""  # the result in a word or two, in bold before the message


def sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else message + "."


@dataclass(frozen=True)
class Comm100AppView:
    """What the card shows."""

    sign_in_ready: bool
    redirect_uri: str
    platform_url: str
    oauth_client_id: str
    secret_mask: str | None


def comm100_app_view(
    stored: StoredSettings, document: dict[str, Any], public_base: str, typed: dict[str, str]
) -> Comm100AppView:
    section = document.get("comm100", {})
    return Comm100AppView(
        sign_in_ready=stored.sign_in_ready,
        redirect_uri=redirect_uri(public_base),
        platform_url=typed.get("platform_url", section.get("platform_url") or ""),
        oauth_client_id=typed.get("oauth_client_id", section.get("oauth_client_id") or ""),
        secret_mask=section.get("oauth_client_secret"),
    )


@dataclass(frozen=True)
class WebhookRow:
    event: str
    name: str
    state: WebhookState
    status: Status  # the state in a word, coloured
    message: str


@dataclass(frozen=True)
class WebhooksCard:
    """*Webhooks in Comm100*: each needed webhook's state, or why it can't be read now."""

    connected: bool  # the button works only with a saved connection
    rows: tuple[WebhookRow, ...]
    problem: str | None
    warning: str | None
    ticket_steps: tuple[str, ...]
    result: Result | None


_STATE_WORDS: dict[WebhookState, Status] = {
    "registered": Status("on", "Registered"),
    "missing": Status("off", "Missing"),
    "elsewhere": Status("failing", "Elsewhere"),
}


def webhooks_card(
    runtime: Runtime,
    site_id: int,
    public: str,
    *,
    comm100_saved: bool,
    choices: FieldChoices,
    result: Result | None,
) -> WebhooksCard:
    """Read from Comm100 (one call), only when the field lists could be read: a Comm100 that
    does not answer is waited for once per page, not twice."""
    steps = webhooks_service.ticket_trigger(site_id).steps

    def unread(problem: str) -> WebhooksCard:
        return WebhooksCard(comm100_saved, (), problem, None, steps, result)

    if not comm100_saved:
        return unread(
            "Connect the Comm100 site above first: the webhooks are registered with its agent's "
            "API key (the agent needs the Manage Integration permission)."
        )
    if not choices.read_from_comm100:
        return unread("Their state can't be read while Comm100 can't be (see Comm100 site above).")
    try:
        report = webhooks_service.webhook_report(runtime, site_id, public)
    except AppError as error:
        return unread(f"Their state can't be read from Comm100: {sentence(error.message)}")
    rows = tuple(
        WebhookRow(e.event, e.name, e.state, _STATE_WORDS[e.state], e.message)
        for e in report.livechat
    )
    return WebhooksCard(True, rows, None, report.warning, steps, result)


def budget_card(runtime: Runtime, site_id: int) -> BudgetChart:
    """*Optimove's budget, the last hour*: the site's calls by lane (`web/ui/budget_chart.py`)."""
    config = runtime.config
    with runtime.unit_of_work(read_only=True) as db:
        hour = budget_hour(db, site_id, window_s=config.optimove_rate_window_s)
    return budget_chart(hour, limit=config.optimove_rate_limit)
