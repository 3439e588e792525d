"""Past conversations read back from Comm100's v4 API, for a backfill (SPEC 4.7).

What is listed, a page at a time, for a period:
- chats: `POST livechat/chats:search` [doc: the endpoint and the chat's keys, dash15.comm100.io/
  doc/LiveChat/chat]; offline messages: `POST livechat/offlineMessages:search` [doc: endpoint,
  keys and `include` values, dash15.comm100.io/doc/LiveChat/offlineMessage]. Both take
  `pageIndex`, `pageSize` and `include` in the query and `{"filters": [{"name": "time",
  "operator": "is", "value": [from, to]}]}` in the body, and answer `{"total", "pageCount",
  "list": [...], "pageIndex", "pageSize"}` [doc: the same search envelope's published sample,
  tests/fixtures/vendor/comm100/livechat_search_*]. Which time the filter applies to, and the
  `include` names of a chat's pre-chat answers, are not published [?].
- tickets: `GET ticketing/tickets` with `timeFrom`, `timeTo`, `pageIndex`, `pageSize` [?: the
  ticket list's parameters are not in a page we could read].

Read as tolerantly as everything of Comm100's: the list bare or wrapped (`list`, `items`,
`data`, …), `total` or not, keys in any casing, missing fields. A page's end is told by the
total when one is given, else by a short page.

Each listed chat, offline message or ticket becomes the `InboundEvent` its live webhook would
have made: it is written as that webhook's body (`as_chat_ended`, `as_offline_message`,
`as_ticket_trigger`) and read by the webhook parser itself, so the rules see a backfilled chat
exactly as a live `chat_ended`, with the same ids, the same context and the same `dedupe_key`.
A conversation that can't be replayed (a chat that never ended, a missed or refused one, an
entry without an id) is kept with the reason, so counts add up. What the listing returns for a
period is the period: whichever time Comm100 filters on, each conversation belongs to one
period, and replaying one twice (two periods that overlap) is harmless, as it is deduplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from optibridge.comm100.schemas import (
    BadId,
    entries,
    epoch_ms,
    get,
    identifier,
    list_of_objects,
    text,
)
from optibridge.comm100.webhooks import (
    InboundEvent,
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.domain.backfills import Kind

CHATS_SEARCH = "livechat/chats:search"
OFFLINE_MESSAGES_SEARCH = "livechat/offlineMessages:search"
TICKETS = "ticketing/tickets"
# What a listed chat or offline message should carry besides its own keys: the visitor (system
# fields, custom variables), the department's name and the form's answers. `visitor`,
# `department` and `offlineMessageFieldResult` are documented for offline messages; the chat's
# by analogy [?].
CHAT_INCLUDES = ("visitor", "department", "chatFieldResult")
OFFLINE_MESSAGE_INCLUDES = ("visitor", "department", "offlineMessageFieldResult")
# Comm100's own sample client asks for chats oldest first this way [3p].
OLDEST_FIRST = {"sortBy": "startTime", "sortOrder": "asc"}
DEFAULT_PAGE_SIZE = 50

# A chat's status when it was never an agent's conversation: nothing ended, nothing to replay.
_NOT_CHATTED = frozenset({"refused", "missed", "1", "2"})


@dataclass(frozen=True)
class PastConversation:
    """One listed conversation: the event to replay, or why there is none."""

    kind: Kind
    # The id as the listing gave it (for messages), or "" when it gave none.
    source_id: str
    # When it happened: a chat's end, an offline message's or a ticket's creation.
    occurred_at: datetime | None
    event: InboundEvent | None
    skipped: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    """One page of a listing. `total` is the period's count when Comm100 said it."""

    items: tuple[PastConversation, ...]
    total: int | None
    more: bool


def time_filter(since: datetime, until: datetime) -> dict[str, Any]:
    """The search body for a period (the published sample's `time` filter)."""
    return {"filters": [{"name": "time", "operator": "is", "value": [iso(since), iso(until)]}]}


