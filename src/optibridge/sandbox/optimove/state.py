"""The Optimove sandbox's memory: the account's data, its knobs, and what it has seen.

Everything here is plain data guarded by the event loop (handlers are `async def` and never
await while they change it). See `optibridge.sandbox.optimove.app` for the behaviour as a whole.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from optibridge.sandbox import request_log
from optibridge.sandbox.faults import FaultSettings, FaultSettingsPatch, Millis, Rate
from optibridge.sandbox.rate_limit import RateLimit, RequestCount, SlidingWindow, WindowSeconds
from optibridge.sandbox.request_log import LOG_CAPACITY, RequestLog

DEFAULT_API_KEY = "sandbox-optimove-key"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


class AttributeDefinition(_Model):
    """One attribute of the account, as the control surface sets it."""

    model_config = ConfigDict(frozen=True)

    real_field_name: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        alias="RealFieldName"
    )
    alias: str | None = Field(default=None, alias="Alias")
    # Optimove's documented attribute list has no FieldType (reference/optimove.md); a customer
    # read shows one. An attribute given without it is text, which takes any value.
    field_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="Nvarchar", alias="FieldType"
    )
    description: str = Field(default="", alias="Description")

    @property
    def shown_alias(self) -> str:
        return self.alias if self.alias is not None else self.real_field_name


def _attribute(name: str, alias: str, field_type: str, description: str) -> AttributeDefinition:
    return AttributeDefinition(
        real_field_name=name, alias=alias, field_type=field_type, description=description
    )


DEFAULT_ATTRIBUTES: tuple[AttributeDefinition, ...] = (
    _attribute("FIRST_NAME", "First name", "Nvarchar", "Customer first name"),
    _attribute("LAST_NAME", "Last name", "Nvarchar", "Customer last name"),
    _attribute("EMAIL", "Email", "Nvarchar", "Customer e-mail address"),
    _attribute("PHONE", "Phone", "Nvarchar", "Customer phone number"),
    _attribute("COUNTRY", "Country", "Nvarchar", "Country of residence"),
    _attribute("VIP_LEVEL", "VIP level", "Nvarchar", "VIP tier (bronze, silver, gold)"),
    _attribute("DATE_OF_BIRTH", "Date of birth", "Date", "Customer date of birth"),
    _attribute("AGE", "Age", "Bigint", "Customer age"),
    _attribute("BALANCE", "Balance", "Decimal", "Current account balance"),
    _attribute("LAST_CONTACT_CHANNEL", "Last contact channel", "Nvarchar", "Last support channel"),
    _attribute("LAST_CONTACT_DATE", "Last contact date", "Date", "Last support contact"),
    _attribute("OPT_IN_EMAIL", "E-mail opt-in", "Bit", "Agreed to receive e-mail (0 or 1)"),
)


class Faults(FaultSettings):
    """Injected misbehaviour of the vendor API (never of the control surface)."""

    callback_delay_ms: Millis = 200.0
    callback_drop_rate: Rate = 0.0
    seed: int | None = None


class FaultsPatch(FaultSettingsPatch):
    """A partial `Faults`: only the keys given change (checked again once merged)."""

    callback_delay_ms: float | None = None
    callback_drop_rate: float | None = None
    seed: int | None = None


class Limits(RateLimit):
    """The sliding-window rate limit applied per API key."""

    requests: RequestCount = 50
    window_seconds: WindowSeconds = 10.0


UnknownCustomer = Literal["404", "400", "empty"]


class Behaviour(_Model):
    """Choices where Optimove's behaviour is not documented or differs between accounts."""

    unknown_customer: UnknownCustomer = "404"
    upsert_enabled: StrictBool = True
    # None: yesterday (UTC), as after a nightly data load.
    last_data_update: str | None = None

    @field_validator("last_data_update")
    @classmethod
    def _is_a_date(cls, value: str | None) -> str | None:
        if value is not None and not is_iso_date(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        return value


class BehaviourPatch(_Model):
    unknown_customer: UnknownCustomer | None = None
    upsert_enabled: StrictBool | None = None
    last_data_update: str | None = None


# --- values against field types -------------------------------------------------------------

_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "bigint": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "tinyint": (0, 255),
}
_DECIMAL_TYPES = frozenset({"decimal", "numeric", "float", "real", "double", "money", "number"})
_DATETIME_TYPES = frozenset({"datetime", "datetime2", "smalldatetime", "timestamp"})
_BOOLEAN_TYPES = frozenset({"bit", "bool", "boolean"})
_SIZED_TEXT_TYPES = frozenset({"char", "nchar", "varchar", "nvarchar"})

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"([T ](?P<h>[0-9]{2}):(?P<m>[0-9]{2})(:(?P<s>[0-9]{2})(\.[0-9]{1,7})?)?)?"
)
_TYPE = re.compile(r"\s*(?P<base>[A-Za-z0-9]+)\s*(\(\s*(?P<size>[A-Za-z0-9]+)\s*(,[^)]*)?\))?\s*")


