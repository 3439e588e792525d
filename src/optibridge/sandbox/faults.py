"""Injected faults both sandboxes apply to their vendor API: the settings, the draw, the answer.

A call's fate is drawn at its arrival (`draw_faults`), before any await, so concurrent calls are
judged in arrival order; `answer_with_faults` then plays it out. Each vendor decides where the
draw stands among its own checks and how its 429 and 5xx answers look.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

MAX_MS = 3_600_000  # an hour: longer sleeps are a typo, and huge ones overflow the loop's timer

Rate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Millis = Annotated[float, Field(ge=0.0, le=MAX_MS, allow_inf_nan=False)]


# A vendor's `Faults` adds its own settings and then `seed`, so that `seed` stays the last key
# `/_sandbox/faults` shows (pydantic keeps inherited fields first).
class FaultSettings(BaseModel):
    """The faults every emulated vendor API can inject."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: Millis = 0.0
    error_rate: Rate = 0.0
    rate_429: Rate = 0.0
    timeout_rate: Rate = 0.0
    timeout_ms: Millis = 30_000.0


class FaultSettingsPatch(BaseModel):
    """A partial `FaultSettings`: only the keys given change (checked again once merged)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float | None = None
    error_rate: float | None = None
    rate_429: float | None = None
    timeout_rate: float | None = None
    timeout_ms: float | None = None


@dataclass(frozen=True)
class FaultDraw:
    """What the injected faults do to one call."""

    too_many_requests: bool
    hang: bool
    error_status: int | None  # 500 or 503


def draw_faults(generator: random.Random, settings: FaultSettings) -> FaultDraw:
    # Always four draws per call, so a seeded run repeats whatever the rates are.
    draw = generator.random
    injected_429, hang, error, error_kind = draw(), draw(), draw(), draw()
    error_status = (500 if error_kind < 0.5 else 503) if error < settings.error_rate else None
    return FaultDraw(
        too_many_requests=injected_429 < settings.rate_429,
        hang=hang < settings.timeout_rate,
        error_status=error_status,
    )


@dataclass(frozen=True)
class Admitted:
    """A call the vendor API will answer, after the faults drawn for it."""

    settings: FaultSettings
    drawn: FaultDraw


@dataclass(frozen=True)
class Refused:
    """A call refused at arrival (credentials, rate limit): `response`, after the latency."""

    settings: FaultSettings
    response: Response


async def answer_with_faults(
    outcome: Admitted | Refused,
    server_error: Callable[[int], Response],
    answer: Callable[[], Awaitable[Response]],
) -> Response:
    """Latency delays every answer (refusals included); an admitted call may then hang, then
    fail with `server_error(500 or 503)`, else gets `answer()`."""
    if outcome.settings.latency_ms:
        await asyncio.sleep(outcome.settings.latency_ms / 1000)
    if isinstance(outcome, Refused):
        return outcome.response
    if outcome.drawn.hang:
        # Hangs, then answers as usual: a write that "timed out" may still have been applied.
        await asyncio.sleep(outcome.settings.timeout_ms / 1000)
    if outcome.drawn.error_status is not None:
        return server_error(outcome.drawn.error_status)
    return await answer()
