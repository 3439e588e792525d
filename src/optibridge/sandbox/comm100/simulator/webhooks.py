"""Delivering the simulator's webhooks to the service, and delivering one again.

Webhooks go over real HTTP (httpx) to the URLs of `PUT /_sandbox/simulator`; the service's
answer is noted on the delivery, with the URL's secrets scrubbed from any error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from optibridge.sandbox.comm100.control import StateDep, sandbox_state
from optibridge.sandbox.comm100.simulation import Channel, SentWebhook
from optibridge.sandbox.comm100.simulator.pages import (
    PREFIX,
    PageError,
    base_path,
    error_page,
    read_form,
    see_other,
)

WEBHOOK_TIMEOUT_S = 10.0

router = APIRouter(prefix=PREFIX, include_in_schema=False)


# --- delivering webhooks ----------------------------------------------------------------------


def _scrub(text: str, url: str) -> str:
    """An error message without the URL's secrets (httpx may quote the URL)."""
    for _, value in parse_qsl(url.split("?", 1)[1] if "?" in url else ""):
        if value:
            text = text.replace(value, "****")
    return text


async def deliver(request: Request, sent: SentWebhook) -> None:
    """POST the body to the service and note its answer on `sent`."""
    assert sent.url is not None
    transport: httpx.AsyncBaseTransport | None = request.app.state.simulator_webhook_transport
    try:
        # trust_env=False: Comm100 reaches the service directly, never through this
        # machine's proxy settings.
        async with httpx.AsyncClient(
            transport=transport, timeout=WEBHOOK_TIMEOUT_S, trust_env=False
        ) as http:
            response = await http.post(sent.url, json=sent.body)
    except httpx.HTTPError as exc:
        sent.error = _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), sent.url)
        return
    sent.status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        record_id = answer.get("id")
        sent.record_id = record_id if isinstance(record_id, int) else None
        sent.duplicate = answer.get("duplicate") is True
        error = answer.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            sent.error = _scrub(error["message"], sent.url)
    if not sent.accepted and sent.error is None:
        sent.error = response.reason_phrase or "refused"


async def send(
    request: Request, channel: Channel, event: str, about: str, body: dict[str, Any]
) -> SentWebhook:
    sim = sandbox_state(request).simulation
    url = sim.config.webhook_url(channel) if sim.config else None
    sent = sim.record_sent(event=event, channel=channel, about=about, url=url, body=body)
    if url is None:
        what = "Live Chat webhook" if channel == "livechat" else "ticket trigger"
        sent.error = f"no {what} URL is configured (PUT /_sandbox/simulator)"
        return sent
    await deliver(request, sent)
    return sent


def with_sent(url: str, sent: SentWebhook) -> str:
    return f"{url}{'&' if '?' in url else '?'}sent={sent.id}"


# --- delivering one again ---------------------------------------------------------------------


@router.post("/sent/{sent_id}/redeliver")
async def redeliver(request: Request, sent_id: int, state: StateDep) -> Response:
    """The same body to the same URL again: what Comm100 does when it retries."""
    form = await read_form(request)
    back = form.get("next", "")
    if not back.startswith(f"{base_path(request)}/") or back.startswith("//"):
        back = f"{base_path(request)}/agent"
    original = state.simulation.find_sent(sent_id)
    if original is None or original.url is None:
        return error_page(request, PageError(404, "There is no such delivery to repeat."))
    sent = state.simulation.record_sent(
        event=original.event,
        channel=original.channel,
        about=original.about,
        url=original.url,
        body=original.body,
    )
    await deliver(request, sent)
    return see_other(with_sent(back, sent))