def is_iso_date(value: str) -> bool:
    if _DATE.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    match = _DATETIME.fullmatch(value)
    if match is None or not is_iso_date(match["date"]):
        return False
    if match["h"] is None:
        return True
    seconds = int(match["s"]) if match["s"] is not None else 0
    return int(match["h"]) < 24 and int(match["m"]) < 60 and seconds < 60


def value_fits(field_type: str, value: str | None) -> bool:
    """Whether Optimove would store `value` in a column of `field_type` (null always fits).

    Types are matched case-insensitively; an unknown type is treated as text.
    """
    if value is None:
        return True
    parsed = _TYPE.fullmatch(field_type)
    if parsed is None:
        return True
    base = parsed["base"].lower()
    if base in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[base]
        return _INTEGER.fullmatch(value) is not None and low <= int(value) <= high
    if base in _DECIMAL_TYPES:
        return _DECIMAL.fullmatch(value) is not None
    if base == "date":
        return is_iso_date(value)
    if base in _DATETIME_TYPES:
        return _is_datetime(value)
    if base in _BOOLEAN_TYPES:
        return value.lower() in {"0", "1", "true", "false"}
    size = parsed["size"]
    if base in _SIZED_TEXT_TYPES and size is not None and size.isdigit():
        return len(value) <= int(size)
    return True


# --- what the sandbox has seen --------------------------------------------------------------


@dataclass
class LoggedRequest(request_log.LoggedRequest):
    """One vendor API call; never holds the API key."""

    shown: ClassVar[tuple[str, ...]] = (*request_log.LoggedRequest.shown, "request_id")

    request_id: str | None = None  # of an accepted write


@dataclass
class AttributeChange:
    real_field_name: str
    value: str | None


@dataclass
class CustomerChanges:
    customer_id: str
    attributes: list[AttributeChange]


@dataclass
class AcceptedWrite:
    """A write answered with a requestId, settled later (applied, then called back)."""

    request_id: str
    endpoint: Literal["UpdateCustomerAttributes", "UpsertCustomer"]
    changes: list[CustomerChanges]
    callback_url: str | None
    received: float
    creates: bool
    applied: float | None = None  # when the changes were made
    settled: float | None = None  # when all is done: applied and called back (or not)
    result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "callback_url": self.callback_url,
            "received": self.received,
            "applied": self.applied,
            "settled": self.settled,
            "result": self.result,
        }


@dataclass
class SentCallback:
    request_id: str
    url: str
    body: dict[str, Any]
    time: float
    status: int | None = None
    error: str | None = None
    dropped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "url": self.url,
            "body": self.body,
            "time": self.time,
            "status": self.status,
            "error": self.error,
            "dropped": self.dropped,
        }


@dataclass
class SandboxState:
    """One sandbox's whole state; `reset()` brings it back to the defaults."""

    callback_transport: httpx.AsyncBaseTransport | None = None
    attributes: dict[str, AttributeDefinition] = field(default_factory=dict)
    customers: dict[str, dict[str, str | None]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    behaviour: Behaviour = field(default_factory=Behaviour)
    window: SlidingWindow = field(default_factory=SlidingWindow)
    fault_random: random.Random = field(default_factory=random.Random)
    callback_random: random.Random = field(default_factory=random.Random)
    requests: RequestLog[LoggedRequest] = field(default_factory=lambda: RequestLog(LoggedRequest))
    writes: deque[AcceptedWrite] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    callbacks: deque[SentCallback] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    # Strong references: the loop only keeps weak ones to running tasks.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Defaults again; writes not yet settled are abandoned (never applied nor called back)."""
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.attributes = {a.real_field_name: a for a in DEFAULT_ATTRIBUTES}
        self.customers.clear()
        self.keys = [DEFAULT_API_KEY]
        self.limits = Limits()
        self.window = SlidingWindow()
        self.behaviour = Behaviour()
        self.set_faults(Faults())
        self.requests.clear()
        self.writes.clear()
        self.callbacks.clear()

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.fault_random = random.Random(faults.seed)
        self.callback_random = random.Random(None if faults.seed is None else faults.seed + 1)
