"""Why a saved connection could not be read just now, remembered for a short while.

Each page of a site reads its saved Optimove account and Comm100 site; a host that does not
answer makes every such page wait for it (about ten seconds, `sync.sites.interactive_*`). After
one failure the next pages show it at once instead, for `ttl_s`. A connection test always calls
for real, and a success forgets the failure. Per process: another process asks once itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class RecentFailures:
    def __init__(self, ttl_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures: dict[Hashable, tuple[float, str]] = {}

    def get(self, key: Hashable) -> str | None:
        """Why `key` failed, if it did less than `ttl_s` ago."""
        with self._lock:
            found = self._failures.get(key)
            if found is None:
                return None
            if self._monotonic() - found[0] >= self._ttl_s:
                del self._failures[key]
                return None
            return found[1]

    def remember(self, key: Hashable, problem: str) -> None:
        with self._lock:
            self._failures[key] = (self._monotonic(), problem)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)
