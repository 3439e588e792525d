"""The Comm100 simulator: pages where a person plays a Comm100 visitor and agent (SPEC 5.5).

Mounted in the Comm100 sandbox under `simulator/` (in the demo:
`/sandbox/comm100/simulator/`). Server-rendered forms; a little JavaScript only for what a
browser must do itself (talking to the embedded Optimove tab).

- `GET simulator/` — the start page: the story, and whether the simulator is configured.
- `GET simulator/visitor[?sample=N|?visitor=ID]` — the pre-chat form (the sandbox's pre-chat
  fields and custom variables) and the offline message form. `POST simulator/visitor/chats`
  starts a chat (and sends `chat_started` unless unticked); `POST
  simulator/visitor/offline-messages` sends `offline_message_submitted`.
- `GET simulator/visitor/chats/{id}` — the visitor's chat window; `POST …/messages` says
  something.
- `GET simulator/agent` — the agent console: open and ended chats, tickets, *Create ticket*.
  `GET simulator/agent/chats/{id}` and `GET simulator/agent/tickets/{id}` select one and embed
  the Optimove tab (`{console_url}/livechat|ticketing?siteId=…&agentId=…&token=…`); the page
  answers the tab's `{"type": "optibridge:ready"}` with `{"type": "optibridge:context",
  "context": …}`. `POST …/chats/{id}/messages`, `POST …/chats/{id}/end` (sends `chat_ended`),
  `POST simulator/agent/tickets` (stores the ticket in the sandbox and sends the PascalCase
  *ticket created* trigger), `POST …/tickets/{id}/convert` (the visitor becomes a contact, as
  an agent does in Comm100).
- `POST simulator/sent/{n}/redeliver` — the same body again, as a Comm100 retry would.

Webhooks go over real HTTP (httpx) to the URLs of `PUT /_sandbox/simulator`; each action then
shows the service's answer, e.g. "Sent chat_ended: 202, sync record #12". The webhook token and
the agent token never appear in page text (only in the iframe's `src`, as in Comm100).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from optibridge.sandbox.comm100.control import StateDep, put_contact, put_ticket, sandbox_state
from optibridge.sandbox.comm100.payloads import (
    Chat,
    OfflineMessage,
    Visitor,
    chat_ended,
    chat_started,
    offline_message_submitted,
    ticket_created_trigger,
)
from optibridge.sandbox.comm100.simulation import (
    Channel,
    SampleVisitor,
    SentWebhook,
    SimulatedChat,
    SimulatedOfflineMessage,
    Simulation,
    TranscriptLine,
    field_answers,
    livechat_context,
    now_ms,
    ticketing_context,
    url_path,
)
from optibridge.sandbox.comm100.state import (
    TICKET_PRIORITIES,
    ContactIn,
    SandboxState,
    TicketIn,
)
from optibridge.sandbox.control import ControlError

PREFIX = "/simulator"
WEBHOOK_TIMEOUT_S = 10.0
MAX_FORM_BYTES = 64 * 1024
FIRST_TICKET_ID = 1001
_HERE = Path(__file__).parent
# Pre-chat and offline system field types, and the webhook's visitor key each fills.
SYSTEM_VISITOR_KEYS: Mapping[str, str] = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "product": "product_service",
    "department": "department",
}
_INPUT_TYPES = {"email": "email", "phone": "tel"}

templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
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


def mount_simulator(app: FastAPI, webhook_transport: httpx.AsyncBaseTransport | None) -> None:
    """Add the pages and their static files to a Comm100 sandbox app (before its catch-all)."""
    app.state.simulator_webhook_transport = webhook_transport
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="simulator-static")


# --- plumbing ---------------------------------------------------------------------------------


class _PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _base(request: Request) -> str:
    """The simulator's path, wherever the sandbox is mounted."""
    return f"{str(request.scope.get('root_path', '')).rstrip('/')}{PREFIX}"


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = sandbox_state(request)
    sim = state.simulation
    announced = _announced(sim, request.query_params.get("sent"))
    html = templates.get_template(template).render(
        base=_base(request),
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


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise _PageError(413, "The form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _error_page(request: Request, error: _PageError) -> HTMLResponse:
    return _render(request, "simulator/error.html", error.status, message=error.message)


def _chat(state: SandboxState, chat_id: str) -> SimulatedChat:
    chat = state.simulation.chats.get(chat_id)
    if chat is None:
        raise _PageError(404, "There is no such chat in the simulator.")
    return chat


def _ticket(state: SandboxState, ticket_id: str) -> dict[str, Any]:
    ticket = state.tickets.get(int(ticket_id)) if ticket_id.isdigit() else None
    if ticket is None:
        raise _PageError(404, f"There is no ticket {ticket_id} in the sandbox.")
    return ticket


def _site_id(state: SandboxState) -> int:
    config = state.simulation.config
    return config.site_id if config else state.sites[0] if state.sites else 0


# --- delivering webhooks ----------------------------------------------------------------------


def _scrub(text: str, url: str) -> str:
    """An error message without the URL's secrets (httpx may quote the URL)."""
    for _, value in parse_qsl(url.split("?", 1)[1] if "?" in url else ""):
        if value:
            text = text.replace(value, "****")
    return text


async def _deliver(request: Request, sent: SentWebhook) -> None:
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


async def _send(
    request: Request, channel: Channel, event: str, about: str, body: dict[str, Any]
) -> SentWebhook:
    sim = sandbox_state(request).simulation
    url = sim.config.webhook_url(channel) if sim.config else None
    sent = sim.record_sent(event=event, channel=channel, about=about, url=url, body=body)
    if url is None:
        what = "Live Chat webhook" if channel == "livechat" else "ticket trigger"
        sent.error = f"no {what} URL is configured (PUT /_sandbox/simulator)"
        return sent
    await _deliver(request, sent)
    return sent


def _with_sent(url: str, sent: SentWebhook) -> str:
    return f"{url}{'&' if '?' in url else '?'}sent={sent.id}"


# --- the start page ---------------------------------------------------------------------------


@router.get("")
async def simulator_root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/", status_code=307)


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
    return _render(
        request,
        "simulator/start.html",
        targets={k: url_path(v) if v else None for k, v in targets.items()},
    )


# --- the visitor ------------------------------------------------------------------------------


@dataclass
class _Filled:
    """What the visitor forms show: prefilled answers, or what was posted."""

    visitor_id: str
    values: dict[str, str]

    def get(self, key: str) -> str:
        return self.values.get(key, "")


def _prefill(sim: Simulation, sample: str | None, visitor_id: str | None) -> _Filled:
    config = sim.config
    samples = config.sample_visitors if config else []
    if sample is not None and sample.isdigit() and int(sample) < len(samples):
        return _from_sample(samples[int(sample)])
    known = sim.visitors().get(visitor_id or "")
    if known is not None:
        return _from_visitor(known)
    return _Filled(str(uuid.uuid4()), {"send_chat_started": "on"})


def _person_values(prefix: str, person: Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}{key}": value for key, value in person.items()}


def _from_sample(sample: SampleVisitor) -> _Filled:
    system = {
        "name": sample.name,
        "email": sample.email,
        "phone": sample.phone,
        "company": sample.company,
        "product_service": sample.product_service,
    }
    values = {"sso_id": sample.sso_id, "send_chat_started": "on"}
    for prefix in ("chat-", "offline-"):
        values |= _person_values(f"{prefix}system:", system)
        values |= _person_values(f"{prefix}field:", sample.fields)
        values |= _person_values(f"{prefix}var:", sample.variables)
    return _Filled(sample.visitor_id, values)


def _from_visitor(visitor: Visitor) -> _Filled:
    system = {key: str(getattr(visitor, key)) for key in SYSTEM_VISITOR_KEYS.values()}
    fields = {answer.name: answer.value for answer in visitor.custom_fields}
    values = {"sso_id": visitor.sso_id or "", "send_chat_started": "on"}
    for prefix in ("chat-", "offline-"):
        values |= _person_values(f"{prefix}system:", system)
        values |= _person_values(f"{prefix}field:", fields)
        values |= _person_values(f"{prefix}var:", dict(visitor.custom_variables))
    return _Filled(str(visitor.id), values)


def _field_key(prefix: str, form_field: Mapping[str, Any]) -> str:
    """The input name of a form field: system ones by visitor key, custom ones by name."""
    visitor_key = SYSTEM_VISITOR_KEYS.get(form_field["type"]) if form_field["isSystem"] else None
    if visitor_key:
        return f"{prefix}system:{visitor_key}"
    if form_field["isSystem"]:
        return f"{prefix}{form_field['type']}"  # subject, content
    return f"{prefix}field:{form_field['name']}"


def _form_fields(prefix: str, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**f, "key": _field_key(prefix, f)} for f in fields]


def _visitor_page(
    request: Request,
    filled: _Filled,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    state = sandbox_state(request)
    config = state.simulation.config
    return _render(
        request,
        "simulator/visitor.html",
        status,
        filled=filled,
        errors=errors or {},
        prechat_fields=_form_fields("chat-", state.prechat_fields),
        offline_fields=_form_fields("offline-", state.offline_fields),
        custom_variables=state.custom_variables,
        samples=config.sample_visitors if config else [],
        returning=filled.visitor_id in state.simulation.visitors(),
    )


@router.get("/visitor")
async def visitor_page(
    request: Request, state: StateDep, sample: str | None = None, visitor: str | None = None
) -> HTMLResponse:
    return _visitor_page(request, _prefill(state.simulation, sample, visitor))


def _missing_required(
    fields: list[dict[str, Any]], form: Mapping[str, str], errors: dict[str, str]
) -> None:
    for form_field in fields:
        if form_field["isRequired"] and not form.get(form_field["key"], "").strip():
            errors[form_field["key"]] = f"{form_field['name']} is required."


def _visitor_id(form: Mapping[str, str]) -> str:
    try:
        return str(uuid.UUID(form.get("visitor_id", "")))
    except ValueError:
        return str(uuid.uuid4())


def _visitor_from_form(
    request: Request,
    state: SandboxState,
    prefix: str,
    fields: list[dict[str, Any]],
    form: Mapping[str, str],
) -> Visitor:
    """The visitor as the forms describe them, plus what a browser tells Comm100 itself."""
    visitor_id = _visitor_id(form)
    system = {
        key: form.get(f"{prefix}system:{key}", "").strip() for key in SYSTEM_VISITOR_KEYS.values()
    }
    answers = [
        (str(f["id"]), str(f["name"]), form.get(f["key"], "").strip())
        for f in fields
        if f["key"].startswith(f"{prefix}field:")
    ]
    variables = {
        str(v["name"]): form.get(f"{prefix}var:{v['name']}", "").strip()
        for v in state.custom_variables
    }
    language = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    sso_id = form.get("sso_id", "").strip() if prefix == "chat-" else ""
    return Visitor(
        id=visitor_id,
        name=system["name"],
        email=system["email"],
        phone=system["phone"],
        company=system["company"],
        product_service=system["product_service"],
        department=system["department"],
        ip=request.client.host if request.client else "",
        language=language,
        landing_page=f"{request.base_url.scheme}://{request.base_url.netloc}"
        f"{_base(request)}/visitor",
        custom_fields=field_answers(answers),
        custom_variables=variables,
        visits=state.simulation.visits_of(visitor_id) + 1,
        sso_id=sso_id or None,
    )


@router.post("/visitor/chats")
async def start_chat(request: Request, state: StateDep) -> Response:
    form = await _form(request)
    fields = _form_fields("chat-", state.prechat_fields)
    errors: dict[str, str] = {}
    _missing_required(fields, form, errors)
    if errors:
        return _visitor_page(request, _Filled(_visitor_id(form), form), 422, errors)
    visitor = _visitor_from_form(request, state, "chat-", fields, form)
    chat = state.simulation.start_chat(visitor, form.get("message", "").strip())
    page = f"{_base(request)}/visitor/chats/{chat.id}"
    if form.get("send_chat_started") != "on":
        return _see_other(page)
    body = chat_started(visitor=visitor, chat_id=chat.id)
    sent = await _send(request, "livechat", "chat_started", f"chat {chat.id[:8]}", body)
    return _see_other(_with_sent(page, sent))


@router.get("/visitor/chats/{chat_id}")
async def visitor_chat_page(request: Request, chat_id: str, state: StateDep) -> HTMLResponse:
    try:
        chat = _chat(state, chat_id)
    except _PageError as error:
        return _error_page(request, error)
    return _render(request, "simulator/visitor_chat.html", chat=chat)


async def _say(request: Request, state: StateDep, chat_id: str, speaker: str | None) -> Response:
    try:
        chat = _chat(state, chat_id)
        text = (await _form(request)).get("message", "").strip()
        if not chat.is_open:
            raise _PageError(409, "This chat has ended.")
    except _PageError as error:
        return _error_page(request, error)
    who = "agent" if speaker else "visitor"
    if text:
        name = speaker or chat.visitor.name or "Visitor"
        chat.lines.append(TranscriptLine(now_ms(), name, text))
    return _see_other(f"{_base(request)}/{who}/chats/{chat.id}")


@router.post("/visitor/chats/{chat_id}/messages")
async def visitor_says(request: Request, chat_id: str, state: StateDep) -> Response:
    return await _say(request, state, chat_id, None)


@router.post("/visitor/offline-messages")
async def submit_offline_message(request: Request, state: StateDep) -> Response:
    form = await _form(request)
    fields = _form_fields("offline-", state.offline_fields)
    errors: dict[str, str] = {}
    _missing_required(fields, form, errors)
    if errors:
        return _visitor_page(request, _Filled(_visitor_id(form), form), 422, errors)
    visitor = _visitor_from_form(request, state, "offline-", fields, form)
    message = SimulatedOfflineMessage(
        id=str(uuid.uuid4()),
        visitor=visitor,
        subject=form.get("offline-subject", "").strip(),
        time_ms=now_ms(),
    )
    state.simulation.offline_messages.append(message)
    body = offline_message_submitted(
        visitor=visitor,
        offline_message=OfflineMessage(
            id=message.id,
            time=message.time_ms,
            subject=message.subject,
            content=form.get("offline-content", "").strip(),
        ),
    )
    about = f"offline message {message.id[:8]}"
    sent = await _send(request, "livechat", "offline_message_submitted", about, body)
    query = urlencode({"visitor": str(visitor.id), "sent": sent.id})
    return _see_other(f"{_base(request)}/visitor?{query}")


# --- the agent --------------------------------------------------------------------------------


def _visitor_label(visitor: Visitor | None, visitor_id: str) -> str:
    if visitor is not None and visitor.name:
        return f"{visitor.name} <{visitor.email}>" if visitor.email else visitor.name
    if visitor is not None and visitor.email:
        return visitor.email
    return f"Visitor {visitor_id[:8]}"


def _contact_label(contact: Mapping[str, Any]) -> str:
    emails = [
        i["value"] for i in contact["contactIdentities"] if i["contactIdentityType"] == "Email"
    ]
    return f"{contact['name']} <{emails[0]}>" if emails else str(contact["name"])


def _requester_label(state: SandboxState, ticket: Mapping[str, Any]) -> str:
    requester_id = str(ticket["contactOrVisitorId"])
    if ticket["contactOrVisitorType"] == "contact":
        contact = state.contacts.get(requester_id)
        return _contact_label(contact) if contact else f"Contact {requester_id[:8]}"
    return _visitor_label(state.simulation.visitors().get(requester_id), requester_id)


def _agent_page(
    request: Request,
    state: SandboxState,
    *,
    chat: SimulatedChat | None = None,
    ticket: dict[str, Any] | None = None,
    status: int = 200,
    ticket_error: str | None = None,
    note: str | None = None,
) -> HTMLResponse:
    sim = state.simulation
    chats = sorted(sim.chats.values(), key=lambda c: (not c.is_open, -c.started_ms))
    tickets = [
        {**t, "requester": _requester_label(state, t)}
        for t in sorted(state.tickets.values(), key=lambda t: -int(t["id"]))
    ]
    contacts = [
        {"id": contact_id, "label": _contact_label(c)}
        for contact_id, c in state.contacts.items()
        if not c.get("mergeToContactId")
    ]
    visitors = [
        {"id": visitor_id, "label": _visitor_label(v, visitor_id)}
        for visitor_id, v in reversed(sim.visitors().items())
    ]
    channel: Channel | None = None
    context: dict[str, Any] | None = None
    if chat is not None:
        channel, context = "livechat", livechat_context(chat)
    elif ticket is not None:
        channel, context = "ticketing", ticketing_context(ticket)
    tab_url = sim.config.tab_url(channel) if sim.config and channel else None
    return _render(
        request,
        "simulator/agent.html",
        status,
        chats=chats,
        tickets=tickets,
        contacts=contacts,
        visitors=visitors,
        chat=chat,
        ticket=ticket,
        requester=_requester_label(state, ticket) if ticket else None,
        channel=channel,
        context=context,
        tab_url=tab_url,
        priorities=TICKET_PRIORITIES,
        ticket_error=ticket_error,
        note=note,
        agent_name=sim.config.agent_name if sim.config else "Agent",
    )


@router.get("/agent")
async def agent_console(request: Request, state: StateDep) -> HTMLResponse:
    return _agent_page(request, state)


@router.get("/agent/chats/{chat_id}")
async def agent_chat(request: Request, chat_id: str, state: StateDep) -> HTMLResponse:
    try:
        return _agent_page(request, state, chat=_chat(state, chat_id))
    except _PageError as error:
        return _error_page(request, error)


@router.post("/agent/chats/{chat_id}/messages")
async def agent_says(request: Request, chat_id: str, state: StateDep) -> Response:
    config = state.simulation.config
    return await _say(request, state, chat_id, config.agent_name if config else "Agent")


@router.post("/agent/chats/{chat_id}/end")
async def end_chat(request: Request, chat_id: str, state: StateDep) -> Response:
    try:
        chat = _chat(state, chat_id)
        if not chat.is_open:
            raise _PageError(409, "This chat has already ended.")
    except _PageError as error:
        return _error_page(request, error)
    chat.ended_ms = max(now_ms(), chat.started_ms)
    body = chat_ended(
        visitor=chat.visitor,
        chat=Chat(
            id=chat.id,
            start_time=chat.started_ms,
            end_time=chat.ended_ms,
            transcript=chat.transcript(),
        ),
    )
    sent = await _send(request, "livechat", "chat_ended", f"chat {chat.id[:8]}", body)
    return _see_other(_with_sent(f"{_base(request)}/agent/chats/{chat.id}", sent))


@router.post("/agent/tickets")
async def create_ticket(request: Request, state: StateDep) -> Response:
    form = await _form(request)
    requester_type = form.get("requester_type", "")
    if requester_type == "contact":
        requester_id = form.get("contact_id", "")
        if requester_id not in state.contacts:
            return _agent_page(request, state, status=422, ticket_error="Choose a contact.")
    elif requester_type == "visitor":
        requester_id = form.get("visitor_id", "new")
        if requester_id not in state.simulation.visitors():
            requester_id = str(uuid.uuid4())  # "a new visitor"
    else:
        error = "Choose whether the requester is a contact or a visitor."
        return _agent_page(request, state, status=422, ticket_error=error)
    priority = form.get("priority", "normal")
    ticket_id = max([FIRST_TICKET_ID - 1, *state.tickets]) + 1
    try:
        ticket_in = TicketIn.model_validate(
            {
                "subject": form.get("subject", "").strip(),
                "priority": priority,
                "contactOrVisitorId": requester_id,
                "contactOrVisitorType": requester_type,
            }
        )
    except ValidationError:
        return _agent_page(request, state, status=422, ticket_error="Choose a known priority.")
    ticket = await put_ticket(ticket_id, ticket_in, state)
    body = ticket_created_trigger(
        ticket_id,
        ticket["contactOrVisitorId"],
        ticket["contactOrVisitorType"],
        site_id=_site_id(state),
        subject=ticket["subject"],
        status=ticket["status"],
        priority=ticket["priority"],
        channel_id=ticket["channelId"],
    )
    sent = await _send(request, "ticketing", "ticket_created", f"ticket {ticket_id}", body)
    return _see_other(_with_sent(f"{_base(request)}/agent/tickets/{ticket_id}", sent))


@router.get("/agent/tickets/{ticket_id}")
async def agent_ticket(
    request: Request, ticket_id: str, state: StateDep, converted: str | None = None
) -> HTMLResponse:
    try:
        ticket = _ticket(state, ticket_id)
    except _PageError as error:
        return _error_page(request, error)
    note = None
    if converted and converted in state.contacts:
        note = (
            f"The visitor is now the contact {_contact_label(state.contacts[converted])}; "
            "the Optimove tab was given the new requester."
        )
    return _agent_page(request, state, ticket=ticket, note=note)


def _contact_from_visitor(state: SandboxState, visitor_id: str) -> dict[str, Any]:
    """A contact body for the visitor: name, phone, company, e-mail (or visitor) identity, and
    the answers of form fields named like a custom contact field (e.g. "Customer ID")."""
    visitor = state.simulation.visitors().get(visitor_id)
    name = (visitor.name if visitor else "") or f"Visitor {visitor_id[:8]}"
    identity = (
        {"contactIdentityType": "Email", "value": visitor.email}
        if visitor and visitor.email
        else {"contactIdentityType": "visitor", "value": visitor_id}
    )
    contact_fields = {f["name"].casefold(): f["name"] for f in state.custom_contact_fields}
    answers = visitor.custom_fields if visitor else ()
    custom = [
        {"name": contact_fields[a.name.casefold()], "value": a.value}
        for a in answers
        if a.value and a.name.casefold() in contact_fields
    ]
    first, _, last = name.partition(" ")
    return {
        "name": name,
        "firstName": first,
        "lastName": last or None,
        "phone": (visitor.phone if visitor else "") or None,
        "company": (visitor.company if visitor else "") or None,
        "customFields": custom,
        "contactIdentities": [identity],
    }


def _contact_with_identity(state: SandboxState, kind: str, value: str) -> str | None:
    for contact_id, contact in state.contacts.items():
        for identity in contact["contactIdentities"]:
            same_value = str(identity["value"]).casefold() == value.casefold()
            if identity["contactIdentityType"] == kind and same_value:
                return contact_id
    return None


@router.post("/agent/tickets/{ticket_id}/convert")
async def convert_requester(request: Request, ticket_id: str, state: StateDep) -> Response:
    """The ticket's visitor becomes a contact (an existing one with the same e-mail, else new)."""
    try:
        ticket = _ticket(state, ticket_id)
        if ticket["contactOrVisitorType"] != "visitor":
            raise _PageError(409, "The requester of this ticket is already a contact.")
    except _PageError as error:
        return _error_page(request, error)
    body = _contact_from_visitor(state, str(ticket["contactOrVisitorId"]))
    identity = body["contactIdentities"][0]
    contact_id = _contact_with_identity(state, identity["contactIdentityType"], identity["value"])
    if contact_id is None:
        contact_id = str(uuid.uuid4())
        try:
            await put_contact(uuid.UUID(contact_id), ContactIn.model_validate(body), state)
        except (ValidationError, ControlError) as exc:
            return _error_page(request, _PageError(422, f"Comm100 refused the contact: {exc}"))
    changed = TicketIn.model_validate(
        {
            "subject": ticket["subject"],
            "channelId": ticket["channelId"],
            "status": ticket["status"],
            "priority": ticket["priority"],
            "contactOrVisitorId": contact_id,
            "contactOrVisitorType": "contact",
        }
    )
    await put_ticket(ticket["id"], changed, state)
    query = urlencode({"converted": contact_id})
    return _see_other(f"{_base(request)}/agent/tickets/{ticket_id}?{query}")


# --- deliveries -------------------------------------------------------------------------------


@router.post("/sent/{sent_id}/redeliver")
async def redeliver(request: Request, sent_id: int, state: StateDep) -> Response:
    """The same body to the same URL again: what Comm100 does when it retries."""
    form = await _form(request)
    back = form.get("next", "")
    if not back.startswith(f"{_base(request)}/") or back.startswith("//"):
        back = f"{_base(request)}/agent"
    original = state.simulation.find_sent(sent_id)
    if original is None or original.url is None:
        return _error_page(request, _PageError(404, "There is no such delivery to repeat."))
    sent = state.simulation.record_sent(
        event=original.event,
        channel=original.channel,
        about=original.about,
        url=original.url,
        body=original.body,
    )
    await _deliver(request, sent)
    return _see_other(_with_sent(back, sent))
