"""The console latency benchmark's measurement, with three customers: the cold lookups read
Optimove once each, the warm ones never, and nothing is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.console_latency import COLD, FIRST, REFRESH, SANDBOX, SERVICE_ENV, WARM, measure

from tests.sync.stack import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_warm_lookups_make_no_optimove_calls(tmp_path: Path) -> None:
    with running_stack(tmp_path, extra_env=SERVICE_ENV) as stack:
        phases = {
            phase.name: phase
            for phase in measure(
                stack, customers=3, sandbox_latency_ms=50, refresh_sample=1, rate_per_s=20
            )
        }
    requests = {name: len(phase.latencies_ms) for name, phase in phases.items()}
    assert requests == {SANDBOX: 3, FIRST: 1, COLD: 3, WARM: 3, REFRESH: 1}
    assert phases[SANDBOX].optimove_calls == 3
    assert phases[COLD].optimove_calls == 3
    assert phases[WARM].optimove_calls == 0
    assert phases[REFRESH].optimove_calls == 1
    assert all(phase.busy == phase.optimove_429 == 0 for phase in phases.values())
    assert min(phases[SANDBOX].latencies_ms) >= 50  # the sandbox's latency was applied
