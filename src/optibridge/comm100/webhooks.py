"""What Comm100 POSTs to optibridge, parsed into one vendor-neutral `InboundEvent`.

Two senders, several spellings (reference/comm100.md):
- Live Chat webhooks, snake_case: `{"event": "chat_ended", "visitor": {…}, "chat": {…}}`,
  `{"event": "offline_message_submitted", "offline_message": {…}, "visitor": {…}}`, and the
  events optibridge records but does not act on (chat_started, chat_wrapped_up, …).
- Ticketing triggers, PascalCase with numeric enums (`TicketInfo.ContactOrVisitorType: 1`) or
  camelCase with string enums (`ticketInfo.contactOrVisitorType: "contact"`).

The parser is tolerant of every documented variant (any key casing, `custom_variables` or
`custom_variable`, ids as guids or integers, dates as `/Date(ms)/` or epoch ms, unknown keys)
and strict about what it cannot read: a body that is not an object, has no event, or whose
parts have the wrong kind raises `WebhookShapeError` saying what is wrong. Nothing else is ever
raised, whatever JSON arrives.

Deduplication (SPEC 4.4, 5.3): the same delivery gives the same `dedupe_key` however it is
spelled. Tickets: the ticket id (every trigger on the ticketing URL means "ticket created").
Live Chat: the event with its chat (or offline message) id and its time; events without such
an id, and events that can happen several times per chat (a transfer), digest the whole body
canonicalised. The site is not part of the key: the caller scopes keys by site.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from optibridge.comm100.schemas import (
    BadId,
    Contact,
    epoch_ms,
    get,
    has,
    identifier,
    named_values,
    normal_key,
    requester_kind,
    text,
)
from optibridge.domain.context import (
    CHAT_ENDED,
    OFFLINE_MESSAGE_SUBMITTED,
    TICKET_CREATED,
    ConversationContext,
)
from optibridge.domain.records import Channel
from optibridge.vendor_http.bodies import json_kind

CHAT_STARTED = "chat_started"
CHAT_WRAPPED_UP = "chat_wrapped_up"
# The events optibridge acts on, and the id of the conversation each concludes.
_CONVERSATION_IDS = {
    CHAT_ENDED: "chat_id",
    OFFLINE_MESSAGE_SUBMITTED: "offline_message_id",
    TICKET_CREATED: "ticket_id",
}


class WebhookShapeError(ValueError):
    """A body optibridge cannot read; the message says what is wrong (for a 400 answer)."""


@dataclass(frozen=True)
class InboundEvent:
    """One delivery from Comm100, ready to be stored as a sync record."""

    channel: Channel
    event: str
    # Hex digest: the same delivery twice (however spelled) gives the same key.
    dedupe_key: str
    # Who the event is about in Comm100 ("visitor:<id>", "contact:<id>", or a fallback such as
    # "chat:<id>"): one subject's events are processed in order.
    order_key: str
    # chat_id, visitor_id, offline_message_id; ticket_id, requester_id, requester_kind, …
    comm100_ids: dict[str, str]
    # Live Chat: complete. Ticketing: subject_kind/subject_id only; `ticket_context` (or
    # `Comm100Client.read_ticket_context`) adds the contact read through the API.
    context: ConversationContext

    @property
    def conversation_key(self) -> str | None:
        """The conversation an acted-on event concludes (`chat:<id>`, `offline_message:<id>`,
        `ticket:<id>`), however it reached us (a webhook or a backfill): one conversation is
        applied once. None for the events that change nothing, or without the id."""
        id_key = _CONVERSATION_IDS.get(self.event)
        if id_key is None or (conversation_id := self.comm100_ids.get(id_key)) is None:
            return None
        return f"{id_key.removesuffix('_id')}:{conversation_id}"


# --- Live Chat ------------------------------------------------------------------------------

# SPEC 2 system field → the keys Comm100 has used for it in `visitor` and `chat` objects.
_SYSTEM_KEYS: Mapping[str, tuple[str, ...]] = {
    "name": ("name",),
    "email": ("email",),
    "phone": ("phone",),
    "company": ("company",),
    "product_service": ("product_service", "product", "product_or_service"),
    "department": ("department", "department_name"),
    "ip": ("ip", "ip_address"),
    "sso_id": ("sso_id", "sso_user_id"),
    "city": ("city",),
    "state": ("state",),
    "country": ("country",),
    "language": ("language",),
    "referrer_url": ("referrer_url", "referrer"),
    "landing_page": ("landing_page", "landing_page_url"),
}
# The offline message form's system fields (SPEC 2), as `context.offline` names them.
_OFFLINE_SYSTEM_FIELDS = ("name", "email", "phone", "company", "subject", "content", "department")
# What an offline message tells about the person, as the chat does (it wins over `visitor`).
_OFFLINE_TO_SYSTEM = ("name", "email", "phone", "company", "department")
_CUSTOM_VARIABLE_KEYS = ("custom_variables", "custom_variable")
_CUSTOM_FIELD_KEYS = ("custom_fields", "custom_field")

# Events that happen once per chat or message, so (event, id, time) identifies a delivery.
_ID_KEYED_EVENTS = frozenset({CHAT_ENDED, OFFLINE_MESSAGE_SUBMITTED, CHAT_STARTED, CHAT_WRAPPED_UP})

_MAX_EVENT_LENGTH = 64


def parse_livechat_webhook(body: object) -> InboundEvent:
    """A Live Chat webhook body (already decoded from JSON) as an `InboundEvent`."""
    root = _object(body, "the body")
    event = _event_name(root)
    visitor = _part(root, "visitor")
    chat = _part(root, "chat")
    offline = _part(root, "offline_message")
    wrapup = _part(root, "wrapup", "wrap_up")
    if event == CHAT_ENDED and chat is None and visitor is None:
        raise WebhookShapeError("a chat_ended body needs a 'chat' or a 'visitor' object")
    if event == OFFLINE_MESSAGE_SUBMITTED and offline is None:
        raise WebhookShapeError("missing 'offline_message'")

    visitor_id = _first_id(
        (visitor, "id", "visitor"),
        (visitor, "visitor_id", "visitor"),
        (chat, "visitor_id", "chat"),
        (offline, "visitor_id", "offline_message"),
        (root, "visitor_id", None),
    )
    chat_id = _first_id(
        (chat, "id", "chat"),
        (root, "chat_id", None),
        (chat, "chat_id", "chat"),
        (visitor, "chat_id", "visitor"),
        (wrapup, "chat_id", "wrapup"),
    )
    offline_id = _first_id((offline, "id", "offline_message"), (root, "offline_message_id", None))
    ids = {
        k: v
        for k, v in (
            ("chat_id", chat_id),
            ("visitor_id", visitor_id),
            ("offline_message_id", offline_id),
        )
        if v is not None
    }

    # Later sources win: what was typed in this chat (or message) over the visitor's record.
    system: dict[str, str] = {}
    for source in (visitor, chat):
        if source is not None:
            system.update(_system_fields(source))
    if offline is not None:
        for name in _OFFLINE_TO_SYSTEM:
            if (value := _field_text(offline, name)) is not None:
                system[name] = value
    if visitor_id is not None:
        system["visitor_id"] = visitor_id

    prechat: dict[str, str] = {}
    custom_variables: dict[str, str] = {}
    for source in (visitor, offline, chat):
        if source is None:
            continue
        for key in _CUSTOM_VARIABLE_KEYS:
            custom_variables.update(named_values(get(source, key)))
        if source is not offline:
            prechat.update(_custom_fields(source))

    offline_fields: dict[str, str] = {}
    if offline is not None:
        offline_fields.update(_custom_fields(offline))
        for name in _OFFLINE_SYSTEM_FIELDS:
            if (value := _field_text(offline, name)) is not None:
                offline_fields[name] = value

    context = ConversationContext(
        channel="livechat",
        event=event,
        system=system,
        prechat=prechat,
        offline=offline_fields,
        custom_variables=custom_variables,
        subject_kind="visitor" if visitor_id is not None else None,
        subject_id=visitor_id,
    )
    dedupe_key = _livechat_dedupe_key(root, event, chat, offline, wrapup, chat_id, offline_id)
    if visitor_id is not None:
        order_key = f"visitor:{visitor_id}"
    elif chat_id is not None:
        order_key = f"chat:{chat_id}"
    elif offline_id is not None:
        order_key = f"offline_message:{offline_id}"
    else:
        order_key = f"delivery:{dedupe_key}"
    return InboundEvent("livechat", event, dedupe_key, order_key, ids, context)


def _livechat_dedupe_key(
    root: Mapping[str, Any],
    event: str,
    chat: Mapping[str, Any] | None,
    offline: Mapping[str, Any] | None,
    wrapup: Mapping[str, Any] | None,
    chat_id: str | None,
    offline_id: str | None,
) -> str:
    subject: tuple[str, str] | None = None
    moment: Any = None
    if event in _ID_KEYED_EVENTS:
        if event == OFFLINE_MESSAGE_SUBMITTED:
            subject = ("offline_message", offline_id) if offline_id is not None else None
            moment = get(offline, "time", "submitted_time") if offline is not None else None
        elif chat_id is not None:
            subject = ("chat", chat_id)
            if event == CHAT_ENDED and chat is not None:
                moment = get(chat, "end_time")
            elif event == CHAT_STARTED and chat is not None:
                moment = get(chat, "start_time")
            elif event == CHAT_WRAPPED_UP and wrapup is not None:
                moment = get(wrapup, "time")
    if subject is None:
        return _digest(["livechat", "body", canonical(root)])
    return _digest(["livechat", event, *subject, _canonical_time(moment)])


def _system_fields(source: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, keys in _SYSTEM_KEYS.items():
        for key in keys:
            if (value := _field_text(source, key)) is not None:
                found[name] = value
                break
    return found


def _field_text(source: Mapping[str, Any], key: str) -> str | None:
    """A field's text; a department (or similar) may come as an object with a name."""
    value = get(source, key)
    if isinstance(value, Mapping):
        value = get(value, "name")
    return text(value)


