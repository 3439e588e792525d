"""A site's settings document (SPEC 3): the typed model, its validation, and what GET returns.

Two levels of checking:
- The models themselves hold the shape and the rules about one value: types, unknown keys,
  URL and e-mail syntax, names, the URL template. Any `SiteSettings` instance satisfies them, so
  a stored document loads with `SiteSettings.model_validate(document)`.
- `validate_settings` is the gate for what an administrator saves. It adds the rules that depend
  on the deployment (https and public hosts only, unless private URLs are allowed) or on the
  Optimove account (its attribute names), and the rules across values (sources that fit the
  channel, an identification rule when enabled, no field mapped twice). It reports every problem
  of the document at once, each located by a JSON pointer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from optibridge.domain.records import Channel
from optibridge.domain.urls import url_problem
from optibridge.errors import Invalid, Problem

FieldSource = Literal["system", "prechat", "offline", "custom_variable", "contact", "identity"]
UpdateStrategy = Literal["none", "overwrite", "fill_empty"]
NoMatchOperation = Literal["auto_create", "agent_create", "never"]

CHANNEL_NAMES: Mapping[Channel, str] = {
    "livechat": "Live Chat",
    "ticketing": "Ticketing & Messaging",
}
CHANNEL_SOURCES: Mapping[Channel, tuple[FieldSource, ...]] = {
    "livechat": ("system", "prechat", "offline", "custom_variable"),
    "ticketing": ("contact", "identity"),
}
LIVECHAT_SYSTEM_FIELDS = (
    "name",
    "email",
    "phone",
    "company",
    "product_service",
    "department",
    "ip",
    "visitor_id",
    "sso_id",
    "city",
    "state",
    "country",
    "language",
    "referrer_url",
    "landing_page",
)
# Comm100's contact identity types, without `visitor`: that identity is Comm100's own visitor
# guid, which neither identifies an Optimove customer nor is worth copying into Optimove.
CONTACT_IDENTITY_TYPES = (
    "Email",
    "SMS",
    "whatsApp",
    "facebook",
    "twitter",
    "wechat",
    "SSOID",
    "externalID",
    "instagram",
    "telegram",
    "line",
    "SecureMessaging",
)
CUSTOMER_ID_FIELD = "CustomerID"
DEFAULT_CUSTOMER_URL_TEMPLATE = "{web_app_url}/#/customer/{customer_id}"
MAX_NAME_LENGTH = 200
MAX_SECRET_LENGTH = 1024
MAX_CLIENT_ID_LENGTH = 200
MAX_EMAIL_LENGTH = 254

_MASK = "****"
_MIN_SECRET_LENGTH_TO_HINT = 12  # so the 4 characters shown are at most a third of the secret
_TEMPLATE_PLACEHOLDERS = ("web_app_url", "customer_id")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_RULE_ERROR = "settings_rule"


# --- one value at a time -------------------------------------------------------------------


def _rule_broken(message: str) -> PydanticCustomError:
    # The message is passed as context, not as the error's template: pydantic would take the
    # "{customer_id}" of a message for a placeholder of its own.
    return PydanticCustomError(_RULE_ERROR, "{message}", {"message": message})


@dataclass(frozen=True)
class _Policy:
    """What `validate_settings` adds to the model's own rules, passed as validation context."""

    allow_private_urls: bool
    attributes: _AttributeNames | None

    @staticmethod
    def of(info: ValidationInfo) -> _Policy | None:
        policy = info.context.get("policy") if isinstance(info.context, dict) else None
        return policy if isinstance(policy, _Policy) else None

    def as_context(self) -> dict[str, Any]:
        return {"policy": self}


class _AttributeNames:
    """The account's attribute names, matched case-insensitively (Optimove spells the same
    attribute `Age` in its attribute list and `AGE` on a customer); the list's spelling wins."""

    def __init__(self, names: Collection[str]) -> None:
        self._exact = frozenset(names)
        self._folded: dict[str, str] = {}
        for name in names:
            self._folded.setdefault(name.casefold(), name)

    def canonical(self, name: str) -> str | None:
        return name if name in self._exact else self._folded.get(name.casefold())


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _rule_broken("must be a string or null")
    return value.strip() or None


def _base_url(value: object, info: ValidationInfo) -> str | None:
    url = _optional_text(value)
    if url is None:
        return None
    policy = _Policy.of(info)
    problem = url_problem(url, base=True, allow_private=policy is None or policy.allow_private_urls)
    if problem:
        raise _rule_broken(problem)
    return url.rstrip("/")  # paths are appended to it


