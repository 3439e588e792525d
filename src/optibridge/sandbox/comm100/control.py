"""The Comm100 sandbox's control surface under `/_sandbox/`: seed data, set knobs, read the log.

No credentials, never rate-limited, never faulted, never logged. Errors and the routes every
sandbox has (keys, the request log, reset) are `optibridge.sandbox.control`'s; 409 refuses an
identity another contact has.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from optibridge.sandbox.comm100.history import v4_time
from optibridge.sandbox.comm100.history_control import control_routes as history_control_routes
from optibridge.sandbox.comm100.oauth_control import control_routes as oauth_control_routes
from optibridge.sandbox.comm100.simulation import SimulatorConfig
from optibridge.sandbox.comm100.state import (
    CONTACT_SYSTEM_FIELDS,
    Behaviour,
    BehaviourPatch,
    ContactField,
    ContactIn,
    CustomVariable,
    Faults,
    FaultsPatch,
    FormField,
    Limits,
    SandboxState,
    TicketIn,
    WebhookIn,
    contact_field_out,
    form_field_out,
    new_webhook_id,
    now_iso,
    stable_id,
    system_contact_fields,
)
from optibridge.sandbox.control import PREFIX, ControlError, invalid, merged, not_found
from optibridge.sandbox.rate_limit import LimitsPatch


def sandbox_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(sandbox_state)]
_SiteId = Annotated[int, Field(ge=1, strict=True)]
_TicketId = Annotated[int, Path(ge=1)]

router = APIRouter(prefix=PREFIX, tags=["sandbox control"])
router.include_router(oauth_control_routes)  # agents, OAuth clients, the platform's clock
router.include_router(history_control_routes)  # past chats and offline messages


# --- contacts ---------------------------------------------------------------------------------


def _custom_field_values(state: SandboxState, given: ContactIn) -> list[dict[str, Any]]:
    by_id = {f["id"]: f for f in state.custom_contact_fields}
    by_name = {f["name"].casefold(): f for f in state.custom_contact_fields}
    problems: list[dict[str, str]] = []
    values: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, custom in enumerate(given.custom_fields):
        if custom.id is not None:
            field = by_id.get(str(custom.id))
            pointer, named = f"/customFields/{index}/id", f"id '{custom.id}'"
        else:
            field = by_name.get((custom.name or "").casefold())
            pointer, named = f"/customFields/{index}/name", f"name '{custom.name}'"
        if field is None:
            problems.append(
                {"pointer": pointer, "message": f"no custom contact field with the {named}"}
            )
        elif field["id"] in seen:
            problems.append({"pointer": pointer, "message": "this field is given twice"})
        else:
            seen.add(field["id"])
            values.append({"id": field["id"], "value": custom.value})
    if problems:
        raise invalid(problems)
    return values


def _identities(state: SandboxState, contact_id: str, given: ContactIn) -> list[dict[str, Any]]:
    problems: list[dict[str, str]] = []
    conflicts: list[dict[str, str]] = []
    taken = {
        (i["contactIdentityType"], i["value"].casefold()): other_id
        for other_id, other in state.contacts.items()
        if other_id != contact_id and not other.get("mergeToContactId")
        for i in other["contactIdentities"]
    }
    identities: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for index, identity in enumerate(given.contact_identities):
        key = (identity.identity_type, identity.value.casefold())
        if identity.contact_id is not None and str(identity.contact_id) != contact_id:
            message = "must be the contact's own id (or be left out)"
            problems.append(
                {"pointer": f"/contactIdentities/{index}/contactId", "message": message}
            )
        if key in seen:
            message = "the same identity is given twice"
            problems.append({"pointer": f"/contactIdentities/{index}/value", "message": message})
        seen.add(key)
        if key in taken:
            message = f"contact {taken[key]} already has this {identity.identity_type} identity"
            conflicts.append({"pointer": f"/contactIdentities/{index}/value", "message": message})
        identities.append(
            {
                "id": str(identity.id)
                if identity.id
                else stable_id(f"identity:{contact_id}", f"{key[0]}:{key[1]}"),
                "contactId": contact_id,
                "contactIdentityType": identity.identity_type,
                "value": identity.value,
                "displayName": identity.display_name
                if identity.display_name is not None
                else identity.value,
            }
        )
    if problems:
        raise invalid(problems)
    if conflicts:
        raise invalid(conflicts, status=409, code="conflict")
    return identities


def _stored_contact(state: SandboxState, contact_id: str, given: ContactIn) -> dict[str, Any]:
    """The contact as the v4 API will show it; refuses what Comm100 would refuse."""
    problems: list[dict[str, str]] = []
    if given.id is not None and str(given.id) != contact_id:
        problems.append({"pointer": "/id", "message": "must equal the id in the path"})
    if not given.contact_identities and given.merge_to_contact_id is None:
        problems.append(
            {"pointer": "/contactIdentities", "message": "a contact needs at least one identity"}
        )
    if given.merge_to_contact_id is not None and str(given.merge_to_contact_id) == contact_id:
        problems.append({"pointer": "/mergeToContactId", "message": "must be another contact"})
    if problems:
        raise invalid(problems)
    custom_fields = _custom_field_values(state, given)
    identities = _identities(state, contact_id, given)
    system = given.model_dump(by_alias=True)
    previous = state.contacts.get(contact_id) or {}
    now = now_iso()
    return {
        "id": contact_id,
        **{name: system.get(name) for name in CONTACT_SYSTEM_FIELDS},
        "createdTime": given.created_time or previous.get("createdTime") or now,
        "lastUpdatedTime": given.last_updated_time or now,
        "customFields": custom_fields,
        "contactIdentities": identities,
        "mergeToContactId": str(given.merge_to_contact_id) if given.merge_to_contact_id else None,
    }


@router.get("/contacts", summary="Every contact, in the v4 shape")
async def list_contacts(state: StateDep) -> list[dict[str, Any]]:
    return list(state.contacts.values())


@router.get("/contacts/{contact_id}", summary="One contact, in the v4 shape")
async def read_contact(contact_id: uuid.UUID, state: StateDep) -> dict[str, Any]:
    contact = state.contacts.get(str(contact_id))
    if contact is None:
        raise not_found(f"contact '{contact_id}'")
    return contact


@router.put("/contacts/{contact_id}", summary="Create or replace one contact")
async def put_contact(contact_id: uuid.UUID, contact: ContactIn, state: StateDep) -> dict[str, Any]:
    stored = _stored_contact(state, str(contact_id), contact)
    state.contacts[str(contact_id)] = stored
    return stored


@router.delete("/contacts/{contact_id}", status_code=204, summary="Remove one contact")
async def delete_contact(contact_id: uuid.UUID, state: StateDep) -> Response:
    if state.contacts.pop(str(contact_id), None) is None:
        raise not_found(f"contact '{contact_id}'")
    return Response(status_code=204)


# --- tickets ----------------------------------------------------------------------------------


@router.get("/tickets", summary="Every ticket")
async def list_tickets(state: StateDep) -> list[dict[str, Any]]:
    return list(state.tickets.values())


@router.get("/tickets/{ticket_id}", summary="One ticket, in the v4 shape")
async def read_ticket(ticket_id: _TicketId, state: StateDep) -> dict[str, Any]:
    ticket = state.tickets.get(ticket_id)
    if ticket is None:
        raise not_found(f"ticket {ticket_id}")
    return ticket


@router.put("/tickets/{ticket_id}", summary="Create or replace one ticket")
async def put_ticket(ticket_id: _TicketId, ticket: TicketIn, state: StateDep) -> dict[str, Any]:
    if ticket.id is not None and ticket.id != ticket_id:
        raise invalid([{"pointer": "/id", "message": "must equal the id in the path"}])
    previous = state.tickets.get(ticket_id) or {}
    now = now_iso()
    stored = {
        "id": ticket_id,
        "subject": ticket.subject,
        "channelId": ticket.channel_id,
        "status": ticket.status,
        "priority": ticket.priority,
        "contactOrVisitorId": str(ticket.contact_or_visitor_id),
        "contactOrVisitorType": ticket.contact_or_visitor_type,
        "createdTime": (
            v4_time(ticket.created_time) if ticket.created_time else previous.get("createdTime")
        )
        or now,
        "lastUpdatedTime": now,
    }
    state.tickets[ticket_id] = stored
    return stored


@router.delete("/tickets/{ticket_id}", status_code=204, summary="Remove one ticket")
async def delete_ticket(ticket_id: _TicketId, state: StateDep) -> Response:
    if state.tickets.pop(ticket_id, None) is None:
        raise not_found(f"ticket {ticket_id}")
    return Response(status_code=204)


# --- Live Chat webhooks ------------------------------------------------------------------------


def _webhooks_out(state: SandboxState) -> list[dict[str, Any]]:
    return [
        {"siteId": site_id, **webhook}
        for site_id, webhooks in sorted(state.webhooks.items())
        for webhook in webhooks
    ]


@router.get("/webhooks", summary="Every site's Live Chat webhooks, oldest first")
async def read_webhooks(state: StateDep) -> list[dict[str, Any]]:
    return _webhooks_out(state)


@router.put("/webhooks", summary="Replace every site's Live Chat webhooks")
async def put_webhooks(webhooks: list[WebhookIn], state: StateDep) -> list[dict[str, Any]]:
    by_site: dict[int, list[dict[str, Any]]] = {}
    problems: list[dict[str, str]] = []
    for index, given in enumerate(webhooks):
        stored = by_site.setdefault(given.site_id, [])
        webhook_id = given.id or new_webhook_id()
        if any(w["id"].casefold() == webhook_id.casefold() for w in stored):
            problems.append({"pointer": f"/{index}/id", "message": "the site has this id twice"})
        stored.append({"id": webhook_id, "event": given.event, "targetUrl": given.target_url})
    if problems:
        raise invalid(problems)
    state.webhooks = by_site
    return _webhooks_out(state)


# --- forms and fields -------------------------------------------------------------------------


class FormsIn(BaseModel):
    """The site's forms; a list left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    prechat_fields: list[FormField] | None = None
    offline_fields: list[FormField] | None = None
    custom_variables: list[CustomVariable] | None = None
    contact_fields: list[ContactField] | None = None


