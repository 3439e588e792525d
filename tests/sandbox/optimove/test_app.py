"""The Optimove sandbox in-process: the vendor API it emulates and its /_sandbox/ control surface.

Each test gets a fresh sandbox reached through httpx's ASGI transport; callbacks go to a mock
transport that records them. Settling (apply + callback) is immediate unless a test says not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from optibridge.sandbox.optimove import create_app

pytestmark = pytest.mark.anyio

KEY = "sandbox-optimove-key"
AUTH = {"X-API-KEY": KEY}
CALLBACK_URL = "https://service.test/callbacks/optimove/10000?token=t"
UPDATE = "/Customers/UpdateCustomerAttributes"
UPSERT = "/Customers/UpsertCustomer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CallbackReceiver:
    """Stands in for the service: records every callback the sandbox POSTs."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append((str(request.url), json.loads(request.content)))
        return httpx.Response(self.status)


@pytest.fixture
def receiver() -> CallbackReceiver:
    return CallbackReceiver()


def client_for(app: FastAPI, base_url: str = "http://sandbox") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def sandbox(receiver: CallbackReceiver) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(callback_transport=httpx.MockTransport(receiver.handle))
    async with client_for(app) as client:
        response = await client.put("/_sandbox/faults", json={"callback_delay_ms": 0})
        assert response.status_code == 200
        yield client


async def seed(client: httpx.AsyncClient, customer_id: str, **values: str | None) -> None:
    response = await client.put(f"/_sandbox/customers/{customer_id}", json=values)
    assert response.status_code == 200, response.text


def update_body(*customers: tuple[str, Mapping[str, str | None]], callback: bool = True) -> Any:
    body: dict[str, Any] = {
        "CustomerNewAttributesValuesList": [
            {
                "CustomerID": customer_id,
                "Attributes": [{"RealFieldName": k, "Value": v} for k, v in values.items()],
            }
            for customer_id, values in customers
        ]
    }
    if callback:
        body["CallbackURL"] = CALLBACK_URL
    return body


async def settled(client: httpx.AsyncClient, request_id: str) -> Any:
    """The result of an accepted write once the sandbox has applied it and called back."""
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for write in (await client.get("/_sandbox/writes")).json():
            if write["request_id"] == request_id and write["settled"] is not None:
                return write["result"]
        await asyncio.sleep(0.01)
    raise AssertionError(f"write {request_id} never settled")


