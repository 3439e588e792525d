"""Retries, timeouts and the classification of failures; the key never leaks."""

from __future__ import annotations

import base64
import socket

import httpx
import pytest

from optibridge.comm100.client import CallRecord, Comm100Client
from optibridge.comm100.errors import (
    BadCredentialsError,
    Comm100Error,
    InvalidRequestError,
    NotComm100ApiError,
    TransientError,
    UnreachableError,
)

from .fakes import API_KEY, CountingLimiter, answer, answers, harness

FIELDS = [{"id": "f", "name": "name", "isSystem": True}]


def ok() -> httpx.Response:
    return httpx.Response(200, json=FIELDS)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    h = harness(answers(httpx.Response(status), httpx.Response(status), ok()))
    assert h.client.check_connection() == 1
    assert len(h.requests) == 3
    assert len(h.limiter.buckets) == 3  # every attempt takes its own slot


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    h = harness(answer(503), max_attempts=4, jitter=0.5)
    with pytest.raises(TransientError):
        h.client.check_connection()
    assert h.sleeps == [0.25, 0.5, 1.0]


def test_retry_after_is_honoured_and_capped() -> None:
    h = harness(
        answers(
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "3600"}),
            ok(),
        )
    )
    h.client.check_connection()
    assert h.sleeps == [3.0, 60.0]
    assert h.limiter.throttled == 2


def test_a_persistent_429_is_transient_and_says_so() -> None:
    h = harness(answer(429), max_attempts=2)
    with pytest.raises(TransientError, match="kept answering 429") as caught:
        h.client.check_connection()
    assert caught.value.retryable
    assert caught.value.upstream_status == 429
    assert caught.value.status == 502


def test_a_timeout_is_retried_then_reported_as_504() -> None:
    h = harness(answers(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow")), max_attempts=2)
    with pytest.raises(
        TransientError, match="did not answer in time to GET contact/fields after 2 attempts"
    ) as caught:
        h.client.check_connection()
    assert caught.value.status == 504


def test_connection_failures_are_retried_then_unreachable() -> None:
    h = harness(answers(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok()))
    assert h.client.check_connection() == 1
    failing = harness(
        answers(*[httpx.ConnectError("[Errno 111] Connection refused")] * 2), max_attempts=2
    )
    with pytest.raises(UnreachableError, match="connection was refused"):
        failing.client.check_connection()


def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    error = httpx.ConnectError("dns")
    error.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    h = harness(answers(error))
    with pytest.raises(UnreachableError, match="does not resolve"):
        h.client.check_connection()
    assert len(h.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_bad_credentials(status: int) -> None:
    h = harness(answer(status, {"code": status, "message": "Invalid agent or API key"}))
    with pytest.raises(BadCredentialsError, match="Invalid agent or API key") as caught:
        h.client.check_connection()
    assert "site id" in caught.value.message
    assert len(h.requests) == 1


def test_the_key_is_redacted_from_what_comm100_says() -> None:
    token = base64.b64encode(f"agent@example.com:{API_KEY}".encode()).decode()
    h = harness(answer(401, {"message": f"bad key {API_KEY} in Basic {token}"}))
    with pytest.raises(BadCredentialsError) as caught:
        h.client.check_connection()
    assert API_KEY not in caught.value.message
    assert token not in caught.value.message
    assert "[API key]" in caught.value.message


def test_a_404_on_a_list_is_not_a_comm100_api() -> None:
    with pytest.raises(NotComm100ApiError, match=r"no such endpoint\). Check the API base URL"):
        harness(answer(404, {"Message": "No HTTP resource"})).client.check_connection()


def test_a_redirect_is_not_a_comm100_api() -> None:
    h = harness(answer(302, headers={"Location": "https://login.example/"}))
    with pytest.raises(NotComm100ApiError, match=r"redirect to https://login\.example/"):
        h.client.check_connection()


@pytest.mark.parametrize("status", [400, 405, 422])
def test_other_client_errors_are_invalid_requests(status: int) -> None:
    h = harness(answer(status, {"code": status, "message": "siteId is required"}))
    with pytest.raises(InvalidRequestError, match=rf"HTTP {status}\): siteId is required\."):
        h.client.check_connection()
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'"a string"', b"null", b"{}", b"[[1]]"],
)
def test_odd_bodies_are_not_a_comm100_api(body: bytes) -> None:
    with pytest.raises(NotComm100ApiError):
        harness(answer(200, body)).client.check_connection()


def test_every_attempt_is_reported() -> None:
    calls: list[CallRecord] = []
    client = Comm100Client(
        "https://api11.comm100.io/v4",
        "a@x",
        API_KEY,
        1,
        limiter=CountingLimiter(),
        http=httpx.Client(transport=httpx.MockTransport(answers(httpx.Response(503), ok()))),
        sleep=lambda _: None,
        on_call=calls.append,
    )
    client.check_connection()
    assert [(c.endpoint, c.attempt, c.status) for c in calls] == [
        ("GET contact/fields", 1, 503),
        ("GET contact/fields", 2, 200),
    ]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("ftp://x/v4", "a@x", "k", 1), NotComm100ApiError, "must be a web address"),
        (("api11.comm100.io/v4", "a@x", "k", 1), NotComm100ApiError, "must be a web address"),
        (("https://h/v4", "a@x", " ", 1), BadCredentialsError, "No Comm100 API key"),
        (("https://h/v4", "a@x", "k e y", 1), BadCredentialsError, "characters an API key"),
        (("https://h/v4", "", "k", 1), BadCredentialsError, "No Comm100 agent e-mail"),
        (("https://h/v4", "a:b@x", "k", 1), BadCredentialsError, "colons"),
        (("https://h/v4", "a@x", "k", 0), InvalidRequestError, "site id"),
        (("https://h/v4", "a@x", "k", "ten"), InvalidRequestError, "site id"),
    ],
)
def test_bad_settings_are_refused_before_any_call(
    args: tuple[str, str, str, int | str], error: type[Comm100Error], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        Comm100Client(*args, limiter=CountingLimiter())
    assert "k e y" not in caught.value.message


def test_a_site_id_may_be_given_as_text() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return ok()

    client = Comm100Client(
        "https://h/v4",
        "a@x",
        "k",
        " 10001 ",
        limiter=CountingLimiter(),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client.check_connection()
    assert requests[0].url.params["siteId"] == "10001"
