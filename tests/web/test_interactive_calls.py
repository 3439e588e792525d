"""Calls an administrator waits on are bounded (issue 16, point 1): a connection test against a
host that never answers comes back within about ten seconds, with the reason, from the API
(`/optimove/test`, `/comm100/test`) and from the control panel's *Connect* buttons. The engine
keeps its own, longer, timeouts and attempts. The sandboxes run as their own processes and are
made to hang with their `/_sandbox/faults`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.optimove.client import bucket_for_api_key
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.repositories import AttributeCacheRepository
from optibridge.sync.sites import INTERACTIVE_MAX_WAIT_S
from tests.comm100.conftest import SANDBOX_KEY as COMM100_KEY
from tests.comm100.conftest import Sandbox as Comm100Sandbox
from tests.comm100.conftest import start_sandbox
from tests.web.conftest import ADMIN_TOKEN, SANDBOX_KEY, Service
from tests.web.ui_client import page, post_form, sign_in

SITE = 10000
PAGE = f"/ui/sites/{SITE}"
# What the tests configure: a second per call, two attempts (the engine: 10 s, five attempts).
TIMEOUT_S = 1.0
BOUND_S = 2 * (TIMEOUT_S + INTERACTIVE_MAX_WAIT_S) + 1.5  # and some slack for a busy machine
HANG = {"timeout_rate": 1.0, "timeout_ms": 4_000}  # longer than the calls wait


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comm100Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Comm100Sandbox) -> Iterator[Comm100Sandbox]:
    comm100_process.control("POST", "reset")
    yield comm100_process
    comm100_process.control("POST", "reset")


@pytest.fixture
def hanging_optimove(sandbox: httpx.Client) -> Iterator[httpx.Client]:
    sandbox.put("/_sandbox/faults", json=HANG).raise_for_status()
    yield sandbox
    sandbox.post("/_sandbox/reset").raise_for_status()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The engine's defaults (10 s, five attempts), and short interactive calls."""
    config = Config(
        data_dir=tmp_path,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        public_url="https://bridge.example.com",
        interactive_timeout_s=TIMEOUT_S,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        client.post(
            "/api/v1/sites",
            json={"site_id": SITE, "name": "Acme"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).raise_for_status()
        yield Service(client, runtime, tmp_path / "optibridge.db")
    runtime.close()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def calls_to(requests: list[dict[str, object]], path_end: str) -> int:
    return sum(1 for r in requests if str(r["path"]).endswith(path_end))


def test_by_default_a_connection_test_answers_within_about_ten_seconds() -> None:
    config = Config()
    assert config.interactive_timeout_s < config.optimove_timeout_s
    assert config.interactive_max_attempts < config.optimove_max_attempts
    # Each attempt: a slot within the wait, then the timeout; between two, a backoff or a
    # Retry-After of at most the same wait.
    attempts = config.interactive_max_attempts
    worst = attempts * (INTERACTIVE_MAX_WAIT_S + config.interactive_timeout_s)
    worst += (attempts - 1) * INTERACTIVE_MAX_WAIT_S
    assert worst <= 11


# --- the API ------------------------------------------------------------------------------------


def test_the_optimove_test_gives_up_on_a_silent_host_within_the_bound(
    service: Service, hanging_optimove: httpx.Client
) -> None:
    body = {"base_url": str(hanging_optimove.base_url), "api_key": SANDBOX_KEY}
    response, took = timed(
        lambda: service.client.post(
            f"/api/v1/sites/{SITE}/optimove/test", json=body, headers=service.admin()
        )
    )
    assert took < BOUND_S
    assert response.status_code == 504, response.text
    message = response.json()["error"]["message"]
    assert "did not answer in time" in message
    assert "after 2 attempts" in message
    requests = hanging_optimove.get("/_sandbox/requests").json()
    assert calls_to(requests, "GetCustomerAttributeList") == 2


def test_the_comm100_test_gives_up_on_a_silent_host_within_the_bound(
    service: Service, comm100: Comm100Sandbox
) -> None:
    comm100.control("PUT", "faults", HANG)
    body = {
        "api_base_url": comm100.api_base_url,
        "agent_email": "agent@example.com",
        "api_key": COMM100_KEY,
    }
    response, took = timed(
        lambda: service.client.post(
            f"/api/v1/sites/{SITE}/comm100/test", json=body, headers=service.admin()
        )
    )
    assert took < BOUND_S
    assert response.status_code == 504, response.text
    assert "did not answer in time" in response.json()["error"]["message"]
    assert calls_to(comm100.requests(), "contact/fields") == 2


def test_with_optimoves_budget_in_use_the_test_says_so_at_once(
    service: Service, sandbox: httpx.Client
) -> None:
    bucket = bucket_for_api_key(SANDBOX_KEY)
    for _ in range(service.runtime.config.optimove_rate_limit):  # the engine took every slot
        service.runtime.limiter.take_slot(bucket)
    body = {"base_url": str(sandbox.base_url), "api_key": SANDBOX_KEY}
    response, took = timed(
        lambda: service.client.post(
            f"/api/v1/sites/{SITE}/optimove/test", json=body, headers=service.admin()
        )
    )
    assert took < 1
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "busy"
    assert "try again in" in response.json()["error"]["message"]


# --- the control panel's Connect buttons --------------------------------------------------------


def test_connecting_optimove_to_a_silent_host_says_why_within_the_bound(
    service: Service, hanging_optimove: httpx.Client
) -> None:
    sign_in(service.client)
    form = {"base_url": str(hanging_optimove.base_url), "api_key": SANDBOX_KEY}
    response, took = timed(
        lambda: post_form(service.client, f"{PAGE}/optimove", form, from_page=PAGE)
    )
    assert took < BOUND_S
    assert response.status_code == 504
    card = page(response).by_id("optimove-connection")
    result = card.find_all("div", role="alert")[0].text()
    assert result.startswith("Connection test failed.")
    assert "did not answer in time" in result
    assert result.endswith("Nothing was saved.")
    assert "Not connected yet." in card.text()
    assert "Connected:" not in card.text()


def test_connecting_comm100_to_a_silent_host_says_why_within_the_bound(
    service: Service, comm100: Comm100Sandbox
) -> None:
    sign_in(service.client)
    comm100.control("PUT", "faults", HANG)
    form = {
        "api_base_url": comm100.api_base_url,
        "agent_email": "agent@example.com",
        "api_key": COMM100_KEY,
    }
    response, took = timed(
        lambda: post_form(service.client, f"{PAGE}/comm100", form, from_page=PAGE)
    )
    assert took < BOUND_S
    assert response.status_code == 504
    result = page(response).by_id("comm100-connection").find_all("div", role="alert")[0]
    assert "did not answer in time" in result.text()


def test_a_failed_test_beside_a_working_connection_says_the_saved_one_is_still_used(
    service: Service, sandbox: httpx.Client
) -> None:
    sign_in(service.client)
    right = {"base_url": str(sandbox.base_url), "api_key": SANDBOX_KEY}
    assert post_form(service.client, f"{PAGE}/optimove", right, from_page=PAGE).status_code == 303
    wrong = {"base_url": str(sandbox.base_url), "api_key": "not-the-key-1234"}
    response = post_form(service.client, f"{PAGE}/optimove", wrong, from_page=PAGE)
    assert response.status_code == 502
    card = page(response).by_id("optimove-connection")
    assert "Connected: the account has 12 customer attributes." in card.text()
    result = card.find_all("div", role="alert")[0].text()
    assert result.startswith("Connection test failed. Optimove refused the API key")
    assert result.endswith("Nothing was saved: the connection in use is still the saved one.")
    assert "Not connected" not in card.text()


def test_the_site_page_waits_on_a_silent_saved_account_once_within_the_bound(
    service: Service, sandbox: httpx.Client
) -> None:
    sign_in(service.client)
    right = {"base_url": str(sandbox.base_url), "api_key": SANDBOX_KEY}
    assert post_form(service.client, f"{PAGE}/optimove", right, from_page=PAGE).status_code == 303
    with service.runtime.unit_of_work() as session:  # the attribute list must be read again
        AttributeCacheRepository(session).forget(SITE)
    sandbox.put("/_sandbox/faults", json=HANG).raise_for_status()
    try:
        response, took = timed(lambda: service.client.get(PAGE))
        sandbox.delete("/_sandbox/requests")
        again, took_again = timed(lambda: service.client.get(PAGE))
        asked_again = sandbox.get("/_sandbox/requests").json()
    finally:
        sandbox.post("/_sandbox/reset").raise_for_status()
    assert took < BOUND_S
    status = page(response).by_id("optimove-connection").text()
    assert "Saved, but Optimove can't be read now" in status
    assert "did not answer in time" in status
    # The next page says so at once, without asking the silent host again.
    assert took_again < 1
    assert asked_again == []
    assert "did not answer in time" in page(again).by_id("optimove-connection").text()
    # Connecting again asks for real, and the page follows.
    assert post_form(service.client, f"{PAGE}/optimove", right, from_page=PAGE).status_code == 303
    card = page(service.client.get(PAGE)).by_id("optimove-connection").text()
    assert "Connected: the account has 12 customer attributes." in card


def test_the_slow_buttons_say_what_they_are_doing_while_they_work(service: Service) -> None:
    sign_in(service.client)
    document = page(service.client.get(PAGE))
    for card, label in (
        ("optimove-connection", "Connecting…"),
        ("comm100-connection", "Connecting…"),
    ):
        form = document.by_id(card).find_all("form")[0]
        assert "data-busy" in form.attrs
        assert [b.attrs.get("data-busy-label") for b in form.find_all("button")] == [label]
    settings = document.by_id("settings-form")
    assert "data-busy" in settings.attrs
    assert document.by_id("settings-save").attrs["data-busy-label"] == "Saving…"