async def write_and_settle(client: httpx.AsyncClient, method: str, path: str, body: Any) -> Any:
    response = await client.request(method, path, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return await settled(client, response.json()["requestId"])


async def stored(client: httpx.AsyncClient, customer_id: str) -> Any:
    return (await client.get(f"/_sandbox/customers/{customer_id}")).json()


# --- authentication ---------------------------------------------------------------------------


async def test_a_call_without_an_api_key_is_refused_with_a_json_401(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get("/model/GetCustomerAttributeList")

    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert response.json()["error"] == "Unauthorized"


async def test_a_wrong_api_key_is_refused_and_never_echoed(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get(
        "/model/GetCustomerAttributeList", headers={"X-API-KEY": "guess-me-123"}
    )

    assert response.status_code == 401
    assert "guess-me-123" not in response.text


async def test_replacing_the_keys_revokes_the_old_one(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/keys", json=["key-a", "key-b"])

    old = await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)
    new = await sandbox.get("/model/GetCustomerAttributeList", headers={"X-API-KEY": "key-b"})

    assert (old.status_code, new.status_code) == (401, 200)


# --- reads ------------------------------------------------------------------------------------


async def test_the_attribute_list_has_the_documented_shape(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)

    assert response.status_code == 200
    attributes = response.json()
    assert {"RealFieldName": "AGE", "Description": "Customer age"} in attributes
    assert all(set(a) == {"RealFieldName", "Description"} for a in attributes)


async def test_a_customer_read_lists_every_attribute_with_string_or_null_values(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed(sandbox, "123", FIRST_NAME="Ada", AGE="36")

    response = await sandbox.get("/Customers/123/Attributes", headers=AUTH)

    assert response.status_code == 200
    by_name = {a["RealFieldName"]: a for a in response.json()}
    assert by_name["AGE"] == {
        "RealFieldName": "AGE",
        "Alias": "Age",
        "FieldType": "Bigint",
        "Value": "36",
    }
    assert by_name["FIRST_NAME"]["Value"] == "Ada"
    assert by_name["EMAIL"]["Value"] is None
    assert len(by_name) == len((await sandbox.get("/_sandbox/attributes")).json())


@pytest.mark.parametrize(
    "path",
    [
        "/Customers/Abc-1/Attributes",
        "/customers/Abc-1/attributes",
        "/CUSTOMERS/Abc-1/ATTRIBUTES",
        "/current/Customers/Abc-1/Attributes",
        "/Current/customers/Abc-1/Attributes/",
    ],
)
async def test_fixed_path_segments_are_case_insensitive(
    sandbox: httpx.AsyncClient, path: str
) -> None:
    await seed(sandbox, "Abc-1", FIRST_NAME="Ada")

    response = await sandbox.get(path, headers=AUTH)

    assert response.status_code == 200


async def test_customer_ids_in_paths_keep_their_case(sandbox: httpx.AsyncClient) -> None:
    await seed(sandbox, "Abc-1", FIRST_NAME="Ada")

    response = await sandbox.get("/Customers/ABC-1/Attributes", headers=AUTH)

    assert response.status_code == 404


async def test_an_unknown_customer_is_a_plain_text_404_by_default(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get("/Customers/nobody/Attributes", headers=AUTH)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Customer 'nobody' not found."


async def test_an_unknown_customer_can_be_a_400_with_a_bare_json_string(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/behaviour", json={"unknown_customer": "400"})

    response = await sandbox.get("/Customers/nobody/Attributes", headers=AUTH)

    assert response.status_code == 400
    assert response.json() == "Invalid CustomerID 'nobody'."


async def test_an_unknown_customer_can_be_an_empty_list(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/behaviour", json={"unknown_customer": "empty"})

    response = await sandbox.get("/Customers/nobody/Attributes", headers=AUTH)

    assert (response.status_code, response.json()) == (200, [])


async def test_last_data_update_is_yesterday_unless_set(sandbox: httpx.AsyncClient) -> None:
    default = await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    await sandbox.put("/_sandbox/behaviour", json={"last_data_update": "2024-05-31"})
    configured = await sandbox.get("/General/getLastDataUpdate", headers=AUTH)

    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))
    assert default.json() == {"Date": yesterday}
    assert configured.json() == {"Date": "2024-05-31"}


async def test_an_unknown_path_is_404(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get("/Customers/GetEverything", headers=AUTH)

    assert response.status_code == 404
    assert "No HTTP resource" in response.json()["Message"]


async def test_a_wrong_verb_on_a_known_path_is_405_naming_the_right_one(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get(UPDATE, headers=AUTH)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# --- UpdateCustomerAttributes -----------------------------------------------------------------


async def test_an_update_answers_a_request_id_then_applies_and_calls_back_success(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await seed(sandbox, "123", VIP_LEVEL="silver")

    response = await sandbox.post(
        UPDATE, json=update_body(("123", {"VIP_LEVEL": "gold"})), headers=AUTH
    )

    request_id = response.json()["requestId"]
    assert await settled(sandbox, request_id) == {"isSuccess": True, "requestId": request_id}
    assert (await stored(sandbox, "123"))["VIP_LEVEL"] == "gold"
    assert receiver.received == [(CALLBACK_URL, {"isSuccess": True, "requestId": request_id})]


async def test_an_update_is_applied_only_after_the_callback_delay(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await seed(sandbox, "123", VIP_LEVEL="silver")
    await sandbox.put("/_sandbox/faults", json={"callback_delay_ms": 300})

    started = time.monotonic()
    response = await sandbox.post(
        UPDATE, json=update_body(("123", {"VIP_LEVEL": "gold"})), headers=AUTH
    )
    before = (await stored(sandbox, "123"))["VIP_LEVEL"]
    await settled(sandbox, response.json()["requestId"])

    assert before == "silver"  # answered first, applied later
    assert (await stored(sandbox, "123"))["VIP_LEVEL"] == "gold"
    assert time.monotonic() - started >= 0.3
    assert len(receiver.received) == 1


async def test_an_update_never_creates_a_customer(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    result = await write_and_settle(
        sandbox, "POST", UPDATE, update_body(("999", {"VIP_LEVEL": "gold"}))
    )

    assert result["isSuccess"] is False
    assert result["errors"] == [
        {"error": "INVALID_CUSTOMER", "customerId": "999", "realFieldName": "VIP_LEVEL"}
    ]
    assert "999" not in (await sandbox.get("/_sandbox/customers")).json()
    assert receiver.received[0][1] == result


async def test_an_attribute_not_in_the_list_is_an_invalid_field(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed(sandbox, "123")

    result = await write_and_settle(
        sandbox, "POST", UPDATE, update_body(("123", {"SHOE_SIZE": "42"}))
    )

    assert result["errors"] == [
        {"error": "INVALID_FIELD", "customerId": "123", "realFieldName": "SHOE_SIZE"}
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("AGE", "12.5"),
        ("AGE", "forty"),
        ("AGE", "99999999999999999999"),
        ("BALANCE", "1,5"),
        ("BALANCE", "NaN"),
        ("DATE_OF_BIRTH", "1990-02-30"),
        ("DATE_OF_BIRTH", "02/01/1990"),
        ("DATE_OF_BIRTH", "1990-02-01T10:00:00"),
        ("OPT_IN_EMAIL", "yes"),
    ],
)
async def test_a_value_that_does_not_fit_the_field_type_is_an_invalid_value(
    sandbox: httpx.AsyncClient, field: str, value: str
) -> None:
    await seed(sandbox, "123")

    result = await write_and_settle(sandbox, "POST", UPDATE, update_body(("123", {field: value})))

    assert result["errors"] == [
        {"error": "INVALID_VALUE", "customerId": "123", "realFieldName": field}
    ]
    assert (await stored(sandbox, "123")).get(field) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("AGE", "-3"),
        ("AGE", "+40"),
        ("BALANCE", "12.50"),
        ("BALANCE", "-0.5e3"),
        ("DATE_OF_BIRTH", "2000-02-29"),
        ("OPT_IN_EMAIL", "1"),
        ("FIRST_NAME", "anything at all"),
        ("AGE", None),
    ],
)
async def test_a_value_that_fits_the_field_type_is_stored_as_sent(
    sandbox: httpx.AsyncClient, field: str, value: str | None
) -> None:
    await seed(sandbox, "123", AGE="1")

    result = await write_and_settle(sandbox, "POST", UPDATE, update_body(("123", {field: value})))

    assert result["isSuccess"] is True
    assert (await stored(sandbox, "123"))[field] == value


async def test_valid_parts_of_an_update_are_applied_and_invalid_ones_reported(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed(sandbox, "1")
    body = update_body(
        ("1", {"VIP_LEVEL": "gold", "AGE": "old", "NOPE": "x"}),
        ("2", {"VIP_LEVEL": "gold"}),
    )

    result = await write_and_settle(sandbox, "POST", UPDATE, body)

    assert {(e["error"], e["customerId"], e["realFieldName"]) for e in result["errors"]} == {
        ("INVALID_VALUE", "1", "AGE"),
        ("INVALID_FIELD", "1", "NOPE"),
        ("INVALID_CUSTOMER", "2", "VIP_LEVEL"),
    }
    assert await stored(sandbox, "1") == {"VIP_LEVEL": "gold"}


async def test_an_update_without_a_callback_url_is_applied_silently(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await seed(sandbox, "123")

    result = await write_and_settle(
        sandbox, "POST", UPDATE, update_body(("123", {"COUNTRY": "PT"}), callback=False)
    )

    assert result["isSuccess"] is True
    assert (await stored(sandbox, "123"))["COUNTRY"] == "PT"
    assert receiver.received == []


async def test_an_update_of_1000_customers_is_accepted(sandbox: httpx.AsyncClient) -> None:
    body = update_body(*((str(i), {"COUNTRY": "PT"}) for i in range(1000)))

    response = await sandbox.post(UPDATE, json=body, headers=AUTH)

    assert response.status_code == 200


async def test_an_update_of_1001_customers_is_refused_with_400(sandbox: httpx.AsyncClient) -> None:
    body = update_body(*((str(i), {"COUNTRY": "PT"}) for i in range(1001)))

    response = await sandbox.post(UPDATE, json=body, headers=AUTH)

    assert response.status_code == 400
    assert "1001 customers" in response.text
    assert (await sandbox.get("/_sandbox/writes")).json() == []


async def test_ten_attributes_for_one_customer_are_accepted(sandbox: httpx.AsyncClient) -> None:
    names = ["FIRST_NAME", "LAST_NAME", "EMAIL", "PHONE", "COUNTRY"]
    names += ["VIP_LEVEL", "DATE_OF_BIRTH", "AGE", "BALANCE", "LAST_CONTACT_CHANNEL"]

    response = await sandbox.post(
        UPDATE, json=update_body(("1", dict.fromkeys(names))), headers=AUTH
    )

    assert response.status_code == 200


async def test_eleven_attributes_for_one_customer_are_refused_with_400(
    sandbox: httpx.AsyncClient,
) -> None:
    values: dict[str, str | None] = {f"FIELD_{i}": "x" for i in range(11)}

    response = await sandbox.post(UPDATE, json=update_body(("1", values)), headers=AUTH)

    assert response.status_code == 400
    assert "11 attributes" in response.text


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({}, "CustomerNewAttributesValuesList"),
        ([], "JSON object"),
        ({"CustomerNewAttributesValuesList": []}, "must not be empty"),
        ({"CustomerNewAttributesValuesList": {}}, "JSON array"),
        ({"CustomerNewAttributesValuesList": [{"Attributes": []}]}, "CustomerID"),
        (
            {"CustomerNewAttributesValuesList": [{"CustomerID": 5, "Attributes": []}]},
            "CustomerID must be a non-empty string",
        ),
        (
            {"CustomerNewAttributesValuesList": [{"CustomerID": "5", "Attributes": []}]},
            "must not be empty",
        ),
        (
            {
                "CustomerNewAttributesValuesList": [
                    {"CustomerID": "5", "Attributes": [{"RealFieldName": "AGE", "Value": 5}]}
                ]
            },
            "Value must be a string or null",
        ),
        (
            {
                "CustomerNewAttributesValuesList": [
                    {"CustomerID": "5", "Attributes": [{"RealFieldName": "AGE"}]}
                ]
            },
            "Value",
        ),
        (
            {
                "CustomerNewAttributesValuesList": [
                    {"CustomerId": "5", "Attributes": [{"RealFieldName": "AGE", "Value": "1"}]}
                ]
            },
            "unknown properties ['CustomerId']",
        ),
        (
            {
                "CustomerNewAttributesValuesList": [
                    {"CustomerID": "5", "Attributes": [{"RealFieldName": "AGE", "Value": "1"}]}
                ],
                "CallbackURL": "/relative/path",
            },
            "CallbackURL must be an absolute http(s) URL",
        ),
    ],
)
async def test_an_ill_formed_update_is_refused_with_a_400_saying_what_is_wrong(
    sandbox: httpx.AsyncClient, body: Any, complaint: str
) -> None:
    response = await sandbox.post(UPDATE, json=body, headers=AUTH)

    assert response.status_code == 400
    assert complaint in response.text


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b'{"CustomerNewAttributesValuesList": NaN}', b"\xff\xfe{"]
)
async def test_an_unparseable_update_body_is_refused_with_400(
    sandbox: httpx.AsyncClient, content: bytes
) -> None:
    response = await sandbox.post(
        UPDATE, content=content, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.text


async def test_an_update_that_is_not_sent_as_json_is_refused_with_415(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.post(
        UPDATE, content=json.dumps(update_body(("1", {"AGE": "1"}))), headers=AUTH
    )

    assert response.status_code == 415


async def test_a_failing_callback_target_is_recorded_and_harms_nothing(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await seed(sandbox, "123")
    receiver.status = 500

    await write_and_settle(sandbox, "POST", UPDATE, update_body(("123", {"COUNTRY": "PT"})))
    callbacks = (await sandbox.get("/_sandbox/callbacks")).json()

    assert [(c["url"], c["status"], c["error"]) for c in callbacks] == [(CALLBACK_URL, 500, None)]
    assert (await sandbox.get("/_sandbox/customers/123")).json()["COUNTRY"] == "PT"


async def test_an_unreachable_callback_target_is_recorded_as_an_error() -> None:
    async with client_for(create_app()) as client:
        await client.put("/_sandbox/faults", json={"callback_delay_ms": 0})
        await seed(client, "123")
        body = update_body(("123", {"COUNTRY": "PT"}))
        body["CallbackURL"] = "http://127.0.0.1:1/unreachable"

        await write_and_settle(client, "POST", UPDATE, body)
        callbacks = (await client.get("/_sandbox/callbacks")).json()

    assert callbacks[0]["status"] is None
    assert callbacks[0]["error"]


async def test_a_dropped_callback_is_never_sent_but_the_change_is_applied(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await seed(sandbox, "123")
    await sandbox.put("/_sandbox/faults", json={"callback_drop_rate": 1.0})

    await write_and_settle(sandbox, "POST", UPDATE, update_body(("123", {"COUNTRY": "PT"})))

    assert receiver.received == []
    assert (await stored(sandbox, "123"))["COUNTRY"] == "PT"
    assert (await sandbox.get("/_sandbox/callbacks")).json()[0]["dropped"] is True


# --- UpsertCustomer ---------------------------------------------------------------------------


def upsert_body(customer_id: str, **values: str | None) -> Any:
    attributes = [{"RealFieldName": k, "Value": v} for k, v in values.items()]
    return {"CustomerId": customer_id, "Attributes": attributes, "CallbackUrl": CALLBACK_URL}


async def test_an_upsert_creates_a_missing_customer(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    result = await write_and_settle(sandbox, "PUT", UPSERT, upsert_body("new-1", EMAIL="a@b.c"))

    assert result["isSuccess"] is True
    assert await stored(sandbox, "new-1") == {"EMAIL": "a@b.c"}
    assert receiver.received == [(CALLBACK_URL, result)]


async def test_an_upsert_updates_an_existing_customer_keeping_other_attributes(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed(sandbox, "7", FIRST_NAME="Ada", EMAIL="old@b.c")

    await write_and_settle(sandbox, "PUT", UPSERT, upsert_body("7", EMAIL="new@b.c"))

    assert await stored(sandbox, "7") == {"FIRST_NAME": "Ada", "EMAIL": "new@b.c"}


async def test_an_upsert_reports_an_unknown_field(sandbox: httpx.AsyncClient) -> None:
    result = await write_and_settle(
        sandbox, "PUT", UPSERT, upsert_body("7", EMAIL="a@b.c", SHOE_SIZE="42")
    )

    assert result["errors"] == [
        {"error": "INVALID_FIELD", "customerId": "7", "realFieldName": "SHOE_SIZE"}
    ]
    assert await stored(sandbox, "7") == {"EMAIL": "a@b.c"}


async def test_an_upsert_with_eleven_attributes_is_refused_with_400(
    sandbox: httpx.AsyncClient,
) -> None:
    body = upsert_body("7", **{f"FIELD_{i}": "x" for i in range(11)})

    response = await sandbox.put(UPSERT, json=body, headers=AUTH)

    assert response.status_code == 400


async def test_an_upsert_with_the_update_casing_is_refused_with_400(
    sandbox: httpx.AsyncClient,
) -> None:
    body = {"CustomerID": "7", "Attributes": [], "CallbackURL": CALLBACK_URL}

    response = await sandbox.put(UPSERT, json=body, headers=AUTH)

    assert response.status_code == 400
    assert "CustomerID" in response.text


async def test_an_account_without_upsert_answers_404_like_an_unknown_path(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/behaviour", json={"upsert_enabled": False})

    response = await sandbox.put(UPSERT, json=upsert_body("7", EMAIL="a@b.c"), headers=AUTH)

    assert response.status_code == 404
    assert response.json()["Message"].startswith("No HTTP resource was found")
    assert "7" not in (await sandbox.get("/_sandbox/customers")).json()


# --- the rate limit ---------------------------------------------------------------------------


async def test_calls_over_the_limit_get_the_documented_429_without_retry_after(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 3, "window_seconds": 10})

    statuses = []
    for _ in range(5):
        response = await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
        statuses.append(response.status_code)

    assert statuses == [200, 200, 200, 429, 429]
    assert response.json()["status"] == 429
    assert response.json()["error"] == "Too Many Requests"
    assert response.json()["message"].startswith("You have exceeded the rate limit")
    assert "retry-after" not in response.headers


async def test_the_window_slides_so_calls_are_admitted_again_later(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 2, "window_seconds": 0.3})
    for _ in range(2):
        await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)

    refused = await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    await asyncio.sleep(0.35)
    admitted = await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)

    assert (refused.status_code, admitted.status_code) == (429, 200)


async def test_refused_calls_do_not_count_against_the_window(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 2, "window_seconds": 0.4})
    for _ in range(2):
        assert (await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)).status_code == 200
    await asyncio.sleep(0.2)
    for _ in range(2):
        assert (await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)).status_code == 429

    await asyncio.sleep(0.25)  # the admitted calls left the window; the refused ones never counted
    response = await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)

    assert response.status_code == 200


async def test_each_api_key_has_its_own_window(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/keys", json=["key-a", "key-b"])
    await sandbox.put("/_sandbox/limits", json={"requests": 1})
    await sandbox.get("/general/GetLastDataUpdate", headers={"X-API-KEY": "key-a"})

    a = await sandbox.get("/general/GetLastDataUpdate", headers={"X-API-KEY": "key-a"})
    b = await sandbox.get("/general/GetLastDataUpdate", headers={"X-API-KEY": "key-b"})

    assert (a.status_code, b.status_code) == (429, 200)


async def test_the_key_is_checked_before_the_limit(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 1})
    await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)

    response = await sandbox.get("/general/GetLastDataUpdate", headers={"X-API-KEY": "wrong"})

    assert response.status_code == 401


# --- faults -----------------------------------------------------------------------------------


async def test_an_error_rate_of_one_answers_every_call_with_a_5xx(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/faults", json={"error_rate": 1.0})

    statuses = {
        (await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)).status_code
        for _ in range(20)
    }

    assert statuses <= {500, 503}
    assert statuses


async def test_a_429_rate_of_one_answers_the_documented_429_whatever_the_window(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/faults", json={"rate_429": 1.0})

    response = await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)

    assert response.status_code == 429
    assert response.json()["error"] == "Too Many Requests"
    assert response.json()["message"].startswith("You have exceeded the rate limit")


async def test_latency_delays_every_answer(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"latency_ms": 200})

    started = time.monotonic()
    response = await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_a_timeout_hangs_for_timeout_ms_then_answers(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_ms": 300})

    started = time.monotonic()
    response = await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


async def test_a_client_timeout_is_what_a_caller_sees_during_a_hang(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_ms": 5000})

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)


async def test_seeded_faults_repeat(sandbox: httpx.AsyncClient) -> None:
    async def statuses() -> list[int]:
        await sandbox.put("/_sandbox/faults", json={"error_rate": 0.5, "seed": 7})
        return [
            (await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)).status_code
            for _ in range(20)
        ]

    first, second = await statuses(), await statuses()

    assert first == second
    assert 200 in first
    assert set(first) - {200}


async def test_a_partial_faults_body_changes_only_the_keys_given(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/faults", json={"latency_ms": 5, "error_rate": 0.25})

    faults = (await sandbox.put("/_sandbox/faults", json={"error_rate": 0.5})).json()

    assert faults["latency_ms"] == 5
    assert faults["error_rate"] == 0.5
    assert faults["timeout_ms"] == 30_000


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"error_rate": 1.5}, "/error_rate"),
        ({"rate_429": -0.1}, "/rate_429"),
        ({"latency_ms": -1}, "/latency_ms"),
        ({"timeout_ms": "soon"}, "/timeout_ms"),
        ({"callback_delay_ms": None}, "/callback_delay_ms"),
        ({"surprise": 1}, "/surprise"),
    ],
)
async def test_bad_faults_are_refused_with_422_naming_the_field(
    sandbox: httpx.AsyncClient, body: Any, named: str
) -> None:
    response = await sandbox.put("/_sandbox/faults", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert named in [d["pointer"] for d in error["details"]]
    assert (await sandbox.get("/_sandbox/faults")).json()["error_rate"] == 0.0


async def test_the_control_surface_is_never_faulted_limited_or_logged(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 1})
    await sandbox.put("/_sandbox/faults", json={"error_rate": 1.0, "rate_429": 1.0})

    statuses = {(await sandbox.get("/_sandbox/customers")).status_code for _ in range(5)}

    assert statuses == {200}
    assert (await sandbox.get("/_sandbox/requests")).json() == []


