"""The log of vendor API calls both sandboxes keep, shown at `/_sandbox/requests`."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

# Bounded so a long-running demo cannot grow without limit (a logged body may hold 1,000
# customers); the oldest entries go first.
LOG_CAPACITY = 100_000  # enough for a benchmark of 10,000 events


@dataclass
class LoggedRequest:
    """One vendor API call; never holds a credential. A vendor's entry may add fields."""

    # The keys `/_sandbox/requests` shows for an entry, in this order.
    shown: ClassVar[tuple[str, ...]] = ("method", "path", "query", "status", "time", "body")

    method: str
    path: str
    query: str
    time: float
    body: Any = None
    status: int | None = None  # None while the call is still being answered

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.shown}


EntryT = TypeVar("EntryT", bound=LoggedRequest)


class RequestLog(Generic[EntryT]):
    """The last `LOG_CAPACITY` calls, oldest first."""

    def __init__(self, entry_type: type[EntryT]) -> None:
        self._entry_type = entry_type
        self._entries: deque[EntryT] = deque(maxlen=LOG_CAPACITY)

    def record(self, method: str, path: str, query: str) -> EntryT:
        """A new entry for a call arriving now; its answer fills in the rest."""
        entry = self._entry_type(method=method, path=path, query=query, time=time.time())
        self._entries.append(entry)
        return entry

    def since(self, since: float | None) -> list[dict[str, Any]]:
        """The entries strictly after the epoch `since` (all when None), as shown."""
        return [e.as_dict() for e in self._entries if since is None or e.time > since]

    def clear(self) -> None:
        self._entries.clear()