def iso(moment: datetime) -> str:
    """UTC, to the millisecond, with a `Z`, as Comm100's samples write times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- pages -------------------------------------------------------------------------------------


def parse_page(
    value: Any,
    kind: Kind,
    *,
    page_index: int,
    page_size: int,
) -> HistoryPage:
    """A listing's answer as a page of conversations; `ShapeError` when it is no listing."""
    where, wrapper = _LISTINGS[kind]
    listed = list_of_objects(value, where, wrapper)
    total = (
        _count(get(value, "total", "totalCount", "count")) if isinstance(value, Mapping) else None
    )
    read = _READERS[kind]
    items = tuple(read(item) for item in listed)
    if not listed:
        more = False
    elif total is not None:
        more = page_index * page_size < total
    else:
        more = len(listed) >= page_size
    return HistoryPage(items, total, more)


# What each listing is called in messages, and the key that may wrap its list.
_LISTINGS: Mapping[Kind, tuple[str, str]] = {
    "chat": ("the chats", "chats"),
    "offline_message": ("the offline messages", "offlineMessages"),
    "ticket": ("the tickets", "tickets"),
}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None


# --- chats -------------------------------------------------------------------------------------

# The chat's pre-chat answers of the system fields, as the v4 chat spells them [doc].
_PRECHAT_SYSTEM = {
    "name": ("preChatName", "name"),
    "email": ("preChatEmail", "email"),
    "phone": ("preChatPhone", "phone"),
    "company": ("preChatCompany", "company"),
    "product_service": ("preChatProductService", "productService"),
}
_FIELD_RESULT_KEYS = (
    "chatFieldResults",
    "preChatFieldResults",
    "fieldResults",
    "customFields",
    "preChatFields",
    "fields",
)
_OFFLINE_FIELD_RESULT_KEYS = (
    "offlineMessageFieldResults",
    "fieldResults",
    "customFields",
    "fields",
)
_VARIABLE_KEYS = ("customVariableResults", "customVariables", "chatCustomVariables")


def as_chat_ended(chat: Mapping[str, Any]) -> dict[str, Any]:
    """The `chat_ended` webhook body this v4 chat would have been sent as."""
    body_chat: dict[str, Any] = {
        "id": _conversation_id(chat),
        "start_time": get(chat, "startTime", "start_time"),
        "end_time": get(chat, "endTime", "end_time"),
        "custom_fields": _answers(_first(chat, _FIELD_RESULT_KEYS)),
        "custom_variables": _answers(_first(chat, _VARIABLE_KEYS)),
    }
    for name, keys in _PRECHAT_SYSTEM.items():
        body_chat[name] = text(get(chat, *keys))
    body_chat["department"] = _department(chat)
    return {"event": "chat_ended", "visitor": _visitor(chat), "chat": body_chat}


def read_chat(chat: Mapping[str, Any]) -> PastConversation:
    source_id = _source_id(chat)
    ended = _moment(get(chat, "endTime", "end_time"))
    status = text(get(chat, "status"))
    if status is not None and status.casefold() in _NOT_CHATTED:
        return PastConversation("chat", source_id, ended, None, f"the chat was {status}")
    if ended is None:
        return PastConversation("chat", source_id, None, None, "the chat has not ended")
    return _replayed("chat", source_id, ended, lambda: parse_livechat_webhook(as_chat_ended(chat)))


# --- offline messages -----------------------------------------------------------------------


def as_offline_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The `offline_message_submitted` webhook body this v4 offline message would have been."""
    body: dict[str, Any] = {
        "id": _conversation_id(message),
        "time": get(message, "createdTime", "time", "submittedTime"),
        "subject": text(get(message, "subject")),
        "content": text(get(message, "message", "content")),
        "custom_fields": _answers(_first(message, _OFFLINE_FIELD_RESULT_KEYS)),
        "custom_variable": _answers(_first(message, _VARIABLE_KEYS)),
        "department": _department(message),
    }
    for name in ("name", "email", "phone", "company"):
        body[name] = text(get(message, name))
    return {
        "event": "offline_message_submitted",
        "offline_message": body,
        "visitor": _visitor(message),
    }


def read_offline_message(message: Mapping[str, Any]) -> PastConversation:
    source_id = _source_id(message)
    submitted = _moment(get(message, "createdTime", "time", "submittedTime"))
    return _replayed(
        "offline_message",
        source_id,
        submitted,
        lambda: parse_livechat_webhook(as_offline_message(message)),
    )


# --- tickets -----------------------------------------------------------------------------------


def as_ticket_trigger(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket trigger body a trigger on *when a ticket is created* would have sent."""
    info = {
        "Id": get(ticket, "id"),
        "Subject": text(get(ticket, "subject")),
        "ContactOrVisitorId": get(ticket, "contactOrVisitorId", "requesterId"),
        # A word here (`contact`, `visitor`): the parser reads names as well as numbers.
        "ContactOrVisitorType": get(ticket, "contactOrVisitorType", "requesterType"),
    }
    trigger: dict[str, Any] = {"TicketInfo": info}
    if (channel := text(get(ticket, "channelId", "channel"))) is not None:
        trigger["ChannelId"] = channel
    return trigger


