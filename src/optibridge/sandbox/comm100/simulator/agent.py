"""The agent console: chats and tickets, each with the Optimove tab embedded.

Ending a chat sends `chat_ended`; creating a ticket stores it in the sandbox and sends the
*ticket created* trigger; converting a ticket's visitor makes them a contact, as in Comm100.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from optibridge.sandbox.comm100.control import StateDep, put_contact, put_ticket
from optibridge.sandbox.comm100.identity import Agent
from optibridge.sandbox.comm100.oauth import sign_in
from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended, ticket_created_trigger
from optibridge.sandbox.comm100.simulation import (
    Channel,
    SimulatedChat,
    now_ms,
    sdk_chat,
    sdk_ticket,
    sdk_visitor,
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
from optibridge.sandbox.comm100.state import TICKET_PRIORITIES, ContactIn, SandboxState, TicketIn
from optibridge.sandbox.control import ControlError

FIRST_TICKET_ID = 1001

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _ticket(state: SandboxState, ticket_id: str) -> dict[str, Any]:
    ticket = state.tickets.get(int(ticket_id)) if ticket_id.isdigit() else None
    if ticket is None:
        raise PageError(404, f"There is no ticket {ticket_id} in the sandbox.")
    return ticket


def _sdk_agent(state: SandboxState) -> dict[str, Any]:
    """The signed-in agent as the App SDK gives it (`agentconsole.currentAgent`)."""
    config = state.simulation.config
    return {
        "id": config.agent_id if config else "",
        "name": config.agent_name if config else "Agent",
        "siteId": _site_id(state),
    }


def _platform_agent(state: SandboxState) -> Agent | None:
    """The agent the console shows as signed in, as the sandbox's platform knows them."""
    config = state.simulation.config
    return state.identity.agent(config.agent_id, config.site_id) if config else None


def _sdk_requester(state: SandboxState, ticket: Mapping[str, Any]) -> dict[str, Any] | None:
    requester_id = str(ticket["contactOrVisitorId"])
    if ticket["contactOrVisitorType"] == "contact":
        contact = state.contacts.get(requester_id)
        return dict(contact, id=requester_id) if contact else None
    visitor = state.simulation.visitors().get(requester_id)
    if visitor is None:
        return {"id": requester_id}
    return {"id": requester_id, "name": visitor.name, "email": visitor.email}


def _site_id(state: SandboxState) -> int:
    config = state.simulation.config
    return config.site_id if config else state.sites[0] if state.sites else 0


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
    # What the agent console's App SDK answers the tab with (simulator.js is the host).
    console_data: dict[str, Any] = {"agent": _sdk_agent(state)}
    if chat is not None:
        channel = "livechat"
        console_data.update(chat=sdk_chat(chat), visitor=sdk_visitor(chat))
    elif ticket is not None:
        channel = "ticketing"
        console_data["ticket"] = sdk_ticket(ticket, _sdk_requester(state, ticket))
    tab_url = sim.config.tab_url(channel) if sim.config and channel else None
    platform_agent = _platform_agent(state)
    response = render(
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
        console_data=console_data,
        tab_url=tab_url,
        priorities=TICKET_PRIORITIES,
        ticket_error=ticket_error,
        note=note,
        agent_name=sim.config.agent_name if sim.config else "Agent",
        platform_agent=platform_agent,
    )
    if platform_agent is not None:
        # The real agent console leaves the agent signed in to Comm100, so the tab's Comm100
        # sign-in (OAuth) is silent: this browser is signed in to the sandbox's platform too.
        sign_in(response, request, state.identity, platform_agent)
    return response


@router.get("/agent")
async def agent_console(request: Request, state: StateDep) -> HTMLResponse:
    return _agent_page(request, state)


@router.get("/agent/chats/{chat_id}")
async def agent_chat(request: Request, chat_id: str, state: StateDep) -> HTMLResponse:
    try:
        return _agent_page(request, state, chat=find_chat(state, chat_id))
    except PageError as error:
        return error_page(request, error)


@router.post("/agent/chats/{chat_id}/messages")
async def agent_says(request: Request, chat_id: str, state: StateDep) -> Response:
    config = state.simulation.config
    return await say(request, state, chat_id, config.agent_name if config else "Agent")


@router.post("/agent/chats/{chat_id}/end")
async def end_chat(request: Request, chat_id: str, state: StateDep) -> Response:
    try:
        chat = find_chat(state, chat_id)
        if not chat.is_open:
            raise PageError(409, "This chat has already ended.")
    except PageError as error:
        return error_page(request, error)
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
    sent = await send(request, "livechat", "chat_ended", f"chat {chat.id[:8]}", body)
    return see_other(with_sent(f"{base_path(request)}/agent/chats/{chat.id}", sent))


@router.post("/agent/tickets")
async def create_ticket(request: Request, state: StateDep) -> Response:
    form = await read_form(request)
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
    sent = await send(request, "ticketing", "ticket_created", f"ticket {ticket_id}", body)
    return see_other(with_sent(f"{base_path(request)}/agent/tickets/{ticket_id}", sent))


@router.get("/agent/tickets/{ticket_id}")
async def agent_ticket(
    request: Request, ticket_id: str, state: StateDep, converted: str | None = None
) -> HTMLResponse:
    try:
        ticket = _ticket(state, ticket_id)
    except PageError as error:
        return error_page(request, error)
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
            raise PageError(409, "The requester of this ticket is already a contact.")
    except PageError as error:
        return error_page(request, error)
    body = _contact_from_visitor(state, str(ticket["contactOrVisitorId"]))
    identity = body["contactIdentities"][0]
    contact_id = _contact_with_identity(state, identity["contactIdentityType"], identity["value"])
    if contact_id is None:
        contact_id = str(uuid.uuid4())
        try:
            await put_contact(uuid.UUID(contact_id), ContactIn.model_validate(body), state)
        except (ValidationError, ControlError) as exc:
            return error_page(request, PageError(422, f"Comm100 refused the contact: {exc}"))
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
    return see_other(f"{base_path(request)}/agent/tickets/{ticket_id}?{query}")
