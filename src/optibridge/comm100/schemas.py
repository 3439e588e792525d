"""Comm100's wire shapes, read tolerantly: values, ids, dates, and what the v4 API answers.

Nothing outside `optibridge.comm100` knows Comm100's JSON casing. Keys are looked up ignoring
case, `_` and `-` (Live Chat webhooks are snake_case, the v4 API camelCase, ticket triggers
PascalCase), so one reader serves every variant. The readers accept the documented shapes and
the variants seen across versions (ids as guids or integers, dates as `/Date(ms)/` or epoch ms,
extra keys) and raise `ShapeError` for anything else; they never crash on a strange body.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from optibridge.vendor_http import bodies
from optibridge.vendor_http.bodies import Body, json_kind


class ShapeError(ValueError):
    """A body that is not what Comm100 sends; the message says what was found instead."""


# --- keys and values -----------------------------------------------------------------------

_KEY_NOISE = str.maketrans("", "", "_- \t\r\n")


@functools.lru_cache(maxsize=4096)
def normal_key(key: str) -> str:
    """`custom_fields`, `customFields` and `CustomFields` are one key."""
    return key.translate(_KEY_NOISE).lower()


def get(obj: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of `names` present in `obj`, ignoring case, `_` and `-`.

    An exact key wins; among keys that differ only in spelling the smallest one wins, so the
    answer never depends on the order of the keys in the body.
    """
    for name in names:
        if name in obj:
            return obj[name]
        wanted = normal_key(name)
        matches = sorted(k for k in obj if isinstance(k, str) and normal_key(k) == wanted)
        if matches:
            return obj[matches[0]]
    return None


def has(obj: Mapping[str, Any], name: str) -> bool:
    wanted = normal_key(name)
    return any(isinstance(k, str) and normal_key(k) == wanted for k in obj)


def text(value: Any) -> str | None:
    """A field value as text: strings trimmed, numbers and booleans spelled out; else None.

    Empty values (null, "", blanks) are None: Comm100 sends empty fields, and an empty value
    must never count as an answer. A list of scalars (a multi-select answer) is joined.
    """
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        parts = [t for t in (text(v) for v in value if not isinstance(v, Mapping | list)) if t]
        return ", ".join(parts) or None
    return None


_GUID = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)


# Comm100's ids are GUIDs (36 characters) or integers; anything much longer is not an id, and
# would not fit where ids are stored (`sync_records.order_key`, `customer_links.subject_id`).
MAX_ID_LENGTH = 100


class BadId(ValueError):
    """An id that is neither a string nor an integral number, or far too long to be one."""


