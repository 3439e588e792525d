"""A site's settings document (SPEC 3): read with keys masked, validated and saved as a whole.

The use cases here open their own transactions: checking field names may need a call to
Optimove, and no outside call is made while a database transaction is open. Someone waits on
each of those calls (a connection test, the site page, Save), so they are made with the bounded
client of `sync.sites.interactive_optimove_client`, never the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optibridge.domain.attributes import AttributeInfo as AttributeInfo  # re-exported: web names it
from optibridge.domain.settings import (
    SECRET_SETTINGS,
    SettingsInvalid,
    is_masked,
    mask_secret,
    settings_to_document,
    validate_settings,
)
from optibridge.errors import AppError, BadRequest, Invalid
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.secret_box import SecretBox, token_digest
from optibridge.services.recent_failures import RecentFailures
from optibridge.store.repositories import AttributeCacheRepository, SettingsRepository
from optibridge.sync.customers import read_customer

# The engine's site loading, offered here to the transport (services are its clients).
from optibridge.sync.sites import (
    OptimoveConnection as OptimoveConnection,
)
from optibridge.sync.sites import (
    StoredSettings as StoredSettings,
)
from optibridge.sync.sites import (
    fetch_attributes as fetch_attributes,
)
from optibridge.sync.sites import (
    get_site as get_site,
)
from optibridge.sync.sites import (
    interactive_optimove_client,
    load_site,
)
from optibridge.sync.sites import (
    load_settings as load_settings,
)
from optibridge.sync.sites import (
    optimove_connection as optimove_connection,
)


def read_document(runtime: Runtime, site_id: int) -> dict[str, Any]:
    """The document GET returns: API keys masked (or null when none is stored)."""
    stored = load_settings(runtime, site_id)
    return _masked_document(stored)


def save_document(runtime: Runtime, site_id: int, raw: object) -> dict[str, Any]:
    current = load_settings(runtime, site_id)
    new = validate_document(runtime, site_id, raw, current)
    with runtime.unit_of_work() as session:
        get_site(session, site_id)
        SettingsRepository(session).save(
            site_id,
            settings_to_document(new.settings, {}),
            _seal(runtime.box, new.optimove_api_key),
            _seal(runtime.box, new.comm100_api_key),
            _seal(runtime.box, new.comm100_oauth_secret),
        )
        if _connection_of(current) != _connection_of(new):
            AttributeCacheRepository(session).forget(site_id)
    return _masked_document(new)


def validate_document(
    runtime: Runtime, site_id: int, raw: object, current: StoredSettings
) -> StoredSettings:
    """The document as it would be saved over `current` (omitted or masked secrets kept), or
    every problem (422): what *Save* checks, and what a preview of unsaved settings checks."""
    if not isinstance(raw, dict):
        raise BadRequest("The settings must be a JSON object.")
    candidate = _with_kept_keys(raw, current)
    known = _attribute_names_for_check(runtime, site_id, candidate, current)
    try:
        settings = validate_settings(
            candidate,
            known_attributes=known,
            allow_private_urls=runtime.config.allow_private_urls,
        )
    except SettingsInvalid as invalid:
        raise Invalid("The settings are not valid.", invalid.problems) from None
    return StoredSettings.of(settings)


# A saved account that did not answer: the next pages say so at once for this long.
UNREADABLE = RecentFailures(ttl_s=30.0)


@dataclass(frozen=True)
class SavedAccount:
    """The saved Optimove connection as a page shows it."""

    connected: bool  # a Base URL and an API key are saved
    attributes: list[AttributeInfo] | None = None  # None: not connected, or can't be read now
    problem: str | None = None  # why the saved account can't be read now


def saved_account(runtime: Runtime, site_id: int, stored: StoredSettings) -> SavedAccount:
    """The saved account's attributes (cached, see `fetch_attributes`). Never raises for
    Optimove's sake: when they can't be read, `problem` says why (and for a little while the
    next pages say it again without waiting for Optimove once more)."""
    try:
        connection = optimove_connection(stored)
    except Invalid:
        return SavedAccount(connected=False)
    key = _failure_key(runtime, site_id, connection)
    recent = UNREADABLE.get(key)
    if recent is not None:
        return SavedAccount(connected=True, problem=recent)
    try:
        attributes, _cached = fetch_attributes(
            runtime, site_id, connection, saved=True, client=_interactive(runtime, connection)
        )
    except OptimoveError as error:
        UNREADABLE.remember(key, error.message)
        return SavedAccount(connected=True, problem=error.message)
    return SavedAccount(connected=True, attributes=attributes)


def attribute_types(runtime: Runtime, site_id: int) -> dict[str, str | None]:
    """The saved account's attributes with their types (`FieldType`), as far as known; empty
    when the account can't be read.

    The attribute list gives no types: a customer read does (`sync.sites.FieldDetails`). So
    when this process has read no customer of the account yet, one customer the site knows is
    read (one Optimove call, never written anywhere); with none known, types stay unknown.
    """
    try:
        setup = load_site(runtime, site_id, lane="agent")
    except AppError:
        return {}
    if setup.optimove is None or not setup.attributes:
        return {}
    types = setup.field_types
    if None in types.values() and not setup.details.has_read(setup.account):
        with runtime.unit_of_work(read_only=True) as session:
            customer_id = AttributeCacheRepository(session).a_known_customer(site_id)
        if customer_id is not None:
            try:
                read_customer(runtime, setup, customer_id, max_age_s=0, refresh=True)
            except AppError:
                return types  # unknown for now; the next page asks again
            types = setup.field_types
    return types


def check_connection(runtime: Runtime, site_id: int, override: dict[str, Any] | None) -> int:
    """One real call now; returns the number of attributes or raises the classified error.

    Someone is waiting: fewer attempts and a shorter timeout than the engine's
    (`interactive_optimove_client`), so the answer comes within about ten seconds."""
    stored = load_settings(runtime, site_id)
    if override and override.get("base_url"):
        try:
            validate_settings(
                {"optimove": {"base_url": override["base_url"]}},
                known_attributes=None,
                allow_private_urls=runtime.config.allow_private_urls,
            )
        except SettingsInvalid as invalid:
            raise Invalid("The Base URL is not valid.", invalid.problems) from None
    connection = optimove_connection(stored, override)
    saved = _connection_of(stored) == (connection.base_url, connection.api_key)
    key = _failure_key(runtime, site_id, connection)
    try:
        attributes, _cached = fetch_attributes(
            runtime,
            site_id,
            connection,
            saved=saved,
            refresh=True,
            client=_interactive(runtime, connection),
        )
    except OptimoveError as error:
        if saved:
            UNREADABLE.remember(key, error.message)
        raise
    UNREADABLE.forget(key)
    return len(attributes)


def _attribute_names_for_check(
    runtime: Runtime, site_id: int, candidate: dict[str, Any], current: StoredSettings
) -> set[str] | None:
    """The account's field names, or None when they can't be known (not connected, unreachable)."""
    optimove = candidate.get("optimove")
    if not isinstance(optimove, dict):
        return None
    connection_part = {key: optimove.get(key) for key in ("base_url", "api_key")}
    try:
        section = validate_settings(
            {"optimove": connection_part},
            known_attributes=None,
            allow_private_urls=runtime.config.allow_private_urls,
        ).optimove
    except SettingsInvalid:
        return None  # the connection itself is invalid: that problem is reported already
    if not section.base_url or not section.api_key:
        return None
    connection = OptimoveConnection(base_url=section.base_url, api_key=section.api_key)
    same_as_saved = _connection_of(current) == (connection.base_url, connection.api_key)
    try:
        attributes, _cached = fetch_attributes(
            runtime,
            site_id,
            connection,
            saved=same_as_saved,
            client=_interactive(runtime, connection),
        )
    except OptimoveError:
        return None  # can't check now; the connection test will say why
    return {attribute.real_field_name for attribute in attributes}


def _failure_key(
    runtime: Runtime, site_id: int, connection: OptimoveConnection
) -> tuple[str, int, str, str]:
    database = runtime.config.effective_database_url  # deployments sharing a process (tests)
    return (database, site_id, connection.base_url, token_digest(connection.api_key))


def _interactive(runtime: Runtime, connection: OptimoveConnection) -> OptimoveClient:
    return interactive_optimove_client(runtime, connection.base_url, connection.api_key)


def _with_kept_keys(raw: dict[str, Any], current: StoredSettings) -> dict[str, Any]:
    """Omitted, null or masked secrets (API keys, the OAuth client secret) mean "keep the stored
    one"; "" removes it."""
    candidate = dict(raw)
    for section, key in SECRET_SETTINGS:
        part = candidate.get(section)
        if part is None and section not in candidate:
            part = {}
        if not isinstance(part, dict):
            continue  # validation reports the wrong type
        part = dict(part)
        given = part.get(key)
        if given is None or (isinstance(given, str) and is_masked(given)):
            part[key] = current.secret(section, key)
        elif given == "":
            part[key] = None
        candidate[section] = part
    return candidate


def _masked_document(stored: StoredSettings) -> dict[str, Any]:
    masks = {}
    for section, key in SECRET_SETTINGS:
        secret = stored.secret(section, key)
        masks[(section, key)] = mask_secret(secret) if secret else None
    return settings_to_document(stored.settings, masks)


def _seal(box: SecretBox, secret: str | None) -> str | None:
    return box.seal(secret) if secret else None


def _connection_of(stored: StoredSettings) -> tuple[str | None, str | None]:
    return stored.settings.optimove.base_url, stored.optimove_api_key