# --- the request log --------------------------------------------------------------------------


async def test_the_request_log_records_calls_without_the_key(sandbox: httpx.AsyncClient) -> None:
    await seed(sandbox, "123")
    before = time.time()
    body = update_body(("123", {"COUNTRY": "PT"}))

    await sandbox.get("/Customers/123/Attributes", headers=AUTH)
    accepted = await sandbox.post(UPDATE, json=body, headers=AUTH)
    await sandbox.get("/model/GetCustomerAttributeList")
    log = (await sandbox.get("/_sandbox/requests")).json()

    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/Customers/123/Attributes", 200),
        ("POST", UPDATE, 200),
        ("GET", "/model/GetCustomerAttributeList", 401),
    ]
    assert log[0]["body"] is None
    assert log[1]["body"] == body
    assert log[1]["request_id"] == accepted.json()["requestId"]
    assert all(before <= e["time"] <= time.time() for e in log)
    assert KEY not in json.dumps(log)


async def test_the_request_log_can_be_read_since_a_time_and_cleared(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)
    since = time.time()
    await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)

    recent = (await sandbox.get("/_sandbox/requests", params={"since": since})).json()
    cleared = await sandbox.delete("/_sandbox/requests")

    assert [e["path"] for e in recent] == ["/model/GetCustomerAttributeList"]
    assert cleared.status_code == 204
    assert (await sandbox.get("/_sandbox/requests")).json() == []


