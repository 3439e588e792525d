"""`optibridge sandbox optimove|comm100` as its own process says, before serving, where its API
is, which key it takes and where its control surface is; what it says works as written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = pytest.mark.integration


def started(vendor: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Runs the sandbox until the test ends; yields what it printed, by label."""
    port = free_port()
    log = tmp_path / f"{vendor}.log"
    argv = optibridge_command("sandbox", vendor, "--port", str(port), "--host", "0.0.0.0")
    with running_process(argv, ready_url=f"http://127.0.0.1:{port}/docs", log_path=log):
        printed = log.read_text()
        assert printed.startswith(f"{vendor.capitalize()} sandbox is running.\n"), printed
        yield dict(re.findall(r"^  ([A-Za-z ]+):\s+(\S+)", printed, flags=re.MULTILINE))


@pytest.fixture
def optimove(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield from started("optimove", tmp_path)


@pytest.fixture
def comm100(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield from started("comm100", tmp_path)


def test_the_optimove_sandbox_says_where_its_api_key_and_control_surface_are(
    optimove: dict[str, str],
) -> None:
    base, key, control = optimove["API base URL"], optimove["API key"], optimove["Control API"]
    assert base.startswith("http://127.0.0.1:")  # reachable, although it listens on 0.0.0.0
    assert control == f"{base}/_sandbox/"
    with httpx.Client(timeout=10) as http:
        http.put(f"{control}customers/C1", json={"EMAIL": "ann@example.com"}).raise_for_status()
        read = http.get(f"{base}/Customers/C1/Attributes", headers={"X-API-KEY": key})
        assert read.status_code == 200, read.text
        assert {"RealFieldName": "EMAIL", "Value": "ann@example.com"}.items() <= next(
            a for a in read.json() if a["RealFieldName"] == "EMAIL"
        ).items()
        assert http.get(optimove["API docs"]).status_code == 200


def test_the_comm100_sandbox_says_where_its_api_key_control_surface_and_simulator_are(
    comm100: dict[str, str],
) -> None:
    base, key, control = comm100["API base URL"], comm100["API key"], comm100["Control API"]
    origin = base.removesuffix("/v4")
    assert base == f"{origin}/v4"
    assert control == f"{origin}/_sandbox/"
    with httpx.Client(timeout=10) as http:
        fields = http.get(
            f"{base}/livechat/customVariables",
            params={"siteId": "10000"},
            auth=("agent@example.com", key),
        )
        assert fields.status_code == 200, fields.text
        assert http.get(f"{control}sites").json() == [10000]
        assert http.get(comm100["Simulator"]).status_code == 200
