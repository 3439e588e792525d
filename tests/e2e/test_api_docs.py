"""The API documentation works with no way out of the machine: a running demo's Swagger UI (and
the sandboxes') draws the OpenAPI document in a real browser while every request that would
leave this host is refused and recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("api-docs-demo")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    with running_process(argv, ready_url=f"{url}/healthz", log_path=data_dir / "demo.log"):
        _wait_until_ready(url)
        yield url


def _wait_until_ready(url: str) -> None:
    """The demo answers 503 `starting` until it has set itself up."""
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the demo did not get ready"
        time.sleep(0.1)


@pytest.fixture
def outside(page: Page) -> list[str]:
    """Every request the page tried to send off this host (each one refused)."""
    tried: list[str] = []

    def only_this_host(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            tried.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_host)
    return tried


@pytest.mark.parametrize("path", ["/docs", "/sandbox/optimove/docs", "/sandbox/comm100/docs"])
def test_swagger_ui_draws_the_api_from_this_host_alone(
    page: Page, outside: list[str], demo_url: str, path: str
) -> None:
    page.goto(f"{demo_url}{path}")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert outside == []


def test_no_redoc_page_is_offered(demo_url: str) -> None:
    """ReDoc's bundle loads its logo from cdn.redoc.ly, so the service offers Swagger UI only."""
    assert httpx.get(f"{demo_url}/redoc").status_code == 404


def test_the_assets_ship_with_their_licences() -> None:
    """Swagger UI (Apache-2.0) comes in the fastapi-offline package (MIT), whose bundle carries
    its licence banner."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    assert "license" in (static / "swagger-ui-bundle.js").read_text()[:200].lower()
