"""Comm100 sign-in's client (`comm100/oauth.py`): what it sends, how it reads what comes back.

The end-to-end flow against the Comm100 sandbox is in tests/console/test_sign_in_e2e.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.comm100.errors import BadCredentialsError, Comm100Error, NotComm100ApiError
from optibridge.comm100.oauth import (
    SignedInAgent,
    authorize_url,
    checked_platform_url,
    parse_user_info,
    sign_in,
)
from optibridge.comm100.schemas import ShapeError
from tests.support.strategies import json_values, nasty_text
from tests.support.vendor_fakes import CountingLimiter

PLATFORM = "https://dash11.comm100.io"
API = "https://api11.comm100.io/v4"
SECRET = "0auth-cl1ent-s3cret-DO-NOT-LEAK"
CODE = "one-time-c0de-DO-NOT-LEAK"
TOKEN = "acc3ss-t0ken-DO-NOT-LEAK"
AGENT_ID = "a9d5e0c4-6b1f-4c7e-8a2d-5f3b9c1e7d20"
USER_INFO = {"AgentId": AGENT_ID, "SiteId": 10000, "PartnerId": 1, "Email": "a@example.com"}


def test_the_authorize_url_asks_comm100_for_a_code_for_the_site() -> None:
    url = authorize_url(
        PLATFORM + "/",
        client_id="optibridge",
        site_id=10000,
        redirect_uri="https://ob.example.com/auth/comm100/callback",
        state="s&t=a te",
    )

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == PLATFORM + "/oauth/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["optibridge"],
        "response_type": ["code"],
        "siteid": ["10000"],
        "scope": ["openid offline_access"],
        "redirect_uri": ["https://ob.example.com/auth/comm100/callback"],
        "state": ["s&t=a te"],
    }


@pytest.mark.parametrize("url", ["", "ftp://dash11.comm100.io", "dash11.comm100.io", "https://"])
def test_a_platform_url_that_is_no_web_address_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="platform URL"):
        checked_platform_url(url)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (USER_INFO, SignedInAgent(AGENT_ID, 10000, "a@example.com", None)),
        (
            {"agentId": AGENT_ID, "siteId": "10000", "email": " a@example.com ", "isAdmin": True},
            SignedInAgent(AGENT_ID, 10000, "a@example.com", True),
        ),
        (
            {"data": {**USER_INFO, "IsAdmin": False}},
            SignedInAgent(AGENT_ID, 10000, "a@example.com", False),
        ),
        ({"sub": 42, "SiteId": 7}, SignedInAgent("42", 7, None, None)),
    ],
)
def test_user_info_is_read_in_any_casing_and_wrapping(answer: Any, expected: SignedInAgent) -> None:
    assert parse_user_info(answer) == expected


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ([], "not a JSON object"),
        ({"SiteId": 10000}, "which agent"),
        ({"AgentId": True, "SiteId": 10000}, "which agent"),
        ({"AgentId": " ", "SiteId": 10000}, "no usable agent id"),
        ({"AgentId": "a\x00b", "SiteId": 10000}, "no usable agent id"),
        ({"AgentId": AGENT_ID}, "which site"),
        ({"AgentId": AGENT_ID, "SiteId": 0}, "which site"),
        ({"AgentId": AGENT_ID, "SiteId": True}, "which site"),
    ],
)
def test_user_info_that_names_no_agent_and_site_is_refused_saying_what(
    answer: Any, says: str
) -> None:
    with pytest.raises(ShapeError, match=says):
        parse_user_info(answer)


@given(json_values(nasty_text(max_size=12)))
def test_any_user_info_is_an_agent_or_a_shape_error(answer: Any) -> None:
    try:
        agent = parse_user_info(answer)
    except ShapeError:
        return
    assert agent.agent_id.strip() == agent.agent_id != ""
    assert agent.site_id > 0


class FakeComm100:
    """Comm100's platform and API as `sign_in` meets them; records every request."""

    def __init__(self, user_info: Any = None, agent: Any = None, token_status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.user_info = USER_INFO if user_info is None else user_info
        self.agent = agent
        self.token_status = token_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/oauth/token":
            if self.token_status != 200:
                return httpx.Response(
                    self.token_status,
                    json={"error": "invalid_grant", "error_description": f"bad code {CODE}"},
                )
            return httpx.Response(200, json={"access_token": TOKEN, "token_type": "Bearer"})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"message": "no token"})
        if path == "/oauth/userinfo":
            return httpx.Response(200, json=self.user_info)
        if path == f"/v4/global/agents/{AGENT_ID}" and self.agent is not None:
            return httpx.Response(200, json=self.agent)
        return httpx.Response(404, json={"message": "no such route"})


def signed_in(
    fake: Callable[[httpx.Request], httpx.Response], *, need_admin: bool
) -> SignedInAgent:
    return sign_in(
        PLATFORM,
        API,
        10000,
        client_id="optibridge",
        client_secret=SECRET,
        code=CODE,
        redirect_uri="https://ob.example.com/auth/comm100/callback",
        need_admin=need_admin,
        limiter=CountingLimiter(),
        http=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=lambda _: None,
    )


def test_the_code_is_exchanged_in_a_form_and_the_token_only_travels_in_a_header() -> None:
    fake = FakeComm100()

    agent = signed_in(fake, need_admin=False)

    assert agent == SignedInAgent(AGENT_ID, 10000, "a@example.com", None)
    token_request, info_request = fake.requests
    assert token_request.method == "POST"
    assert token_request.url.params["siteId"] == "10000"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": [CODE],
        "client_id": ["optibridge"],
        "client_secret": [SECRET],
        "redirect_uri": ["https://ob.example.com/auth/comm100/callback"],
    }
    for request in fake.requests:
        assert SECRET not in str(request.url)
        assert CODE not in str(request.url)
        assert TOKEN not in str(request.url)
    assert info_request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_admin_is_learnt_from_the_v4_api_when_user_info_does_not_say() -> None:
    fake = FakeComm100(agent={"id": AGENT_ID, "isAdmin": True})

    agent = signed_in(fake, need_admin=True)

    assert agent.is_admin is True
    assert [r.url.path for r in fake.requests][-1] == f"/v4/global/agents/{AGENT_ID}"


def test_no_one_is_taken_for_an_admin_when_comm100_cannot_say() -> None:
    assert signed_in(FakeComm100(), need_admin=True).is_admin is None


def test_a_refused_code_is_sent_once_and_never_quoted() -> None:
    fake = FakeComm100(token_status=400)

    with pytest.raises(Comm100Error) as raised:
        signed_in(fake, need_admin=False)

    assert len(fake.requests) == 1
    assert CODE not in raised.value.message
    assert SECRET not in raised.value.message


def test_a_token_answer_without_a_token_says_it_is_not_comm100() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"hello": "world"})

    with pytest.raises(NotComm100ApiError, match="without an access token"):
        signed_in(handler, need_admin=False)


def test_user_info_refused_is_bad_credentials() -> None:
    fake = FakeComm100()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/userinfo":
            return httpx.Response(401, json={"message": "expired"})
        return fake(request)

    with pytest.raises(BadCredentialsError):
        signed_in(handler, need_admin=False)


@given(st.text())
def test_any_platform_url_is_a_prefix_or_a_clear_refusal(url: str) -> None:
    try:
        prefix = checked_platform_url(url)
    except ValueError as refused:
        message = str(refused)
        prefix = None
    if prefix is None:
        assert "platform URL" in message
        return
    assert prefix.startswith(("http://", "https://"))
    assert prefix.endswith("/")
