"""Comm100 webhook bodies, built as Comm100 sends them (reference/comm100.md).

Pure functions: the same arguments give the same body. The tests and the sandbox's simulator
pages use them to send the service what a real site would.

Live Chat webhooks (keys snake_case):

- `chat_started(visitor=..., chat_id=...)` → `{"event": "chat_started", "visitor": {...}}`.
- `chat_ended(visitor=..., chat=...)` → `{"event": "chat_ended", "visitor": {...},
  "chat": {...}}`.
- `chat_wrapped_up(visitor=..., chat_id=..., wrapup=...)` → `{"event": "chat_wrapped_up",
  "chat_id", "visitor": {...}, "wrapup": {"category", "comment", "fields", "time"}}`.
- `offline_message_submitted(visitor=..., offline_message=...)` →
  `{"event": "offline_message_submitted", "offline_message": {...}, "visitor": {...}}`.

`visitor`: `id`, `chat_id` (the chat's id when there is one, else null), `name`, `email`,
`phone`, `company`, `ip`, `city`, `state`, `country`, `language`, `referrer_url`,
`landing_page`, `product_service`, `department`, `custom_fields` `[{id, name, value}]` (pre-chat
answers by field name), `custom_variables` `[{name, value}]`, `visits`, and `sso_id` only when
one is given. `chat`: `id`, `name`, `email`, `phone`, `company`, `department`, `start_time`,
`end_time`, `chat_transcript` (lines joined by `⊙`), `custom_fields`, `custom_variable` (the
singular, as Comm100's published chat_ended sample spells it in `chat`).
`offline_message`: `id`, `name`, `email`, `phone`, `company`, `subject`, `content`,
`attachment` (`{name, uri}` or null), `custom_fields`, `custom_variable` (the documented
singular), `department`, `time`. What a chat or an offline message does not say itself
(name, e-mail, department, fields, variables) is the visitor's.

`Variant` produces the documented variants: dates as `"/Date(1584415749307)/"` (default) or
plain epoch milliseconds; ids as given (guid strings) or as integers (`integer_ids`: a guid
becomes a stable positive integer, a digit string its number); the variables key as documented
per object (`custom_variables` in `visitor`, `custom_variable` in `chat` and `offline_message`,
as the published samples spell them) or forced to either spelling in `chat` and
`offline_message`.

Ticketing & Messaging trigger (`ticket_created_trigger`): `style="pascal"` (default) gives
`{"SiteId", "TriggerId", "TriggerName", "ChannelAccountId", "ChannelId", "TicketInfo": {"Id",
"Subject", "ContactOrVisitorType", "ContactOrVisitorId", "Status", "Priority", "CustomFields":
{fieldId: value}, "Tags": []}}` with numeric enums; `style="camel"` gives the same keys in
camelCase (`siteId`, `ticketInfo`, …) with string enums. The numbers:

- `ContactOrVisitorType`: 3 = contact, as in Comm100's two samples (reference/comm100.md). No
  sample shows a visitor's number: the sandbox sends 2, which a client must not rely on (it is
  not 3, so the ticket is read).
- `Status`: 1 = new, 2 = pendingInternal, 3 = pendingExternal, 4 = onHold, 5 = closed (1-based
  in the documented order, as the samples suggest).
- `Priority`: 1 = urgent, 2 = high, 3 = normal, 4 = low (the samples' normal is 3).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Id = str | int
# An aware datetime, or epoch milliseconds.
When = datetime | int
TicketStatus = Literal["new", "pendingInternal", "pendingExternal", "onHold", "closed"]
TicketPriority = Literal["urgent", "high", "normal", "low"]
RequesterType = Literal["contact", "visitor"]

TRANSCRIPT_SEPARATOR = "⊙"
REQUESTER_TYPE_NUMBERS: Mapping[str, int] = {"contact": 3, "visitor": 2}
TICKET_STATUS_NUMBERS: Mapping[str, int] = {
    "new": 1,
    "pendingInternal": 2,
    "pendingExternal": 3,
    "onHold": 4,
    "closed": 5,
}
TICKET_PRIORITY_NUMBERS: Mapping[str, int] = {"urgent": 1, "high": 2, "normal": 3, "low": 4}
DEFAULT_SITE_ID = 10000
DEFAULT_TRIGGER_ID = "5d0f3e8a-2c1b-4f6e-9a7d-0b1c2d3e4f50"
DEFAULT_TRIGGER_NAME = "When a ticket is created: notify optibridge"
DEFAULT_CHANNEL_ACCOUNT_ID = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
_INTEGER_ID_MODULUS = 2_147_483_647  # ids fit a signed 32-bit column


@dataclass(frozen=True, kw_only=True)
class Variant:
    """Which of the documented spellings a body uses."""

    dates: Literal["ms_date", "epoch_ms"] = "ms_date"
    integer_ids: bool = False
    # None: as published per object (chat and offline_message: custom_variable).
    variables_key: Literal["custom_variables", "custom_variable"] | None = None


DOCUMENTED = Variant()


@dataclass(frozen=True, kw_only=True)
class FieldAnswer:
    """A form field's answer: `{id, name, value}`."""

    id: Id
    name: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Visitor:
    id: Id
    chat_id: Id | None = None
    name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    ip: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    language: str = ""
    referrer_url: str = ""
    landing_page: str = ""
    product_service: str = ""
    department: str = ""
    custom_fields: Sequence[FieldAnswer] = ()
    custom_variables: Mapping[str, str] = field(default_factory=dict)
    visits: int = 1
    sso_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Chat:
    """A chat; what it leaves as None is the visitor's."""

    id: Id
    start_time: When
    end_time: When
    transcript: Sequence[str] = ()
    department: str | None = None
    custom_fields: Sequence[FieldAnswer] | None = None
    custom_variables: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Attachment:
    name: str
    uri: str


