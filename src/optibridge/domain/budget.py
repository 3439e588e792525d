"""Optimove's budget as pure arithmetic (SPEC 4.4, ARCHITECTURE 3): a sliding log of send times
per API key, and the decision whether one more call fits in the window.

Optimove allows 50 requests per 10 seconds per key, counted over a sliding window of arrival
times. A call is admitted only while fewer than `limit` stamps lie inside the last window (plus
a margin for calls in flight). A call's stamp is its admission time while it is in flight and
moves to the time of its answer once it has one: the answer comes after Optimove counted the
call, so the log never shows it earlier than Optimove saw it. (A GCRA-style token bucket would
not do: it lets the 51st call through 0.2 s after a burst of 50, which Optimove's window refuses.)

The store keeps each key's log in the database, so that every process shares it
(`store/limiter.py`); vendor clients only see a `Slot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MICROS = 1_000_000

# Who is calling, first served first (SPEC 4.5 "Agents first"): an agent waiting in the console,
# then live events (chats, tickets, offline messages), then background work (read-backs,
# backfills). A caller stands aside while one of a higher priority is waiting for a slot.
Priority = Literal["agent", "live", "background"]
PRIORITIES: tuple[Priority, ...] = ("agent", "live", "background")
# Background work leaves this many slots of every window to the others, so an agent or a live
# event that arrives finds one at once instead of waiting for background calls to leave.
BACKGROUND_HEADROOM = 5
# A waiting caller asks again at least this often (so that its claim stays fresh), and is
# forgotten this long after it said it would ask again (its process died); one that stood
# aside for a higher priority asks again this soon.
# While an agent has used the budget lately (`AGENT_PRESENCE_US`), live events leave this many
# slots of every window free (fewer on a small limit: `agent_spare`), so the agent's next call
# finds one at once instead of waiting for the window to empty; the sync engine's share is
# whole again once no agent is at work.
AGENT_SPARE = 2
AGENT_PRESENCE_US = 60 * MICROS
WAITER_POLL_US = MICROS
WAITER_GRACE_US = MICROS
STAND_ASIDE_US = 50_000


# Optimove's endpoint groups (reference/optimove.md: limits "can vary between different
# endpoints"): each may be given a limit of its own; by default all share the key's one bucket.
ENDPOINT_GROUPS = ("reads", "writes", "attributes")
GROUP_MARK = "#"  # a group's own bucket is the key's bucket + "#" + the group


@dataclass(frozen=True)
class GroupLimit:
    calls: int
    window_s: float


def parse_group_limits(text: str) -> dict[str, GroupLimit]:
    """`"reads=50/10,writes=20/10"` → a limit per group; ValueError saying what is wrong."""
    limits: dict[str, GroupLimit] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        group, _, limit = part.partition("=")
        group = group.strip()
        if group not in ENDPOINT_GROUPS:
            raise ValueError(
                f"unknown endpoint group {group!r} (known: {', '.join(ENDPOINT_GROUPS)})"
            )
        calls, _, window = limit.partition("/")
        try:
            parsed = GroupLimit(int(calls), float(window))
        except ValueError:
            raise ValueError(f"{group}: write the limit as CALLS/SECONDS, e.g. 50/10") from None
        if parsed.calls < 1 or not 0 < parsed.window_s <= 3600:
            raise ValueError(f"{group}: at least 1 call per a window of 0 to 3,600 seconds")
        if group in limits:
            raise ValueError(f"{group} is given twice")
        limits[group] = parsed
    return limits


@dataclass(frozen=True)
class Slot:
    """A call's place in its bucket's window, stamped `stamp_us` until it is answered."""

    bucket: str
    stamp_us: int
    waited_s: float
    priority: Priority | None = None  # the lane it was taken in, for the budget's chart


@dataclass(frozen=True)
class Decision:
    """Whether a call may be sent now; `stamps` is the log to keep if it is."""

    admitted: bool
    stamps: tuple[int, ...]
    wait_us: int  # when refused: the least time after which a call would be admitted


def decide(stamps: Sequence[int], now_us: int, limit: int, window_us: int) -> Decision:
    """Admit a call at `now_us` iff fewer than `limit` stamps lie in the window ending now.

    A stamp `s` occupies the window while `now - window < s`. Time never runs backwards in the
    log: a clock that stepped back is treated as standing still at the latest stamp, so the
    recorded stamps always keep the promise, whatever the clock did.
    """
    if limit < 1 or window_us <= 0:
        raise ValueError("limit and window must be positive")
    now = max(now_us, max(stamps, default=now_us))
    recent = sorted(s for s in stamps if s > now - window_us)
    if len(recent) < limit:
        return Decision(True, (*recent, now), 0)
    # Full: wait until all but limit - 1 of them have left the window.
    leaving = recent[len(recent) - limit]
    return Decision(False, tuple(recent), leaving + window_us - now)


@dataclass(frozen=True)
class Waiter:
    """A caller waiting for a slot: its priority, who it is, and until when it counts."""

    priority: Priority
    waiter_id: str
    until_us: int


@dataclass(frozen=True)
class LaneDecision:
    """`decision` for the caller, and the waiters to keep (the caller among them if refused),
    and when an agent last asked for a slot (now, if the caller is one)."""

    decision: Decision
    waiters: tuple[Waiter, ...]
    agent_seen_us: int = 0


def agent_spare(limit: int) -> int:
    """The slots live events leave free while an agent is at work: `AGENT_SPARE`, or a tenth
    of a small limit."""
    return min(AGENT_SPARE, limit // 10)


def decide_in_lane(
    stamps: Sequence[int],
    waiters: Sequence[Waiter],
    now_us: int,
    limit: int,
    window_us: int,
    *,
    priority: Priority,
    waiter_id: str,
    agent_seen_us: int = 0,
) -> LaneDecision:
    """`decide`, with priorities: a call is admitted only when the window has room for it (for
    background work: room beyond `BACKGROUND_HEADROOM`; for live events while an agent asked
    for a slot in the last `AGENT_PRESENCE_US`: room beyond `agent_spare`) and no caller of a
    higher priority is waiting. A refused caller is noted as waiting, so that lower priorities
    stand aside for it.

    The limit itself is `decide`'s: priorities only choose who gets the next slot.
    """
    now = max(now_us, max(stamps, default=now_us))
    rank = PRIORITIES.index(priority)
    others = tuple(w for w in waiters if w.until_us > now and w.waiter_id != waiter_id)
    ahead = any(PRIORITIES.index(w.priority) < rank for w in others)
    if priority == "agent":
        agent_seen_us = now
    if priority == "background":
        own_limit = max(1, limit - BACKGROUND_HEADROOM)
    elif priority == "live" and now - agent_seen_us < AGENT_PRESENCE_US:
        own_limit = max(1, limit - agent_spare(limit))
    else:
        own_limit = limit
    decision = decide(stamps, now, own_limit, window_us)
    if decision.admitted and not ahead:
        return LaneDecision(decision, others, agent_seen_us)
    # With room but someone more urgent waiting, stand aside: let it take the slot.
    refused = Decision(False, tuple(stamps), STAND_ASIDE_US) if decision.admitted else decision
    asks_again = min(refused.wait_us, WAITER_POLL_US)  # the caller asks again by then
    waiting = Waiter(priority, waiter_id, now + asks_again + WAITER_GRACE_US)
    return LaneDecision(refused, (*others, waiting), agent_seen_us)


def without_waiter(waiters: Sequence[Waiter], waiter_id: str, now_us: int) -> tuple[Waiter, ...]:
    """The waiters once `waiter_id` stopped waiting (and the expired ones are gone)."""
    return tuple(w for w in waiters if w.until_us > now_us and w.waiter_id != waiter_id)


def free_slots(
    stamps: Sequence[int], waiters: Sequence[Waiter], now_us: int, limit: int, window_us: int
) -> int:
    """How many calls the window would admit now, less one per caller already waiting."""
    now = max(now_us, max(stamps, default=now_us))
    used = sum(1 for s in stamps if s > now - window_us)
    waiting = sum(1 for w in waiters if w.until_us > now)
    return max(0, limit - used - waiting)


def fill_window(stamps: Sequence[int], now_us: int, limit: int) -> tuple[int, ...]:
    """The log after Optimove answered 429: full until a whole window has passed from now."""
    now = max(now_us, max(stamps, default=now_us))
    return (now,) * limit


def answered_at(stamps: Sequence[int], sent_us: int, now_us: int) -> tuple[int, ...]:
    """The log once the call admitted at `sent_us` has its answer at `now_us`: its stamp moves
    to the answer (if it already left the log, the answer's stamp is added all the same)."""
    now = max(now_us, max(stamps, default=now_us))
    kept = list(stamps)
    if sent_us in kept:
        kept.remove(sent_us)
    return tuple(sorted((*kept, now)))


def backoff(failures: int, base_s: float, max_s: float, draw: float) -> float:
    """How long to wait after the `failures`-th failure in a row: exponential with full jitter,
    `draw` (uniform in [0, 1)) times min(max_s, base_s · 2^(failures-1)). One formula for vendor
    calls and for records alike."""
    ceiling: float = min(max_s, base_s * 2.0 ** (failures - 1))
    return draw * ceiling