def _custom_fields(source: Mapping[str, Any]) -> dict[str, str]:
    """Form answers `[{id, name, value}]` by field name (also `{"name": value}`)."""
    found: dict[str, str] = {}
    for key in _CUSTOM_FIELD_KEYS:
        found.update(named_values(get(source, key), name_keys=("name", "field_name", "label")))
    return found


def _event_name(root: Mapping[str, Any]) -> str:
    if not has(root, "event"):
        raise WebhookShapeError("missing 'event'")
    raw = get(root, "event")
    if not isinstance(raw, str):
        raise WebhookShapeError(f"'event' must be a string, found a JSON {json_kind(raw)}")
    name = event_name(raw)
    if not name:
        raise WebhookShapeError("'event' is empty")
    if len(name) > _MAX_EVENT_LENGTH:
        raise WebhookShapeError(f"'event' is longer than {_MAX_EVENT_LENGTH} characters")
    return name


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def event_name(raw: str) -> str:
    """`chat_ended`, sent as chat_ended, chatEnded, ChatEnded, "Chat Ended" or chat-ended."""
    spaced = _CAMEL_HUMP.sub("_", raw.strip())
    return _NOT_WORD.sub("_", spaced.lower()).strip("_")


# --- Ticketing triggers ---------------------------------------------------------------------


