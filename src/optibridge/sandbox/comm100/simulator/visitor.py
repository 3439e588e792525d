"""The visitor's pages: the pre-chat and offline forms, the chat window.

Each action sends the webhook Comm100 would (`chat_started`, `offline_message_submitted`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from optibridge.sandbox.comm100.control import StateDep, sandbox_state
from optibridge.sandbox.comm100.payloads import (
    OfflineMessage,
    Visitor,
    chat_started,
    offline_message_submitted,
)
from optibridge.sandbox.comm100.simulation import (
    SampleVisitor,
    SimulatedOfflineMessage,
    Simulation,
    field_answers,
    now_ms,
)
from optibridge.sandbox.comm100.simulator.pages import (
    PREFIX,
    PageError,
    base_path,
    error_page,
    find_chat,
    read_form,
    render,
    say,
    see_other,
)
from optibridge.sandbox.comm100.simulator.webhooks import send, with_sent
from optibridge.sandbox.comm100.state import SandboxState

# Pre-chat and offline system field types, and the webhook's visitor key each fills.
SYSTEM_VISITOR_KEYS: Mapping[str, str] = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "product": "product_service",
    "department": "department",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


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
    return render(
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
        f"{base_path(request)}/visitor",
        custom_fields=field_answers(answers),
        custom_variables=variables,
        visits=state.simulation.visits_of(visitor_id) + 1,
        sso_id=sso_id or None,
    )


@router.post("/visitor/chats")
async def start_chat(request: Request, state: StateDep) -> Response:
    form = await read_form(request)
    fields = _form_fields("chat-", state.prechat_fields)
    errors: dict[str, str] = {}
    _missing_required(fields, form, errors)
    if errors:
        return _visitor_page(request, _Filled(_visitor_id(form), form), 422, errors)
    visitor = _visitor_from_form(request, state, "chat-", fields, form)
    chat = state.simulation.start_chat(visitor, form.get("message", "").strip())
    page = f"{base_path(request)}/visitor/chats/{chat.id}"
    if form.get("send_chat_started") != "on":
        return see_other(page)
    body = chat_started(visitor=visitor, chat_id=chat.id)
    sent = await send(request, "livechat", "chat_started", f"chat {chat.id[:8]}", body)
    return see_other(with_sent(page, sent))


@router.get("/visitor/chats/{chat_id}")
async def visitor_chat_page(request: Request, chat_id: str, state: StateDep) -> HTMLResponse:
    try:
        chat = find_chat(state, chat_id)
    except PageError as error:
        return error_page(request, error)
    return render(request, "simulator/visitor_chat.html", chat=chat)


@router.post("/visitor/chats/{chat_id}/messages")
async def visitor_says(request: Request, chat_id: str, state: StateDep) -> Response:
    return await say(request, state, chat_id, None)


@router.post("/visitor/offline-messages")
async def submit_offline_message(request: Request, state: StateDep) -> Response:
    form = await read_form(request)
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
        content=form.get("offline-content", "").strip(),
    )
    state.simulation.offline_messages.append(message)
    body = offline_message_submitted(
        visitor=visitor,
        offline_message=OfflineMessage(
            id=message.id,
            time=message.time_ms,
            subject=message.subject,
            content=message.content,
        ),
    )
    about = f"offline message {message.id[:8]}"
    sent = await send(request, "livechat", "offline_message_submitted", about, body)
    query = urlencode({"visitor": str(visitor.id), "sent": sent.id})
    return see_other(f"{base_path(request)}/visitor?{query}")
