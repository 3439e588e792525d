"""A sync record's vocabulary (SPEC 4.3): the channels it belongs to, the states it goes through,
and the outcomes it ends with. The engine moves records through these states
(`sync/records.py`), the store keeps them, and the sync log shows them.

    queued ──claim──▶ working ──write sent──▶ awaiting_callback ──confirmed──▶ done
      ▲                 │ │ │                          │
      │                 │ │ └─ nothing to write ──▶ done   └── refused ──▶ failed
      │                 │ └─ can't succeed, or no attempt left ──▶ failed
      └─ retry later, ──┘                                  failed ──retry by hand──▶ queued
         or wait for the customer
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

Channel = Literal["livechat", "ticketing"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

RecordState = Literal["queued", "working", "awaiting_callback", "done", "failed"]
QUEUED: RecordState = "queued"
WORKING: RecordState = "working"
AWAITING_CALLBACK: RecordState = "awaiting_callback"
DONE: RecordState = "done"
FAILED: RecordState = "failed"
RECORD_STATES: tuple[RecordState, ...] = get_args(RecordState)
# A record in one of these still has work ahead of it.
UNFINISHED: tuple[RecordState, ...] = (QUEUED, WORKING, AWAITING_CALLBACK)

Outcome = Literal[
    "created",
    "updated",
    "unchanged",
    "no_match",
    "unidentified",
    "needs_contact",
    "skipped",
    "failed",
    "pending",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

# What agents do in the console's tab is recorded too (SPEC 4.3): what they looked at
# (activity, kept apart from what happened to Optimove), and what they changed.
AGENT_LOOKUP = "console_lookup"
AGENT_EDIT = "console_edit"
AGENT_CREATE = "console_create"
AGENT_EVENT_PREFIX = "console_"
AGENT_CHANGES = (AGENT_EDIT, AGENT_CREATE)

# An administrator's undo of a change from the sync log (SPEC 4.7): the old values written back,
# as a record of its own (`comm100_ids["restores"]` names the record it undoes).
RESTORE = "restore"


def conversation_of(comm100_ids: Mapping[str, Any]) -> tuple[str, str] | None:
    """The conversation a record belongs to, as the tab beside it names it: `("chat_id", …)` or
    `("ticket_id", …)`; None for anything else (an offline message has no tab)."""
    for key in ("chat_id", "ticket_id"):
        value = comm100_ids.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return key, str(value)
    return None


# A conversation replayed by a backfill (SPEC 4.7) is recorded as `backfill_` + the event its
# live webhook makes (`backfill_chat_ended`, …), and decided by that event's rules.
BACKFILL_EVENT_PREFIX = "backfill_"


def backfill_event(event: str) -> str:
    return BACKFILL_EVENT_PREFIX + event


def live_event(event: str) -> str:
    """The live event whose rules apply: a backfill's replay is decided as the live one."""
    return event.removeprefix(BACKFILL_EVENT_PREFIX)
