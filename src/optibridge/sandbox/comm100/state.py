"""The Comm100 sandbox's memory: the site's data, its knobs, and what it has seen.

Plain data guarded by the event loop (handlers are `async def` and never await while they change
it). Contacts are stored in the v4 shape with `contactIdentityType` as the identity key and
custom fields by field id; the vendor API renders them per `Behaviour`. See
`optibridge.sandbox.comm100.app` for the behaviour as a whole.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from optibridge.sandbox import request_log
from optibridge.sandbox.comm100.identity import IdentityProvider, default_agents
from optibridge.sandbox.comm100.simulation import Simulation
from optibridge.sandbox.faults import FaultSettings, FaultSettingsPatch
from optibridge.sandbox.rate_limit import RateLimit, RequestCount, SlidingWindow, WindowSeconds
from optibridge.sandbox.request_log import RequestLog

DEFAULT_API_KEY = "sandbox-comm100-key"
DEFAULT_SITE_ID = 10000

# Fixed namespace so the ids of default fields are the same in every process and after a reset.
_ID_NAMESPACE = uuid.UUID("0f6c1d5e-9a57-4f7e-8d3c-c0ffee100000")

IDENTITY_TYPES: tuple[str, ...] = (
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
_IDENTITY_TYPE_BY_LOWER = {t.lower(): t for t in IDENTITY_TYPES}

# The contact's system fields, in the order the v4 API writes them (all strings or null).
CONTACT_SYSTEM_FIELDS: tuple[str, ...] = (
    "name",
    "firstName",
    "lastName",
    "alias",
    "title",
    "company",
    "phone",
    "address",
    "city",
    "state",
    "postalCode",
    "country",
    "timezone",
    "description",
)

# The Live Chat webhook events `livechat/webhooks` accepts, as its documentation spells them.
WEBHOOK_EVENTS: tuple[str, ...] = (
    "chatStarts",
    "chatEnds",
    "chatIsWrappedUp",
    "offlineMessageIsSubmitted",
    "chatIsRequested",
    "chatIsTransferred",
    "agentStatusChanges",
)
WebhookEvent = Literal[
    "chatStarts",
    "chatEnds",
    "chatIsWrappedUp",
    "offlineMessageIsSubmitted",
    "chatIsRequested",
    "chatIsTransferred",
    "agentStatusChanges",
]
MAX_TARGET_URL_LENGTH = 2048

TICKET_STATUSES = ("new", "pendingInternal", "pendingExternal", "onHold", "closed")
TICKET_PRIORITIES = ("urgent", "high", "normal", "low")
TicketStatus = Literal["new", "pendingInternal", "pendingExternal", "onHold", "closed"]
TicketPriority = Literal["urgent", "high", "normal", "low"]
RequesterType = Literal["contact", "visitor"]


def stable_id(kind: str, name: str) -> str:
    """A guid derived from a name: the same field gets the same id in every sandbox."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}:{name}"))


def canonical_identity_type(value: str) -> str | None:
    return _IDENTITY_TYPE_BY_LOWER.get(value.lower())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _CamelModel(BaseModel):
    """Control-surface input spelled as the v4 API spells it (camelCase)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


_Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_Text = Annotated[StrictStr, StringConstraints(max_length=10_000)]
FieldValue = StrictStr | StrictInt | StrictFloat | StrictBool | list[StrictStr] | None


# --- forms and fields -------------------------------------------------------------------------


class FormField(_CamelModel):
    """A pre-chat or offline form field: `{id, name, type, isSystem, isRequired, options}`."""

    id: uuid.UUID | None = None
    name: _Name
    type: _Name
    is_system: StrictBool = False
    is_required: StrictBool = False
    options: list[StrictStr] = Field(default_factory=list)


class CustomVariable(_CamelModel):
    """A Live Chat custom variable: `{name, type, value}`."""

    name: _Name
    type: _Name = "text"
    value: StrictStr = ""


class ContactField(_CamelModel):
    """A custom contact field as the control surface sets it (system fields are fixed)."""

    id: uuid.UUID | None = None
    name: _Name
    type: _Name = "text"
    is_required: StrictBool = False
    field_options: list[StrictStr] = Field(default_factory=list)


def _form_field(kind: str, name: str, type_: str, *, system: bool, required: bool = False) -> Any:
    return {
        "id": stable_id(kind, name),
        "name": name,
        "type": type_,
        "isSystem": system,
        "isRequired": required,
        "options": [],
    }


def default_prechat_fields() -> list[dict[str, Any]]:
    kind = "prechat"
    return [
        _form_field(kind, "Name", "name", system=True, required=True),
        _form_field(kind, "Email", "email", system=True, required=True),
        _form_field(kind, "Phone", "phone", system=True),
        _form_field(kind, "Company", "company", system=True),
        _form_field(kind, "Product/Service", "product", system=True),
        _form_field(kind, "First Name", "text", system=False),
        _form_field(kind, "Customer ID", "text", system=False),
    ]


def default_offline_fields() -> list[dict[str, Any]]:
    kind = "offline"
    return [
        _form_field(kind, "Name", "name", system=True, required=True),
        _form_field(kind, "Email", "email", system=True, required=True),
        _form_field(kind, "Phone", "phone", system=True),
        _form_field(kind, "Company", "company", system=True),
        _form_field(kind, "Subject", "subject", system=True, required=True),
        _form_field(kind, "Content", "content", system=True, required=True),
        _form_field(kind, "First Name", "text", system=False),
        _form_field(kind, "Customer ID", "text", system=False),
    ]


def default_custom_variables() -> list[dict[str, Any]]:
    return [
        {"name": "customer_id", "type": "text", "value": ""},
        {"name": "vip", "type": "text", "value": ""},
    ]


def _contact_field(
    name: str,
    type_: str,
    *,
    system: bool,
    identity_type: str | None = None,
    required: bool = False,
    options: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": stable_id("contact", name),
        "name": name,
        "isSystem": system,
        "isIdentity": identity_type is not None,
        "identityType": identity_type,
        "isRequired": required,
        "type": type_,
        "fieldOptions": list(options or []),
    }


_SYSTEM_FIELD_TYPES = {"description": "textArea", "address": "textArea", "phone": "text"}


def system_contact_fields() -> list[dict[str, Any]]:
    """The fields every site has: the contact's own keys, then the identity fields."""
    fields = [
        _contact_field(
            name, _SYSTEM_FIELD_TYPES.get(name, "text"), system=True, required=name == "name"
        )
        for name in CONTACT_SYSTEM_FIELDS
    ]
    fields += [
        _contact_field("email", "email", system=True, identity_type="Email"),
        _contact_field("sms", "text", system=True, identity_type="SMS"),
        _contact_field("ssoId", "text", system=True, identity_type="SSOID"),
        _contact_field("externalId", "text", system=True, identity_type="externalID"),
    ]
    return fields


