"""Errors classified for an administrator, retries with backoff, and no key ever leaked."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import (
    BadCredentialsError,
    InvalidRequestError,
    NotOptimoveApiError,
    OptimoveError,
    TransientError,
    UnreachableError,
)
from optibridge.optimove.schemas import CustomerUpdate
from tests.support import vendor_fakes

from .fakes import API_KEY, BASE_URL, CountingLimiter, Handler, answer, answers, harness

LIST = "GET model/GetCustomerAttributeList"


def refused_connection() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


def unknown_host() -> httpx.ConnectError:
    try:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    except socket.gaierror as cause:
        error = httpx.ConnectError("[Errno -2] Name or service not known")
        error.__cause__ = cause
        return error


# --- classification -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_bad_credentials(status: int) -> None:
    h = harness(answer(status, {"status": status, "error": "Unauthorized", "message": "Bad key"}))
    with pytest.raises(BadCredentialsError) as caught:
        h.client.check_connection()
    error = caught.value
    assert error.message.startswith("Optimove refused the API key")
    assert (error.upstream_status, error.endpoint) == (status, LIST)
    assert f"HTTP {status}" in error.message
    assert error.status == 502
    assert error.code == "optimove_bad_credentials"
    assert not error.retryable
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    ("handler", "found"),
    [
        (answer(404, {"Message": "No HTTP resource was found"}), "answered 404"),
        (answer(404, b"<html><title>404</title></html>"), "answered 404"),
        (answer(200, b"<!doctype html><html><body>Hi</body></html>"), "found an HTML page"),
        (
            answer(200, b"<html>hello</html>", headers={"content-type": "text/html"}),
            "an HTML page",
        ),
        (answer(200, {"attributes": "none"}), "found a JSON object"),
        (answer(200, "a string"), "found a JSON string"),
        (answer(200, b"hello", headers={"content-type": "text/plain"}), "found plain text"),
        (answer(200, b""), "found an empty body"),
        (answer(200, [1, 2]), "expected objects, found a JSON number"),
        (answer(200, [{"Description": "x"}]), "no RealFieldName"),
        (answer(302, headers={"location": "https://login.example/"}), "redirect to https://login"),
    ],
)
def test_a_base_url_that_is_not_optimove_is_told_so(handler: Handler, found: str) -> None:
    h = harness(handler, max_attempts=1)
    with pytest.raises(NotOptimoveApiError) as caught:
        h.client.check_connection()
    assert caught.value.message.startswith("The Base URL does not look like an Optimove API:")
    assert found in caught.value.message
    assert caught.value.endpoint == LIST


@pytest.mark.parametrize(
    ("status", "body", "quoted"),
    [
        (400, b"Missing parameter: CustomerID", "Missing parameter: CustomerID"),
        (400, "Invalid value", "Invalid value"),
        (405, {"Message": "The requested resource does not support POST"}, "does not support"),
        (422, {"errors": [{"message": "bad field"}]}, "bad field"),
        (415, b"", ""),
    ],
)
def test_a_refused_request_is_invalid_with_the_servers_reason(
    status: int, body: object, quoted: str
) -> None:
    h = harness(answer(status, body))
    with pytest.raises(InvalidRequestError) as caught:
        h.client.update_customer_attributes([CustomerUpdate("1", {"VIP": "x"})], None)
    error = caught.value
    assert error.message.startswith(
        f"Optimove rejected POST Customers/UpdateCustomerAttributes (HTTP {status})"
    )
    assert quoted in error.message
    assert not error.retryable
    assert len(h.requests) == 1, "4xx other than 408/429 is not retried"


def test_a_long_or_multiline_reason_is_trimmed_to_one_line() -> None:
    h = harness(answer(400, ("Bad\n\n  thing " * 200).encode()))
    with pytest.raises(InvalidRequestError) as caught:
        h.client.get_attribute_list()
    assert "\n" not in caught.value.message
    assert len(caught.value.message) < 420
    assert "…" in caught.value.message


def test_a_400_about_something_else_than_the_customer_is_invalid() -> None:
    h = harness(answer(400, b"Unsupported API version"))
    with pytest.raises(InvalidRequestError, match="Unsupported API version"):
        h.client.get_customer_attributes("1")


def test_an_unknown_host_is_unreachable_at_once() -> None:
    h = harness(answers(unknown_host()))
    with pytest.raises(UnreachableError) as caught:
        h.client.check_connection()
    assert caught.value.message == (
        f"Could not reach api4.optimove.net ({LIST}): the host name does not resolve."
    )
    assert caught.value.retryable
    assert len(h.requests) == 1


def test_a_refused_connection_is_retried_then_unreachable() -> None:
    h = harness(answers(*[refused_connection() for _ in range(5)]))
    with pytest.raises(UnreachableError) as caught:
        h.client.check_connection()
    assert "connection was refused (after 5 attempts)" in caught.value.message
    assert len(h.requests) == 5


def test_an_invalid_certificate_is_unreachable_at_once() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    error = httpx.ConnectError("certificate verify failed")
    error.__cause__ = cause
    h = harness(answers(error))
    with pytest.raises(UnreachableError, match="TLS certificate is not valid"):
        h.client.check_connection()
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    ("base_url", "key", "error"),
    [
        ("api4.optimove.net", API_KEY, NotOptimoveApiError),
        ("ftp://api4.optimove.net/", API_KEY, NotOptimoveApiError),
        ("https://", API_KEY, NotOptimoveApiError),
        ("https://h/", "  ", BadCredentialsError),
        ("https://h/", "two words", BadCredentialsError),
        ("https://h/", "clé", BadCredentialsError),
    ],
)
def test_settings_that_cannot_work_are_refused_before_any_call(
    base_url: str, key: str, error: type[OptimoveError]
) -> None:
    with pytest.raises(error) as caught:
        OptimoveClient(base_url, key, limiter=CountingLimiter())
    if key.strip():
        assert key not in caught.value.message


def test_a_key_pasted_with_spaces_around_it_is_trimmed() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=[])

    http = httpx.Client(transport=httpx.MockTransport(handler))
    OptimoveClient(
        "https://h/", f"  {API_KEY}\n", limiter=CountingLimiter(), http=http
    ).get_attribute_list()
    assert sent[0].headers["X-API-KEY"] == API_KEY


# --- retries -------------------------------------------------------------------------------


def ok() -> httpx.Response:
    return httpx.Response(200, json=[{"RealFieldName": "Age", "Description": ""}])


@pytest.mark.parametrize(
    "transient",
    [
        lambda: httpx.Response(500, json={"Message": "An error has occurred."}),
        lambda: httpx.Response(502),
        lambda: httpx.Response(503, text="Service Unavailable"),
        lambda: httpx.Response(504),
        lambda: httpx.Response(408),
        lambda: httpx.Response(429, json={"status": 429, "error": "Too Many Requests"}),
        lambda: httpx.ReadTimeout("timed out"),
        lambda: httpx.ConnectTimeout("timed out"),
        lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
        refused_connection,
    ],
)
def test_transient_failures_are_retried_until_success(
    transient: Callable[[], httpx.Response | Exception],
) -> None:
    h = harness(answers(transient(), transient(), ok()))
    assert h.client.check_connection() == 1
    assert len(h.requests) == 3
    assert len(h.limiter.buckets) == 3, "every attempt takes its own slot"
    # …and gives its slot's time back to the limiter once answered or failed, in order.
    assert [slot.stamp_us for slot in h.limiter.answered_slots] == [1, 2, 3]


def test_backoff_is_exponential_with_full_jitter() -> None:
    h = harness(answers(*[httpx.Response(503) for _ in range(7)]), max_attempts=7, jitter=1.0)
    with pytest.raises(TransientError):
        h.client.get_attribute_list()
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # capped at 8 s


def test_jitter_spreads_each_wait_below_its_ceiling() -> None:
    h = harness(answers(*[httpx.Response(503) for _ in range(4)]), max_attempts=4, jitter=0.25)
    with pytest.raises(TransientError):
        h.client.get_attribute_list()
    assert h.sleeps == [0.125, 0.25, 0.5]


def test_giving_up_after_5xx_is_transient_and_says_so() -> None:
    h = harness(answers(*[httpx.Response(503) for _ in range(5)]))
    with pytest.raises(TransientError) as caught:
        h.client.get_attribute_list()
    error = caught.value
    assert error.message == f"Optimove answered HTTP 503 to {LIST} after 5 attempts."
    assert (error.upstream_status, error.status, error.retryable) == (503, 502, True)
    assert error.code == "optimove_unavailable"
    assert len(h.requests) == 5


def test_giving_up_after_timeouts_is_a_504() -> None:
    h = harness(answers(*[httpx.ReadTimeout("timed out") for _ in range(3)]), max_attempts=3)
    with pytest.raises(TransientError) as caught:
        h.client.get_attribute_list()
    assert caught.value.message == f"Optimove did not answer in time to {LIST} after 3 attempts."
    assert caught.value.status == 504


def test_every_429_is_reported_to_the_shared_limiter() -> None:
    h = harness(answers(*[httpx.Response(429) for _ in range(3)]), max_attempts=3)
    with pytest.raises(TransientError, match="kept answering 429"):
        h.client.get_attribute_list()
    assert h.limiter.throttled == 3


def test_a_single_attempt_client_does_not_retry() -> None:
    h = harness(answers(httpx.Response(503)), max_attempts=1)
    with pytest.raises(TransientError, match="after 1 attempt\\."):
        h.client.get_attribute_list()
    assert h.sleeps == []


def test_retry_after_in_seconds_is_honoured() -> None:
    h = harness(answers(httpx.Response(429, headers={"Retry-After": "3"}), ok()))
    h.client.get_attribute_list()
    assert h.sleeps == [3.0]


def test_retry_after_as_a_date_is_honoured() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    h = harness(answers(httpx.Response(503, headers={"Retry-After": later}), ok()))
    h.client.get_attribute_list()
    assert 15 < h.sleeps[0] <= 20


def test_a_client_someone_waits_on_honours_a_retry_after_only_up_to_its_own_cap() -> None:
    client = partial(OptimoveClient, BASE_URL, API_KEY, max_retry_after_s=1.0)
    retry_later = answers(httpx.Response(503, headers={"Retry-After": "30"}), ok())
    h = vendor_fakes.harness(retry_later, client, max_attempts=2, jitter=1.0)
    h.client.get_attribute_list()
    assert h.sleeps == [1.0]


def test_an_absurd_retry_after_is_capped_and_a_garbled_one_ignored() -> None:
    h = harness(
        answers(
            httpx.Response(503, headers={"Retry-After": "86400"}),
            httpx.Response(503, headers={"Retry-After": "soon"}),
            ok(),
        ),
        jitter=1.0,
    )
    h.client.get_attribute_list()
    assert h.sleeps == [60.0, 1.0]


# --- the key never leaks ---------------------------------------------------------------------

LEAKY_ANSWERS: list[Handler] = [
    answer(401, {"message": f"Key {API_KEY} is revoked"}),
    answer(400, f"Bad request for key {API_KEY}".encode()),
    answer(405, f"<html><title>{API_KEY}</title></html>".encode()),
    answers(*[httpx.Response(500, text=API_KEY) for _ in range(5)]),
    answers(*[httpx.ConnectError(f"failed {API_KEY}") for _ in range(5)]),
    answer(200, {"oops": API_KEY}),
]


@pytest.mark.parametrize("handler", LEAKY_ANSWERS)
def test_no_error_ever_contains_the_key(handler: Handler) -> None:
    h = harness(handler)
    with pytest.raises(OptimoveError) as caught:
        h.client.get_attribute_list()
    error = caught.value
    for text in (str(error), repr(error), error.message, str(error.as_body())):
        assert API_KEY not in text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 201, 204, 400, 401, 404, 405, 409, 418, 429, 500, 503]),
    content=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"null",
                b"[]",
                b"{}",
                b"[null]",
                b"[[]]",
                b'""',
                b"0",
                b"\xef\xbb\xbf[]",
                b"<html>",
                b'{"Date": {}}',
                b'[{"RealFieldName": {}}]',
                b'{"requestId": []}',
            ]
        ),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "text/html", ""]),
    call=st.sampled_from(["list", "customer", "update", "upsert", "last_update"]),
)
def test_no_body_ever_crashes_the_client(
    status: int, content: bytes, content_type: str, call: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    h = harness(answer(status, content, headers=headers), max_attempts=2)
    calls: dict[str, Callable[[], object]] = {
        "list": h.client.get_attribute_list,
        "customer": lambda: h.client.get_customer_attributes("1"),
        "update": lambda: h.client.update_customer_attributes(
            [CustomerUpdate("1", {"A": "b"})], None
        ),
        "upsert": lambda: h.client.upsert_customer("1", {"A": "b"}, None),
        "last_update": h.client.get_last_data_update,
    }
    error: OptimoveError | None = None
    try:
        calls[call]()
    except OptimoveError as raised:
        error = raised
    assert error is None or API_KEY not in error.message
