"""Restoring a change from the sync log (SPEC 4.7): which changes can be undone, and the write
that undoes one.

A change is a record that updated a customer (an event's or an agent's, or a restore itself):
its fields are written back to their old values, but only while every one of them still holds
the value the change wrote. If any field changed again since (another event, an agent, someone
in Optimove), nothing is restored and the refusal names the field and what it holds now. A
creation can't be undone: Optimove has no way to delete a customer. A field that was empty
before the change is emptied again (its value written as null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optibridge.domain.decide import Change, Plan, field_names
from optibridge.domain.records import AGENT_CREATE, UNFINISHED, Channel
from optibridge.domain.values import is_empty, same_value
from optibridge.errors import AppError, Problem


class RestoreRefused(AppError):
    """409: this change can't be restored; the message says why, the details which fields."""

    def __init__(self, message: str, code: str, details: list[Problem] | None = None) -> None:
        super().__init__(message, details or [], 409, code)


@dataclass(frozen=True)
class ChangeRecord:
    """A record of the sync log as a restore sees it: what it wrote, to whom, and how it ended."""

    record_id: int
    channel: Channel
    event: str
    state: str
    outcome: str | None
    customer_id: str | None
    changes: tuple[Change, ...]


def check_restorable(original: ChangeRecord) -> str:
    """The customer whose change can be restored, or `RestoreRefused` saying why not (before
    anything is read)."""
    record = f"record {original.record_id}"
    if original.outcome == "created" or original.event == AGENT_CREATE:
        raise RestoreRefused(
            f"Record {original.record_id} created customer {original.customer_id} in Optimove:"
            " a creation can't be restored, because Optimove customers can't be deleted.",
            "restore_of_creation",
        )
    if original.state in UNFINISHED:
        raise RestoreRefused(
            f"Record {original.record_id} is still being processed: restore it once Optimove"
            " has confirmed its change.",
            "restore_not_settled",
        )
    if original.outcome != "updated" or not original.changes or original.customer_id is None:
        raise RestoreRefused(
            f"There is nothing to restore: {record} changed nothing in Optimove"
            f" (its outcome is {original.outcome or 'not decided'}).",
            "nothing_to_restore",
        )
    return original.customer_id


def plan_restore(
    original: ChangeRecord,
    current: Mapping[str, str | None] | None,
    field_types: Mapping[str, str | None],
) -> Plan:
    """The write that puts `original`'s old values back, given the customer as Optimove has it
    now (`current`; None: not there any more); `RestoreRefused` when a field changed since."""
    customer_id = check_restorable(original)
    if current is None:
        raise RestoreRefused(
            f"Customer {customer_id} is not in Optimove any more: there is nothing to restore.",
            "restore_customer_gone",
        )
    now = {name.casefold(): (name, value) for name, value in current.items()}
    types = {name.casefold(): field_type for name, field_type in field_types.items()}
    changed: list[Problem] = []
    changed_fields: list[str] = []
    changes: list[Change] = []
    for index, change in enumerate(original.changes):
        name, value = now.get(change.field.casefold(), (change.field, None))
        field_type = types.get(change.field.casefold())
        if not _holds(value, change.new, field_type):
            changed.append(
                Problem(
                    f"/changes/{index}",
                    f"{change.field} now holds {_shown(value)}; record {original.record_id}"
                    f" wrote {_shown(change.new)}",
                )
            )
            changed_fields.append(change.field)
            continue
        restored = None if is_empty(change.old) else change.old
        if not _holds(value, restored, field_type):
            changes.append(Change(name, value, restored))
    if changed:
        fields = field_names(changed_fields)
        verb = "have" if len(changed) > 1 else "has"
        raise RestoreRefused(
            f"{fields} {verb} changed since record {original.record_id} wrote"
            f" {'them' if len(changed) > 1 else 'it'}: {'; '.join(p.message for p in changed)}."
            " Nothing was restored.",
            "restore_changed_since",
            changed,
        )
    fields = field_names(change.field for change in original.changes)
    if not changes:
        return Plan(
            outcome="unchanged",
            reason=f"restoring record {original.record_id}: {fields} already"
            " held the old values, so nothing was written",
            customer_id=customer_id,
            action="none",
            changes=(),
            rejected=(),
        )
    return Plan(
        outcome="updated",
        reason=f"record {original.record_id}'s change was restored:"
        f" {field_names(c.field for c in changes)} put back to the old"
        f" value{'s' if len(changes) > 1 else ''}",
        customer_id=customer_id,
        action="update",
        changes=tuple(changes),
        rejected=(),
        asserted=tuple(change.field for change in changes),
    )


def _holds(value: str | None, expected: str | None, field_type: str | None) -> bool:
    """Whether Optimove's `value` is `expected` (None or blank: an empty field)."""
    if expected is None or is_empty(expected):
        return is_empty(value)
    return same_value(value, expected, field_type)


def _shown(value: str | None) -> str:
    return "nothing (empty)" if is_empty(value) else repr(value)


def changes_of(entries: Sequence[object]) -> tuple[Change, ...]:
    """A record's stored `changes` (`[{"field", "old", "new"}]`) as changes; anything else
    stored there is left out."""
    changes: list[Change] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        field, old, new = entry.get("field"), entry.get("old"), entry.get("new")
        if not isinstance(field, str) or not field:
            continue
        changes.append(
            Change(
                field,
                old if isinstance(old, str) else None,
                new if isinstance(new, str) else None,
            )
        )
    return tuple(changes)
