"""The Optimove sandbox running as its own process, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, optibridge_command, running_process

SANDBOX_KEY = "sandbox-optimove-key"


@dataclass
class Sandbox:
    """A running Optimove sandbox and its control surface."""

    url: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.control("GET", "requests")
        return log


def start_sandbox(log_path: Path) -> Iterator[Sandbox]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_process(
        optibridge_command("sandbox", "optimove", "--port", str(port)),
        ready_url=f"{url}/_sandbox/limits",
        log_path=log_path,
    ):
        yield Sandbox(url)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.log")


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    sandbox_process.control("POST", "reset")
    return sandbox_process
