"""The client's requests and its reading of Optimove's answers (over httpx.MockTransport)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from optibridge.domain.attributes import AttributeInfo
from optibridge.optimove.client import CallRecord, OptimoveClient, bucket_for_api_key
from optibridge.optimove.errors import (
    InvalidRequestError,
    NotOptimoveApiError,
    UpsertUnavailableError,
)
from optibridge.optimove.schemas import (
    CustomerAttribute,
    CustomerAttributes,
    CustomerUpdate,
    WriteAccepted,
)

from .fakes import API_KEY, CountingLimiter, Handler, answer, harness, sent_json

ATTRIBUTE_LIST = [
    {"RealFieldName": "Age", "Description": "Customer age"},
    {"RealFieldName": "VIP", "Description": "VIP tier"},
]

# --- URLs and headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://h/current/", "https://h/current/model/GetCustomerAttributeList"),
        ("https://h/current", "https://h/current/model/GetCustomerAttributeList"),
        ("https://api4.optimove.net", "https://api4.optimove.net/model/GetCustomerAttributeList"),
        (" https://h:8443/v2// ", "https://h:8443/v2/model/GetCustomerAttributeList"),
    ],
)
def test_the_base_url_is_a_prefix_as_typed(base_url: str, expected: str) -> None:
    h = harness(answer(200, ATTRIBUTE_LIST), base_url=base_url)
    h.client.get_attribute_list()
    assert str(h.requests[0].url) == expected


def test_reads_send_the_key_and_ask_for_json() -> None:
    h = harness(answer(200, ATTRIBUTE_LIST))
    h.client.get_attribute_list()
    request = h.requests[0]
    assert request.method == "GET"
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.headers["Accept"] == "application/json"
    assert request.content == b""
    assert API_KEY not in str(request.url)


def test_writes_send_json() -> None:
    h = harness(answer(200, {"requestId": "r-1"}))
    h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "gold"})], None)
    request = h.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-API-KEY"] == API_KEY


def test_every_call_takes_a_slot_in_the_keys_bucket() -> None:
    h = harness(answer(200, ATTRIBUTE_LIST))
    h.client.get_attribute_list()
    h.client.check_connection()
    assert h.limiter.buckets == [bucket_for_api_key(API_KEY)] * 2


# --- the attribute list -------------------------------------------------------------------


def test_the_documented_attribute_list_is_read() -> None:
    h = harness(answer(200, ATTRIBUTE_LIST))
    assert h.client.get_attribute_list() == [
        AttributeInfo("Age", "Customer age"),
        AttributeInfo("VIP", "VIP tier"),
    ]


def test_attribute_lists_with_alias_type_odd_casing_and_extra_keys_are_read() -> None:
    body = [
        {"realFieldName": "AGE", "description": None, "alias": "Age", "fieldType": "Bigint"},
        {"REALFIELDNAME": "Tier", "Description": "t", "Whatever": 1, "Alias": None},
    ]
    h = harness(answer(200, body))
    assert h.client.get_attribute_list() == [
        AttributeInfo("AGE", "", "Age", "Bigint"),
        AttributeInfo("Tier", "t"),
    ]


def test_check_connection_counts_the_attributes() -> None:
    assert harness(answer(200, ATTRIBUTE_LIST)).client.check_connection() == 2


def test_an_empty_attribute_list_is_a_valid_answer() -> None:
    assert harness(answer(200, [])).client.check_connection() == 0


# --- one customer ----------------------------------------------------------------------


def test_a_customers_attributes_are_read_with_alias_and_type() -> None:
    body = [
        {"RealFieldName": "AGE", "Alias": "Age", "FieldType": "Bigint", "Value": "-1"},
        {"RealFieldName": "EMAIL", "Alias": "Email", "FieldType": "nvarchar", "Value": None},
    ]
    h = harness(answer(200, body))
    customer = h.client.get_customer_attributes("123")
    assert customer == CustomerAttributes(
        "123",
        (
            CustomerAttribute("AGE", "-1", "Age", "Bigint"),
            CustomerAttribute("EMAIL", None, "Email", "nvarchar"),
        ),
    )
    assert customer.values() == {"AGE": "-1", "EMAIL": None}
    assert str(h.requests[0].url) == "https://api4.optimove.net/current/Customers/123/Attributes"


def test_values_that_are_not_strings_are_read_as_text() -> None:
    body = [
        {"RealFieldName": "AGE", "Value": 42},
        {"RealFieldName": "OPT_IN", "Value": True},
        {"RealFieldName": "SCORE", "Value": 1.5},
    ]
    customer = harness(answer(200, body)).client.get_customer_attributes("1")
    assert customer is not None
    assert customer.values() == {"AGE": "42", "OPT_IN": "true", "SCORE": "1.5"}


def test_customer_ids_are_quoted_in_the_path() -> None:
    h = harness(answer(200, []))
    h.client.get_customer_attributes("a/b c?d#é")
    assert h.requests[0].url.raw_path == b"/current/Customers/a%2Fb%20c%3Fd%23%C3%A9/Attributes"


@pytest.mark.parametrize(
    "not_found",
    [
        answer(404, b"Customer '9' not found.", headers={"content-type": "text/plain"}),
        answer(404, {"Message": "Customer not found"}),
        answer(404),
        answer(400, "Customer '9' not found."),
        answer(400, b"Invalid customer id", headers={"content-type": "text/plain"}),
        answer(200, []),
        answer(200, None),
        answer(200, b"null"),
        answer(200, {"CustomerID": "9", "Attributes": []}),
    ],
)
def test_an_unknown_customer_is_none(not_found: Handler) -> None:
    h = harness(not_found)
    assert h.client.get_customer_attributes("9") is None
    assert len(h.requests) == 1


def test_an_html_404_for_a_customer_means_a_wrong_base_url() -> None:
    h = harness(answer(404, b"<!DOCTYPE html><html><title>Not Found</title></html>"))
    with pytest.raises(NotOptimoveApiError, match="does not look like an Optimove API"):
        h.client.get_customer_attributes("9")


def test_an_empty_customer_id_is_refused_before_any_call() -> None:
    h = harness(answer(200, []))
    with pytest.raises(ValueError, match="empty"):
        h.client.get_customer_attributes("")
    assert h.requests == []


# --- writes ----------------------------------------------------------------------------


def test_an_update_sends_the_documented_body() -> None:
    h = harness(answer(200, {"requestId": "0386a1b2"}))
    accepted = h.client.update_customer_attributes(
        [
            CustomerUpdate("123", {"VIP": "gold", "Age": None}),
            CustomerUpdate("456", {"VIP": "silver"}),
        ],
        "https://bridge.example/callbacks/optimove/10000?token=t",
    )
    assert accepted == WriteAccepted("0386a1b2")
    request = h.requests[0]
    assert (request.method, request.url.path) == (
        "POST",
        "/current/Customers/UpdateCustomerAttributes",
    )
    assert sent_json(request) == {
        "CustomerNewAttributesValuesList": [
            {
                "CustomerID": "123",
                "Attributes": [
                    {"RealFieldName": "VIP", "Value": "gold"},
                    {"RealFieldName": "Age", "Value": None},
                ],
            },
            {"CustomerID": "456", "Attributes": [{"RealFieldName": "VIP", "Value": "silver"}]},
        ],
        "CallbackURL": "https://bridge.example/callbacks/optimove/10000?token=t",
    }


def test_an_update_without_callback_omits_it() -> None:
    h = harness(answer(200, {"requestId": "r-1"}))
    h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "x"})], None)
    assert "CallbackURL" not in sent_json(h.requests[0])


def test_an_update_of_1000_customers_is_sent_but_1001_is_refused() -> None:
    h = harness(answer(200, {"requestId": "r-1"}))
    batch = [CustomerUpdate(str(i), {"VIP": "x"}) for i in range(1001)]
    h.client.update_customer_attributes(batch[:1000], None)
    with pytest.raises(ValueError, match="at most 1000 customers"):
        h.client.update_customer_attributes(batch, None)
    assert len(h.requests) == 1


def test_an_update_of_11_attributes_for_one_customer_is_refused() -> None:
    h = harness(answer(200, {"requestId": "r-1"}))
    attributes = {f"A{i}": "v" for i in range(11)}
    with pytest.raises(ValueError, match="at most 10 attributes"):
        h.client.update_customer_attributes([CustomerUpdate("1", attributes)], None)
    with pytest.raises(ValueError, match="at least one customer"):
        h.client.update_customer_attributes([], None)
    with pytest.raises(ValueError, match="no attributes"):
        h.client.update_customer_attributes([CustomerUpdate("1", {})], None)
    assert h.requests == []


@pytest.mark.parametrize(
    ("status", "body", "request_id"),
    [
        (200, {"requestId": "77e3-aa"}, "77e3-aa"),
        (200, {"RequestId": "77e3-aa", "other": 1}, "77e3-aa"),
        (200, {"request_id": 123456}, "123456"),
        (200, "c0ffee-42", "c0ffee-42"),
        (200, b"c0ffee-42", "c0ffee-42"),
        (202, b"", None),
        (200, b"OK", None),
        (200, b"Accepted", None),
        (200, True, None),
        (200, {"isSuccess": True}, None),
        (200, {"requestId": "has spaces 1"}, None),
    ],
)
def test_the_request_id_is_read_when_the_answer_carries_one(
    status: int, body: object, request_id: str | None
) -> None:
    h = harness(answer(status, body))
    accepted = h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "x"})], None)
    assert accepted.request_id == request_id


def test_an_html_answer_to_a_write_means_a_wrong_base_url() -> None:
    h = harness(answer(200, b"<html><body>Welcome</body></html>"))
    with pytest.raises(NotOptimoveApiError):
        h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "x"})], None)


def test_an_upsert_puts_one_customer_with_optimoves_casing() -> None:
    h = harness(answer(200, {"requestId": "abc-123"}))
    accepted = h.client.upsert_customer("77", {"Email": "a@b.c"}, "https://cb.example/x")
    assert accepted == WriteAccepted("abc-123")
    request = h.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/current/Customers/UpsertCustomer")
    assert sent_json(request) == {
        "CustomerId": "77",
        "Attributes": [{"RealFieldName": "Email", "Value": "a@b.c"}],
        "CallbackUrl": "https://cb.example/x",
    }


@pytest.mark.parametrize(
    ("errors", "said"),
    [
        ([{"error": "INVALID_VALUE", "realFieldName": "AGE"}], "INVALID_VALUE (AGE)"),
        (["Customer id is too long"], "Customer id is too long"),
    ],
)
def test_an_upserts_own_answer_can_refuse_the_customer(errors: list[Any], said: str) -> None:
    """UpsertCustomer reports input errors in its direct answer (reference/optimove.md): the
    write failed, for a reason retrying can't change."""
    h = harness(answer(200, {"requestId": "abc-123", "errors": errors}))
    with pytest.raises(InvalidRequestError) as caught:
        h.client.upsert_customer("77", {"AGE": "old"}, None)
    assert said in caught.value.message
    assert not caught.value.retryable
    assert len(h.requests) == 1


