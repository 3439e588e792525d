"""Whether a mapped Comm100 field can hold what its Optimove attribute takes (SPEC 3, 4.2).

Optimove keeps each attribute in a typed column (`values.py`): a value that isn't a whole
number can't go into a `Bigint`, and is left out of the update with the reason. A mapping from
a Comm100 field of another kind is allowed (a free-text pre-chat field may well be filled with
digits), but it is worth a warning when it is saved: the administrator learns which field, and
why values will be left out, before the first chat ends.

A Comm100 field's kind: Live Chat's system fields, the offline form's own (name, e-mail, …)
and contact identities are text; a form field, custom variable or contact field has the kind of its
Comm100 type when Comm100 says it (`comm100_kind`), else it is not known and nothing is said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from optibridge.domain.fields import describe
from optibridge.domain.settings import FieldRef, FieldSource, SiteSettings
from optibridge.domain.values import FieldKind, parse_field_type

# What a Comm100 field holds, as far as its type says.
Comm100Kind = Literal["text", "number", "date", "boolean"]

# Sources whose values are always text: Live Chat's system fields, contact identities.
_TEXT_SOURCES: frozenset[FieldSource] = frozenset({"system", "identity"})
# The offline message form's own fields (its custom fields are `offline` fields too).
_OFFLINE_SYSTEM_FIELDS = frozenset({"name", "email", "phone", "company", "subject", "content"})
# What each Optimove kind takes, in words.
_TAKES: Mapping[FieldKind, str] = {
    "integer": "whole numbers",
    "decimal": "numbers",
    "date": "dates",
    "boolean": "yes or no values",
}
_ONE: Mapping[FieldKind, str] = {
    "integer": "a whole number",
    "decimal": "a number",
    "date": "a date",
    "boolean": "yes or no",
}
_FITS: Mapping[FieldKind, frozenset[Comm100Kind]] = {
    "integer": frozenset({"number"}),
    "decimal": frozenset({"number"}),
    "date": frozenset({"date"}),
    "boolean": frozenset({"boolean"}),
}
_KIND_WORDS: Mapping[Comm100Kind, str] = {
    "text": "text",
    "number": "a number",
    "date": "a date",
    "boolean": "a yes/no choice",
}


def comm100_kind(field_type: str | None) -> Comm100Kind | None:
    """The kind of a Comm100 field's `type` (`text`, `textArea`, `email`, `number`, `date`,
    `checkBox`, …); None when there is none."""
    if field_type is None or not field_type.strip():
        return None
    word = "".join(ch for ch in field_type.casefold() if ch.isalnum())
    if "date" in word or "time" in word:
        return "date"
    if word in ("number", "numeric", "integer", "int", "decimal", "float", "currency"):
        return "number"
    if word in ("checkbox", "bool", "boolean", "switch", "toggle"):
        return "boolean"
    return "text"


@dataclass(frozen=True)
class TypeMismatch:
    """A mapping whose Comm100 values may not fit its Optimove attribute."""

    pointer: str  # the mapping row's Optimove field: /livechat/field_mapping/2/optimove_field
    optimove_field: str
    message: str


def type_mismatches(
    settings: SiteSettings,
    field_types: Mapping[str, str | None],
    kinds: Mapping[tuple[FieldSource, str], Comm100Kind],
) -> list[TypeMismatch]:
    """Each mapping whose Optimove attribute is not text and whose Comm100 field is known to
    hold something else. `field_types`: the account's attributes by name (any case);
    `kinds`: the Comm100 fields' kinds by (source, case-folded name)."""
    types = {name.casefold(): (name, field_type) for name, field_type in field_types.items()}
    found: list[TypeMismatch] = []
    for channel in ("livechat", "ticketing"):
        for index, item in enumerate(settings.channel(channel).field_mapping):
            typed = types.get(item.optimove_field.casefold())
            if typed is None:
                continue  # not an attribute of the account: validation says so
            name, field_type = typed
            parsed = parse_field_type(field_type)
            if parsed.kind == "text":
                continue
            source_kind = _kind_of(item.comm100_field, kinds)
            if source_kind is None or source_kind in _FITS[parsed.kind]:
                continue
            found.append(
                TypeMismatch(
                    f"/{channel}/field_mapping/{index}/optimove_field",
                    name,
                    f"{name} takes {_TAKES[parsed.kind]} in Optimove ({parsed.name}), but"
                    f" {describe(item.comm100_field)} is {_KIND_WORDS[source_kind]} in"
                    f" Comm100: a value that isn't {_ONE[parsed.kind]} will be left out of"
                    " Optimove, and the sync log will say why",
                )
            )
    return found


def _kind_of(
    ref: FieldRef, kinds: Mapping[tuple[FieldSource, str], Comm100Kind]
) -> Comm100Kind | None:
    if ref.source in _TEXT_SOURCES:
        return "text"
    if ref.source == "offline" and ref.name.casefold() in _OFFLINE_SYSTEM_FIELDS:
        return "text"
    return kinds.get((ref.source, ref.name.casefold()))