def identifier(value: Any) -> str | None:
    """An id as a string: guids lower-cased without braces, integers in decimal; None if absent.

    Raises `BadId` for a value that cannot be an id (an object, a list, a boolean, a fraction).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadId("a boolean")
    if isinstance(value, int):
        return _short_enough(str(value))
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise BadId("a number that is not an integer")
        return _short_enough(str(int(value)))
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        guid = _GUID.match(stripped)
        return guid.group(1).lower() if guid else _short_enough(stripped)
    raise BadId(f"a JSON {json_kind(value)}")


def _short_enough(id_text: str) -> str:
    if len(id_text) > MAX_ID_LENGTH:
        raise BadId(f"{len(id_text)} characters (an id has at most {MAX_ID_LENGTH})")
    return id_text


_WCF_DATE = re.compile(r"^/?Date\((-?\d{1,16})(?:[+-]\d{4})?\)/?$", re.IGNORECASE)
_EPOCH = re.compile(r"^-?\d{1,16}$")


def epoch_ms(value: Any) -> int | None:
    """A date as epoch milliseconds: `"/Date(1584415749307)/"`, epoch ms, or ISO 8601.

    The offset a `/Date(ms+0800)/` may carry is only a display hint: the milliseconds are UTC.
    ISO dates without an offset are taken as UTC. None when the value is not a date.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value) if math.isfinite(value) and abs(value) < 1e17 else None
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    wcf = _WCF_DATE.match(stripped)
    if wcf:
        return int(wcf.group(1))
    if _EPOCH.match(stripped):
        return int(stripped)
    try:
        parsed = datetime.fromisoformat(stripped)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def entries(value: Any) -> Iterator[Mapping[str, Any]]:
    """The objects of a list, skipping anything else (a list of entries is read leniently)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def named_values(value: Any, *, name_keys: tuple[str, ...] = ("name",)) -> dict[str, str]:
    """`[{"name", "value"}, …]` (or a plain `{name: value}` object) as name → text.

    Entries without a name or with an empty value are dropped; a later entry of the same name
    wins (a form answered twice keeps its last answer).
    """
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key in sorted(k for k in value if isinstance(k, str)):
            if (name := key.strip()) and (v := text(value[key])) is not None:
                found[name] = v
        return found
    for item in entries(value):
        item_name = text(get(item, *name_keys))
        item_value = text(get(item, "value", "values"))
        if item_name is not None and item_value is not None:
            found[item_name] = item_value
    return found


# --- requester of a ticket ------------------------------------------------------------------

# The numeric ContactOrVisitorType of PascalCase ticket triggers is not documented. Comm100's only
# two samples show 3 for requesters that are always contacts (Telegram, Secure Messaging), and 1
# for *agents* in the fields beside it (AssigneeType, ResolvedByType): reference/comm100.md. So 3
# is a contact; any other number, or none, leaves the kind open and the ticket is read to learn it
# (its `contactOrVisitorType` is a word). 1 is never taken for a contact. Names (camelCase
# triggers, the ticket itself) are accepted in any case.
CONTACT_OR_VISITOR_TYPES: Mapping[int, str] = {3: "contact"}


def requester_kind(value: Any) -> str | None:
    """`contact` from the number 3, `visitor` (or another name, lower-cased) from a name; None
    for any other number or nothing (read the ticket to learn the kind)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return CONTACT_OR_VISITOR_TYPES.get(value)
    name = text(value)
    if name is None:
        return None
    if _EPOCH.match(name):
        return CONTACT_OR_VISITOR_TYPES.get(int(name))
    return name.lower()


# --- contact identities ---------------------------------------------------------------------

# The spelling the reference (and Comm100's docs) give each identity type; administrators name
# identities this way in a `FieldRef`, so every spelling Comm100 sends is mapped onto it.
IDENTITY_TYPES = (
    "visitor",
    "Email",
    "SMS",
    "facebook",
    "twitter",
    "wechat",
    "SSOID",
    "externalID",
    "whatsApp",
    "instagram",
    "telegram",
    "line",
    "SecureMessaging",
)
_IDENTITY_BY_KEY = {normal_key(t): t for t in IDENTITY_TYPES}


def identity_type(value: Any) -> str | None:
    """The canonical spelling of an identity type (unknown ones are kept as sent)."""
    name = text(value)
    if name is None:
        return None
    return _IDENTITY_BY_KEY.get(normal_key(name), name)


