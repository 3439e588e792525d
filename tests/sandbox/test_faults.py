"""Injected faults as both sandboxes apply them: drawn at a call's arrival, then played out."""

from __future__ import annotations

import random

import pytest
from fastapi.responses import PlainTextResponse, Response

from optibridge.sandbox.faults import (
    Admitted,
    FaultDraw,
    FaultSettings,
    Refused,
    answer_with_faults,
    draw_faults,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds `answer_with_faults` sleeps, recorded instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("asyncio.sleep", sleep)
    return slept


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_every_call_takes_four_draws_whatever_the_rates(rate: float) -> None:
    settings = FaultSettings(error_rate=rate, rate_429=rate, timeout_rate=rate)
    generator, witness = random.Random(7), random.Random(7)
    draw_faults(generator, settings)
    for _ in range(4):
        witness.random()
    assert generator.random() == witness.random()


def test_no_rates_inject_nothing() -> None:
    generator = random.Random(1)
    drawn = {draw_faults(generator, FaultSettings()) for _ in range(200)}
    assert drawn == {FaultDraw(too_many_requests=False, hang=False, error_status=None)}


def test_rates_of_one_inject_everything_with_errors_both_500_and_503() -> None:
    generator = random.Random(1)
    settings = FaultSettings(error_rate=1.0, rate_429=1.0, timeout_rate=1.0)
    drawn = [draw_faults(generator, settings) for _ in range(200)]
    assert all(d.too_many_requests and d.hang for d in drawn)
    assert {d.error_status for d in drawn} == {500, 503}


def _server_error(status: int) -> Response:
    return PlainTextResponse("injected", status_code=status)


async def _answer() -> Response:
    return PlainTextResponse("answered")


async def test_a_refusal_comes_after_the_latency(sleeps: list[float]) -> None:
    refused = Refused(FaultSettings(latency_ms=250), PlainTextResponse("no", status_code=429))
    response = await answer_with_faults(refused, _server_error, _answer)
    assert (response.status_code, sleeps) == (429, [0.25])


async def test_a_hanging_call_is_still_answered_after_the_timeout(sleeps: list[float]) -> None:
    settings = FaultSettings(timeout_ms=2_000)
    drawn = FaultDraw(too_many_requests=False, hang=True, error_status=None)
    response = await answer_with_faults(Admitted(settings, drawn), _server_error, _answer)
    assert (response.body, sleeps) == (b"answered", [2.0])


async def test_an_injected_error_replaces_the_answer(sleeps: list[float]) -> None:
    drawn = FaultDraw(too_many_requests=False, hang=False, error_status=503)
    response = await answer_with_faults(Admitted(FaultSettings(), drawn), _server_error, _answer)
    assert (response.status_code, sleeps) == (503, [])