def parse_ticket_trigger(body: object) -> InboundEvent:
    """A ticket trigger body (already decoded from JSON) as a `ticket_created` `InboundEvent`.

    The requester's fields are not in the payload: the context carries only who it is
    (`subject_kind`, `subject_id`); `subject_kind` is None when the trigger did not say whether
    the requester is a contact or a visitor (read the ticket to learn it).
    """
    root = _object(body, "the body")
    ticket = _part(root, "TicketInfo", "ticket")
    if ticket is None:
        raise WebhookShapeError("missing 'TicketInfo'")
    ticket_id = _first_id((ticket, "Id", "TicketInfo"), (ticket, "TicketId", "TicketInfo"))
    if ticket_id is None:
        ticket_id = _first_id((root, "TicketId", None))
    if ticket_id is None:
        raise WebhookShapeError("missing 'TicketInfo.Id'")
    requester_id = _first_id((ticket, "ContactOrVisitorId", "TicketInfo"))
    kind = requester_kind(get(ticket, "ContactOrVisitorType"))

    ids = {"ticket_id": ticket_id}
    if requester_id is not None:
        ids["requester_id"] = requester_id
    if kind is not None:
        ids["requester_kind"] = kind
    for name, key in (("trigger_id", "TriggerId"), ("channel_id", "ChannelId")):
        try:
            value = identifier(get(root, key))
        except BadId:
            value = None
        if value is not None:
            ids[name] = value

    subject_kind: Literal["contact", "visitor"] | None = None
    if kind == "contact":
        subject_kind = "contact"
    elif kind == "visitor":
        subject_kind = "visitor"
    context = ConversationContext(
        channel="ticketing",
        event=TICKET_CREATED,
        subject_kind=subject_kind,
        subject_id=requester_id,
    )
    if requester_id is not None:
        order_key = f"{subject_kind or 'requester'}:{requester_id}"
    else:
        order_key = f"ticket:{ticket_id}"
    dedupe_key = _digest(["ticketing", TICKET_CREATED, ticket_id])
    return InboundEvent("ticketing", TICKET_CREATED, dedupe_key, order_key, ids, context)


