"""Who the Optimove customer of a conversation is (SPEC 4.1).

The identification rules are tried in order; the first one whose field has a value gives the
customer id. Without one, the link remembered from an earlier identification or creation of the
same Comm100 visitor/contact is used. A rule's value always wins over the link (the customer
said who they are now; the link only remembers who they were).

Customer ids are compared exactly, except e-mail addresses, which are compared
case-insensitively: an e-mail value is lower-cased. A value is an e-mail when it comes from an
e-mail field (the Live Chat `email` system or offline field, the `Email` identity, any field
named "email"/"e-mail") or when it looks like an address (`a@b.c`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from optibridge.domain.context import ConversationContext
from optibridge.domain.fields import describe, resolve
from optibridge.domain.settings import FieldRef

# The longest customer id we look up, create or store (`sync_records.customer_id` and the links
# and cache keyed by it). A rule whose value is longer is passed over, and says why.
MAX_CUSTOMER_ID_LENGTH = 200

_LOOKS_LIKE_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_EMAIL_FIELD_NAMES = frozenset({"email", "emailaddress"})


@dataclass(frozen=True)
class Identification:
    customer_id: str | None  # None: unidentified
    via: Literal["rule", "link"] | None  # which way it was found
    rule: FieldRef | None  # the rule that yielded it
    missing: tuple[FieldRef, ...]  # when unidentified: the rules' fields; () otherwise
    # Rules whose value could not be a customer id, each with why (passed over, in order).
    unusable: tuple[tuple[FieldRef, str], ...] = ()

    @property
    def identified(self) -> bool:
        return self.customer_id is not None

    def missing_description(self) -> str:
        """`custom variable 'customer_id', system field 'email'`, each rule passed over with why."""
        why = dict(self.unusable)
        return ", ".join(
            f"{describe(ref)} ({why[ref]})" if ref in why else describe(ref) for ref in self.missing
        )


def is_email_field(ref: FieldRef) -> bool:
    """Whether `ref` names an e-mail field (whose values are compared case-insensitively)."""
    name = "".join(ch for ch in ref.name.casefold() if ch.isalnum())
    return name in _EMAIL_FIELD_NAMES


def looks_like_email(value: str) -> bool:
    return _LOOKS_LIKE_EMAIL.fullmatch(value) is not None


def normalize_customer_id(value: str | None, ref: FieldRef | None = None) -> str | None:
    """A customer id as it is looked up and created: trimmed, e-mails lower-cased; None when
    blank. `ref`: the field it came from, if any (an e-mail field's value is always
    lower-cased)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if (ref is not None and is_email_field(ref)) or looks_like_email(text):
        return text.lower()
    return text


def identify(
    rules: Sequence[FieldRef], context: ConversationContext, linked_customer_id: str | None
) -> Identification:
    """The customer of `context`: the first rule with a value, else the remembered link, else
    unidentified with the rules' fields as the missing ones."""
    unusable: list[tuple[FieldRef, str]] = []
    for rule in rules:
        customer_id = normalize_customer_id(resolve(rule, context), rule)
        if customer_id is not None and len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
            unusable.append(
                (
                    rule,
                    f"its value has {len(customer_id)} characters; "
                    f"a customer id has at most {MAX_CUSTOMER_ID_LENGTH}",
                )
            )
            continue
        if customer_id is not None:
            return Identification(
                customer_id=customer_id, via="rule", rule=rule, missing=(), unusable=tuple(unusable)
            )
    linked = normalize_customer_id(linked_customer_id)
    if linked is not None:
        return Identification(
            customer_id=linked, via="link", rule=None, missing=(), unusable=tuple(unusable)
        )
    return Identification(
        customer_id=None, via=None, rule=None, missing=_unique(rules), unusable=tuple(unusable)
    )


def _unique(rules: Sequence[FieldRef]) -> tuple[FieldRef, ...]:
    seen: list[FieldRef] = []
    for rule in rules:
        if rule not in seen:
            seen.append(rule)
    return tuple(seen)