def _email(value: object) -> str | None:
    email = _optional_text(value)
    if email is None:
        return None
    if len(email) > MAX_EMAIL_LENGTH:
        raise _rule_broken(f"must be at most {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.fullmatch(email):
        raise _rule_broken("must be an e-mail address")
    return email


def _secret(value: object) -> str | None:
    secret = _optional_text(value)
    if secret is not None and len(secret) > MAX_SECRET_LENGTH:
        raise _rule_broken(f"must be at most {MAX_SECRET_LENGTH} characters")
    return secret


def _client_id(value: object) -> str | None:
    client_id = _optional_text(value)
    if client_id is None:
        return None
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not client_id.isprintable() or " " in client_id:
        raise _rule_broken(
            f"must be the OAuth client id as Comm100 shows it (no spaces, at most"
            f" {MAX_CLIENT_ID_LENGTH} characters)"
        )
    return client_id


def _customer_url_template(value: str, info: ValidationInfo) -> str:
    template = value.strip()
    try:
        placeholders = _placeholders(template)
    except ValueError:
        raise _rule_broken("has a { or } without its pair (write {{ or }} for a brace)") from None
    if any(name not in _TEMPLATE_PLACEHOLDERS or spec or conv for name, spec, conv in placeholders):
        raise _rule_broken("may only contain the placeholders {web_app_url} and {customer_id}")
    if "customer_id" not in (name for name, _, _ in placeholders):
        raise _rule_broken("must contain {customer_id}")
    # The link is opened from the agent console: what the template adds to the web app URL
    # must keep it a plain http(s) link (never `javascript:`, never credentials).
    example = template.format(web_app_url="https://web-app.invalid", customer_id="123")
    policy = _Policy.of(info)
    problem = url_problem(
        example, base=False, allow_private=policy is None or policy.allow_private_urls
    )
    if problem:
        raise _rule_broken(problem)
    return template


def _placeholders(template: str) -> list[tuple[str, str | None, str | None]]:
    """`(name, format spec, conversion)` of each `{…}` in a `str.format` template."""
    return [
        (name, spec, conversion)
        for _, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    ]


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise _rule_broken("must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise _rule_broken(f"must be at most {MAX_NAME_LENGTH} characters")
    return name


def _optimove_field(value: str, info: ValidationInfo) -> str:
    if value.casefold() == CUSTOMER_ID_FIELD.casefold():
        raise _rule_broken(
            f"{CUSTOMER_ID_FIELD} identifies the customer: set it with the identification rules,"
            " not as a mapped field"
        )
    policy = _Policy.of(info)
    if policy is None or policy.attributes is None:
        return value
    canonical = policy.attributes.canonical(value)
    if canonical is None:
        raise _rule_broken(f"{value} is not an attribute of the connected Optimove account")
    return canonical


def _choices(values: Sequence[str]) -> str:
    return "must be one of " + ", ".join(values)


def _canonical_choice(value: str, choices: Sequence[str]) -> str:
    for choice in choices:
        if choice.casefold() == value.casefold():
            return choice
    raise _rule_broken(_choices(choices))


BaseUrl = Annotated[str | None, PlainValidator(_base_url, json_schema_input_type=str | None)]
Email = Annotated[str | None, PlainValidator(_email, json_schema_input_type=str | None)]
Secret = Annotated[str | None, PlainValidator(_secret, json_schema_input_type=str | None)]
ClientId = Annotated[str | None, PlainValidator(_client_id, json_schema_input_type=str | None)]
CustomerUrlTemplate = Annotated[StrictStr, AfterValidator(_customer_url_template)]
Name = Annotated[StrictStr, AfterValidator(_name)]
OptimoveField = Annotated[Name, AfterValidator(_optimove_field)]


# --- the document --------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRef(_Frozen):
    """Where a value comes from in Comm100 (SPEC 2). `system` and `identity` names are a fixed
    list, matched case-insensitively and kept in Comm100's spelling."""

    source: FieldSource
    name: Name

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str, info: ValidationInfo) -> str:
        source = info.data.get("source")
        if source == "system":
            return _canonical_choice(name, LIVECHAT_SYSTEM_FIELDS)
        if source == "identity":
            return _canonical_choice(name, CONTACT_IDENTITY_TYPES)
        return name


class FieldMapping(_Frozen):
    optimove_field: OptimoveField
    comm100_field: FieldRef
    show_in_console: StrictBool = True


class EventPolicy(_Frozen):
    update: UpdateStrategy = "none"
    no_match: NoMatchOperation = "agent_create"


class OptimoveSettings(_Frozen):
    base_url: BaseUrl = None
    api_key: Secret = None
    web_app_url: BaseUrl = None
    customer_url_template: CustomerUrlTemplate = DEFAULT_CUSTOMER_URL_TEMPLATE


class Comm100Settings(_Frozen):
    api_base_url: BaseUrl = None
    agent_email: Email = None
    api_key: Secret = None
    # Comm100 sign-in (SPEC 4.5, 5.4b): the site's Comm100 platform (dash11.comm100.io, …) and
    # the OAuth client a site admin created for optibridge there.
    platform_url: BaseUrl = None
    oauth_client_id: ClientId = None
    oauth_client_secret: Secret = None


class ChannelSettings(_Frozen):
    enabled: StrictBool = False
    field_mapping: tuple[FieldMapping, ...] = ()
    identification: tuple[FieldRef, ...] = ()

    def policy(self, event: str) -> EventPolicy | None:
        """The policy for a Comm100 event (SPEC 4.2); None for events the channel only records."""
        raise NotImplementedError


class LiveChatSettings(ChannelSettings):
    on_chat_end: EventPolicy = Field(default_factory=EventPolicy)
    on_offline_message: EventPolicy = Field(default_factory=EventPolicy)

    def policy(self, event: str) -> EventPolicy | None:
        if event == "chat_ended":
            return self.on_chat_end
        if event == "offline_message_submitted":
            return self.on_offline_message
        return None


class TicketingSettings(ChannelSettings):
    on_ticket_created: EventPolicy = Field(default_factory=EventPolicy)

    def policy(self, event: str) -> EventPolicy | None:
        return self.on_ticket_created if event == "ticket_created" else None


class SiteSettings(_Frozen):
    """A site's whole settings document; `SiteSettings()` is a site not configured yet."""

    optimove: OptimoveSettings = Field(default_factory=OptimoveSettings)
    comm100: Comm100Settings = Field(default_factory=Comm100Settings)
    livechat: LiveChatSettings = Field(default_factory=LiveChatSettings)
    ticketing: TicketingSettings = Field(default_factory=TicketingSettings)

    def channel(self, name: Channel) -> ChannelSettings:
        return self.livechat if name == "livechat" else self.ticketing


# --- validating what an administrator saves -------------------------------------------------


class SettingsInvalid(Invalid):
    """422: the document breaks these rules (all of them, each with its JSON pointer)."""

    def __init__(self, problems: list[Problem]) -> None:
        count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
        super().__init__(f"The settings are not valid: {count}.", problems)

    @property
    def problems(self) -> list[Problem]:
        return self.details


def validate_settings(
    raw: object, *, known_attributes: Collection[str] | None, allow_private_urls: bool
) -> SiteSettings:
    """The settings in `raw` (a parsed JSON document, not a model instance), or
    `SettingsInvalid` listing every problem.

    `known_attributes`: the Optimove account's attribute names, or None while it isn't connected
    (then any name is accepted). `allow_private_urls`: the deployment lets settings point at
    plain http and private hosts (sandboxes).
    """
    policy = _Policy(
        allow_private_urls,
        None if known_attributes is None else _AttributeNames(known_attributes),
    )
    settings: SiteSettings | None = None
    problems: list[Problem] = []
    try:
        settings = SiteSettings.model_validate(raw, context=policy.as_context())
    except ValidationError as error:
        problems.extend(_problem(detail) for detail in error.errors())
    if isinstance(raw, Mapping):
        for channel in CHANNEL_SOURCES:
            section = raw.get(channel)
            if isinstance(section, Mapping):
                problems.extend(_channel_problems(channel, section, policy))
    if settings is not None:
        problems.extend(_sign_in_problems(settings.comm100))
    if problems or settings is None:
        raise SettingsInvalid(problems)
    return settings


def _sign_in_problems(comm100: Comm100Settings) -> list[Problem]:
    """Comm100 sign-in needs its three settings together, or none of them."""
    given = {
        "platform_url": comm100.platform_url,
        "oauth_client_id": comm100.oauth_client_id,
        "oauth_client_secret": comm100.oauth_client_secret,
    }
    if all(given.values()) or not any(given.values()):
        return []
    return [
        Problem(f"/comm100/{name}", "is needed for Comm100 sign-in (or leave all three empty)")
        for name, value in given.items()
        if not value
    ]


_STRUCTURAL_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "model_type": "must be an object",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
}
_SOURCES_OF_SECTION: Mapping[str | int, tuple[str, ...]] = {
    channel: sources for channel, sources in CHANNEL_SOURCES.items()
}
_LITERAL_CHOICES: Mapping[str | int, tuple[str, ...]] = {
    "source": get_args(FieldSource),
    "update": get_args(UpdateStrategy),
    "no_match": get_args(NoMatchOperation),
}