def read_ticket(ticket: Mapping[str, Any]) -> PastConversation:
    source_id = _source_id(ticket)
    created = _moment(get(ticket, "createdTime", "createTime", "created"))
    return _replayed(
        "ticket", source_id, created, lambda: parse_ticket_trigger(as_ticket_trigger(ticket))
    )


_READERS: Mapping[Kind, Callable[[Mapping[str, Any]], PastConversation]] = {
    "chat": read_chat,
    "offline_message": read_offline_message,
    "ticket": read_ticket,
}


# --- shared readers ----------------------------------------------------------------------------


def _replayed(
    kind: Kind, source_id: str, occurred_at: datetime | None, parse: Callable[[], InboundEvent]
) -> PastConversation:
    try:
        event = parse()
    except WebhookShapeError as error:
        return PastConversation(kind, source_id, occurred_at, None, f"it can't be read: {error}")
    if event.conversation_key is None:
        return PastConversation(kind, source_id, occurred_at, None, "it has no id")
    return PastConversation(kind, source_id, occurred_at, event)


def _conversation_id(item: Mapping[str, Any]) -> Any:
    """The id its webhook carried: the guid when the API gives one beside the integer id
    (an offline message's webhook id is a guid, its API id an integer [doc])."""
    guid = get(item, "guid")
    return guid if text(guid) is not None else get(item, "id")


def _source_id(item: Mapping[str, Any]) -> str:
    try:
        return identifier(get(item, "id")) or identifier(get(item, "guid")) or ""
    except BadId:
        return ""


def _moment(value: Any) -> datetime | None:
    ms = epoch_ms(value)
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _first(item: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = get(item, key)
        if value is not None:
            return value
    return None


def _answers(value: Any) -> list[dict[str, Any]]:
    """Form answers or variables as the webhooks spell them, `[{name, value}]`, from
    `[{name | fieldName | field: {name}, value}]` or `{name: value}`."""
    if isinstance(value, Mapping):
        return [{"name": k, "value": v} for k, v in value.items() if isinstance(k, str)]
    found = []
    for entry in entries(value):
        name = text(get(entry, "name", "fieldName", "label"))
        field = get(entry, "field", "chatField", "offlineMessageField")
        if name is None and isinstance(field, Mapping):
            name = text(get(field, "name", "label"))
        if name is not None:
            found.append({"name": name, "value": get(entry, "value", "values")})
    return found


def _department(item: Mapping[str, Any]) -> str | None:
    """The department's name (an `include`d object, or a name); an id alone is not a name."""
    department = get(item, "department")
    if isinstance(department, Mapping):
        return text(get(department, "name"))
    return text(department) if isinstance(department, str) else None


# The v4 visitor's keys that mean what the webhook's `visitor` keys mean, spelled differently.
_VISITOR_RENAMED = {"ssoId": "sso_id", "referrer": "referrer_url", "landingPageUrl": "landing_page"}


def _visitor(item: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook's `visitor`: the `include`d v4 visitor, flattened (its `location`), or just
    its id."""
    visitor: dict[str, Any] = {}
    included = get(item, "visitor")
    if isinstance(included, Mapping):
        location = get(included, "location")
        if isinstance(location, Mapping):
            visitor.update({k: v for k, v in location.items() if isinstance(k, str)})
        for key, value in included.items():
            if isinstance(key, str) and not isinstance(value, Mapping):
                visitor[_VISITOR_RENAMED.get(key, key)] = value
    visitor_id = get(item, "visitorId")
    if text(get(visitor, "id")) is None and visitor_id is not None:
        visitor["id"] = visitor_id
    visitor.pop("chat_id", None)
    visitor.pop("chatId", None)
    return visitor