def default_custom_contact_fields() -> list[dict[str, Any]]:
    return [
        _contact_field("Customer ID", "text", system=False),
        _contact_field(
            "VIP Level", "dropdownList", system=False, options=["Bronze", "Silver", "Gold"]
        ),
    ]


def contact_field_out(field_in: ContactField) -> dict[str, Any]:
    return {
        "id": str(field_in.id) if field_in.id else stable_id("contact", field_in.name),
        "name": field_in.name,
        "isSystem": False,
        "isIdentity": False,
        "identityType": None,
        "isRequired": field_in.is_required,
        "type": field_in.type,
        "fieldOptions": list(field_in.field_options),
    }


def form_field_out(kind: str, field_in: FormField) -> dict[str, Any]:
    return {
        "id": str(field_in.id) if field_in.id else stable_id(kind, field_in.name),
        "name": field_in.name,
        "type": field_in.type,
        "isSystem": field_in.is_system,
        "isRequired": field_in.is_required,
        "options": list(field_in.options),
    }


# --- contacts and tickets as the control surface takes them ----------------------------------


class IdentityIn(_CamelModel):
    """A contact identity; the type may be spelled `contactIdentityType` or `type`."""

    id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    contact_identity_type: StrictStr | None = None
    type: StrictStr | None = None
    value: Annotated[StrictStr, StringConstraints(min_length=1, max_length=512)]
    display_name: StrictStr | None = None

    @model_validator(mode="after")
    def _one_known_type(self) -> IdentityIn:
        given = [t for t in (self.contact_identity_type, self.type) if t is not None]
        if not given:
            raise ValueError("needs contactIdentityType (or type)")
        for spelled in given:
            if canonical_identity_type(spelled) is None:
                known = ", ".join(IDENTITY_TYPES)
                raise ValueError(f"unknown identity type {spelled!r}; one of {known}")
        if len({canonical_identity_type(t) for t in given}) > 1:
            raise ValueError("contactIdentityType and type disagree")
        return self

    @property
    def identity_type(self) -> str:
        spelled = self.contact_identity_type or self.type or ""
        return canonical_identity_type(spelled) or spelled


class CustomFieldValueIn(_Model):
    """A contact's custom field value, by field `id` or, for convenience, by field `name`."""

    id: uuid.UUID | None = None
    name: _Name | None = None
    value: FieldValue = None

    @model_validator(mode="after")
    def _id_or_name(self) -> CustomFieldValueIn:
        if (self.id is None) == (self.name is None):
            raise ValueError("give the field's id or its name (one of them)")
        return self


class ContactIn(_CamelModel):
    """A contact in the v4 shape (system fields strings or null)."""

    id: uuid.UUID | None = None
    name: Annotated[StrictStr, StringConstraints(min_length=1, max_length=512)]
    first_name: _Text | None = None
    last_name: _Text | None = None
    alias: _Text | None = None
    title: _Text | None = None
    company: _Text | None = None
    phone: _Text | None = None
    address: _Text | None = None
    city: _Text | None = None
    state: _Text | None = None
    postal_code: _Text | None = None
    country: _Text | None = None
    timezone: _Text | None = None
    description: _Text | None = None
    created_time: StrictStr | None = None
    last_updated_time: StrictStr | None = None
    custom_fields: list[CustomFieldValueIn] = Field(default_factory=list)
    contact_identities: list[IdentityIn] = Field(default_factory=list)
    merge_to_contact_id: uuid.UUID | None = None