def _forms_out(state: SandboxState) -> dict[str, list[dict[str, Any]]]:
    return {
        "prechat_fields": state.prechat_fields,
        "offline_fields": state.offline_fields,
        "custom_variables": state.custom_variables,
        "contact_fields": state.custom_contact_fields,
    }


def _unique(items: list[dict[str, Any]], key: str, where: str) -> list[dict[str, str]]:
    seen: set[str] = set()
    problems = []
    for index, item in enumerate(items):
        value = str(item[key]).casefold()
        if value in seen:
            problems.append({"pointer": f"/{where}/{index}/{key}", "message": f"duplicate {key}"})
        seen.add(value)
    return problems


@router.get("/forms", summary="Form fields, custom variables and custom contact fields")
async def read_forms(state: StateDep) -> dict[str, list[dict[str, Any]]]:
    return _forms_out(state)


@router.put("/forms", summary="Replace the lists given (pre-chat, offline, variables, contact)")
async def put_forms(forms: FormsIn, state: StateDep) -> dict[str, list[dict[str, Any]]]:
    prechat = offline = variables = contact = None
    problems: list[dict[str, str]] = []
    if forms.prechat_fields is not None:
        prechat = [form_field_out("prechat", f) for f in forms.prechat_fields]
        problems += _unique(prechat, "name", "prechat_fields")
        problems += _unique(prechat, "id", "prechat_fields")
    if forms.offline_fields is not None:
        offline = [form_field_out("offline", f) for f in forms.offline_fields]
        problems += _unique(offline, "name", "offline_fields")
        problems += _unique(offline, "id", "offline_fields")
    if forms.custom_variables is not None:
        variables = [v.model_dump(by_alias=True) for v in forms.custom_variables]
        problems += _unique(variables, "name", "custom_variables")
    if forms.contact_fields is not None:
        contact = [contact_field_out(f) for f in forms.contact_fields]
        system = system_contact_fields()
        system_names = {f["name"].casefold() for f in system}
        system_ids = {f["id"] for f in system}
        for index, (given, field) in enumerate(zip(forms.contact_fields, contact, strict=True)):
            if field["name"].casefold() in system_names:
                message = "a system contact field has this name"
                problems.append({"pointer": f"/contact_fields/{index}/name", "message": message})
            elif given.id is not None and field["id"] in system_ids:
                message = "a system contact field has this id"
                problems.append({"pointer": f"/contact_fields/{index}/id", "message": message})
        problems += _unique(contact, "name", "contact_fields")
        problems += _unique(contact, "id", "contact_fields")
    if problems:
        raise invalid(problems)
    if prechat is not None:
        state.prechat_fields = prechat
    if offline is not None:
        state.offline_fields = offline
    if variables is not None:
        state.custom_variables = variables
    if contact is not None:
        state.custom_contact_fields = contact
    return _forms_out(state)


