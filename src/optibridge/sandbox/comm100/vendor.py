"""The Comm100 v4 API as the sandbox answers it: gate (limit, auth, site, faults), route, reads.

Everything reachable here is the vendor's surface: its shapes and casing. Errors are
`{"code": <status>, "message": "..."}` (a 503 fault is plain text, like a gateway's).
"""

from __future__ import annotations

import base64
import binascii
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from optibridge.sandbox.comm100 import history
from optibridge.sandbox.comm100.state import (
    MAX_TARGET_URL_LENGTH,
    WEBHOOK_EVENTS,
    Behaviour,
    LoggedRequest,
    SandboxState,
    new_webhook_id,
)
from optibridge.sandbox.faults import Admitted, Refused, answer_with_faults, draw_faults
from optibridge.sandbox.vendor_api import (
    NOT_JSON,
    Endpoint,
    allowed_methods,
    endpoint_for,
    key_is_accepted,
    parse_json,
    path_segments,
    read_body,
)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def error_body(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


# --- the gate: rate limit, credentials, site, injected faults ---------------------------------


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _admit(state: SandboxState, request: Request, entry: LoggedRequest) -> Admitted | Refused:
    """Decide at arrival, before any await, so concurrent calls are judged in arrival order.

    The limit is per client IP and comes first, as at a gateway: a call with bad credentials
    still counts, a call refused with 429 does not.
    """
    faults = state.faults
    drawn = draw_faults(state.fault_random, faults)
    if drawn.too_many_requests or not state.window.admit(
        _client_address(request), time.monotonic(), state.limits
    ):
        return Refused(faults, _too_many_requests(state))
    refusal = _check_credentials(state, request, entry) or _check_site(state, request)
    if refusal is not None:
        return Refused(faults, refusal)
    return Admitted(faults, drawn)


def _unauthorized(message: str) -> Response:
    return error_body(401, message, {"WWW-Authenticate": 'Basic realm="Comm100 API"'})


def _check_credentials(
    state: SandboxState, request: Request, entry: LoggedRequest
) -> Response | None:
    header = request.headers.get("authorization")
    if not header:
        return _unauthorized(
            "Authorization has been denied for this request: use HTTP Basic with the agent's "
            "e-mail and API key."
        )
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return _check_bearer(state, request, entry, credentials.strip())
    if scheme.lower() != "basic":
        return _unauthorized("Authorization has been denied for this request: invalid token.")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _unauthorized("Authorization has been denied for this request: malformed header.")
    user, separator, key = decoded.partition(":")
    if not separator or "@" not in user:
        return _unauthorized(
            "Authorization has been denied for this request: the user must be an agent's e-mail."
        )
    entry.user = user
    if not key_is_accepted(key, state.keys):
        return _unauthorized("Authorization has been denied for this request: invalid API key.")
    return None


def _check_bearer(
    state: SandboxState, request: Request, entry: LoggedRequest, token: str
) -> Response | None:
    """An access token from this platform's `oauth/token`, good for its own site only."""
    found = state.identity.access(token)
    if found is None:
        message = "Authorization has been denied for this request: invalid or expired token."
        return error_body(401, message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    grant, agent = found
    entry.user = agent.email
    values = _site_values(request)  # missing or malformed: `_check_site` says so
    if values and values[0].isascii() and values[0].isdigit() and int(values[0]) != grant.site_id:
        return error_body(403, f"No access to site {int(values[0])} with this token.")
    return None


def _site_values(request: Request) -> list[str]:
    # Query parameter names are case-insensitive on Comm100's (ASP.NET) side.
    return [v for k, v in request.query_params.multi_items() if k.lower() == "siteid"]


def _check_site(state: SandboxState, request: Request) -> Response | None:
    values = _site_values(request)
    if not values or not values[0].strip():
        return error_body(400, "The siteId query parameter is required.")
    if not values[0].isascii() or not values[0].isdigit():
        return error_body(400, f"The siteId '{values[0]}' is not valid.")
    site_id = int(values[0])
    if site_id not in state.sites:
        return error_body(403, f"No access to site {site_id} with these credentials.")
    return None


def _too_many_requests(state: SandboxState) -> Response:
    limits = state.limits
    message = (
        f"API calls quota exceeded: at most {limits.requests} calls per "
        f"{limits.window_seconds:g} seconds from one IP address."
    )
    return error_body(429, message)


def _server_error(status: int) -> Response:
    if status == 503:
        return PlainTextResponse("Service Unavailable", status_code=503)
    return error_body(500, "An error has occurred.")


# --- the entry point --------------------------------------------------------------------------

_NO_BODY = object()  # a body that is absent or blank


async def answer_vendor_call(state: SandboxState, request: Request, path: str) -> Response:
    """Answer one call to the v4 API; `path` is relative to the sandbox's root."""
    entry = state.requests.record(request.method, "/" + path, request.url.query)
    outcome = _admit(state, request, entry)
    raw = await read_body(request)
    body = parse_json(raw) if raw.strip() else _NO_BODY
    entry.body = None if body is NOT_JSON or body is _NO_BODY else body
    response = await answer_with_faults(
        outcome, _server_error, lambda: _route(state, request, path, body)
    )
    entry.status = response.status_code
    return response


# --- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    state: SandboxState
    captured: list[str]
    body: Any
    site_id: int = 0  # the call's `siteId`, checked by the gate
    query: tuple[tuple[str, str], ...] = ()


_Handler = Callable[[_Call], Awaitable[Response]]


_Endpoint = Endpoint[_Handler]


async def _route(state: SandboxState, request: Request, path: str, body: Any) -> Response:
    segments = path_segments(path)
    endpoint = endpoint_for(_ENDPOINTS, segments, request.method)
    if endpoint is not None:
        site_id = int(_site_values(request)[0])
        query = tuple(request.query_params.multi_items())
        call = _Call(state, endpoint.captured(segments), body, site_id, query)
        return await endpoint.handler(call)
    allowed = allowed_methods(_ENDPOINTS, segments)
    if not allowed:
        return error_body(404, f"No HTTP resource was found that matches '/{path}'.")
    message = f"The requested resource does not support http method '{request.method}'."
    return error_body(405, message, {"Allow": ", ".join(allowed)})


# --- contacts ---------------------------------------------------------------------------------


def render_contact(contact: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    """A stored contact as the API writes it (the identity type key per `behaviour`)."""
    shown = copy.deepcopy(contact)
    if behaviour.identity_type_key == "type":
        shown["contactIdentities"] = [
            {("type" if k == "contactIdentityType" else k): v for k, v in identity.items()}
            for identity in shown["contactIdentities"]
        ]
    return shown


def _stored_contact(state: SandboxState, raw_id: str) -> dict[str, Any] | None:
    try:
        contact_id = str(uuid.UUID(raw_id))
    except ValueError:
        return None
    return state.contacts.get(contact_id)


def _contact_not_found(raw_id: str) -> Response:
    return error_body(404, f"Contact '{raw_id}' not found.")


async def _get_contact(call: _Call) -> Response:
    contact = _stored_contact(call.state, call.captured[0])
    if contact is None:
        return _contact_not_found(call.captured[0])
    return JSONResponse(render_contact(contact, call.state.behaviour))


async def _get_contact_identities(call: _Call) -> Response:
    contact = _stored_contact(call.state, call.captured[0])
    if contact is None:
        return _contact_not_found(call.captured[0])
    return JSONResponse(render_contact(contact, call.state.behaviour)["contactIdentities"])


class _ContactQuery(BaseModel):
    """The body of `contact/contacts:query`; every criterion given must hold."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )

    identity_type: StrictStr | None = None
    identity_value: StrictStr | None = None
    field_id: StrictStr | None = None
    field_name: StrictStr | None = None
    field_value: StrictStr | None = None
    keywords: StrictStr | None = None
    page_index: Annotated[StrictInt, Field(ge=1)] = 1
    page_size: Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE

    @model_validator(mode="after")
    def _coherent(self) -> _ContactQuery:
        if self.field_id is not None and self.field_name is not None:
            raise ValueError("give fieldId or fieldName, not both")
        if (self.field_value is None) != (self.field_id is None and self.field_name is None):
            raise ValueError("fieldValue goes with fieldId or fieldName")
        if self.identity_type is not None and self.identity_value is None:
            raise ValueError("identityType goes with identityValue")
        return self


def _normal(value: Any) -> str:
    return str(value).strip().casefold()


def _values_of(contact: dict[str, Any], field: dict[str, Any]) -> list[Any]:
    if field["isIdentity"]:
        return [
            i["value"]
            for i in contact["contactIdentities"]
            if i["contactIdentityType"] == field["identityType"]
        ]
    if field["isSystem"]:
        return [contact.get(field["name"])]
    values: list[Any] = []
    for custom in contact["customFields"]:
        if custom["id"] == field["id"]:
            value = custom["value"]
            values.extend(value if isinstance(value, list) else [value])
    return values


def _matches(contact: dict[str, Any], query: _ContactQuery, field: dict[str, Any] | None) -> bool:
    if contact.get("mergeToContactId"):
        return False  # a merged contact lives on in the one it was merged into
    identities = contact["contactIdentities"]
    if query.identity_value is not None:
        wanted_type = _normal(query.identity_type) if query.identity_type else None
        wanted = _normal(query.identity_value)
        if not any(
            _normal(i["value"]) == wanted
            and (wanted_type is None or _normal(i["contactIdentityType"]) == wanted_type)
            for i in identities
        ):
            return False
    if field is not None and query.field_value is not None:
        wanted = _normal(query.field_value)
        if not any(v is not None and _normal(v) == wanted for v in _values_of(contact, field)):
            return False
    if query.keywords is not None:
        words = _normal(query.keywords)
        haystack = [contact.get(k) for k in ("name", "firstName", "lastName", "company")]
        haystack += [i["value"] for i in identities]
        if not any(v is not None and words in _normal(v) for v in haystack):
            return False
    return True


def _query_field(state: SandboxState, query: _ContactQuery) -> dict[str, Any] | str | None:
    """The contact field the query names, None if it names none, or a message if unknown."""
    if query.field_id is None and query.field_name is None:
        return None
    for field in state.contact_fields():
        if query.field_id is not None and _normal(field["id"]) == _normal(query.field_id):
            return field
        if query.field_name is not None and _normal(field["name"]) == _normal(query.field_name):
            return field
    named = query.field_id if query.field_id is not None else query.field_name
    return f"Unknown contact field '{named}'."


def _validation_message(error: ValidationError) -> str:
    problems = []
    for e in error.errors():
        where = ".".join(str(part) for part in e["loc"])
        problems.append(f"{where}: {e['msg']}" if where else str(e["msg"]))
    return "The request is invalid: " + "; ".join(problems)


async def _query_contacts(call: _Call) -> Response:
    if call.body is NOT_JSON:
        return error_body(400, "The request body is not valid JSON.")
    try:
        query = _ContactQuery.model_validate({} if call.body is _NO_BODY else call.body)
    except ValidationError as invalid:
        return error_body(400, _validation_message(invalid))
    field = _query_field(call.state, query)
    if isinstance(field, str):
        return error_body(400, field)
    found = [c for c in call.state.contacts.values() if _matches(c, query, field)]
    start = (query.page_index - 1) * query.page_size
    page = [render_contact(c, call.state.behaviour) for c in found[start : start + query.page_size]]
    if call.state.behaviour.query_result == "envelope":
        return JSONResponse({"contacts": page, "total": len(found)})
    return JSONResponse(page)


async def _get_contact_fields(call: _Call) -> Response:
    return JSONResponse(call.state.contact_fields())


# --- Live Chat forms --------------------------------------------------------------------------


async def _get_prechat_fields(call: _Call) -> Response:
    return JSONResponse(copy.deepcopy(call.state.prechat_fields))


async def _get_offline_fields(call: _Call) -> Response:
    return JSONResponse(copy.deepcopy(call.state.offline_fields))


async def _get_custom_variables(call: _Call) -> Response:
    return JSONResponse(copy.deepcopy(call.state.custom_variables))


# --- tickets ----------------------------------------------------------------------------------


async def _get_ticket(call: _Call) -> Response:
    raw_id = call.captured[0]
    ticket = call.state.tickets.get(int(raw_id)) if raw_id.isascii() and raw_id.isdigit() else None
    if ticket is None:
        return error_body(404, f"Ticket '{raw_id}' not found.")
    return JSONResponse(dict(ticket))


# --- past conversations (`optibridge.sandbox.comm100.history`) ---------------------------------


def _search_body(call: _Call) -> Any:
    return None if call.body is _NO_BODY else call.body


async def _search_chats(call: _Call) -> Response:
    return history.search(call.state, "chat", call.query, _search_body(call))


async def _search_offline_messages(call: _Call) -> Response:
    return history.search(call.state, "offline_message", call.query, _search_body(call))


async def _list_tickets(call: _Call) -> Response:
    return history.list_tickets(call.state, call.query)


# --- agents -----------------------------------------------------------------------------------


async def _get_agent(call: _Call) -> Response:
    # The path is a guess [?]: v4's agents are not in a page we could read (the v3 design has
    # `globalSettings/agents/{id}`); it tells whether the agent is an administrator.
    agent = call.state.identity.agent(call.captured[0], call.site_id)
    if agent is None:
        return error_body(404, f"Agent '{call.captured[0]}' not found.")
    return JSONResponse(agent.as_v4())


# --- Live Chat webhooks (the agent needs Manage Integration) ---------------------------------


def _may_manage_webhooks(call: _Call) -> Response | None:
    if call.state.behaviour.manage_integration:
        return None
    return error_body(403, "You need the Manage Integration permission to manage Webhook.")


def _webhooks_of(call: _Call) -> list[dict[str, Any]]:
    return call.state.webhooks.setdefault(call.site_id, [])


def _same_id(stored: str, raw_id: str) -> bool:
    try:
        return uuid.UUID(stored) == uuid.UUID(raw_id)
    except ValueError:
        return stored == raw_id


def _stored_webhook(call: _Call) -> dict[str, Any] | None:
    return next((w for w in _webhooks_of(call) if _same_id(w["id"], call.captured[0])), None)


def _webhook_not_found(call: _Call) -> Response:
    return error_body(404, f"Webhook '{call.captured[0]}' not found.")


def _webhook_fields(body: Any, *, partial: bool) -> dict[str, str] | Response:
    """`{"event", "targetUrl"}` checked as the API documents them (other keys are ignored)."""
    if body is NOT_JSON:
        return error_body(400, "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return error_body(400, "The request body must be a webhook object.")
    fields: dict[str, str] = {}
    event, target = body.get("event"), body.get("targetUrl")
    if event is not None or not partial:
        if event not in WEBHOOK_EVENTS:
            allowed = ", ".join(f'"{e}"' for e in WEBHOOK_EVENTS)
            return error_body(400, f"The event is invalid. Allowed values are {allowed}.")
        fields["event"] = event
    if target is not None or not partial:
        if not isinstance(target, str) or not _web_address(target):
            return error_body(400, "The targetUrl must be an absolute http or https URL.")
        fields["targetUrl"] = target
    return fields


def _web_address(value: str) -> bool:
    if not 0 < len(value) <= MAX_TARGET_URL_LENGTH:
        return False
    if any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


async def _list_webhooks(call: _Call) -> Response:
    if refused := _may_manage_webhooks(call):
        return refused
    return JSONResponse(copy.deepcopy(_webhooks_of(call)))


async def _get_webhook(call: _Call) -> Response:
    if refused := _may_manage_webhooks(call):
        return refused
    webhook = _stored_webhook(call)
    return _webhook_not_found(call) if webhook is None else JSONResponse(dict(webhook))


async def _create_webhook(call: _Call) -> Response:
    if refused := _may_manage_webhooks(call):
        return refused
    fields = _webhook_fields(call.body, partial=False)
    if isinstance(fields, Response):
        return fields
    webhook = {"id": new_webhook_id(), "event": fields["event"], "targetUrl": fields["targetUrl"]}
    _webhooks_of(call).append(webhook)
    return JSONResponse(dict(webhook), status_code=201)


async def _update_webhook(call: _Call) -> Response:
    if refused := _may_manage_webhooks(call):
        return refused
    webhook = _stored_webhook(call)
    if webhook is None:
        return _webhook_not_found(call)
    fields = _webhook_fields(call.body, partial=True)
    if isinstance(fields, Response):
        return fields
    webhook.update(fields)
    return JSONResponse(dict(webhook))


async def _delete_webhook(call: _Call) -> Response:
    if refused := _may_manage_webhooks(call):
        return refused
    webhook = _stored_webhook(call)
    if webhook is None:
        return _webhook_not_found(call)
    _webhooks_of(call).remove(webhook)
    return Response(status_code=204)


_ENDPOINTS: tuple[_Endpoint, ...] = (
    _Endpoint(("v4", "contact", "contacts", None), "GET", _get_contact),
    _Endpoint(
        ("v4", "contact", "contacts", None, "contactidentities"), "GET", _get_contact_identities
    ),
    _Endpoint(("v4", "contact", "contacts:query"), "POST", _query_contacts),
    _Endpoint(("v4", "contact", "fields"), "GET", _get_contact_fields),
    _Endpoint(("v4", "livechat", "prechatformfields"), "GET", _get_prechat_fields),
    _Endpoint(("v4", "livechat", "offlinemessageformfields"), "GET", _get_offline_fields),
    _Endpoint(("v4", "livechat", "customvariables"), "GET", _get_custom_variables),
    _Endpoint(("v4", "ticketing", "tickets"), "GET", _list_tickets),
    _Endpoint(("v4", "ticketing", "tickets", None), "GET", _get_ticket),
    _Endpoint(("v4", "livechat", "chats:search"), "POST", _search_chats),
    _Endpoint(("v4", "livechat", "offlinemessages:search"), "POST", _search_offline_messages),
    _Endpoint(("v4", "global", "agents", None), "GET", _get_agent),
    _Endpoint(("v4", "livechat", "webhooks"), "GET", _list_webhooks),
    _Endpoint(("v4", "livechat", "webhooks"), "POST", _create_webhook),
    _Endpoint(("v4", "livechat", "webhooks", None), "GET", _get_webhook),
    _Endpoint(("v4", "livechat", "webhooks", None), "PUT", _update_webhook),
    _Endpoint(("v4", "livechat", "webhooks", None), "DELETE", _delete_webhook),
)
