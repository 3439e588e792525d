"""Past conversations in the Comm100 sandbox: what a backfill reads (SPEC 5.5).

Seeded through the control surface (`PUT /_sandbox/chats/{id}`, `PUT
/_sandbox/offline-messages/{id}`, in the v4 shape with the visitor, the pre-chat answers and
the custom variables; `optibridge.sandbox.comm100.history_control`), and also the simulator's
ended chats and submitted offline messages, whose webhooks were sent: a backfill over them
meets conversations that were already synced live. Tickets are the sandbox's tickets
(`PUT /_sandbox/tickets/{id}`, `createdTime` included, and the simulator's).

The v4 API's listings (reference/comm100.md; Comm100's chat and offline message pages):

- `POST v4/livechat/chats:search` and `POST v4/livechat/offlineMessages:search`: query
  `pageIndex` (from 1, default 1), `pageSize` (1 to 100, default 50), `include` (repeated or
  comma-separated, any case: `visitor`, `department`, and `chatFieldResult` /
  `offlineMessageFieldResult`, each adding that part to every entry), `sortBy` (`startTime`,
  the default; for offline messages their `createdTime` either way) and `sortOrder` (`asc`,
  the default, or `desc`); body absent, or `{"filters": [{"name", "operator", "value"}]}`
  where the `time` filter (`operator` `is` or `between`, `value` `[from, to]` in ISO 8601)
  keeps the chats that started, and the offline messages created, in [from, to); other
  filters are ignored. → `{"total", "pageCount", "list": [...], "pageIndex", "pageSize"}`.
  A chat: `{"id", "guid" (the id its webhooks carry), "sessionId", "visitorId", "startTime",
  "endTime" (null: not ended), "requestedTime", "status" (normal | refused | missed |
  switchedToMessage), "preChatName", "preChatEmail", "preChatPhone", "preChatCompany",
  "preChatProductService", "departmentId", "customVariableResults": [{"name", "value"}]}`
  plus, when included, `"visitor": {"id", "name", "email", "phone", "company", "ip", "city",
  "state", "country", "language", "ssoId", "landingPage", "referrerUrl", "customVariables":
  [{"name", "value"}]}`, `"department": {"id", "name"}`, `"chatFieldResults": [{"fieldId",
  "name", "value"}]` (the pre-chat form's custom fields). An offline message: `{"id", "guid",
  "createdTime", "name", "email", "phone", "company", "subject", "message", "visitorId",
  "departmentId", "customVariables"}` plus `visitor`, `department`, `offlineMessageFieldResults`.
- `GET v4/ticketing/tickets?timeFrom=&timeTo=&pageIndex=&pageSize=` [?]: the tickets created in
  [timeFrom, timeTo), oldest first → `{"tickets": [...], "total", "pageIndex", "pageSize"}`.
Bad paging or time values → 400. Times are written in UTC to the millisecond (`…Z`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from optibridge.sandbox.comm100.payloads import Visitor, integer_id
from optibridge.sandbox.comm100.simulation import SimulatedChat, SimulatedOfflineMessage
from optibridge.sandbox.comm100.state import FieldValue, SandboxState, stable_id
from optibridge.sandbox.vendor_api import NOT_JSON

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
ChatStatus = Literal["normal", "refused", "missed", "switchedToMessage"]

_Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256)]
_Text = Annotated[StrictStr, StringConstraints(max_length=10_000)]


def v4_time(moment: datetime | int) -> str:
    """A moment (or epoch milliseconds) as the v4 API writes it: UTC, milliseconds, `Z`."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment / 1000, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- what the control surface takes ------------------------------------------------------------


