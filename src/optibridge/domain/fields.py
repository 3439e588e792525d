"""Where a mapped or identifying value comes from: a `FieldRef` read from a conversation.

A name is looked up as the administrator typed it, then case-insensitively (Comm100 form
fields, custom variables and contact fields are named by people, and the spelling in a webhook
is not always the spelling in the form editor). The value is trimmed; an absent, null or blank
value is None.

One fallback across sources: the Live Chat system fields that the offline-message form also
has (name, email, phone, company) are read from the offline message when the visitor's own
field is empty. An administrator who maps `system email` expects the e-mail an offline message
was sent with, and Comm100 sends the visitor's fields empty for a visitor who never chatted.
"""

from __future__ import annotations

from collections.abc import Mapping

from optibridge.domain.context import ConversationContext
from optibridge.domain.settings import FieldRef, FieldSource

# Live Chat system fields that the offline-message form has too (SPEC 2).
OFFLINE_SYSTEM_FIELDS = ("name", "email", "phone", "company")


def source_values(source: FieldSource, context: ConversationContext) -> Mapping[str, str]:
    """The values of one source of a conversation, by name."""
    if source == "system":
        return context.system
    if source == "prechat":
        return context.prechat
    if source == "offline":
        return context.offline
    if source == "custom_variable":
        return context.custom_variables
    if source == "contact":
        return context.contact
    return context.identities


def lookup(values: Mapping[str, object], name: str) -> str | None:
    """`values[name]` trimmed, None when absent or blank. The exact name first; otherwise the
    first non-blank value whose name equals it case-insensitively (ignoring surrounding
    whitespace), in the mapping's order."""
    exact = _text(values.get(name)) if name in values else None
    if exact is not None:
        return exact
    folded = name.strip().casefold()
    for key, value in values.items():
        if key != name and key.strip().casefold() == folded:
            text = _text(value)
            if text is not None:
                return text
    return None


def resolve(ref: FieldRef, context: ConversationContext) -> str | None:
    """The trimmed value `ref` points at in `context`; None when it is absent or empty."""
    value = lookup(source_values(ref.source, context), ref.name)
    if value is None and ref.source == "system" and ref.name in OFFLINE_SYSTEM_FIELDS:
        value = lookup(context.offline, ref.name)
    return value


def describe(ref: FieldRef) -> str:
    """`custom variable 'customer_id'`: a field reference in words, for reasons and logs."""
    kind = {
        "system": "system field",
        "prechat": "pre-chat field",
        "offline": "offline message field",
        "custom_variable": "custom variable",
        "contact": "contact field",
        "identity": "contact identity",
    }[ref.source]
    return f"{kind} '{ref.name}'"


def _text(value: object) -> str | None:
    """A value as trimmed text; None for null and blank. Numbers and booleans (a parser that
    kept JSON scalars) are written the JSON way."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        return None
    return text.strip() or None
