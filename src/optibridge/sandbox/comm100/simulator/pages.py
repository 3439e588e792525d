"""What every simulator page does: the templates, rendering, forms, page errors, lookups.

Also the start page. The routers of `visitor`, `agent` and `webhooks` share `PREFIX`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from optibridge.sandbox.comm100.control import StateDep, sandbox_state
from optibridge.sandbox.comm100.simulation import (
    SentWebhook,
    SimulatedChat,
    Simulation,
    TranscriptLine,
    now_ms,
    url_path,
)
from optibridge.sandbox.comm100.state import SandboxState

PREFIX = "/simulator"
MAX_FORM_BYTES = 64 * 1024
# templates/simulator/ and static/ sit beside the Comm100 sandbox's modules.
COMM100_DIR = Path(__file__).parents[1]
_INPUT_TYPES = {"email": "email", "phone": "tel"}

templates = Environment(
    loader=FileSystemLoader(COMM100_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _clock(epoch_ms: int | float | None) -> str:
    if epoch_ms is None:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M:%S UTC")


templates.filters["clock"] = _clock
templates.filters["input_type"] = lambda field: _INPUT_TYPES.get(field["type"], "text")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def base_path(request: Request) -> str:
    """The simulator's path, wherever the sandbox is mounted."""
    return f"{str(request.scope.get('root_path', '')).rstrip('/')}{PREFIX}"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = sandbox_state(request)
    sim = state.simulation
    announced = _announced(sim, request.query_params.get("sent"))
    html = templates.get_template(template).render(
        base=base_path(request),
        config=sim.config,
        announced=announced,
        recent=sim.recent_sent(),
        here=_here(request),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _here(request: Request) -> str:
    """This page's path and query, less the announcement of a delivery."""
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "sent"])
    return f"{request.url.path}?{query}" if query else request.url.path


def _announced(sim: Simulation, sent_id: str | None) -> SentWebhook | None:
    if not sent_id or not sent_id.isdigit():
        return None
    return sim.find_sent(int(sent_id))


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "The form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def error_page(request: Request, error: PageError) -> HTMLResponse:
    return render(request, "simulator/error.html", error.status, message=error.message)


def find_chat(state: SandboxState, chat_id: str) -> SimulatedChat:
    chat = state.simulation.chats.get(chat_id)
    if chat is None:
        raise PageError(404, "There is no such chat in the simulator.")
    return chat


async def say(request: Request, state: StateDep, chat_id: str, speaker: str | None) -> Response:
    try:
        chat = find_chat(state, chat_id)
        text = (await read_form(request)).get("message", "").strip()
        if not chat.is_open:
            raise PageError(409, "This chat has ended.")
    except PageError as error:
        return error_page(request, error)
    who = "agent" if speaker else "visitor"
    if text:
        name = speaker or chat.visitor.name or "Visitor"
        chat.lines.append(TranscriptLine(now_ms(), name, text))
    return see_other(f"{base_path(request)}/{who}/chats/{chat.id}")


# --- the start page ---------------------------------------------------------------------------


@router.get("")
async def simulator_root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{base_path(request)}/", status_code=307)


@router.get("/")
async def start_page(request: Request) -> HTMLResponse:
    config = sandbox_state(request).simulation.config
    targets = {}
    if config is not None:
        targets = {
            "Live Chat webhooks": config.livechat_webhook_url,
            "Ticket trigger": config.ticketing_webhook_url,
            "Optimove tab": config.console_url,
        }
    return render(
        request,
        "simulator/start.html",
        targets={k: url_path(v) if v else None for k, v in targets.items()},
    )
