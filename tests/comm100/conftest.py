"""The Comm100 sandbox running as its own process, reset before each test that uses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, running_process

SANDBOX_KEY = "sandbox-comm100-key"
SANDBOX_SITE = 10000


@dataclass
class Sandbox:
    """A running Comm100 sandbox and its control surface."""

    url: str

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v4"

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
    program = (
        "import uvicorn; from optibridge.sandbox.comm100 import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    with running_process(
        [sys.executable, "-c", program],
        ready_url=f"{url}/_sandbox/limits",
        log_path=log_path,
    ):
        yield Sandbox(url)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100-sandbox") / "sandbox.log")


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    sandbox_process.control("POST", "reset")
    return sandbox_process