@dataclass(frozen=True, kw_only=True)
class OfflineMessage:
    """An offline message; what it leaves as None is the visitor's."""

    id: Id
    time: When
    subject: str = ""
    content: str = ""
    attachment: Attachment | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    department: str | None = None
    custom_fields: Sequence[FieldAnswer] | None = None
    custom_variables: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Wrapup:
    time: When
    category: str = ""
    comment: str = ""
    fields: Sequence[FieldAnswer] = ()


# --- values -----------------------------------------------------------------------------------


def epoch_ms(when: When) -> int:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a webhook time must be timezone-aware")
        return round(when.timestamp() * 1000)
    return when


def ms_date(when: When) -> str:
    """Microsoft's JSON date: `/Date(1584415749307)/`."""
    return f"/Date({epoch_ms(when)})/"


def _date(when: When, variant: Variant) -> str | int:
    return ms_date(when) if variant.dates == "ms_date" else epoch_ms(when)


def integer_id(value: Id) -> int:
    """The integer form of an id: a number stays, a guid becomes a stable positive integer."""
    if isinstance(value, int):
        return value
    if value.isascii() and value.isdigit():
        return int(value)
    return uuid.UUID(value).int % _INTEGER_ID_MODULUS + 1


def _id(value: Id, variant: Variant) -> Id:
    return integer_id(value) if variant.integer_ids else value


def _fields(answers: Sequence[FieldAnswer], variant: Variant) -> list[dict[str, Any]]:
    return [{"id": _id(a.id, variant), "name": a.name, "value": a.value} for a in answers]


def _variables(variables: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in variables.items()]


# --- Live Chat --------------------------------------------------------------------------------


def _visitor(visitor: Visitor, chat_id: Id | None, variant: Variant) -> dict[str, Any]:
    chat = chat_id if chat_id is not None else visitor.chat_id
    body: dict[str, Any] = {
        "id": _id(visitor.id, variant),
        "chat_id": None if chat is None else _id(chat, variant),
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "company": visitor.company,
        "ip": visitor.ip,
        "city": visitor.city,
        "state": visitor.state,
        "country": visitor.country,
        "language": visitor.language,
        "referrer_url": visitor.referrer_url,
        "landing_page": visitor.landing_page,
        "product_service": visitor.product_service,
        "department": visitor.department,
        "custom_fields": _fields(visitor.custom_fields, variant),
        "custom_variables": _variables(visitor.custom_variables),
        "visits": visitor.visits,
    }
    if visitor.sso_id is not None:
        body["sso_id"] = visitor.sso_id
    return body


def _chat(visitor: Visitor, chat: Chat, variant: Variant) -> dict[str, Any]:
    custom_fields = chat.custom_fields if chat.custom_fields is not None else visitor.custom_fields
    variables = (
        chat.custom_variables if chat.custom_variables is not None else visitor.custom_variables
    )
    return {
        "id": _id(chat.id, variant),
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "company": visitor.company,
        "department": chat.department if chat.department is not None else visitor.department,
        "start_time": _date(chat.start_time, variant),
        "end_time": _date(chat.end_time, variant),
        "chat_transcript": TRANSCRIPT_SEPARATOR.join(chat.transcript),
        "custom_fields": _fields(custom_fields, variant),
        variant.variables_key or "custom_variable": _variables(variables),
    }