def _problem(detail: ErrorDetails) -> Problem:
    loc = detail["loc"]
    kind = detail["type"]
    if kind == _RULE_ERROR:
        message = str(detail.get("ctx", {})["message"])
    elif kind == "literal_error" and loc and loc[-1] in _LITERAL_CHOICES:
        choices = _LITERAL_CHOICES[loc[-1]]
        if loc[-1] == "source":  # say which sources fit the channel the reference is in
            choices = _SOURCES_OF_SECTION.get(loc[0], choices)
        message = _choices(choices)
    else:
        message = _STRUCTURAL_MESSAGES.get(kind, detail["msg"])
    return Problem(json_pointer(loc), message)


def json_pointer(path: Sequence[str | int]) -> str:
    """RFC 6901: `("a/b", 0)` → `/a~1b/0`."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


_OPTIMOVE_FIELD: TypeAdapter[str] = TypeAdapter(OptimoveField)


def _channel_problems(
    channel: Channel, section: Mapping[str, object], policy: _Policy
) -> Iterator[Problem]:
    """The rules across values of one channel, checked on the parts that are well-formed (a
    malformed part is already reported, and must not hide the problems of the others)."""
    identification = _items(section.get("identification", []))
    mappings = _items(section.get("field_mapping", []))
    if section.get("enabled") is True and identification is not None and not identification:
        yield Problem(
            json_pointer((channel, "identification")),
            f"must have at least one rule when {CHANNEL_NAMES[channel]} is enabled",
        )
    refs: list[tuple[tuple[str | int, ...], object]] = [
        ((channel, "identification", i), ref) for i, ref in enumerate(identification or ())
    ]
    refs += [
        ((channel, "field_mapping", i, "comm100_field"), mapping.get("comm100_field"))
        for i, mapping in enumerate(mappings or ())
        if isinstance(mapping, Mapping)
    ]
    for path, ref in refs:
        source = ref.get("source") if isinstance(ref, Mapping) else None
        if source in get_args(FieldSource) and source not in CHANNEL_SOURCES[channel]:
            yield Problem(json_pointer((*path, "source")), _choices(CHANNEL_SOURCES[channel]))
    yield from _fields_mapped_twice(channel, mappings or (), policy)


def _fields_mapped_twice(
    channel: Channel, mappings: Sequence[object], policy: _Policy
) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, mapping in enumerate(mappings):
        if not isinstance(mapping, Mapping):
            continue
        try:
            field = _OPTIMOVE_FIELD.validate_python(
                mapping.get("optimove_field"), context=policy.as_context()
            )
        except ValidationError:
            continue
        if field.casefold() in seen:
            yield Problem(
                json_pointer((channel, "field_mapping", i, "optimove_field")),
                f"{field} is already mapped: each Optimove field can be mapped only once"
                f" in {CHANNEL_NAMES[channel]}",
            )
        seen.add(field.casefold())


def _items(value: object) -> Sequence[object] | None:
    """The items of a JSON array; None for anything else (a type error, reported as such)."""
    return value if isinstance(value, list | tuple) else None


# --- what the service shows and links -------------------------------------------------------


def mask_secret(secret: str) -> str:
    """`****7f3a`: the last 4 characters only when they are at most a third of the secret."""
    hint = secret[-4:] if len(secret) >= _MIN_SECRET_LENGTH_TO_HINT else ""
    return _MASK + hint


def is_masked(value: str) -> bool:
    """Whether `value` is a mask sent back as read (so the stored secret must be kept)."""
    return value.startswith(_MASK) and len(value) in (len(_MASK), len(_MASK) + 4)


# The write-only settings: (section, key). Stored encrypted beside the document, read back masked.
SECRET_SETTINGS: tuple[tuple[str, str], ...] = (
    ("optimove", "api_key"),
    ("comm100", "api_key"),
    ("comm100", "oauth_client_secret"),
)


def settings_to_document(
    settings: SiteSettings, masks: Mapping[tuple[str, str], str | None]
) -> dict[str, Any]:
    """The JSON document GET returns: every key, with each secret (`SECRET_SETTINGS`) replaced
    by its mask in `masks` (or null). The secrets in `settings` never reach the document."""
    document = settings.model_dump(mode="json")
    for section, key in SECRET_SETTINGS:
        document[section][key] = masks.get((section, key))
    return document


def customer_url(settings: SiteSettings, customer_id: str) -> str | None:
    """The customer's page in the Optimove web app; None without a customer id, or when the
    template needs the web app URL and it isn't set yet."""
    optimove = settings.optimove
    uses_web_app_url = any(
        name == "web_app_url" for name, _, _ in _placeholders(optimove.customer_url_template)
    )
    if not customer_id or (uses_web_app_url and optimove.web_app_url is None):
        return None
    return optimove.customer_url_template.format(
        web_app_url=optimove.web_app_url or "", customer_id=quote(customer_id, safe="")
    )
