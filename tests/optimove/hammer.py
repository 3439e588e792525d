"""One of several processes calling Optimove as fast as the shared limiter lets them.

Run by `test_limiter_acceptance.py` with `sys.executable`:

    python tests/optimove/hammer.py BASE_URL API_KEY DATABASE_URL START_AT DURATION_S

It waits until the epoch time START_AT (so all processes start together), calls
`GetCustomerAttributeList` in a loop until DURATION_S have passed, and prints one JSON line:
`{"calls", "ok", "errors": {class: count}, "waited_s"}`.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from optibridge.config import Config
from optibridge.optimove.client import CallRecord, OptimoveClient
from optibridge.optimove.errors import OptimoveError
from optibridge.store.db import make_engine
from optibridge.store.limiter import RateLimiter


def main(base_url: str, api_key: str, database_url: str, start_at: float, duration_s: float) -> int:
    engine = make_engine(database_url)
    limiter = RateLimiter.from_config(engine, Config())
    records: list[CallRecord] = []
    errors: Counter[str] = Counter()
    ok = 0
    with OptimoveClient(base_url, api_key, limiter=limiter, on_call=records.append) as client:
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + duration_s
        while time.time() < deadline:
            try:
                client.get_attribute_list()
                ok += 1
            except OptimoveError as error:
                errors[type(error).__name__] += 1
    engine.dispose()
    summary = {
        "calls": len(records),
        "ok": ok,
        "errors": dict(errors),
        "waited_s": round(sum(r.limiter_wait_s for r in records), 3),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    base, key, url, start, duration = sys.argv[1:6]
    sys.exit(main(base, key, url, float(start), float(duration)))
