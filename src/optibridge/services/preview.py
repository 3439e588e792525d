"""The settings preview (SPEC 4.7, 5.2): settings not saved yet (or the saved ones) checked as
*Save* checks them, then decided over the channel's recent conversations by the engine
(`sync/preview.py`). Nothing is written.

A preview reads the data of the connected accounts: its settings must keep the saved Optimove
and Comm100 connections (a connection is changed by *Connect*, which tests it first).
"""

from __future__ import annotations

from optibridge.domain.preview import MAX_PREVIEW_LIMIT
from optibridge.domain.records import Channel
from optibridge.errors import Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.services.settings import StoredSettings, load_settings, validate_document

# The engine's preview, offered here to the transport (services are its clients).
from optibridge.sync.preview import Preview as Preview
from optibridge.sync.preview import PreviewedConversation as PreviewedConversation
from optibridge.sync.preview import preview_settings


def preview(
    runtime: Runtime, site_id: int, document: object | None, channel: Channel, limit: int
) -> Preview:
    """What `document` (None: the saved settings) would do to the channel's `limit` newest
    conversations: 404 for an unknown site, 422 for settings *Save* would refuse."""
    if not 1 <= limit <= MAX_PREVIEW_LIMIT:
        raise Invalid(
            "The request is not valid.",
            [Problem("/limit", f"must be between 1 and {MAX_PREVIEW_LIMIT}")],
        )
    saved = load_settings(runtime, site_id)
    settings = saved.settings
    if document is not None:
        candidate = validate_document(runtime, site_id, document, saved)
        problems = _other_connections(candidate, saved)
        if problems:
            raise Invalid(
                "A preview reads the connected accounts: connect these first (Connect tests"
                " and saves a connection), or leave them as saved.",
                problems,
            )
        settings = candidate.settings
    return preview_settings(runtime, site_id, settings, channel, limit)


def _other_connections(candidate: StoredSettings, saved: StoredSettings) -> list[Problem]:
    """The connection settings in which `candidate` differs from the saved ones."""
    new, old = candidate.settings, saved.settings
    compared = (
        ("/optimove/base_url", new.optimove.base_url, old.optimove.base_url),
        ("/optimove/api_key", candidate.optimove_api_key, saved.optimove_api_key),
        ("/comm100/api_base_url", new.comm100.api_base_url, old.comm100.api_base_url),
        ("/comm100/agent_email", new.comm100.agent_email, old.comm100.agent_email),
        ("/comm100/api_key", candidate.comm100_api_key, saved.comm100_api_key),
    )
    return [
        Problem(pointer, "differs from the saved connection")
        for pointer, given, stored in compared
        if given != stored
    ]
