"""Acceptance: three OS processes sharing one API key and one database never overrun Optimove.

Each process calls the sandbox (its own process, default 50 requests per 10 s) as fast as the
shared limiter lets it, for 30 s. The sandbox must log zero 429s and no window may ever hold more
than the limit; every process gets a share. How much of the budget the calls use is printed
(and measured in bench/sync_budget.py), not asserted: speed is for benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.windows import max_in_any_window

from .conftest import SANDBOX_KEY, Sandbox

HAMMER = Path(__file__).with_name("hammer.py")
PROCESSES = 3
DURATION_S = 30.0
LIMIT, WINDOW_S, MARGIN_S = 50, 10.0, 0.5


@pytest.mark.slow
@pytest.mark.integration
def test_three_processes_sharing_a_key_stay_within_optimoves_limit(
    sandbox: Sandbox, engine: Engine, database_url: str
) -> None:
    start_at = time.time() + 3.0  # time for every child to import and connect
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(HAMMER),
                sandbox.url,
                SANDBOX_KEY,
                database_url,
                str(start_at),
                str(DURATION_S),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={
                **os.environ,
                "OPTIBRIDGE_OPTIMOVE_RATE_LIMIT": str(LIMIT),
                "OPTIBRIDGE_OPTIMOVE_RATE_WINDOW_S": str(WINDOW_S),
                "OPTIBRIDGE_OPTIMOVE_RATE_MARGIN_S": str(MARGIN_S),
            },
        )
        for _ in range(PROCESSES)
    ]
    summaries = []
    for child in children:
        out, err = child.communicate(timeout=DURATION_S + 60)
        assert child.returncode == 0, err.decode()
        summaries.append(json.loads(out.decode().strip().splitlines()[-1]))

    log = sandbox.requests()
    arrivals = sorted(r["time"] for r in log)
    throttled = sum(1 for r in log if r["status"] == 429)
    in_duration = sum(1 for t in arrivals if start_at <= t < start_at + DURATION_S)
    busiest = max_in_any_window(arrivals, WINDOW_S)
    # The shortest time in which LIMIT + 1 calls arrived: must exceed Optimove's window.
    tightest = min(
        (b - a for a, b in zip(arrivals, arrivals[LIMIT:], strict=False)), default=float("inf")
    )
    allowed = DURATION_S / (WINDOW_S + MARGIN_S) * LIMIT
    print(
        f"\n[{engine.dialect.name}] {PROCESSES} processes, {DURATION_S:.0f} s: "
        f"{len(log)} calls ({in_duration} arrived within the {DURATION_S:.0f} s = "
        f"{in_duration / allowed:.0%} of {allowed:.0f}, the rate of {LIMIT} per "
        f"{WINDOW_S + MARGIN_S} s), {throttled} answered 429, busiest {WINDOW_S:.0f} s window "
        f"of arrivals: {busiest} calls, {LIMIT + 1} calls never arrived within less than "
        f"{tightest:.3f} s; calls per process: {[s['calls'] for s in summaries]}, "
        f"limiter wait per process: {[s['waited_s'] for s in summaries]} s"
    )

    assert throttled == 0
    assert busiest <= LIMIT
    assert tightest > WINDOW_S
    assert all(s["errors"] == {} for s in summaries), summaries
    assert sum(s["calls"] for s in summaries) == len(log)
    assert all(s["calls"] > 0 for s in summaries), "every process got a share"
