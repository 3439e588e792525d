"""A backfill (SPEC 4.7): a period's past conversations replayed through the same rules, on the
budget's lowest lane. Its vocabulary, the moves an administrator may make, and its progress.

    queued ──first step──▶ running ──listed all, every record final──▶ done
      │                      │  ▲
      │               pause  ▼  │ resume
      └────── pause ──────▶ paused
    queued, running, paused ──cancel──▶ cancelled        running ──Comm100 refuses──▶ failed

A backfill lists its conversations page by page, oldest first. Each conversation it can replay
becomes a sync record (event `backfill_<live event>`) deduplicated against every other: one
already synced, live or by an earlier backfill, is not replayed and counts as done
(`already_synced`). One it can't replay (a chat that never ended, a missed one) is skipped.
So, once done: total = done + skipped + failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from optibridge.domain.records import Channel

BackfillState = Literal["queued", "running", "paused", "done", "failed", "cancelled"]
BACKFILL_STATES: tuple[BackfillState, ...] = get_args(BackfillState)
# A worker moves these on; the others wait for an administrator, or are over.
ACTIVE: tuple[BackfillState, ...] = ("queued", "running")
FINAL: tuple[BackfillState, ...] = ("done", "failed", "cancelled")

Action = Literal["pause", "resume", "cancel"]
ACTIONS: tuple[Action, ...] = get_args(Action)

# What a channel's backfill lists, in this order.
Kind = Literal["chat", "offline_message", "ticket"]
KINDS: dict[Channel, tuple[Kind, ...]] = {
    "livechat": ("chat", "offline_message"),
    "ticketing": ("ticket",),
}
KIND_NAMES: dict[Kind, str] = {
    "chat": "chats",
    "offline_message": "offline messages",
    "ticket": "tickets",
}


class NotAllowed(ValueError):
    """The move does not apply to the backfill's state; the message says why, in words."""


def after(state: BackfillState, action: Action, *, started: bool) -> BackfillState:
    """The state a backfill in `state` moves to on `action` (`started`: it listed before)."""
    if state in FINAL:
        raise NotAllowed(f"The backfill is {state}: it can't be {_done(action)} any more.")
    if action == "cancel":
        return "cancelled"
    if action == "pause":
        if state == "paused":
            raise NotAllowed("The backfill is paused already.")
        return "paused"
    if state != "paused":
        raise NotAllowed(f"The backfill is {state}, not paused: there is nothing to resume.")
    return "running" if started else "queued"


def _done(action: Action) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]


@dataclass(frozen=True)
class Cursor:
    """Where the listing is: the kind and page to read next (None: all listed), and what each
    kind listed so far and how many Comm100 said it has (None: not said yet)."""

    kind: Kind | None
    page: int
    listed: dict[str, int]
    totals: dict[str, int | None]

    @classmethod
    def start(cls, channel: Channel) -> Cursor:
        kinds = KINDS[channel]
        return cls(kinds[0], 1, {k: 0 for k in kinds}, {k: None for k in kinds})

    def after_page(self, channel: Channel, listed: int, total: int | None, more: bool) -> Cursor:
        """The cursor once the page at it was listed (`listed` conversations in it)."""
        assert self.kind is not None, "the listing is over"
        counts = {**self.listed, self.kind: self.listed.get(self.kind, 0) + listed}
        totals = dict(self.totals)
        if total is not None:
            totals[self.kind] = total
        if more:
            return Cursor(self.kind, self.page + 1, counts, totals)
        # This kind is over: what it listed is its total, whatever was announced.
        totals[self.kind] = counts[self.kind]
        kinds = KINDS[channel]
        following = kinds.index(self.kind) + 1
        kind = kinds[following] if following < len(kinds) else None
        return Cursor(kind, 1, counts, totals)

    @property
    def listed_all(self) -> bool:
        return self.kind is None

    @property
    def total(self) -> int:
        """The conversations of the period, as far as known: each kind's announced total, or
        what it listed so far when that is more (or when nothing was announced)."""
        return sum(
            max(self.listed.get(kind, 0), self.totals.get(kind) or 0) for kind in self.listed
        )

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "page": self.page, "listed": self.listed, "totals": self.totals}

    @classmethod
    def from_json(cls, channel: Channel, data: object) -> Cursor:
        if not isinstance(data, dict) or not data:
            return cls.start(channel)
        kind = data.get("kind")
        return cls(
            kind if kind in KIND_NAMES else None,
            int(data.get("page") or 1),
            {str(k): int(v) for k, v in dict(data.get("listed") or {}).items()},
            {
                str(k): (int(v) if v is not None else None)
                for k, v in dict(data.get("totals") or {}).items()
            },
        )


@dataclass(frozen=True)
class Progress:
    """Where a backfill stands. `done` counts the conversations replayed whose record is done,
    and those already synced; `in_progress` the records not final yet."""

    total: int
    done: int
    skipped: int
    failed: int
    in_progress: int
    already_synced: int

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


def eta_s(progress: Progress, active_s: float) -> float | None:
    """Seconds until the rest is finished at the pace so far (time spent running only), or
    None while there is no pace to go by."""
    if active_s <= 0 or progress.finished <= 0:
        return None
    remaining = max(0, progress.total - progress.finished)
    return remaining * active_s / progress.finished


def per_minute(progress: Progress, active_s: float) -> float | None:
    """Conversations finished per minute of running, or None before the first."""
    if active_s <= 0 or progress.finished <= 0:
        return None
    return progress.finished * 60.0 / active_s