class _CamelModel(BaseModel):
    """Spelled as the v4 API spells it (camelCase); snake_case is accepted too."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


class AnswerIn(_CamelModel):
    """A form answer or a custom variable: `{"name", "value"}` (a form field's `fieldId` too)."""

    field_id: _Name | None = None
    name: _Name
    value: FieldValue = None


class PastVisitorIn(_CamelModel):
    id: uuid.UUID
    name: _Text | None = None
    email: _Text | None = None
    phone: _Text | None = None
    company: _Text | None = None
    ip: _Text | None = None
    city: _Text | None = None
    state: _Text | None = None
    country: _Text | None = None
    language: _Text | None = None
    sso_id: _Text | None = None
    landing_page: _Text | None = None
    referrer_url: _Text | None = None
    custom_variables: list[AnswerIn] = Field(default_factory=list)


class PastChatIn(_CamelModel):
    """A past chat in the v4 shape; `visitor` is what `include=visitor` shows."""

    id: Annotated[int, Field(ge=1, strict=True)] | None = None
    guid: uuid.UUID | None = None
    start_time: AwareDatetime
    end_time: AwareDatetime | None = None
    status: ChatStatus = "normal"
    pre_chat_name: _Text | None = None
    pre_chat_email: _Text | None = None
    pre_chat_phone: _Text | None = None
    pre_chat_company: _Text | None = None
    pre_chat_product_service: _Text | None = None
    department: _Name | None = Field(default=None, description="The department's name.")
    visitor: PastVisitorIn
    chat_field_results: list[AnswerIn] = Field(default_factory=list)
    custom_variable_results: list[AnswerIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> PastChatIn:
        if self.end_time is not None and self.end_time < self.start_time:
            raise ValueError("endTime is before startTime")
        return self


class PastOfflineMessageIn(_CamelModel):
    """A past offline message in the v4 shape; `visitor` is what `include=visitor` shows."""

    id: Annotated[int, Field(ge=1, strict=True)] | None = None
    guid: uuid.UUID | None = None
    created_time: AwareDatetime
    name: _Text | None = None
    email: _Text | None = None
    phone: _Text | None = None
    company: _Text | None = None
    subject: _Text | None = None
    message: _Text | None = None
    department: _Name | None = None
    visitor: PastVisitorIn | None = None
    offline_message_field_results: list[AnswerIn] = Field(default_factory=list)
    custom_variables: list[AnswerIn] = Field(default_factory=list)


# --- as the v4 API writes them ------------------------------------------------------------------


def _answers(answers: Iterable[AnswerIn]) -> list[dict[str, Any]]:
    return [{"name": a.name, "value": a.value} for a in answers]


def _field_results(
    answers: Iterable[AnswerIn], fields: Sequence[Mapping[str, Any]], kind: str
) -> list[dict[str, Any]]:
    by_name = {str(f["name"]).casefold(): str(f["id"]) for f in fields}
    return [
        {
            "fieldId": a.field_id or by_name.get(a.name.casefold()) or stable_id(kind, a.name),
            "name": a.name,
            "value": a.value,
        }
        for a in answers
    ]


def _visitor(visitor: PastVisitorIn) -> dict[str, Any]:
    return {
        "id": str(visitor.id),
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "company": visitor.company,
        "ip": visitor.ip,
        "city": visitor.city,
        "state": visitor.state,
        "country": visitor.country,
        "language": visitor.language,
        "ssoId": visitor.sso_id,
        "landingPage": visitor.landing_page,
        "referrerUrl": visitor.referrer_url,
        "customVariables": _answers(visitor.custom_variables),
    }


def _department(name: str | None) -> dict[str, Any] | None:
    return None if name is None else {"id": stable_id("department", name), "name": name}


def stored_chat(state: SandboxState, chat_id: int, given: PastChatIn) -> dict[str, Any]:
    """A seeded chat as stored: the v4 object with its includable parts."""
    department = _department(given.department)
    started = v4_time(given.start_time)
    return {
        "id": chat_id,
        "guid": str(given.guid) if given.guid else None,
        "sessionId": stable_id("session", str(chat_id)),
        "visitorId": str(given.visitor.id),
        "startTime": started,
        "endTime": v4_time(given.end_time) if given.end_time else None,
        "requestedTime": started,
        "status": given.status,
        "preChatName": given.pre_chat_name,
        "preChatEmail": given.pre_chat_email,
        "preChatPhone": given.pre_chat_phone,
        "preChatCompany": given.pre_chat_company,
        "preChatProductService": given.pre_chat_product_service,
        "departmentId": department["id"] if department else None,
        "customVariableResults": _answers(given.custom_variable_results),
        "visitor": _visitor(given.visitor),
        "department": department,
        "chatFieldResults": _field_results(
            given.chat_field_results, state.prechat_fields, "prechat"
        ),
    }


def stored_offline_message(
    state: SandboxState, message_id: int, given: PastOfflineMessageIn
) -> dict[str, Any]:
    department = _department(given.department)
    return {
        "id": message_id,
        "guid": str(given.guid) if given.guid else None,
        "createdTime": v4_time(given.created_time),
        "name": given.name,
        "email": given.email,
        "phone": given.phone,
        "company": given.company,
        "subject": given.subject,
        "message": given.message,
        "visitorId": str(given.visitor.id) if given.visitor else None,
        "departmentId": department["id"] if department else None,
        "customVariables": _answers(given.custom_variables),
        "visitor": _visitor(given.visitor) if given.visitor else None,
        "department": department,
        "offlineMessageFieldResults": _field_results(
            given.offline_message_field_results, state.offline_fields, "offline"
        ),
    }


def _simulated_visitor(visitor: Visitor) -> PastVisitorIn:
    return PastVisitorIn(
        id=uuid.UUID(str(visitor.id)),
        name=visitor.name or None,
        email=visitor.email or None,
        phone=visitor.phone or None,
        company=visitor.company or None,
        ip=visitor.ip or None,
        city=visitor.city or None,
        state=visitor.state or None,
        country=visitor.country or None,
        language=visitor.language or None,
        sso_id=visitor.sso_id,
        landing_page=visitor.landing_page or None,
        referrer_url=visitor.referrer_url or None,
        custom_variables=[AnswerIn(name=k, value=v) for k, v in visitor.custom_variables.items()],
    )


def _simulated_answers(visitor: Visitor) -> list[AnswerIn]:
    return [AnswerIn(field_id=str(a.id), name=a.name, value=a.value) for a in visitor.custom_fields]


def simulated_chat(state: SandboxState, chat: SimulatedChat) -> dict[str, Any]:
    """A chat played in the simulator, as the API lists it (its webhooks carried `guid`)."""
    visitor = chat.visitor
    given = PastChatIn(
        guid=uuid.UUID(chat.id),
        start_time=datetime.fromtimestamp(chat.started_ms / 1000, UTC),
        end_time=(datetime.fromtimestamp(chat.ended_ms / 1000, UTC) if chat.ended_ms else None),
        pre_chat_name=visitor.name or None,
        pre_chat_email=visitor.email or None,
        pre_chat_phone=visitor.phone or None,
        pre_chat_company=visitor.company or None,
        pre_chat_product_service=visitor.product_service or None,
        department=visitor.department or None,
        visitor=_simulated_visitor(visitor),
        chat_field_results=_simulated_answers(visitor),
        custom_variable_results=[
            AnswerIn(name=k, value=v) for k, v in visitor.custom_variables.items()
        ],
    )
    return stored_chat(state, integer_id(chat.id), given)


def simulated_offline_message(
    state: SandboxState, message: SimulatedOfflineMessage
) -> dict[str, Any]:
    visitor = message.visitor
    given = PastOfflineMessageIn(
        guid=uuid.UUID(message.id),
        created_time=datetime.fromtimestamp(message.time_ms / 1000, UTC),
        name=visitor.name or None,
        email=visitor.email or None,
        phone=visitor.phone or None,
        company=visitor.company or None,
        subject=message.subject or None,
        message=message.content or None,
        department=visitor.department or None,
        visitor=_simulated_visitor(visitor),
        offline_message_field_results=_simulated_answers(visitor),
        custom_variables=[AnswerIn(name=k, value=v) for k, v in visitor.custom_variables.items()],
    )
    return stored_offline_message(state, integer_id(message.id), given)


def all_chats(state: SandboxState) -> list[dict[str, Any]]:
    simulated = [simulated_chat(state, c) for c in state.simulation.chats.values()]
    return [*state.chats.values(), *simulated]


def all_offline_messages(state: SandboxState) -> list[dict[str, Any]]:
    simulated = [simulated_offline_message(state, m) for m in state.simulation.offline_messages]
    return [*state.offline_messages.values(), *simulated]


# --- the listings -------------------------------------------------------------------------------

# What `include` adds to a listed entry, by its lower-cased name.
_CHAT_PARTS = {
    "visitor": "visitor",
    "department": "department",
    "chatfieldresult": "chatFieldResults",
}
_OFFLINE_PARTS = {
    "visitor": "visitor",
    "department": "department",
    "offlinemessagefieldresult": "offlineMessageFieldResults",
}


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(status: int, message: str) -> Response:
    return JSONResponse({"code": status, "message": message}, status_code=status)


def _values(query: Sequence[tuple[str, str]], name: str) -> list[str]:
    """A query parameter's values (names compared case-insensitively, as ASP.NET does)."""
    return [v for k, v in query if k.lower() == name.lower()]


def _integer(query: Sequence[tuple[str, str]], name: str, default: int, low: int, high: int) -> int:
    values = _values(query, name)
    if not values:
        return default
    raw = values[0].strip()
    if not raw.lstrip("-").isdigit() or not low <= int(raw) <= high:
        raise _Refused(
            f"The {name} '{values[0]}' is not valid: a whole number from {low} to {high}."
        )
    return int(raw)


def _moment(raw: Any, name: str) -> datetime:
    if not isinstance(raw, str):
        raise _Refused(f"The {name} must be a date and time (ISO 8601).")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _Refused(f"The {name} '{raw}' is not a date and time (ISO 8601).") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _period(body: Any) -> tuple[datetime, datetime] | None:
    """The `time` filter of a search body, if it has one."""
    if body is None:
        return None
    if body is NOT_JSON or not isinstance(body, dict):
        raise _Refused("The request body must be a JSON object with a 'filters' list.")
    filters = body.get("filters", [])
    if not isinstance(filters, list) or any(not isinstance(f, dict) for f in filters):
        raise _Refused("'filters' must be a list of {name, operator, value} objects.")
    for item in filters:
        if str(item.get("name", "")).lower() != "time":
            continue
        value = item.get("value")
        if str(item.get("operator", "")).lower() not in ("is", "between"):
            raise _Refused("The time filter takes the operator 'is' (or 'between').")
        if not isinstance(value, list) or len(value) != 2:
            raise _Refused("The time filter's value must be [from, to].")
        return _moment(value[0], "time filter's from"), _moment(value[1], "time filter's to")
    return None


def _ms(text: str | None) -> float:
    if text is None:
        return -math.inf
    return _moment(text, "time").timestamp()


def _includes(query: Sequence[tuple[str, str]]) -> set[str]:
    return {
        part.strip().lower()
        for value in _values(query, "include")
        for part in value.split(",")
        if part.strip()
    }


def _listed(
    entry: Mapping[str, Any], parts: Mapping[str, str], includes: set[str]
) -> dict[str, Any]:
    shown = {k: v for k, v in entry.items() if k not in parts.values()}
    for name, key in parts.items():
        if name in includes and entry.get(key) is not None:
            shown[key] = entry[key]
    return shown


def _page(
    entries: list[dict[str, Any]],
    query: Sequence[tuple[str, str]],
    *,
    descending: bool,
    time_key: str,
) -> tuple[list[dict[str, Any]], int, int, int]:
    index = _integer(query, "pageIndex", 1, 1, 1_000_000)
    size = _integer(query, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    ordered = sorted(entries, key=lambda e: (_ms(e.get(time_key)), e["id"]), reverse=descending)
    start = (index - 1) * size
    return ordered[start : start + size], len(entries), index, size


def _in_period(
    entries: list[dict[str, Any]], key: str, period: tuple[datetime, datetime] | None
) -> list[dict[str, Any]]:
    if period is None:
        return entries
    since, until = (p.timestamp() for p in period)
    return [e for e in entries if e.get(key) is not None and since <= _ms(e[key]) < until]


def search(
    state: SandboxState,
    kind: Literal["chat", "offline_message"],
    query: Sequence[tuple[str, str]],
    body: Any,
) -> Response:
    """`livechat/chats:search` or `livechat/offlineMessages:search`."""
    try:
        period = _period(body)
        if kind == "chat":
            entries, parts, time_key = all_chats(state), _CHAT_PARTS, "startTime"
        else:
            entries, parts, time_key = all_offline_messages(state), _OFFLINE_PARTS, "createdTime"
        order = (_values(query, "sortOrder") or ["asc"])[0].strip().lower()
        if order not in ("asc", "desc"):
            raise _Refused(f"The sortOrder '{order}' is not valid: asc or desc.")
        page, total, index, size = _page(
            _in_period(entries, time_key, period),
            query,
            descending=order == "desc",
            time_key=time_key,
        )
    except _Refused as refused:
        return _error(400, refused.message)
    includes = _includes(query)
    return JSONResponse(
        {
            "total": total,
            "pageCount": math.ceil(total / size),
            "list": [_listed(e, parts, includes) for e in page],
            "pageIndex": index,
            "pageSize": size,
        }
    )


def list_tickets(state: SandboxState, query: Sequence[tuple[str, str]]) -> Response:
    """`ticketing/tickets` [?]: the tickets created in [timeFrom, timeTo), oldest first."""
    try:
        since = _values(query, "timeFrom")
        until = _values(query, "timeTo")
        period = None
        if since or until:
            if not (since and until):
                raise _Refused("Give both timeFrom and timeTo.")
            period = (_moment(since[0], "timeFrom"), _moment(until[0], "timeTo"))
        tickets = [dict(t) for t in state.tickets.values()]
        page, total, index, size = _page(
            _in_period(tickets, "createdTime", period),
            query,
            descending=False,
            time_key="createdTime",
        )
    except _Refused as refused:
        return _error(400, refused.message)
    return JSONResponse({"tickets": page, "total": total, "pageIndex": index, "pageSize": size})
