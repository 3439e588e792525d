"""The Optimove sandbox as its own process (`optibridge sandbox optimove`), over real HTTP.

One process serves the module; each test starts from `POST /_sandbox/reset`. Callbacks go to a
small HTTP server the test runs in a thread.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "sandbox-optimove-key"
AUTH = {"X-API-KEY": KEY}
UPDATE = "/Customers/UpdateCustomerAttributes"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = optibridge_command("sandbox", "optimove", "--port", str(port))
    with running_process(argv, ready_url=f"{url}/_sandbox/limits"):
        yield url


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, timeout=10.0) as client:
        assert client.post("/_sandbox/reset").status_code == 200
        yield client


class CallbackServer:
    """A real HTTP endpoint that queues every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/callbacks/optimove/1?t=x"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next(self) -> tuple[str, str, Any]:
        return self.received.get(timeout=5.0)


@pytest.fixture
def callbacks() -> Iterator[CallbackServer]:
    with CallbackServer() as server:
        yield server


def seed(client: httpx.Client, customer_id: str, **values: str | None) -> None:
    assert client.put(f"/_sandbox/customers/{customer_id}", json=values).status_code == 200


def update_body(callback_url: str, *customers: tuple[str, dict[str, str]]) -> Any:
    return {
        "CustomerNewAttributesValuesList": [
            {
                "CustomerID": customer_id,
                "Attributes": [{"RealFieldName": k, "Value": v} for k, v in values.items()],
            }
            for customer_id, values in customers
        ],
        "CallbackURL": callback_url,
    }


def test_sixty_rapid_calls_get_429_after_exactly_fifty_admitted(sandbox: httpx.Client) -> None:
    responses = [sandbox.get("/model/GetCustomerAttributeList", headers=AUTH) for _ in range(60)]

    assert [r.status_code for r in responses] == [200] * 50 + [429] * 10
    refused = responses[-1]
    assert refused.json()["status"] == 429
    assert refused.json()["error"] == "Too Many Requests"
    assert refused.json()["message"].startswith("You have exceeded the rate limit")
    assert "retry-after" not in refused.headers


def test_the_window_frees_up_after_its_length(sandbox: httpx.Client) -> None:
    sandbox.put("/_sandbox/limits", json={"requests": 5, "window_seconds": 1})
    first = [sandbox.get("/general/GetLastDataUpdate", headers=AUTH).status_code for _ in range(6)]

    time.sleep(1.05)
    later = sandbox.get("/general/GetLastDataUpdate", headers=AUTH)

    assert first == [200] * 5 + [429]
    assert later.status_code == 200


def test_the_update_result_is_posted_to_the_callback_url(
    sandbox: httpx.Client, callbacks: CallbackServer
) -> None:
    seed(sandbox, "123", VIP_LEVEL="silver")

    response = sandbox.post(
        UPDATE, json=update_body(callbacks.url, ("123", {"VIP_LEVEL": "gold"})), headers=AUTH
    )
    path, content_type, body = callbacks.next()

    request_id = response.json()["requestId"]
    assert path == "/callbacks/optimove/1?t=x"
    assert content_type == "application/json"
    assert body == {"isSuccess": True, "requestId": request_id}
    assert sandbox.get("/_sandbox/customers/123").json() == {"VIP_LEVEL": "gold"}
    assert sandbox.get("/_sandbox/callbacks").json()[0]["status"] == 204


def test_invalid_customers_fields_and_values_are_reported_in_the_callback(
    sandbox: httpx.Client, callbacks: CallbackServer
) -> None:
    seed(sandbox, "1")
    body = update_body(
        callbacks.url,
        ("1", {"AGE": "forty", "SHOE_SIZE": "42", "COUNTRY": "PT"}),
        ("404", {"COUNTRY": "PT"}),
    )

    request_id = sandbox.post(UPDATE, json=body, headers=AUTH).json()["requestId"]
    _, _, result = callbacks.next()

    assert result["isSuccess"] is False
    assert result["requestId"] == request_id
    assert sorted(result["errors"], key=lambda e: e["error"]) == [
        {"error": "INVALID_CUSTOMER", "customerId": "404", "realFieldName": "COUNTRY"},
        {"error": "INVALID_FIELD", "customerId": "1", "realFieldName": "SHOE_SIZE"},
        {"error": "INVALID_VALUE", "customerId": "1", "realFieldName": "AGE"},
    ]
    assert sandbox.get("/_sandbox/customers/1").json() == {"COUNTRY": "PT"}


