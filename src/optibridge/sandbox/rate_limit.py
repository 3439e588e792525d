"""The sliding-window rate limit both sandboxes apply to their vendor API.

Shared by the emulators only (modules without a vendor prefix are); each vendor sets its own
defaults, keys the window by what its API limits (an API key, a client IP) and words its 429.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RequestCount = Annotated[int, Field(ge=1, le=1_000_000)]
WindowSeconds = Annotated[float, Field(gt=0.0, le=86_400.0, allow_inf_nan=False)]


class RateLimit(BaseModel):
    """At most `requests` calls in any `window_seconds`; a vendor's `Limits` gives defaults."""

    model_config = ConfigDict(extra="forbid")

    requests: RequestCount
    window_seconds: WindowSeconds


class LimitsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: int | None = None
    window_seconds: float | None = None


class SlidingWindow:
    """Arrival times of admitted calls per key; a refused call leaves no trace."""

    def __init__(self) -> None:
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float, limit: RateLimit) -> bool:
        times = self._admitted.setdefault(key, deque())
        horizon = now - limit.window_seconds
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= limit.requests:
            return False
        times.append(now)
        return True