@pytest.mark.parametrize("status", [200, 202])
def test_an_update_answered_200_or_202_is_accepted(status: int) -> None:
    h = harness(answer(status, {"requestId": "abc-123"}))
    accepted = h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "x"})], None)
    assert accepted == WriteAccepted("abc-123")


@pytest.mark.parametrize("status", [404, 405])
def test_an_account_without_upsert_is_told_so(status: int) -> None:
    h = harness(answer(status, {"Message": "No HTTP resource was found"}))
    with pytest.raises(UpsertUnavailableError) as caught:
        h.client.upsert_customer("77", {"Email": "a@b.c"}, None)
    assert "does not offer UpsertCustomer" in caught.value.message
    assert caught.value.upstream_status == status
    assert caught.value.endpoint == "PUT Customers/UpsertCustomer"
    assert len(h.requests) == 1


# --- last data update ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Date": "2024-05-01"}, date(2024, 5, 1)),
        ({"date": "2024-05-01T03:00:00"}, date(2024, 5, 1)),
        ("2024-05-01", date(2024, 5, 1)),
        ({"Date": None}, None),
        ({}, None),
        (b"", None),
    ],
)
def test_the_last_data_update_is_read(body: object, expected: date | None) -> None:
    h = harness(answer(200, body))
    assert h.client.get_last_data_update() == expected
    assert h.requests[0].url.path == "/current/general/GetLastDataUpdate"