class TicketIn(_CamelModel):
    id: StrictInt | None = None
    subject: _Text = ""
    channel_id: _Name = "email"
    status: TicketStatus = "new"
    priority: TicketPriority = "normal"
    contact_or_visitor_id: uuid.UUID
    contact_or_visitor_type: RequesterType
    # When it was created (ISO 8601); default: when it is first put, as in Comm100.
    created_time: AwareDatetime | None = None


class WebhookIn(_CamelModel):
    """A Live Chat webhook of one site, as the control surface seeds it (the target is kept as
    given: seed odd ones to see how a client copes)."""

    site_id: Annotated[StrictInt, Field(ge=1)]
    id: Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)] | None = None
    event: WebhookEvent
    target_url: Annotated[StrictStr, StringConstraints(max_length=MAX_TARGET_URL_LENGTH)]


def new_webhook_id() -> str:
    """A guid written as Comm100's sample writes webhook ids: upper case."""
    return str(uuid.uuid4()).upper()


# --- knobs ------------------------------------------------------------------------------------


class Faults(FaultSettings):
    """Injected misbehaviour of the vendor API (never of the control surface)."""

    seed: int | None = None


class FaultsPatch(FaultSettingsPatch):
    seed: int | None = None


class Limits(RateLimit):
    """The sliding-window rate limit applied per client IP."""

    requests: RequestCount = 300
    window_seconds: WindowSeconds = 300.0


IdentityTypeKey = Literal["contactIdentityType", "type"]
QueryResult = Literal["list", "envelope"]


class Behaviour(_Model):
    """Choices where Comm100's documentation is ambiguous."""

    identity_type_key: IdentityTypeKey = "contactIdentityType"
    query_result: QueryResult = "list"
    # Whether `oauth/userinfo` also says `IsAdmin`: the documented answer does not [3p], so a
    # client must be able to learn it elsewhere (v4 `global/agents/{id}`); on, to test both.
    userinfo_is_admin: StrictBool = False
    # Whether the calling agent has the *Manage Integration* permission `livechat/webhooks`
    # needs; without it those calls answer 403.
    manage_integration: StrictBool = True


class BehaviourPatch(_Model):
    identity_type_key: IdentityTypeKey | None = None
    query_result: QueryResult | None = None
    userinfo_is_admin: StrictBool | None = None
    manage_integration: StrictBool | None = None


# --- what the sandbox has seen ----------------------------------------------------------------


@dataclass
class LoggedRequest(request_log.LoggedRequest):
    """One vendor API or OAuth call; never holds a password, key, client secret, code or token."""

    shown: ClassVar[tuple[str, ...]] = ("method", "path", "query", "status", "time", "user", "body")

    # Who called: the Basic user name, the e-mail of a bearer token's or of the signing-in
    # agent, or the OAuth client id at the token endpoint.
    user: str | None = None


@dataclass
class SandboxState:
    """One sandbox's whole state; `reset()` brings it back to the defaults."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Past chats and offline messages by id, in the v4 shape (`optibridge.sandbox.comm100.history`).
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    offline_messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Live Chat webhooks by site, each `{"id", "event", "targetUrl"}`, oldest first.
    webhooks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    prechat_fields: list[dict[str, Any]] = field(default_factory=list)
    offline_fields: list[dict[str, Any]] = field(default_factory=list)
    custom_variables: list[dict[str, Any]] = field(default_factory=list)
    custom_contact_fields: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    sites: list[int] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    behaviour: Behaviour = field(default_factory=Behaviour)
    window: SlidingWindow = field(default_factory=SlidingWindow)
    fault_random: random.Random = field(default_factory=random.Random)
    requests: RequestLog[LoggedRequest] = field(default_factory=lambda: RequestLog(LoggedRequest))
    simulation: Simulation = field(default_factory=Simulation)
    identity: IdentityProvider = field(default_factory=IdentityProvider)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.contacts.clear()
        self.tickets.clear()
        self.chats.clear()
        self.offline_messages.clear()
        self.webhooks.clear()
        self.prechat_fields = default_prechat_fields()
        self.offline_fields = default_offline_fields()
        self.custom_variables = default_custom_variables()
        self.custom_contact_fields = default_custom_contact_fields()
        self.keys = [DEFAULT_API_KEY]
        self.sites = [DEFAULT_SITE_ID]
        self.limits = Limits()
        self.window = SlidingWindow()
        self.behaviour = Behaviour()
        self.set_faults(Faults())
        self.requests.clear()
        self.simulation = Simulation()
        self.identity = IdentityProvider(agents=default_agents(DEFAULT_SITE_ID))

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.fault_random = random.Random(faults.seed)

    def contact_fields(self) -> list[dict[str, Any]]:
        return system_contact_fields() + [dict(f) for f in self.custom_contact_fields]
