"""An Optimove customer attribute as the rules and the tab know it: its name (`RealFieldName`),
the alias people read, and its type (which decides how a value is converted and checked)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttributeInfo:
    """One attribute of the account (`GetCustomerAttributeList`)."""

    real_field_name: str
    description: str = ""
    alias: str | None = None
    field_type: str | None = None