# --- API results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A Comm100 contact: its fields by name (system and custom) and its identities by type."""

    id: str
    fields: dict[str, str] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactField:
    """One contact field (`contact/fields`), system or custom."""

    id: str
    name: str
    type: str | None = None
    is_system: bool = False
    is_required: bool = False
    is_identity: bool = False
    identity_type: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormField:
    """One field of the Live Chat pre-chat or offline message form."""

    id: str
    name: str
    type: str | None = None
    is_system: bool = False
    is_required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomVariable:
    """One Live Chat custom variable (its name is what a `FieldRef` names)."""

    name: str
    type: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A ticket, as far as optibridge reads it: who asked, and about what."""

    id: str
    subject: str | None
    requester_id: str | None
    # "contact" or "visitor"; another name (lower-cased) if Comm100 adds one; None if not said.
    requester_kind: str | None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if isinstance(value, bool | int) else False


def _options(value: Any) -> tuple[str, ...]:
    """Field options: plain strings or objects with a value/name."""
    found: list[str] = []
    if isinstance(value, list):
        for item in value:
            option = (
                text(get(item, "value", "name", "label"))
                if isinstance(item, Mapping)
                else text(item)
            )
            if option is not None:
                found.append(option)
    return tuple(found)


def _item_id(item: Mapping[str, Any], where: str) -> str | None:
    try:
        return identifier(get(item, "id", "fieldId"))
    except BadId as exc:
        raise ShapeError(f"{where}: an id is {exc}") from None


def list_of_objects(value: Any, where: str, *wrappers: str) -> list[Mapping[str, Any]]:
    """A JSON list of objects, also when wrapped in an object (`{"<wrapper>": [...]}`)."""
    if isinstance(value, Mapping):
        for wrapper in (*wrappers, "items", "data", "value", "list", "results"):
            inner = get(value, wrapper)
            if isinstance(inner, list):
                value = inner
                break
    if not isinstance(value, list):
        raise ShapeError(f"{where}: expected a JSON list, found a JSON {json_kind(value)}")
    if any(not isinstance(item, Mapping) for item in value):
        raise ShapeError(f"{where}: expected a list of objects")
    return list(value)


def parse_contact_fields(value: Any) -> list[ContactField]:
    """`[{id, name, isSystem, isIdentity, identityType, isRequired, type, fieldOptions}]`."""
    where = "the contact fields"
    fields = []
    for item in list_of_objects(value, where, "fields", "contactFields"):
        name = text(get(item, "name", "label"))
        if name is None:
            raise ShapeError(f"{where}: a field has no name")
        fields.append(
            ContactField(
                id=_item_id(item, where) or name,
                name=name,
                type=text(get(item, "type")),
                is_system=_flag(get(item, "isSystem")),
                is_required=_flag(get(item, "isRequired")),
                is_identity=_flag(get(item, "isIdentity")),
                identity_type=identity_type(get(item, "identityType")),
                options=_options(get(item, "fieldOptions", "options")),
            )
        )
    return fields


def parse_form_fields(value: Any, where: str) -> list[FormField]:
    """`[{id, name, type, isSystem, isRequired, options}]` (pre-chat or offline message)."""
    fields = []
    for item in list_of_objects(value, where, "fields", "formFields"):
        name = text(get(item, "name", "label"))
        if name is None:
            raise ShapeError(f"{where}: a field has no name")
        fields.append(
            FormField(
                id=_item_id(item, where) or name,
                name=name,
                type=text(get(item, "type")),
                is_system=_flag(get(item, "isSystem")),
                is_required=_flag(get(item, "isRequired")),
                options=_options(get(item, "options", "fieldOptions")),
            )
        )
    return fields


def parse_custom_variables(value: Any) -> list[CustomVariable]:
    """`[{name, type, value}]` (the value is the variable's definition; it is not kept)."""
    where = "the custom variables"
    variables = []
    for item in list_of_objects(value, where, "customVariables", "variables"):
        name = text(get(item, "name"))
        if name is None:
            raise ShapeError(f"{where}: a variable has no name")
        variables.append(CustomVariable(name=name, type=text(get(item, "type"))))
    return variables


def single_object(value: Any, where: str, wrapper: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping) and not has(value, "id"):
        inner = get(value, wrapper)
        if isinstance(inner, Mapping):
            value = inner
    if not isinstance(value, Mapping):
        raise ShapeError(f"{where}: expected a JSON object, found a JSON {json_kind(value)}")
    return value


def parse_ticket(value: Any) -> Ticket:
    """`{id, subject, contactOrVisitorId, contactOrVisitorType, …}`."""
    where = "the ticket"
    ticket = single_object(value, where, "ticket")
    try:
        ticket_id = identifier(get(ticket, "id"))
        requester_id = identifier(get(ticket, "contactOrVisitorId"))
    except BadId as exc:
        raise ShapeError(f"{where}: an id is {exc}") from None
    if ticket_id is None:
        raise ShapeError(f"{where}: no id")
    return Ticket(
        id=ticket_id,
        subject=text(get(ticket, "subject")),
        requester_id=requester_id,
        requester_kind=requester_kind(get(ticket, "contactOrVisitorType")),
    )


@dataclass(frozen=True)
class RawContact:
    """A contact as the API sent it, before custom field ids are turned into names."""

    id: str
    fields: dict[str, str]
    custom_values: dict[str, str]  # custom field id (or name, when the API gave one) → value
    custom_names: dict[str, str]  # custom field id → the name the API gave with it, if any
    identities: dict[str, str] | None  # None when the body carried no identities at all
    merged_into: str | None


# Keys of a contact that are not fields an administrator maps.
_CONTACT_META = frozenset(
    normal_key(k)
    for k in (
        "id",
        "customFields",
        "contactIdentities",
        "identities",
        "mergeToContactId",
        "avatarUrl",
        "isDeleted",
        "createdTime",
        "updatedTime",
        "lastUpdatedTime",
        "createdById",
        "updatedById",
    )
)


def parse_contact(value: Any) -> RawContact:
    """`{id, name, firstName, …, customFields, contactIdentities, mergeToContactId}`."""
    where = "the contact"
    contact = single_object(value, where, "contact")
    try:
        contact_id = identifier(get(contact, "id"))
        merged_into = identifier(get(contact, "mergeToContactId"))
    except BadId as exc:
        raise ShapeError(f"{where}: an id is {exc}") from None
    if contact_id is None:
        raise ShapeError(f"{where}: no id")
    fields: dict[str, str] = {}
    for key in sorted(k for k in contact if isinstance(k, str)):
        if normal_key(key) in _CONTACT_META or isinstance(contact[key], list):
            continue
        if (v := text(contact[key])) is not None:
            fields.setdefault(key, v)
    custom_values, custom_names = _custom_field_values(get(contact, "customFields"))
    identities = None
    raw_identities = get(contact, "contactIdentities", "identities")
    if has(contact, "contactIdentities") or has(contact, "identities"):
        identities = parse_identities(raw_identities if raw_identities is not None else [])
    return RawContact(
        contact_id,
        fields,
        custom_values,
        custom_names,
        identities,
        merged_into if merged_into != contact_id else None,
    )


def _custom_field_values(value: Any) -> tuple[dict[str, str], dict[str, str]]:
    """`[{fieldId, value, name?}]` or `{fieldId: value}` → (id → value, id → name)."""
    values: dict[str, str] = {}
    names: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key in sorted(k for k in value if isinstance(k, str)):
            if (v := text(value[key])) is not None:
                values[_safe_id(key) or key] = v
        return values, names
    for item in entries(value):
        field_key = _safe_id(get(item, "fieldId", "contactFieldId", "id")) or text(
            get(item, "name")
        )
        field_value = text(get(item, "value", "values"))
        if field_key is None or field_value is None:
            continue
        values[field_key] = field_value
        if (name := text(get(item, "name", "fieldName"))) is not None:
            names[field_key] = name
    return values, names


def _safe_id(value: Any) -> str | None:
    try:
        return identifier(value)
    except BadId:
        return None


def parse_identities(value: Any) -> dict[str, str]:
    """`[{type | contactIdentityType, value}]` → type → the first value of that type."""
    if isinstance(value, Mapping):
        inner = get(value, "contactIdentities", "identities", "items", "data")
        value = inner if isinstance(inner, list) else value
    if not isinstance(value, list):
        raise ShapeError(
            f"the contact identities: expected a JSON list, found a JSON {json_kind(value)}"
        )
    identities: dict[str, str] = {}
    for item in entries(value):
        kind = identity_type(get(item, "type", "contactIdentityType", "identityType"))
        v = text(get(item, "value"))
        if kind is not None and v is not None:
            identities.setdefault(kind, v)
    return identities


# --- error bodies ---------------------------------------------------------------------------


def error_message(body: Body) -> str:
    """What Comm100 said about an error, on one line, or '' when it said nothing."""
    return bodies.error_message(body, get)