# --- the control surface ----------------------------------------------------------------------


async def test_customers_can_be_seeded_read_listed_and_removed(sandbox: httpx.AsyncClient) -> None:
    await seed(sandbox, "1", FIRST_NAME="Ada", EMAIL=None)
    await seed(sandbox, "2", FIRST_NAME="Bob")
    await seed(sandbox, "1", LAST_NAME="Lovelace")  # PUT replaces

    listed = (await sandbox.get("/_sandbox/customers")).json()
    removed = await sandbox.delete("/_sandbox/customers/2")
    gone = await sandbox.get("/_sandbox/customers/2")

    assert listed == {"1": {"LAST_NAME": "Lovelace"}, "2": {"FIRST_NAME": "Bob"}}
    assert removed.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_seeding_an_attribute_the_account_lacks_is_refused_with_422(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.put("/_sandbox/customers/1", json={"SHOE_SIZE": "42"})

    assert response.status_code == 422
    assert "SHOE_SIZE" in response.json()["error"]["message"]


async def test_seeding_a_value_that_is_not_a_string_is_refused_with_422(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.put("/_sandbox/customers/1", json={"AGE": 36})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["pointer"] == "/AGE"


async def test_the_attribute_list_can_be_replaced(sandbox: httpx.AsyncClient) -> None:
    attributes = [
        {"RealFieldName": "TIER", "Alias": "Tier", "FieldType": "Int", "Description": "Tier"},
        {"RealFieldName": "NICK", "FieldType": "Nvarchar(5)"},
    ]
    await sandbox.put("/_sandbox/attributes", json=attributes)
    await seed(sandbox, "1", TIER="3")

    listed = (await sandbox.get("/model/GetCustomerAttributeList", headers=AUTH)).json()
    customer = (await sandbox.get("/Customers/1/Attributes", headers=AUTH)).json()
    too_long = await write_and_settle(
        sandbox, "POST", UPDATE, update_body(("1", {"NICK": "abcdef"}))
    )

    assert listed == [
        {"RealFieldName": "TIER", "Description": "Tier"},
        {"RealFieldName": "NICK", "Description": ""},
    ]
    assert customer[1] == {
        "RealFieldName": "NICK",
        "Alias": "NICK",
        "FieldType": "Nvarchar(5)",
        "Value": None,
    }
    assert too_long["errors"][0]["error"] == "INVALID_VALUE"


async def test_an_attribute_list_with_a_duplicate_name_is_refused_with_422(
    sandbox: httpx.AsyncClient,
) -> None:
    attribute = {"RealFieldName": "TIER", "FieldType": "Int"}

    response = await sandbox.put("/_sandbox/attributes", json=[attribute, attribute])

    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"pointer": "/1/RealFieldName", "message": "duplicate"}
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sandbox/limits", {"requests": 0}),
        ("/_sandbox/limits", {"window_seconds": -1}),
        ("/_sandbox/keys", ["ok", ""]),
        ("/_sandbox/keys", {"keys": ["ok"]}),
        ("/_sandbox/behaviour", {"unknown_customer": "500"}),
        ("/_sandbox/behaviour", {"upsert_enabled": "yes"}),
        ("/_sandbox/behaviour", {"last_data_update": "31/05/2024"}),
    ],
)
async def test_bad_control_input_is_refused_with_422(
    sandbox: httpx.AsyncClient, path: str, body: Any
) -> None:
    response = await sandbox.put(path, json=body)

    assert response.status_code == 422
    assert set(response.json()["error"]) == {"code", "message", "details"}