def test_an_upsert_calls_back_over_http(sandbox: httpx.Client, callbacks: CallbackServer) -> None:
    body = {
        "CustomerId": "new",
        "Attributes": [{"RealFieldName": "EMAIL", "Value": "a@b.c"}],
        "CallbackUrl": callbacks.url,
    }

    request_id = sandbox.put("/customers/upsertcustomer", json=body, headers=AUTH).json()
    _, _, result = callbacks.next()

    assert result == {"isSuccess": True, "requestId": request_id["requestId"]}
    assert sandbox.get("/_sandbox/customers/new").json() == {"EMAIL": "a@b.c"}


def test_the_upsert_switch_makes_upsert_a_404(sandbox: httpx.Client) -> None:
    sandbox.put("/_sandbox/behaviour", json={"upsert_enabled": False})
    body = {"CustomerId": "new", "Attributes": []}

    response = sandbox.put("/Customers/UpsertCustomer", json=body, headers=AUTH)

    assert response.status_code == 404


def test_batches_over_the_limits_are_refused_with_400(sandbox: httpx.Client) -> None:
    too_many_customers = update_body(
        "http://127.0.0.1:1/", *((str(i), {"COUNTRY": "PT"}) for i in range(1001))
    )
    too_many_attributes = update_body(
        "http://127.0.0.1:1/", ("1", {f"FIELD_{i}": "x" for i in range(11)})
    )

    customers = sandbox.post(UPDATE, json=too_many_customers, headers=AUTH)
    attributes = sandbox.post(UPDATE, json=too_many_attributes, headers=AUTH)

    assert (customers.status_code, attributes.status_code) == (400, 400)
    assert sandbox.get("/_sandbox/writes").json() == []


def test_paths_are_case_insensitive_and_the_key_is_checked(sandbox: httpx.Client) -> None:
    lower = sandbox.get("/model/getcustomerattributelist", headers=AUTH)
    upper = sandbox.get("/current/Model/GetCustomerAttributeList", headers=AUTH)
    keyless = sandbox.get("/model/GetCustomerAttributeList")
    wrong_key = sandbox.get("/model/GetCustomerAttributeList", headers={"X-API-KEY": "nope"})

    assert (lower.status_code, upper.status_code) == (200, 200)
    assert (keyless.status_code, wrong_key.status_code) == (401, 401)
    assert wrong_key.json()["error"] == "Unauthorized"


def test_faults_shape_what_clients_see(sandbox: httpx.Client) -> None:
    sandbox.put("/_sandbox/faults", json={"error_rate": 1.0})
    erroring = sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    sandbox.put("/_sandbox/faults", json={"error_rate": 0.0, "rate_429": 1.0})
    limited = sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    sandbox.put("/_sandbox/faults", json={"rate_429": 0.0, "latency_ms": 250})
    started = time.monotonic()
    slow = sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    elapsed = time.monotonic() - started

    assert erroring.status_code in {500, 503}
    assert limited.status_code == 429
    assert limited.json()["error"] == "Too Many Requests"
    assert slow.status_code == 200
    assert elapsed >= 0.25


def test_a_hang_outlasts_a_client_timeout(sandbox: httpx.Client) -> None:
    sandbox.put("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_ms": 800})

    with pytest.raises(httpx.ReadTimeout):
        sandbox.get("/general/GetLastDataUpdate", headers=AUTH, timeout=0.2)


def test_the_request_log_and_reset(sandbox: httpx.Client) -> None:
    sandbox.get("/Customers/9/Attributes", headers=AUTH)
    log = sandbox.get("/_sandbox/requests").json()
    seed(sandbox, "9")

    sandbox.post("/_sandbox/reset")

    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/Customers/9/Attributes", 404)
    ]
    assert KEY not in json.dumps(log)
    assert sandbox.get("/_sandbox/requests").json() == []
    assert sandbox.get("/_sandbox/customers").json() == {}