def chat_started(
    *, visitor: Visitor, chat_id: Id | None = None, variant: Variant = DOCUMENTED
) -> dict[str, Any]:
    return {"event": "chat_started", "visitor": _visitor(visitor, chat_id, variant)}


def chat_ended(*, visitor: Visitor, chat: Chat, variant: Variant = DOCUMENTED) -> dict[str, Any]:
    return {
        "event": "chat_ended",
        "visitor": _visitor(visitor, chat.id, variant),
        "chat": _chat(visitor, chat, variant),
    }


def chat_wrapped_up(
    *, visitor: Visitor, chat_id: Id, wrapup: Wrapup, variant: Variant = DOCUMENTED
) -> dict[str, Any]:
    return {
        "event": "chat_wrapped_up",
        "chat_id": _id(chat_id, variant),
        "visitor": _visitor(visitor, chat_id, variant),
        "wrapup": {
            "category": wrapup.category,
            "comment": wrapup.comment,
            "fields": _fields(wrapup.fields, variant),
            "time": _date(wrapup.time, variant),
        },
    }


def _or(value: str | None, fallback: str) -> str:
    return value if value is not None else fallback


def offline_message_submitted(
    *, visitor: Visitor, offline_message: OfflineMessage, variant: Variant = DOCUMENTED
) -> dict[str, Any]:
    message = offline_message
    custom_fields = (
        message.custom_fields if message.custom_fields is not None else visitor.custom_fields
    )
    variables = (
        message.custom_variables
        if message.custom_variables is not None
        else visitor.custom_variables
    )
    attachment = message.attachment
    return {
        "event": "offline_message_submitted",
        "offline_message": {
            "id": _id(message.id, variant),
            "name": _or(message.name, visitor.name),
            "email": _or(message.email, visitor.email),
            "phone": _or(message.phone, visitor.phone),
            "company": _or(message.company, visitor.company),
            "subject": message.subject,
            "content": message.content,
            "attachment": None
            if attachment is None
            else {"name": attachment.name, "uri": attachment.uri},
            "custom_fields": _fields(custom_fields, variant),
            variant.variables_key or "custom_variable": _variables(variables),
            "department": _or(message.department, visitor.department),
            "time": _date(message.time, variant),
        },
        "visitor": _visitor(visitor, None, variant),
    }


# --- Ticketing & Messaging --------------------------------------------------------------------


def ticket_created_trigger(
    ticket_id: int,
    requester_id: str,
    requester_type: RequesterType,
    *,
    style: Literal["pascal", "camel"] = "pascal",
    site_id: int = DEFAULT_SITE_ID,
    subject: str = "",
    status: TicketStatus = "new",
    priority: TicketPriority = "normal",
    channel_id: str = "email",
    channel_account_id: str = DEFAULT_CHANNEL_ACCOUNT_ID,
    trigger_id: str = DEFAULT_TRIGGER_ID,
    trigger_name: str = DEFAULT_TRIGGER_NAME,
    custom_fields: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The body a ticket trigger posts; the requester is named by id only."""
    fields = dict(custom_fields or {})
    if style == "pascal":
        return {
            "SiteId": site_id,
            "TriggerId": trigger_id,
            "TriggerName": trigger_name,
            "ChannelAccountId": channel_account_id,
            "ChannelId": channel_id,
            "TicketInfo": {
                "Id": ticket_id,
                "Subject": subject,
                "ContactOrVisitorType": REQUESTER_TYPE_NUMBERS[requester_type],
                "ContactOrVisitorId": requester_id,
                "Status": TICKET_STATUS_NUMBERS[status],
                "Priority": TICKET_PRIORITY_NUMBERS[priority],
                "CustomFields": fields,
                "Tags": list(tags),
            },
        }
    return {
        "siteId": site_id,
        "triggerId": trigger_id,
        "triggerName": trigger_name,
        "channelAccountId": channel_account_id,
        "channelId": channel_id,
        "ticketInfo": {
            "id": ticket_id,
            "subject": subject,
            "contactOrVisitorType": requester_type,
            "contactOrVisitorId": requester_id,
            "status": status,
            "priority": priority,
            "customFields": fields,
            "tags": list(tags),
        },
    }
