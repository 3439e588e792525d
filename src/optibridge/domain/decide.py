"""What an event does to Optimove (SPEC 4.2): the plan, with its outcome and reason.

`decide` is the whole rule table, as a pure function of what the engine has gathered: the
event's policy (None for an event that is only recorded), whether the channel is enabled, the
identification, the customer's current attributes (None: no such customer in Optimove), the
mapped values `V` (converted, non-empty) and the account's field types.

| case | plan |
| --- | --- |
| channel disabled, or an event without a policy | `skipped`, nothing written |
| unidentified | `unidentified` (a ticket whose requester is a visitor: `needs_contact`) |
| matched, update `none` | `unchanged`, nothing written |
| matched, `overwrite` | update the fields of V whose value differs from Optimove's |
| matched, `fill_empty` | update the fields of V that are empty in Optimove |
| matched, nothing to write | `unchanged`, no write call |
| no match, `auto_create` | create the customer with id and V (`created`) |
| no match, `auto_create`/`agent_create`, ticket requester a visitor | `needs_contact` |
| no match, `agent_create` / `never` | `no_match`, nothing written |

Never written: `CustomerID` (it identifies the customer), an empty value (V only holds
non-empty ones: an empty Comm100 field never erases an Optimove value), a value equal to
Optimove's, and a field the account doesn't have (left out with the reason, like a value that
could not be converted). Fields are written with the account's spelling of their name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from optibridge.domain.context import ConversationContext
from optibridge.domain.fields import resolve
from optibridge.domain.identify import Identification
from optibridge.domain.records import Outcome
from optibridge.domain.settings import CUSTOMER_ID_FIELD, EventPolicy, FieldMapping
from optibridge.domain.values import ValueRejected, is_empty, same_value, to_optimove_value

Action = Literal["none", "update", "create"]
Rejections = tuple[tuple[str, str], ...]

MAX_ATTRIBUTES_PER_CALL = 10  # Optimove: at most 10 attributes per customer in one call


@dataclass(frozen=True)
class Change:
    field: str
    old: str | None
    # None empties the field: only a restore writes that (putting back a value that was empty).
    new: str | None


@dataclass(frozen=True)
class Plan:
    outcome: Outcome  # the outcome if the planned action succeeds
    reason: str  # one plain sentence for the sync log
    customer_id: str | None
    action: Action
    changes: tuple[Change, ...]  # what the action writes (old → new); for create, old is None
    rejected: Rejections  # (optimove_field, why): values left out
    # The fields Optimove holds this event's values for once the plan applies: those written,
    # and under `overwrite` also those found equal. An older event applied later leaves them.
    asserted: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.action != "none"

    @property
    def attributes(self) -> dict[str, str | None]:
        """The attributes the action writes, by field."""
        return {change.field: change.new for change in self.changes}


def mapped_values(
    mapping: Sequence[FieldMapping],
    context: ConversationContext,
    field_types: Mapping[str, str | None],
) -> tuple[dict[str, str], Rejections]:
    """V: the mapped fields whose Comm100 value is non-empty, converted for Optimove, by the
    mapping's field name; and the values that could not be converted, with the reason. A field
    mapped twice keeps its first non-empty value."""
    types = _Folded(field_types)
    values: dict[str, str] = {}
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in mapping:
        field = item.optimove_field
        if field.casefold() in seen:
            continue
        raw = resolve(item.comm100_field, context)
        if raw is None:
            continue
        seen.add(field.casefold())
        found = types.get(field)
        try:
            values[field] = to_optimove_value(raw, found[1] if found else None, field=field)
        except ValueRejected as error:
            rejected.append((field, str(error)))
    return values, tuple(rejected)


def decide(
    *,
    policy: EventPolicy | None,
    channel_enabled: bool,
    identification: Identification,
    current: Mapping[str, str | None] | None,
    values: Mapping[str, str],
    rejected: Sequence[tuple[str, str]],
    field_types: Mapping[str, str | None],
    requester_is_visitor: bool,
    origin: str = "Comm100",
) -> Plan:
    """The plan for one event (SPEC 4.2; see the module's table). `origin`: where the values
    come from, in the reason ("the chat", "the ticket", …)."""
    given = tuple((field, why) for field, why in rejected)
    customer_id = identification.customer_id
    if not channel_enabled:
        return _nothing(
            "skipped",
            "the integration is not enabled for this channel, so the event was only recorded",
            customer_id,
            given,
        )
    if policy is None:
        return _nothing(
            "skipped",
            "this event is only recorded: it changes nothing in Optimove",
            customer_id,
            given,
        )
    if customer_id is None or is_empty(customer_id):
        return _unidentified(identification, policy, requester_is_visitor, given)

    writable, refused = _writable(values, field_types, current)
    rejections = given + refused
    if current is None:
        return _no_match(customer_id, policy, requester_is_visitor, writable, rejections, origin)
    if policy.update == "none":
        return _nothing(
            "unchanged",
            f"the update strategy is 'none', so nothing was written to customer {customer_id}",
            customer_id,
            rejections,
        )
    old_values = _Folded(current)
    changes: list[Change] = []
    for field, new, field_type in writable:
        found = old_values.get(field)
        old = found[1] if found else None
        if policy.update == "fill_empty":
            if is_empty(old):
                changes.append(Change(field, old, new))
        elif not same_value(old, new, field_type):
            changes.append(Change(field, old, new))
    if policy.update == "overwrite":
        asserted = tuple(field for field, _, _ in writable)
    else:
        asserted = tuple(change.field for change in changes)
    if not changes:
        if not writable:
            why = f"no mapped field had a value in {origin} that could be written"
        elif policy.update == "fill_empty":
            why = "every mapped field with a value was already filled in Optimove"
        else:
            why = "every mapped value already equals Optimove's"
        return replace(
            _nothing("unchanged", _with_rejections(why, rejections), customer_id, rejections),
            asserted=asserted,
        )
    fields = field_names(change.field for change in changes)
    verb = "were" if len(changes) > 1 else "was"
    if policy.update == "fill_empty":
        why = f"{fields} {verb} empty in Optimove and filled from {origin}"
    else:
        why = f"{fields} {verb} updated from {origin}"
    return Plan(
        outcome="updated",
        reason=_with_rejections(why, rejections),
        customer_id=customer_id,
        action="update",
        changes=tuple(changes),
        rejected=rejections,
        asserted=asserted,
    )


def without_later_values(
    values: Mapping[str, str], written_later: Mapping[str, int]
) -> tuple[dict[str, str], Rejections]:
    """V without the fields a later event of the same customer already set.

    Events of one customer apply in the order received; an older event processed after a later
    one (identified later, by another worker) must not put its older values over the later
    ones. `written_later`: case-folded field → the later record that set it (wrote it, or found
    it equal under `overwrite`). The fields left out come back as rejections, with the reason.
    """
    kept: dict[str, str] = {}
    left_out: list[tuple[str, str]] = []
    for field, value in values.items():
        later = written_later.get(field.casefold())
        if later is None:
            kept[field] = value
        else:
            left_out.append((field, f"record {later}, a later event, already set {field}"))
    return kept, tuple(left_out)


def attribute_chunks(changes: Sequence[Change], size: int = 10) -> list[tuple[Change, ...]]:
    """`changes` in order, in chunks of at most `size` (never more than Optimove's 10)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    size = min(size, MAX_ATTRIBUTES_PER_CALL)
    return [tuple(changes[i : i + size]) for i in range(0, len(changes), size)]


# --- the branches --------------------------------------------------------------------------


def _nothing(outcome: Outcome, reason: str, customer_id: str | None, rejected: Rejections) -> Plan:
    return Plan(outcome, reason, customer_id, "none", (), rejected)


def _unidentified(
    identification: Identification,
    policy: EventPolicy,
    requester_is_visitor: bool,
    rejected: Rejections,
) -> Plan:
    if requester_is_visitor:
        return _nothing(
            "needs_contact",
            "the ticket's requester is a Comm100 visitor, not a contact: it must become a"
            " contact before an Optimove customer can be identified or created",
            None,
            rejected,
        )
    if identification.missing:
        why = f"no identification rule gave a value: {identification.missing_description()}"
    else:
        why = "no identification rule is set, so the customer can't be identified"
    if policy.no_match == "never":
        why += " (agents may not create customers)"
    return _nothing("unidentified", why, None, rejected)


def _no_match(
    customer_id: str,
    policy: EventPolicy,
    requester_is_visitor: bool,
    writable: Sequence[tuple[str, str, str | None]],
    rejected: Rejections,
    origin: str,
) -> Plan:
    if policy.no_match == "never":
        return _nothing(
            "no_match",
            f"customer {customer_id} is not in Optimove, and creating customers is not allowed",
            customer_id,
            rejected,
        )
    if requester_is_visitor:
        return _nothing(
            "needs_contact",
            f"customer {customer_id} is not in Optimove, and the ticket's requester is a"
            " Comm100 visitor, not a contact: it must become a contact before the customer"
            " can be created",
            customer_id,
            rejected,
        )
    if policy.no_match == "agent_create":
        return _nothing(
            "no_match",
            f"customer {customer_id} is not in Optimove; agents may create it",
            customer_id,
            rejected,
        )
    changes = tuple(Change(field, None, new) for field, new, _ in writable)
    if changes:
        why = (
            f"customer {customer_id} was not in Optimove: created it with"
            f" {field_names(c.field for c in changes)} from {origin}"
        )
    else:
        why = (
            f"customer {customer_id} was not in Optimove: created it without attributes"
            f" (no mapped field had a value in {origin} that could be written)"
        )
    return Plan(
        outcome="created",
        reason=_with_rejections(why, rejected),
        customer_id=customer_id,
        action="create",
        changes=changes,
        rejected=rejected,
        asserted=tuple(change.field for change in changes),
    )


# --- helpers -------------------------------------------------------------------------------


class _Folded:
    """A mapping by field name, looked up exactly, then case-insensitively (Optimove spells
    the same attribute `Age` in its attribute list and `AGE` on a customer)."""

    def __init__(self, items: Mapping[str, str | None]) -> None:
        self._items = items
        self._folded: dict[str, str] = {}
        for name in items:
            self._folded.setdefault(name.casefold(), name)

    def get(self, name: str) -> tuple[str, str | None] | None:
        """(the spelling found, its value), or None."""
        key = name if name in self._items else self._folded.get(name.casefold())
        return None if key is None else (key, self._items[key])


def _writable(
    values: Mapping[str, str],
    field_types: Mapping[str, str | None],
    current: Mapping[str, str | None] | None,
) -> tuple[list[tuple[str, str, str | None]], Rejections]:
    """(field as the account spells it, value, field type) for each value of V that can be
    written, in V's order; and the values left out, with the reason."""
    types = _Folded(field_types)
    attributes = _Folded(current or {})
    writable: list[tuple[str, str, str | None]] = []
    refused: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in values.items():
        if is_empty(value):
            continue  # an empty Comm100 value never counts (and never erases)
        if name.casefold() == CUSTOMER_ID_FIELD.casefold():
            refused.append(
                (
                    name,
                    f"{CUSTOMER_ID_FIELD} identifies the customer and is never written as an"
                    " attribute",
                )
            )
            continue
        typed = types.get(name)
        known = typed or attributes.get(name)
        if known is None:
            refused.append((name, f"{name} is not an attribute of the Optimove account"))
            continue
        field = known[0]
        if field.casefold() in seen:
            refused.append((name, f"{field} is mapped twice; its first value was used"))
            continue
        seen.add(field.casefold())
        writable.append((field, value, typed[1] if typed else None))
    return writable, tuple(refused)


def field_names(fields: Iterable[str]) -> str:
    """`EMAIL`, `EMAIL and PHONE`, `EMAIL, PHONE and AGE`."""
    listed = list(fields)
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " and " + listed[-1]


def _with_rejections(reason: str, rejected: Rejections) -> str:
    """The reason, with each value left out and why: a sync record explains itself."""
    if not rejected:
        return reason
    count = len(rejected)
    whys = "; ".join(_named(field, why) for field, why in rejected)
    return f"{reason} ({count} value{'s' if count > 1 else ''} left out: {whys})"


def _named(field: str, why: str) -> str:
    """`why` names the field it is about, or is prefixed with it."""
    return why if field.casefold() in why.casefold() else f"{field}: {why}"
