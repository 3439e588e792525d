"""A site's Comm100 connection: test it, and the Comm100 fields a mapping can be made of.

The field lists are what an administrator chooses from when mapping fields and writing
identification rules, grouped as Comm100's own control panel groups them: Live Chat's system
fields, pre-chat window fields, offline message window fields and custom variables; Ticketing's
contact fields and contact identities. They are read from the Comm100 API (four calls) and
reused for a few minutes per connection, in this process. Someone waits on every call made
here (a connection test, the site page), so each is made with the bounded client of
`sync.sites.interactive_comm100_client`.

How a form field becomes a `FieldRef` follows what Live Chat webhooks carry: a pre-chat form's
*system* fields (Name, Email, …) arrive among the visitor's system fields under their SPEC 2
names, so they are offered as `system` fields; an offline message form's system fields arrive as
`offline` values under the same kind of names (name, email, …, subject, content); custom form
fields are offered by their name (`prechat` or `offline`).

No outside call is made while a database transaction is open.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optibridge.comm100.client import FIELDS_TTL_S, Comm100Client
from optibridge.comm100.errors import Comm100Error
from optibridge.comm100.schemas import FormField
from optibridge.domain.mapping_types import Comm100Kind, comm100_kind
from optibridge.domain.records import Channel
from optibridge.domain.settings import (
    CONTACT_IDENTITY_TYPES,
    LIVECHAT_SYSTEM_FIELDS,
    FieldSource,
    SettingsInvalid,
    is_masked,
    validate_settings,
)
from optibridge.errors import Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.secret_box import token_digest
from optibridge.services.recent_failures import RecentFailures
from optibridge.sync.sites import StoredSettings, interactive_comm100_client, load_settings

# The offline message form's system fields, as Live Chat webhooks name them (SPEC 2).
OFFLINE_FORM_SYSTEM_FIELDS = ("name", "email", "phone", "company", "subject", "content")

SYSTEM_FIELD_LABELS = {
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "product_service": "Product/Service",
    "department": "Department",
    "ip": "IP address",
    "visitor_id": "Visitor ID",
    "sso_id": "SSO ID",
    "city": "City",
    "state": "State",
    "country": "Country",
    "language": "Language",
    "referrer_url": "Referrer URL",
    "landing_page": "Landing page",
    "subject": "Subject",
    "content": "Content",
}
IDENTITY_LABELS = {
    "Email": "Email",
    "SMS": "SMS",
    "whatsApp": "WhatsApp",
    "facebook": "Facebook",
    "twitter": "Twitter",
    "wechat": "WeChat",
    "SSOID": "SSO ID",
    "externalID": "External ID",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "line": "LINE",
    "SecureMessaging": "Secure Messaging",
}
# Other spellings of SPEC 2 system field names seen in form field names and types.
_SYSTEM_ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "phone_number": "phone",
    "product": "product_service",
    "product_or_service": "product_service",
    "message": "content",
}


@dataclass(frozen=True)
class Comm100Connection:
    api_base_url: str
    agent_email: str
    api_key: str


@dataclass(frozen=True)
class FieldChoice:
    """One Comm100 field an administrator can choose: the `FieldRef` and how it is labelled."""

    source: FieldSource
    name: str
    label: str


@dataclass(frozen=True)
class FieldGroup:
    label: str
    choices: tuple[FieldChoice, ...]
    # One of its fields, in words: "Email (pre-chat field)" tells it from the system field and
    # the offline message field that are labelled "Email" too.
    item: str = ""

    def named(self, choice: FieldChoice) -> str:
        return f"{choice.label} ({self.item})" if self.item else choice.label


@dataclass(frozen=True)
class FieldChoices:
    """Each channel's Comm100 fields, grouped. `problem` says why the lists are incomplete
    (not connected, unreachable): then only the fixed lists (system fields, identities) are
    offered."""

    livechat: tuple[FieldGroup, ...]
    ticketing: tuple[FieldGroup, ...]
    read_from_comm100: bool
    problem: str | None
    # What the form fields, custom variables and contact fields hold, by (source, case-folded
    # name), as their Comm100 types say (`domain.mapping_types`).
    kinds: Mapping[tuple[FieldSource, str], Comm100Kind] = dataclasses.field(default_factory=dict)

    def of(self, channel: Channel) -> tuple[FieldGroup, ...]:
        return self.livechat if channel == "livechat" else self.ticketing


@dataclass(frozen=True)
class _Lists:
    prechat: tuple[FormField, ...]
    offline: tuple[FormField, ...]
    custom_variables: tuple[str, ...]
    contact_fields: tuple[str, ...]
    kinds: Mapping[tuple[FieldSource, str], Comm100Kind]


_cache_lock = threading.Lock()
# `_key` → (read at, lists).
_cache: dict[tuple[str, int, str, str, str], tuple[float, _Lists]] = {}
# A saved site that could not be read, by `_key`: the next pages say so at once for a little
# while instead of waiting for Comm100 again (a connection test or `refresh` asks for real).
UNREADABLE = RecentFailures(ttl_s=30.0)


def comm100_connection(
    runtime: Runtime, stored: StoredSettings, override: dict[str, Any] | None = None
) -> Comm100Connection:
    """The connection to test or use: `override` (what an administrator typed) over the saved
    one. An API key that is empty or the masked value means the stored key."""
    given = override or {}
    section = stored.settings.comm100
    base_url = _given_text(given, "api_base_url") or section.api_base_url
    email = _given_text(given, "agent_email") or section.agent_email
    api_key = _given_text(given, "api_key")
    if not api_key or is_masked(api_key):
        api_key = stored.comm100_api_key
    problems: list[Problem] = []
    if given:
        try:
            validate_settings(
                {"comm100": {"api_base_url": base_url, "agent_email": email}},
                known_attributes=None,
                allow_private_urls=runtime.config.allow_private_urls,
            )
        except SettingsInvalid as invalid:
            problems.extend(invalid.problems)
    if not base_url:
        problems.append(Problem("/comm100/api_base_url", "the Comm100 API base URL is not set"))
    if not email:
        problems.append(Problem("/comm100/agent_email", "the agent e-mail is not set"))
    if not api_key:
        problems.append(Problem("/comm100/api_key", "the Comm100 API key is not set"))
    if problems or not base_url or not email or not api_key:
        raise Invalid("Comm100 is not connected yet.", problems)
    return Comm100Connection(base_url, email, api_key)


def check_connection(runtime: Runtime, site_id: int, override: dict[str, Any] | None) -> int:
    """One real call now (the contact fields); their number, or the classified error. Someone
    is waiting: the bounded client answers within about ten seconds."""
    stored = load_settings(runtime, site_id)
    connection = comm100_connection(runtime, stored, override)
    key = _key(runtime, site_id, connection)
    try:
        with _interactive_client(runtime, site_id, connection) as client:
            count = client.check_connection()
    except Comm100Error as error:
        if _is_saved(runtime, stored, connection):
            UNREADABLE.remember(key, _lists_problem(error))
        raise
    UNREADABLE.forget(key)
    return count


def _interactive_client(
    runtime: Runtime, site_id: int, connection: Comm100Connection
) -> Comm100Client:
    return interactive_comm100_client(
        runtime, connection.api_base_url, connection.agent_email, connection.api_key, site_id
    )


def field_choices(runtime: Runtime, site_id: int, *, refresh: bool = False) -> FieldChoices:
    """The fields each channel can map, read from Comm100 with the saved connection.

    Never raises for Comm100's sake: when the lists can't be read, the fixed ones are offered
    and `problem` says why.
    """
    stored = load_settings(runtime, site_id)
    try:
        connection = comm100_connection(runtime, stored)
    except Invalid:
        return _choices(None, "Connect the Comm100 site to choose its form fields and variables.")
    key = _key(runtime, site_id, connection)
    recent = None if refresh else UNREADABLE.get(key)
    if recent is not None:
        return _choices(None, recent)
    try:
        lists = _read_lists(runtime, site_id, connection, refresh=refresh)
    except Comm100Error as error:
        UNREADABLE.remember(key, _lists_problem(error))
        return _choices(None, _lists_problem(error))
    return _choices(lists, None)


def _lists_problem(error: Comm100Error) -> str:
    return f"The Comm100 field lists could not be read: {error.message}"


def _is_saved(runtime: Runtime, stored: StoredSettings, connection: Comm100Connection) -> bool:
    try:
        return comm100_connection(runtime, stored) == connection
    except Invalid:
        return False


def _key(
    runtime: Runtime, site_id: int, connection: Comm100Connection
) -> tuple[str, int, str, str, str]:
    """The connection, for the caches; the database URL keeps deployments that share a process
    (tests, a future multi-tenant host) apart."""
    return (
        runtime.config.effective_database_url,
        site_id,
        connection.api_base_url,
        connection.agent_email.casefold(),
        token_digest(connection.api_key),
    )


def _read_lists(
    runtime: Runtime, site_id: int, connection: Comm100Connection, *, refresh: bool
) -> _Lists:
    key = _key(runtime, site_id, connection)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and not refresh and now - cached[0] < FIELDS_TTL_S:
        return cached[1]
    with _interactive_client(runtime, site_id, connection) as client:
        # Sequential and stopping at the first failure: an unreachable site costs one wait.
        contact_fields = client.contact_fields(refresh=True)
        prechat = tuple(client.prechat_fields())
        offline = tuple(client.offline_fields())
        variables = client.custom_variables()
        typed: list[tuple[FieldSource, str, str | None]] = [
            *(("prechat", f.name, f.type) for f in prechat if not f.is_system),
            *(("offline", f.name, f.type) for f in offline if not f.is_system),
            *(("custom_variable", v.name, v.type) for v in variables),
            *(("contact", f.name, f.type) for f in contact_fields if not f.is_identity),
        ]
        lists = _Lists(
            prechat=prechat,
            offline=offline,
            custom_variables=tuple(v.name for v in variables),
            contact_fields=tuple(f.name for f in contact_fields if not f.is_identity),
            kinds={
                (source, name.casefold()): kind
                for source, name, type_ in typed
                if (kind := comm100_kind(type_)) is not None
            },
        )
    with _cache_lock:
        for stale in [k for k in _cache if k[:2] == key[:2]]:
            del _cache[stale]
        _cache[key] = (now, lists)
    return lists


def _choices(lists: _Lists | None, problem: str | None) -> FieldChoices:
    system = FieldGroup(
        "System fields",
        tuple(
            FieldChoice("system", name, SYSTEM_FIELD_LABELS[name])
            for name in LIVECHAT_SYSTEM_FIELDS
        ),
        "system field",
    )
    identities = FieldGroup(
        "Contact identities",
        tuple(
            FieldChoice("identity", kind, IDENTITY_LABELS.get(kind, kind))
            for kind in CONTACT_IDENTITY_TYPES
        ),
        "contact identity",
    )
    if lists is None:
        offline = FieldGroup(
            "Offline message window fields",
            tuple(
                FieldChoice("offline", name, SYSTEM_FIELD_LABELS[name])
                for name in OFFLINE_FORM_SYSTEM_FIELDS
            ),
            "offline message field",
        )
        return FieldChoices((system, offline), (identities,), False, problem)
    livechat = (
        system,
        FieldGroup(
            "Pre-chat window fields",
            tuple(_form_choices(lists.prechat, "prechat")),
            "pre-chat field",
        ),
        FieldGroup(
            "Offline message window fields",
            tuple(_form_choices(lists.offline, "offline")),
            "offline message field",
        ),
        FieldGroup(
            "Custom variables",
            tuple(
                FieldChoice("custom_variable", name, name)
                for name in _unique(lists.custom_variables)
            ),
            "custom variable",
        ),
    )
    ticketing = (
        FieldGroup(
            "Contact fields",
            tuple(FieldChoice("contact", name, name) for name in _unique(lists.contact_fields)),
            "contact field",
        ),
        identities,
    )
    return FieldChoices(livechat, ticketing, True, None, lists.kinds)


def _form_choices(fields: Sequence[FormField], form: FieldSource) -> Iterable[FieldChoice]:
    """A form's fields as choices: system ones under their SPEC 2 names (pre-chat: `system`
    source; offline: `offline` source), custom ones by name."""
    seen: set[tuple[str, str]] = set()
    for field in fields:
        choice = FieldChoice(form, field.name, field.name)
        if field.is_system:
            known = LIVECHAT_SYSTEM_FIELDS if form == "prechat" else OFFLINE_FORM_SYSTEM_FIELDS
            spec_name = _spec_name(field, known)
            if spec_name is not None:
                source: FieldSource = "system" if form == "prechat" else "offline"
                choice = FieldChoice(source, spec_name, field.name)
        if (choice.source, choice.name.casefold()) not in seen:
            seen.add((choice.source, choice.name.casefold()))
            yield choice


def _spec_name(field: FormField, known: Sequence[str]) -> str | None:
    for candidate in (field.name, field.type or ""):
        key = re.sub(r"[^a-z0-9]+", "_", candidate.casefold()).strip("_")
        key = _SYSTEM_ALIASES.get(key, key)
        if key in known:
            return key
    return None


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for name in names:
        if name.casefold() not in seen:
            seen.add(name.casefold())
            kept.append(name)
    return kept


def _given_text(given: dict[str, Any], key: str) -> str | None:
    value = given.get(key)
    return value.strip() or None if isinstance(value, str) else None
