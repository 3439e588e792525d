"""The client over real HTTP against the Optimove sandbox in its own process."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from optibridge.optimove.client import OptimoveClient, bucket_for_api_key
from optibridge.optimove.errors import (
    BadCredentialsError,
    NotOptimoveApiError,
    TransientError,
    UnreachableError,
    UpsertUnavailableError,
)
from optibridge.optimove.schemas import CustomerUpdate
from optibridge.store.limiter import RateLimiter
from tests.support.processes import free_port, running_process
from tests.support.windows import max_in_any_window

from .conftest import SANDBOX_KEY, Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def limiter(sqlite_engine: Engine) -> RateLimiter:
    """The real limiter, at the sandbox's default budget."""
    return RateLimiter(sqlite_engine, limit=50, window_s=10, margin_s=0.5)


def make_client(
    base_url: str,
    limiter: RateLimiter,
    *,
    key: str = SANDBOX_KEY,
    timeout_s: float = 5.0,
    max_attempts: int = 4,
) -> OptimoveClient:
    return OptimoveClient(
        base_url,
        key,
        limiter=limiter,
        timeout_s=timeout_s,
        max_attempts=max_attempts,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
    )


# --- the calls work ------------------------------------------------------------------------


def test_test_connection_counts_the_sandboxs_attributes(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    with make_client(sandbox.url, limiter) as client:
        assert client.check_connection() == len(sandbox.control("GET", "attributes"))


def test_a_current_prefix_in_the_base_url_is_kept(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with make_client(f"{sandbox.url}/current/", limiter) as client:
        client.get_attribute_list()
    assert sandbox.requests()[0]["path"] == "/current/model/GetCustomerAttributeList"


def test_a_customers_attributes_come_with_alias_and_type(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    sandbox.control(
        "PUT",
        "attributes",
        [
            {"RealFieldName": "EMAIL", "Alias": "E-mail", "FieldType": "Nvarchar(200)"},
            {"RealFieldName": "AGE", "Alias": "Age", "FieldType": "Bigint"},
            {"RealFieldName": "VIP", "Alias": "VIP level", "FieldType": "Nvarchar"},
        ],
    )
    sandbox.control("PUT", "customers/C-42", {"EMAIL": "ann@example.com", "AGE": "42"})
    with make_client(sandbox.url, limiter) as client:
        customer = client.get_customer_attributes("C-42")
    assert customer is not None
    assert customer.values() == {"EMAIL": "ann@example.com", "AGE": "42", "VIP": None}
    assert [(a.alias, a.field_type) for a in customer.attributes] == [
        ("E-mail", "Nvarchar(200)"),
        ("Age", "Bigint"),
        ("VIP level", "Nvarchar"),
    ]


def test_a_customer_id_with_spaces_and_at_signs_travels_quoted(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    sandbox.control("PUT", "customers/ann%20b%40example.com", {"EMAIL": "x@y.z"})
    with make_client(sandbox.url, limiter) as client:
        customer = client.get_customer_attributes("ann b@example.com")
    assert customer is not None
    assert customer.values()["EMAIL"] == "x@y.z"


@pytest.mark.parametrize("answer", ["404", "400", "empty"])
def test_an_unknown_customer_is_none_however_the_account_says_it(
    sandbox: Sandbox, limiter: RateLimiter, answer: str
) -> None:
    sandbox.control("PUT", "behaviour", {"unknown_customer": answer})
    with make_client(sandbox.url, limiter) as client:
        assert client.get_customer_attributes("nobody") is None


def test_an_update_is_accepted_and_applied(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "customers/7", {"VIP_LEVEL": "bronze"})
    sandbox.control("PUT", "faults", {"callback_delay_ms": 0})
    with make_client(sandbox.url, limiter) as client:
        accepted = client.update_customer_attributes(
            [CustomerUpdate("7", {"VIP_LEVEL": "gold", "COUNTRY": None})], None
        )
    assert accepted.request_id
    assert sandbox.requests()[0]["request_id"] == accepted.request_id
    assert eventually(lambda: sandbox.control("GET", "customers/7")["VIP_LEVEL"] == "gold")


def test_an_upsert_creates_the_customer(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"callback_delay_ms": 0})
    with make_client(sandbox.url, limiter) as client:
        accepted = client.upsert_customer("new-1", {"EMAIL": "new@example.com"}, None)
    assert accepted.request_id
    assert eventually(
        lambda: (
            sandbox.control("GET", "customers").get("new-1", {}).get("EMAIL") == "new@example.com"
        )
    )


def test_an_account_without_upsert_is_told_so(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "behaviour", {"upsert_enabled": False})
    with (
        make_client(sandbox.url, limiter) as client,
        pytest.raises(UpsertUnavailableError, match="does not offer UpsertCustomer"),
    ):
        client.upsert_customer("new-1", {"EMAIL": "new@example.com"}, None)


def test_the_last_data_update_is_a_date(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with make_client(sandbox.url, limiter) as client:
        assert client.get_last_data_update() == (datetime.now(UTC) - timedelta(days=1)).date()
        sandbox.control("PUT", "behaviour", {"last_data_update": "2024-02-29"})
        assert str(client.get_last_data_update()) == "2024-02-29"


# --- what an administrator can get wrong ------------------------------------------------------


def test_a_wrong_key_is_bad_credentials(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with (
        make_client(sandbox.url, limiter, key="not-the-key-1234") as client,
        pytest.raises(BadCredentialsError) as caught,
    ):
        client.check_connection()
    assert caught.value.upstream_status == 401
    assert "not-the-key-1234" not in caught.value.message
    assert len(sandbox.requests()) == 1, "a refused key is not retried"


@pytest.fixture
def plain_web_server(tmp_path: Path) -> Iterator[str]:
    """A web server that is not Optimove: static files, HTML 404s."""
    site = tmp_path / "site"
    (site / "html" / "model").mkdir(parents=True)
    (site / "html" / "model" / "GetCustomerAttributeList").write_text(
        "<!DOCTYPE html><html><head><title>Welcome</title></head><body>Hi</body></html>"
    )
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with running_process(
        [*argv, "--directory", str(site)],
        ready_url=f"http://127.0.0.1:{port}/",
        log_path=tmp_path / "http.log",
    ):
        yield f"http://127.0.0.1:{port}"


def test_a_web_server_answering_404_is_not_an_optimove_api(
    plain_web_server: str, limiter: RateLimiter
) -> None:
    with (
        make_client(plain_web_server, limiter) as client,
        pytest.raises(NotOptimoveApiError, match="answered 404"),
    ):
        client.check_connection()


def test_a_web_server_answering_html_is_not_an_optimove_api(
    plain_web_server: str, limiter: RateLimiter
) -> None:
    with (
        make_client(f"{plain_web_server}/html/", limiter) as client,
        pytest.raises(NotOptimoveApiError, match="found an HTML page"),
    ):
        client.check_connection()


def test_a_closed_port_is_unreachable(limiter: RateLimiter) -> None:
    port = free_port()
    with (
        make_client(f"http://127.0.0.1:{port}/", limiter, max_attempts=2) as client,
        pytest.raises(UnreachableError) as caught,
    ):
        client.check_connection()
    assert caught.value.message.startswith(f"Could not reach 127.0.0.1:{port}")
    assert "refused" in caught.value.message


# --- faults: retried through, or classified --------------------------------------------------


def test_server_errors_are_retried_through(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"error_rate": 0.5, "seed": 7})
    with make_client(sandbox.url, limiter, max_attempts=10) as client:
        for _ in range(6):
            assert client.check_connection() > 0
    statuses = [r["status"] for r in sandbox.requests()]
    assert statuses.count(200) == 6
    assert {500, 503} & set(statuses), "the seeded faults did fire"


def test_constant_server_errors_end_as_transient(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"error_rate": 1.0})
    with (
        make_client(sandbox.url, limiter, max_attempts=3) as client,
        pytest.raises(TransientError) as caught,
    ):
        client.get_attribute_list()
    assert caught.value.upstream_status in (500, 503)
    assert len(sandbox.requests()) == 3


def test_latency_below_the_timeout_only_slows_calls(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"latency_ms": 300})
    started = time.monotonic()
    with make_client(sandbox.url, limiter, timeout_s=2) as client:
        assert client.check_connection() > 0
    assert time.monotonic() - started >= 0.3
    assert [r["status"] for r in sandbox.requests()] == [200]


def test_hanging_calls_time_out_and_are_retried_through(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    sandbox.control("PUT", "faults", {"timeout_rate": 0.5, "timeout_ms": 2_000, "seed": 3})
    with make_client(sandbox.url, limiter, timeout_s=0.3, max_attempts=10) as client:
        for _ in range(4):
            assert client.check_connection() > 0


def test_calls_that_always_hang_end_as_a_timeout(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"timeout_rate": 1.0, "timeout_ms": 2_000})
    with (
        make_client(sandbox.url, limiter, timeout_s=0.3, max_attempts=2) as client,
        pytest.raises(TransientError, match="did not answer in time") as caught,
    ):
        client.get_attribute_list()
    assert caught.value.status == 504


def test_injected_429s_are_recorded_and_waited_out(sandbox: Sandbox, sqlite_engine: Engine) -> None:
    """A 429 makes the limiter hold every process back for a whole (here: short) window."""
    limiter = RateLimiter(sqlite_engine, limit=5, window_s=0.3, margin_s=0.05)
    sandbox.control("PUT", "faults", {"rate_429": 0.5, "seed": 11})
    with make_client(sandbox.url, limiter, max_attempts=10) as client:
        for _ in range(3):
            assert client.check_connection() > 0
    throttled = [r for r in sandbox.requests() if r["status"] == 429]
    assert throttled, "the seeded faults did fire"
    assert limiter.throttled_total(bucket_for_api_key(SANDBOX_KEY)) == len(throttled)


def test_always_429_ends_as_transient(sandbox: Sandbox, sqlite_engine: Engine) -> None:
    limiter = RateLimiter(sqlite_engine, limit=5, window_s=0.1, margin_s=0.0)
    sandbox.control("PUT", "faults", {"rate_429": 1.0})
    with (
        make_client(sandbox.url, limiter, max_attempts=3) as client,
        pytest.raises(TransientError, match="kept answering 429"),
    ):
        client.get_attribute_list()


def test_the_limiter_keeps_a_tight_window_free_of_429s(
    sandbox: Sandbox, sqlite_engine: Engine
) -> None:
    sandbox.control("PUT", "limits", {"requests": 5, "window_seconds": 0.5})
    limiter = RateLimiter(sqlite_engine, limit=5, window_s=0.5, margin_s=0.1)
    with make_client(sandbox.url, limiter, max_attempts=1) as client:
        for _ in range(20):
            client.get_attribute_list()
    log = sandbox.requests()
    assert [r["status"] for r in log] == [200] * 20
    assert max_in_any_window([r["time"] for r in log], 0.5) <= 5


def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
