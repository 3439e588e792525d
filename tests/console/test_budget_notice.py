"""The tab says plainly when Optimove's budget, not Optimove, made an agent wait (SPEC 4.5): an
answer that waited a second or more for a slot carries a notice; one that did not, none. On a
budget of two calls per 1.5 s, so that a full window empties within the agent's longest wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from optibridge.config import Config
from optibridge.console.lookup import BUDGET_WAIT_NOTICE_S, budget_wait_notice
from tests.console.test_api import (
    Console,
    chat,
    comm100,
    comm100_sandbox,
    optimove,
    running_console,
    use_up_the_window,
    visitor,
)

__all__ = ["comm100", "comm100_sandbox", "optimove"]  # the fixtures this module uses


@pytest.fixture
def console(
    database_url: str, tmp_path: Path, optimove: httpx.Client, comm100: httpx.Client
) -> Iterator[Console]:
    budget = {"optimove_rate_limit": 2, "optimove_rate_window_s": 1.5}
    with running_console(database_url, tmp_path, optimove, comm100, **budget) as service:
        yield service


def test_an_answer_that_waited_for_the_budget_says_so(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    quiet = console.lookup(visitor(customer))
    assert (quiet["status"], quiet["notice"]) == ("matched", None)

    use_up_the_window(console.runtime)  # other work took the whole budget
    response = console.post("refresh", chat(visitor(customer)))
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["status"], view["stale"]) == ("matched", False)
    notice = view["notice"]
    assert notice.startswith("Optimove is busy: this answer waited ")
    assert "(Optimove takes 2 calls per 1.5 seconds; agents go first)" in notice


def test_the_notice_names_the_wait_and_the_limit_only_from_a_second() -> None:
    config = Config(optimove_rate_limit=50, optimove_rate_window_s=10)
    assert budget_wait_notice(config, BUDGET_WAIT_NOTICE_S - 0.01) is None
    assert budget_wait_notice(config, 2.34) == (
        "Optimove is busy: this answer waited 2.3 s for its turn (Optimove takes 50 calls per 10"
        " seconds; agents go first)."
    )