# --- sites, knobs -----------------------------------------------------------------------------


@router.get("/sites", summary="The site ids the API answers for")
async def read_sites(state: StateDep) -> list[int]:
    return list(state.sites)


@router.put("/sites", summary="Replace the site ids the API answers for")
async def put_sites(sites: list[_SiteId], state: StateDep) -> list[int]:
    state.sites = list(dict.fromkeys(sites))
    return list(state.sites)


@router.get("/limits", summary="The rate limit per client IP")
async def read_limits(state: StateDep) -> Limits:
    return state.limits


@router.put("/limits", summary="Change the rate limit (only the keys given)")
async def put_limits(patch: LimitsPatch, state: StateDep) -> Limits:
    state.limits = merged(state.limits, patch)
    return state.limits


@router.get("/faults", summary="The injected faults")
async def read_faults(state: StateDep) -> Faults:
    return state.faults


@router.put("/faults", summary="Change the injected faults (only the keys given)")
async def put_faults(patch: FaultsPatch, state: StateDep) -> Faults:
    state.set_faults(merged(state.faults, patch))
    return state.faults


@router.get("/behaviour", summary="Choices where Comm100's documentation is ambiguous")
async def read_behaviour(state: StateDep) -> Behaviour:
    return state.behaviour


@router.put("/behaviour", summary="Change those choices (only the keys given)")
async def put_behaviour(patch: BehaviourPatch, state: StateDep) -> Behaviour:
    state.behaviour = merged(state.behaviour, patch)
    return state.behaviour


# --- the simulator ----------------------------------------------------------------------------


@router.get("/simulator", summary="The simulator's configuration, tokens masked")
async def read_simulator(state: StateDep) -> dict[str, Any]:
    if state.simulation.config is None:
        raise ControlError(404, "not_found", "The simulator is not configured.")
    return state.simulation.config.public_view()


@router.put("/simulator", summary="Configure the simulator: where webhooks go, which tab it shows")
async def put_simulator(config: SimulatorConfig, state: StateDep) -> dict[str, Any]:
    state.simulation.config = config
    return config.public_view()


@router.delete("/simulator", status_code=204, summary="Forget the simulator's configuration")
async def delete_simulator(state: StateDep) -> Response:
    state.simulation.config = None
    return Response(status_code=204)


@router.get("/simulator/chats", summary="The chats played in the simulator, oldest first")
async def read_simulator_chats(state: StateDep) -> list[dict[str, Any]]:
    return [chat.as_dict() for chat in state.simulation.chats.values()]


@router.get("/simulator/sent", summary="The webhooks the simulator delivered, newest first")
async def read_simulator_sent(state: StateDep) -> list[dict[str, Any]]:
    return [sent.as_dict() for sent in reversed(state.simulation.sent)]