async def test_unparseable_control_input_is_refused_with_400(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.put(
        "/_sandbox/limits", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"


async def test_an_unknown_control_route_is_404_and_a_wrong_verb_405(
    sandbox: httpx.AsyncClient,
) -> None:
    unknown = await sandbox.get("/_sandbox/nothing")
    wrong_verb = await sandbox.post("/_sandbox/customers/1")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert wrong_verb.status_code == 405
    assert wrong_verb.headers["allow"] == "DELETE, GET, PUT"


async def test_reset_brings_back_the_defaults(sandbox: httpx.AsyncClient) -> None:
    await seed(sandbox, "1", FIRST_NAME="Ada")
    await sandbox.put("/_sandbox/keys", json=["other"])
    await sandbox.put("/_sandbox/limits", json={"requests": 1, "window_seconds": 1})
    await sandbox.put("/_sandbox/faults", json={"error_rate": 1.0})
    await sandbox.put("/_sandbox/behaviour", json={"upsert_enabled": False})
    await sandbox.put("/_sandbox/attributes", json=[{"RealFieldName": "X", "FieldType": "Int"}])
    await sandbox.get("/general/GetLastDataUpdate", headers={"X-API-KEY": "other"})

    response = await sandbox.post("/_sandbox/reset")

    assert response.status_code == 200
    assert (await sandbox.get("/_sandbox/customers")).json() == {}
    assert (await sandbox.get("/_sandbox/requests")).json() == []
    assert (await sandbox.get("/_sandbox/keys")).json() == [KEY]
    assert (await sandbox.get("/_sandbox/limits")).json() == {"requests": 50, "window_seconds": 10}
    faults = (await sandbox.get("/_sandbox/faults")).json()
    assert faults["error_rate"] == 0.0
    assert faults["callback_delay_ms"] == 200
    assert (await sandbox.get("/_sandbox/behaviour")).json() == {
        "unknown_customer": "404",
        "upsert_enabled": True,
        "last_data_update": None,
    }
    names = {a["RealFieldName"] for a in (await sandbox.get("/_sandbox/attributes")).json()}
    assert {"FIRST_NAME", "EMAIL", "VIP_LEVEL", "DATE_OF_BIRTH", "AGE", "BALANCE"} <= names
    assert (await sandbox.get("/general/GetLastDataUpdate", headers=AUTH)).status_code == 200


async def test_reset_abandons_writes_not_yet_settled(
    sandbox: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await sandbox.put("/_sandbox/faults", json={"callback_delay_ms": 100})
    await seed(sandbox, "1")
    await sandbox.post(UPDATE, json=update_body(("1", {"COUNTRY": "PT"})), headers=AUTH)

    await sandbox.post("/_sandbox/reset")
    await seed(sandbox, "1")
    await asyncio.sleep(0.2)

    assert await stored(sandbox, "1") == {}
    assert receiver.received == []


async def test_each_app_has_its_own_state() -> None:
    async with client_for(create_app()) as first, client_for(create_app()) as second:
        await seed(first, "1", FIRST_NAME="Ada")

        assert (await second.get("/_sandbox/customers")).json() == {}


async def test_the_sandbox_works_mounted_under_a_prefix() -> None:
    outer = FastAPI()
    outer.mount("/sandbox/optimove", create_app())
    async with client_for(outer, base_url="http://demo/sandbox/optimove/") as client:
        await seed(client, "Abc", FIRST_NAME="Ada")

        read = await client.get("current/customers/Abc/attributes", headers=AUTH)
        missing = await client.get("customers/abc/Attributes", headers=AUTH)
        wrong_verb = await client.delete("_sandbox/keys")
        log = (await client.get("_sandbox/requests")).json()

    assert read.status_code == 200
    assert missing.status_code == 404
    assert wrong_verb.status_code == 405
    assert [e["path"] for e in log] == [
        "/current/customers/Abc/attributes",
        "/customers/abc/Attributes",
    ]
