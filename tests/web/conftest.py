"""The service in-process (TestClient) beside an Optimove sandbox in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from tests.support.processes import free_port, optibridge_command, running_process

ADMIN_TOKEN = "test-admin-token-0123456789"
SANDBOX_KEY = "sandbox-optimove-key"


@dataclass
class Service:
    client: TestClient
    runtime: Runtime
    database_path: Path

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="session")
def optimove_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of an Optimove sandbox running as its own process."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("sandbox") / "optimove.log"
    argv = optibridge_command("sandbox", "optimove", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{base}/_sandbox/requests", log_path=log_path):
        yield base


@pytest.fixture
def sandbox(optimove_sandbox: str) -> Iterator[httpx.Client]:
    """A client of the sandbox's control surface, reset before each test."""
    with httpx.Client(base_url=optimove_sandbox, timeout=10) as control:
        control.post("/_sandbox/reset").raise_for_status()
        yield control


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    config = Config(
        data_dir=tmp_path,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        public_url="https://bridge.example.com",
        optimove_max_attempts=2,
        optimove_timeout_s=5,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Service(client, runtime, tmp_path / "optibridge.db")
    runtime.close()
