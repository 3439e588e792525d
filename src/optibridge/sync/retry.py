"""When to try a record again."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: between half and all of base·2^(attempt-1), capped."""
    ceiling: float = min(max_s, base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)