def ticket_context(event: InboundEvent, contact: Contact | None) -> ConversationContext:
    """The ticketing context of `event` with the requester's contact fields and identities."""
    if contact is None:
        return event.context
    return replace(
        event.context,
        contact=dict(contact.fields),
        identities=dict(contact.identities),
    )


# --- shared readers -------------------------------------------------------------------------


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WebhookShapeError(f"{where} must be a JSON object, found a JSON {json_kind(value)}")
    return value


def _part(root: Mapping[str, Any], *names: str) -> Mapping[str, Any] | None:
    """An optional object of the body (`visitor`, `chat`, …); null counts as absent."""
    for name in names:
        if has(root, name):
            value = get(root, name)
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise WebhookShapeError(
                    f"'{name}' must be an object, found a JSON {json_kind(value)}"
                )
            return value
    return None


def _first_id(*candidates: tuple[Mapping[str, Any] | None, str, str | None]) -> str | None:
    """The first present id among (object, key, where-for-messages)."""
    for source, key, where in candidates:
        if source is None:
            continue
        try:
            value = identifier(get(source, key))
        except BadId as exc:
            label = f"{where}.{key}" if where else key
            raise WebhookShapeError(
                f"'{label}' must be a string or an integer id, found {exc}"
            ) from None
        if value is not None:
            return value
    return None


def _canonical_time(value: Any) -> str:
    ms = epoch_ms(value)
    if ms is not None:
        return str(ms)
    return text(value) or ""


# Deeper than any Comm100 body; a limit keeps canonicalisation far from the recursion limit.
_MAX_DEPTH = 32


def canonical(value: Any, depth: int = 0) -> Any:
    """The body as it would be written by any Comm100 version: spelling differences removed.

    Keys lose case, `_` and `-` and are sorted; empty values are dropped; scalars become text
    (ids as `identifier` spells them, dates as epoch ms). Two deliveries with the same
    canonical form are the same delivery.
    """
    if depth > _MAX_DEPTH:
        raise WebhookShapeError(f"the body is nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in sorted(
            (k for k in value if isinstance(k, str)), key=lambda k: (normal_key(k), k)
        ):
            normal = normal_key(key)
            if normal in result:
                continue
            item = canonical(value[key], depth + 1)
            if item not in (None, "", [], {}):
                result[normal] = item
        return result
    if isinstance(value, list):
        return [canonical(item, depth + 1) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int | float | str):
        if isinstance(value, str) and (ms := epoch_ms(value)) is not None:
            return str(ms)
        try:
            return identifier(value)
        except BadId:
            return text(value)
    return None


def _digest(parts: list[Any]) -> str:
    encoded = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: the webhook door has made text storable already; a caller that did not
    # must still get a digest, not a crash.
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()