@pytest.mark.parametrize("body", [{"Date": "yesterday"}, {"Date": 20240501}, [1, 2]])
def test_a_last_data_update_that_is_not_a_date_is_not_optimove(body: object) -> None:
    with pytest.raises(NotOptimoveApiError):
        harness(answer(200, body)).client.get_last_data_update()


# --- plumbing --------------------------------------------------------------------------------


def test_each_attempt_is_reported_for_metrics() -> None:
    records: list[CallRecord] = []
    statuses = iter([503, 200])

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses), json=ATTRIBUTE_LIST)

    client = OptimoveClient(
        "https://h/",
        API_KEY,
        limiter=CountingLimiter(),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda _: None,
        on_call=records.append,
    )
    client.get_attribute_list()
    assert [(r.endpoint, r.attempt, r.status) for r in records] == [
        ("GET model/GetCustomerAttributeList", 1, 503),
        ("GET model/GetCustomerAttributeList", 2, 200),
    ]
    assert all(r.limiter_wait_s == 0.0 and r.duration_s >= 0 for r in records)


def test_a_client_closes_only_the_http_client_it_created() -> None:
    shared = httpx.Client(transport=httpx.MockTransport(answer(200, [])))
    with OptimoveClient("https://h/", API_KEY, limiter=CountingLimiter(), http=shared) as client:
        client.get_attribute_list()
    assert not shared.is_closed
    shared.close()
    own = OptimoveClient("https://h/", API_KEY, limiter=CountingLimiter())
    own.close()
