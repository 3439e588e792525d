"""An agent's edit in the console (SPEC 1, agent story 4): which fields may be changed, how the
values are checked and converted, and what is written.

Only the mapped fields the console shows can be edited, never emptied; each value is converted
to its attribute's type like any mapped value (`values.to_optimove_value`); only the fields
whose value differs from Optimove's are written (`decide_edit`), so saving what is already there
writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from optibridge.domain.attributes import AttributeInfo
from optibridge.domain.decide import Change, Plan, field_names
from optibridge.domain.settings import FieldMapping
from optibridge.domain.values import ValueRejected, same_value, to_optimove_value
from optibridge.errors import Invalid, Problem

MAX_EDITED_FIELDS = 50
MAX_VALUE_LENGTH = 4000


def editable_values(
    mapping: Sequence[FieldMapping], values: Mapping[str, str | None]
) -> dict[str, str]:
    """mapped field → the agent's value; or `Invalid` naming every problem (pointers into
    `/values`). Only the fields the console shows can be edited, and never emptied."""
    editable: dict[str, str] = {}
    for item in mapping:
        if item.show_in_console:
            editable.setdefault(item.optimove_field.casefold(), item.optimove_field)
    problems: list[Problem] = []
    if not values:
        problems.append(Problem("/values", "change at least one field"))
    if len(values) > MAX_EDITED_FIELDS:
        problems.append(Problem("/values", f"at most {MAX_EDITED_FIELDS} fields at once"))
    edited: dict[str, str] = {}
    for given, raw in values.items():
        where = pointer("values", given)
        mapped = editable.get(given.strip().casefold())
        if mapped is None:
            problems.append(Problem(where, "is not a field this tab can edit"))
        elif raw is None or not raw.strip():
            problems.append(Problem(where, "enter a value (the console can't empty a field)"))
        elif len(raw) > MAX_VALUE_LENGTH:
            problems.append(Problem(where, f"at most {MAX_VALUE_LENGTH} characters"))
        else:
            edited[mapped] = raw
    if problems:
        raise Invalid("Some values can't be saved.", problems)
    return edited


def converted_values(
    edited: Mapping[str, str], attribute_of: Callable[[str], AttributeInfo | None]
) -> dict[str, tuple[str, str | None]]:
    """field (the account's spelling) → (the value as Optimove stores it, its type); or
    `Invalid` naming every value its attribute's type refuses."""
    problems: list[Problem] = []
    wanted: dict[str, tuple[str, str | None]] = {}
    for mapped, raw in edited.items():
        attribute = attribute_of(mapped)
        name = attribute.real_field_name if attribute else mapped
        label = (attribute.alias if attribute else None) or name
        field_type = attribute.field_type if attribute else None
        try:
            wanted[name] = (to_optimove_value(raw, field_type, field=label), field_type)
        except ValueRejected as rejected:
            problems.append(Problem(pointer("values", mapped), f"{label}: {rejected}"))
    if problems:
        raise Invalid("Some values can't be saved.", problems)
    return wanted


def decide_edit(
    customer_id: str,
    wanted: Mapping[str, tuple[str, str | None]],
    current: Mapping[str, str | None] | None,
) -> Plan:
    """What an agent's converted values do to the customer as Optimove has it (`current`;
    None: not in Optimove): the fields that differ are written; the same values write nothing."""
    if current is None:
        return Plan(
            outcome="no_match",
            reason=f"Customer {customer_id} is not in Optimove (any more): refresh the tab.",
            customer_id=customer_id,
            action="none",
            changes=(),
            rejected=(),
        )
    folded = {name.casefold(): value for name, value in current.items()}
    changes = tuple(
        Change(name, folded.get(name.casefold()), new)
        for name, (new, field_type) in wanted.items()
        if not same_value(folded.get(name.casefold()), new, field_type)
    )
    if not changes:
        return Plan(
            outcome="unchanged",
            reason="an agent saved values that Optimove already had: nothing was written",
            customer_id=customer_id,
            action="none",
            changes=(),
            rejected=(),
        )
    return Plan(
        outcome="updated",
        reason=f"an agent changed {field_names(c.field for c in changes)} in the console",
        customer_id=customer_id,
        action="update",
        changes=changes,
        rejected=(),
    )


def pointer(*parts: str) -> str:
    """A JSON pointer to `parts` (RFC 6901 escapes)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)
