"""The Comm100 sandbox's OAuth 2 sign-in (authorization code), as the service's client meets it.

In process through httpx's ASGI transport (standalone, or mounted at /sandbox/comm100 as in the
demo), and over real HTTP with the service's own client (`optibridge.comm100.oauth.sign_in`).
Codes and tokens expire by the platform's clock, moved with `PUT /_sandbox/oauth/clock`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from optibridge.comm100.oauth import SignedInAgent, authorize_url, sign_in
from optibridge.sandbox.comm100 import create_app
from optibridge.sandbox.comm100.identity import DEFAULT_ADMIN_ID, DEFAULT_AGENT_ID
from tests.support.processes import free_port, running_process
from tests.support.vendor_fakes import CountingLimiter

pytestmark = pytest.mark.anyio

SITE = 10000
OTHER_SITE = 10001
AGENT_EMAIL = "agent@example.com"
ADMIN_EMAIL = "admin@example.com"
CLIENT_ID = "optibridge-demo"
CLIENT_SECRET = "client-secret-3f9a7c1d"
REDIRECT_URI = "https://optibridge.example/auth/comm100/callback"
STATE = "state-5e1d2c"
PASSWORD = "agent-password-8b2e"
MOUNT = "/sandbox/comm100"
CLIENT = {
    "clientId": CLIENT_ID,
    "clientSecret": CLIENT_SECRET,
    "redirectUris": [REDIRECT_URI],
    "siteId": SITE,
}
OTHER_AGENT = "3b1d7e9f-0a2c-4d6e-8f1a-5c7e9b3d1f20"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- reading the sign-in page --------------------------------------------------------------------


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # hidden inputs
    inputs: list[str] = field(default_factory=list)  # names of the other inputs
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named buttons

    def value(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n == name), None)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(named["action"]))
        elif tag == "input" and self.forms:
            if named.get("type") == "hidden":
                self.forms[-1].fields.append((named["name"], named["value"]))
            else:
                self.forms[-1].inputs.append(named["name"])
        elif tag == "button" and self.forms and "name" in named:
            self.forms[-1].buttons.append((named["name"], named["value"]))


def forms_of(page: httpx.Response) -> list[Form]:
    parser = _Forms()
    parser.feed(page.text)
    return parser.forms


def agent_form(page: httpx.Response, agent_id: str) -> Form:
    return next(f for f in forms_of(page) if f.value("agent_id") == agent_id)


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


# --- the platform, in process --------------------------------------------------------------------


@dataclass
class Platform:
    """The sandbox seen by a browser (which keeps cookies) and by the service, at `root`."""

    http: httpx.AsyncClient
    root: str = ""

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(method, f"{self.root}/_sandbox/{path}", json=body)

    async def authorize(self, **changes: str | None) -> httpx.Response:
        params = {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "siteid": str(SITE),
            "scope": "openid offline_access",
            "redirect_uri": REDIRECT_URI,
            "state": STATE,
            **changes,
        }
        given = {name: value for name, value in params.items() if value is not None}
        return await self.http.get(f"{self.root}/oauth/authorize", params=given)

    async def choose(self, page: httpx.Response, agent_id: str, **extra: str) -> httpx.Response:
        """Submit the sign-in page's form of `agent_id`."""
        form = agent_form(page, agent_id)
        return await self.http.post(form.action, data={**dict(form.fields), **extra})

    async def code_for(self, agent_id: str = DEFAULT_AGENT_ID) -> str:
        """A code for `agent_id`, who signs in on the page (no one is signed in before)."""
        self.http.cookies.clear()
        signed_in = await self.choose(await self.authorize(), agent_id)
        assert signed_in.status_code == 303, signed_in.text
        return query_of(signed_in.headers["location"])["code"]

    async def token(self, code: str | None, /, **changes: str | None) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
            **changes,
        }
        given = {name: value for name, value in form.items() if value is not None}
        return await self.http.post(
            f"{self.root}/oauth/token", params={"siteId": str(SITE)}, data=given
        )

    async def access_token(self, agent_id: str = DEFAULT_AGENT_ID) -> str:
        answer = await self.token(await self.code_for(agent_id))
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    async def userinfo(self, token: str, site: int = SITE) -> httpx.Response:
        return await self.http.get(
            f"{self.root}/oauth/userinfo",
            params={"siteId": str(site)},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def v4_agent(self, token: str, agent_id: str, site: int = SITE) -> httpx.Response:
        return await self.http.get(
            f"{self.root}/v4/global/agents/{agent_id}",
            params={"siteId": str(site)},
            headers={"Authorization": f"Bearer {token}"},
        )


async def platform_at(app: FastAPI, root: str) -> AsyncIterator[Platform]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        platform = Platform(http, root)
        assert (await platform.control("PUT", "oauth/clients", [CLIENT])).status_code == 200
        yield platform


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    """The sandbox as its own server, one OAuth client registered."""
    async for running in platform_at(create_app(), ""):
        yield running


@pytest.fixture
async def mounted() -> AsyncIterator[Platform]:
    """The sandbox mounted at /sandbox/comm100 as in the demo, one OAuth client registered."""
    outer = FastAPI()
    outer.mount(MOUNT, create_app())
    async for running in platform_at(outer, MOUNT):
        yield running


# --- authorize ---------------------------------------------------------------------------------


async def test_the_sign_in_page_lists_the_sites_agents_and_choosing_one_redirects_with_a_code(
    platform: Platform,
) -> None:
    page = await platform.authorize()
    agents = {f.value("agent_id") for f in forms_of(page) if f.value("agent_id")}
    signed_in = await platform.choose(page, DEFAULT_AGENT_ID)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert agents == {DEFAULT_AGENT_ID, DEFAULT_ADMIN_ID}
    assert AGENT_EMAIL in page.text
    assert ADMIN_EMAIL in page.text
    assert signed_in.status_code == 303
    location = signed_in.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location).keys() == {"code", "state"}
    assert query_of(location)["state"] == STATE
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("comm100_sandbox_agent=")
    assert "Path=/;" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


async def test_a_browser_signed_in_to_the_platform_is_sent_back_at_once(
    platform: Platform,
) -> None:
    await platform.choose(await platform.authorize(), DEFAULT_ADMIN_ID)

    again = await platform.authorize(state="second")

    assert again.status_code == 302
    answer = query_of(again.headers["location"])
    assert answer["state"] == "second"
    token = (await platform.token(answer["code"])).json()["access_token"]
    assert (await platform.userinfo(token)).json()["AgentId"] == DEFAULT_ADMIN_ID


async def test_a_signed_in_browser_is_asked_again_when_prompt_is_login(
    platform: Platform,
) -> None:
    await platform.choose(await platform.authorize(), DEFAULT_AGENT_ID)

    again = await platform.authorize(prompt="login")

    assert again.status_code == 200
    assert agent_form(again, DEFAULT_ADMIN_ID)


async def test_a_cookie_that_is_not_the_platforms_signs_no_one_in(platform: Platform) -> None:
    platform.http.cookies.set("comm100_sandbox_agent", DEFAULT_AGENT_ID)

    page = await platform.authorize()

    assert page.status_code == 200
    assert "location" not in page.headers


async def test_prompt_none_without_a_signed_in_agent_answers_login_required(
    platform: Platform,
) -> None:
    answer = await platform.authorize(prompt="none")

    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location)["error"] == "login_required"
    assert query_of(location)["state"] == STATE
    assert "code" not in query_of(location)


async def test_prompt_none_with_a_signed_in_agent_gives_a_code(platform: Platform) -> None:
    await platform.choose(await platform.authorize(), DEFAULT_AGENT_ID)

    answer = await platform.authorize(prompt="none")

    assert answer.status_code == 302
    assert "code" in query_of(answer.headers["location"])


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "https://attacker.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/more"},
        {"redirect_uri": None},
        {"client_id": "unknown-client"},
        {"client_id": None},
        {"siteid": str(OTHER_SITE)},
    ],
    ids=["foreign", "longer", "no-redirect", "unknown-client", "no-client", "other-site"],
)
async def test_a_request_whose_redirect_cannot_be_trusted_gets_a_page_never_a_redirect(
    platform: Platform, changes: dict[str, str | None]
) -> None:
    await platform.choose(await platform.authorize(), DEFAULT_AGENT_ID)  # even signed in

    answer = await platform.authorize(**changes)

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "location" not in answer.headers
    assert "attacker" not in answer.text


async def test_refusals_after_the_redirect_uri_is_trusted_go_back_to_the_client(
    platform: Platform,
) -> None:
    wrong_type = await platform.authorize(response_type="token")
    wrong_scope = await platform.authorize(scope="openid admin")

    assert query_of(wrong_type.headers["location"])["error"] == "unsupported_response_type"
    assert query_of(wrong_scope.headers["location"])["error"] == "invalid_scope"
    assert query_of(wrong_scope.headers["location"])["state"] == STATE


async def test_cancel_on_the_sign_in_page_tells_the_client_access_denied(
    platform: Platform,
) -> None:
    page = await platform.authorize()
    cancel = next(f for f in forms_of(page) if f.buttons == [("cancel", "1")])

    answer = await platform.http.post(cancel.action, data=dict([*cancel.fields, *cancel.buttons]))

    assert answer.status_code == 303
    assert query_of(answer.headers["location"])["error"] == "access_denied"
    assert "set-cookie" not in answer.headers


async def test_an_agent_with_a_password_must_type_it(platform: Platform) -> None:
    agents = (await platform.control("GET", "agents")).json()
    agents[0]["password"] = PASSWORD
    assert (await platform.control("PUT", "agents", agents)).status_code == 200
    page = await platform.authorize()

    wrong = await platform.choose(page, DEFAULT_AGENT_ID, password="guess")
    right = await platform.choose(page, DEFAULT_AGENT_ID, password=PASSWORD)

    assert agent_form(page, DEFAULT_AGENT_ID).inputs == ["password"]
    assert agent_form(page, DEFAULT_ADMIN_ID).inputs == []
    assert wrong.status_code == 422
    assert "Wrong password" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert right.status_code == 303
    assert "code" in query_of(right.headers["location"])


async def test_the_sign_in_page_shows_only_the_agents_of_the_requested_site(
    platform: Platform,
) -> None:
    await platform.control("PUT", "sites", [SITE, OTHER_SITE])
    agents = (await platform.control("GET", "agents")).json()
    other = {"id": OTHER_AGENT, "siteId": OTHER_SITE, "email": "x@example.com", "name": "X"}
    await platform.control("PUT", "agents", [*agents, other])

    page = await platform.authorize()
    form = agent_form(page, DEFAULT_AGENT_ID)
    forged = [(n, OTHER_AGENT if n == "agent_id" else v) for n, v in form.fields]
    other_site_agent = await platform.http.post(form.action, data=dict(forged))

    assert OTHER_AGENT not in page.text
    assert other_site_agent.status_code == 422
    assert "set-cookie" not in other_site_agent.headers


# --- token -------------------------------------------------------------------------------------


async def test_a_code_is_exchanged_for_tokens_with_the_client_credentials_in_the_form(
    platform: Platform,
) -> None:
    answer = await platform.token(await platform.code_for())

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert body["expires_in"] > 0
    assert answer.headers["cache-control"] == "no-store"


async def test_a_code_is_exchanged_with_http_basic_client_authentication(
    platform: Platform,
) -> None:
    code = await platform.code_for()

    answer = await platform.http.post(
        "/oauth/token",
        params={"siteId": str(SITE)},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=httpx.BasicAuth(CLIENT_ID, CLIENT_SECRET),
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"


async def test_a_code_used_twice_is_refused_and_revokes_what_it_gave(platform: Platform) -> None:
    code = await platform.code_for()
    first = await platform.token(code)

    second = await platform.token(code)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert (await platform.userinfo(first.json()["access_token"])).status_code == 401


async def test_a_wrong_client_secret_is_invalid_client_and_leaves_the_code_usable(
    platform: Platform,
) -> None:
    code = await platform.code_for()

    wrong = await platform.token(code, client_secret="not-the-secret")
    unknown = await platform.token(code, client_id="someone-else")
    right = await platform.token(code)

    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"
    assert right.status_code == 200


async def test_a_wrong_basic_secret_is_invalid_client_with_a_basic_challenge(
    platform: Platform,
) -> None:
    answer = await platform.http.post(
        "/oauth/token",
        params={"siteId": str(SITE)},
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI},
        auth=httpx.BasicAuth(CLIENT_ID, "not-the-secret"),
    )

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith("Basic")


async def test_a_redirect_uri_other_than_the_codes_is_invalid_grant(platform: Platform) -> None:
    second_uri = "https://optibridge.example/other"
    await platform.control(
        "PUT", "oauth/clients", [{**CLIENT, "redirectUris": [REDIRECT_URI, second_uri]}]
    )

    answer = await platform.token(await platform.code_for(), redirect_uri=second_uri)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_a_code_for_another_site_is_invalid_grant(platform: Platform) -> None:
    code = await platform.code_for()

    answer = await platform.http.post(
        "/oauth/token",
        params={"siteId": str(OTHER_SITE)},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
        },
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_invalid_grant(platform: Platform) -> None:
    code = await platform.code_for()
    await platform.control("PUT", "oauth/clock", {"offset_seconds": 61})

    answer = await platform.token(code)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "expired" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": None}, "invalid_request"),
        ({"code": None}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
    ],
    ids=["password-grant", "no-grant-type", "no-code", "no-redirect-uri"],
)
async def test_malformed_token_requests_are_refused_as_rfc_6749_says(
    platform: Platform, changes: dict[str, str | None], error: str
) -> None:
    answer = await platform.token(await platform.code_for(), **changes)

    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


async def test_a_token_request_without_site_is_invalid_request(platform: Platform) -> None:
    answer = await platform.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": await platform.code_for(),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
        },
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_a_refresh_token_gives_new_tokens_once(platform: Platform) -> None:
    tokens = (await platform.token(await platform.code_for())).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}

    renewed = await platform.token(None, **refresh, redirect_uri=None)
    reused = await platform.token(None, **refresh, redirect_uri=None)

    assert renewed.status_code == 200
    assert (await platform.userinfo(renewed.json()["access_token"])).status_code == 200
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


# --- userinfo ----------------------------------------------------------------------------------


async def test_userinfo_says_who_signed_in_in_the_documented_shape(platform: Platform) -> None:
    answer = await platform.userinfo(await platform.access_token())

    assert answer.status_code == 200
    assert answer.json() == {
        "AgentId": DEFAULT_AGENT_ID,
        "SiteId": SITE,
        "PartnerId": 1,
        "Email": AGENT_EMAIL,
    }


@pytest.mark.parametrize(
    ("agent_id", "is_admin"), [(DEFAULT_ADMIN_ID, True), (DEFAULT_AGENT_ID, False)]
)
async def test_userinfo_says_is_admin_only_when_the_behaviour_switch_is_on(
    platform: Platform, agent_id: str, is_admin: bool
) -> None:
    token = await platform.access_token(agent_id)
    before = (await platform.userinfo(token)).json()
    switched = await platform.control("PUT", "behaviour", {"userinfo_is_admin": True})
    after = (await platform.userinfo(token)).json()

    assert "IsAdmin" not in before
    assert switched.json()["userinfo_is_admin"] is True
    assert after["IsAdmin"] is is_admin
    assert after["AgentId"] == agent_id


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}],
    ids=["none", "unknown", "basic"],
)
async def test_userinfo_without_a_valid_token_is_401(
    platform: Platform, headers: dict[str, str]
) -> None:
    answer = await platform.http.get(
        "/oauth/userinfo", params={"siteId": str(SITE)}, headers=headers
    )

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_an_access_token_expires(platform: Platform) -> None:
    token = await platform.access_token()
    await platform.control("PUT", "oauth/clock", {"offset_seconds": 3601})

    assert (await platform.userinfo(token)).status_code == 401


# --- the v4 API with the signed-in agent's token -------------------------------------------------


@pytest.mark.parametrize(
    ("agent_id", "email", "is_admin"),
    [(DEFAULT_ADMIN_ID, ADMIN_EMAIL, True), (DEFAULT_AGENT_ID, AGENT_EMAIL, False)],
)
async def test_v4_global_agents_answers_a_bearer_token_with_is_admin(
    platform: Platform, agent_id: str, email: str, is_admin: bool
) -> None:
    token = await platform.access_token(DEFAULT_AGENT_ID)

    answer = await platform.v4_agent(token, agent_id)

    assert answer.status_code == 200
    assert answer.json()["id"] == agent_id
    assert answer.json()["email"] == email
    assert answer.json()["isAdmin"] is is_admin


async def test_v4_takes_a_bearer_token_for_its_other_endpoints_too(platform: Platform) -> None:
    answer = await platform.http.get(
        "/v4/contact/fields",
        params={"siteId": str(SITE)},
        headers={"Authorization": f"Bearer {await platform.access_token()}"},
    )

    assert answer.status_code == 200


async def test_v4_rejects_a_token_it_did_not_issue(platform: Platform) -> None:
    await platform.access_token()

    answer = await platform.v4_agent("not-a-token", DEFAULT_AGENT_ID)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_v4_rejects_a_token_for_another_site(platform: Platform) -> None:
    await platform.control("PUT", "sites", [SITE, OTHER_SITE])
    token = await platform.access_token()

    answer = await platform.v4_agent(token, DEFAULT_AGENT_ID, site=OTHER_SITE)

    assert answer.status_code == 403


async def test_a_token_dies_with_its_agent(platform: Platform) -> None:
    token = await platform.access_token()
    agents = (await platform.control("GET", "agents")).json()
    await platform.control("PUT", "agents", [a for a in agents if a["id"] != DEFAULT_AGENT_ID])

    assert (await platform.v4_agent(token, DEFAULT_ADMIN_ID)).status_code == 401
    assert (await platform.userinfo(token)).status_code == 401


async def test_v4_global_agents_of_an_unknown_agent_is_404(platform: Platform) -> None:
    answer = await platform.v4_agent(await platform.access_token(), OTHER_AGENT)

    assert answer.status_code == 404


# --- the control surface -----------------------------------------------------------------------


async def test_the_default_agents_are_an_agent_and_an_admin_of_the_default_site(
    platform: Platform,
) -> None:
    agents = (await platform.control("GET", "agents")).json()

    assert agents == [
        {
            "id": DEFAULT_AGENT_ID,
            "siteId": SITE,
            "email": AGENT_EMAIL,
            "name": "Demo Agent",
            "isAdmin": False,
        },
        {
            "id": DEFAULT_ADMIN_ID,
            "siteId": SITE,
            "email": ADMIN_EMAIL,
            "name": "Site Admin",
            "isAdmin": True,
        },
    ]


async def test_clients_and_passwords_are_shown_masked_and_kept_when_put_back_masked(
    platform: Platform,
) -> None:
    agents = (await platform.control("GET", "agents")).json()
    agents[0]["password"] = PASSWORD
    await platform.control("PUT", "agents", agents)

    shown_agents = (await platform.control("GET", "agents")).json()
    shown_clients = (await platform.control("GET", "oauth/clients")).json()
    put_back = await platform.control("PUT", "oauth/clients", shown_clients)
    agents_back = await platform.control("PUT", "agents", shown_agents)
    page = await platform.authorize()

    assert shown_agents[0]["password"] == "****"
    assert shown_clients == [{**CLIENT, "clientSecret": "****"}]
    assert put_back.status_code == 200
    assert agents_back.status_code == 200
    assert (await platform.token(await platform.code_for(DEFAULT_ADMIN_ID))).status_code == 200
    right = await platform.choose(page, DEFAULT_AGENT_ID, password=PASSWORD)
    assert right.status_code == 303


AGENT = {"id": OTHER_AGENT, "siteId": SITE, "email": "x@example.com", "name": "X"}


@pytest.mark.parametrize(
    ("agents", "pointer"),
    [
        ([{**AGENT, "id": "not-a-guid"}], "/0/id"),
        ([{**AGENT, "email": "not an e-mail"}], "/0/email"),
        ([{**AGENT, "name": ""}], "/0/name"),
        ([{**AGENT, "isAdmin": "yes"}], "/0/isAdmin"),
        ([{**AGENT, "siteId": 0}], "/0/siteId"),
        ([{**AGENT, "siteId": OTHER_SITE}], "/0/siteId"),
        ([{**AGENT, "role": "admin"}], "/0/role"),
        ([{k: v for k, v in AGENT.items() if k != "email"}], "/0/email"),
        ([AGENT, {**AGENT, "email": "y@example.com"}], "/1/id"),
        ([AGENT, {**AGENT, "id": DEFAULT_AGENT_ID, "email": "X@example.com"}], "/1/email"),
        ([{**AGENT, "password": "****"}], "/0/password"),
    ],
    ids=[
        "id",
        "email",
        "name",
        "is-admin",
        "site-zero",
        "unknown-site",
        "unknown-key",
        "no-email",
        "same-id",
        "same-email",
        "masked-new-password",
    ],
)
async def test_agents_that_are_not_valid_are_refused_saying_where(
    platform: Platform, agents: list[dict[str, Any]], pointer: str
) -> None:
    before = (await platform.control("GET", "agents")).json()

    answer = await platform.control("PUT", "agents", agents)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid"
    assert pointer in [d["pointer"] for d in answer.json()["error"]["details"]]
    assert (await platform.control("GET", "agents")).json() == before


@pytest.mark.parametrize(
    ("clients", "pointer"),
    [
        ([{**CLIENT, "redirectUris": ["/callback"]}], "/0/redirectUris"),
        ([{**CLIENT, "redirectUris": [REDIRECT_URI + "#x"]}], "/0/redirectUris"),
        ([{**CLIENT, "redirectUris": []}], "/0/redirectUris"),
        ([{**CLIENT, "clientId": "has space"}], "/0/clientId"),
        ([{**CLIENT, "clientSecret": ""}], "/0/clientSecret"),
        ([{**CLIENT, "clientId": "new", "clientSecret": "****"}], "/0/clientSecret"),
        ([{**CLIENT, "siteId": OTHER_SITE}], "/0/siteId"),
        ([CLIENT, CLIENT], "/1/clientId"),
    ],
    ids=[
        "relative",
        "fragment",
        "no-uri",
        "id",
        "no-secret",
        "masked-new-secret",
        "unknown-site",
        "same-id",
    ],
)
async def test_oauth_clients_that_are_not_valid_are_refused_saying_where(
    platform: Platform, clients: list[dict[str, Any]], pointer: str
) -> None:
    answer = await platform.control("PUT", "oauth/clients", clients)

    assert answer.status_code == 422
    assert pointer in [d["pointer"] for d in answer.json()["error"]["details"]]
    assert (await platform.control("GET", "oauth/clients")).json() == [
        {**CLIENT, "clientSecret": "****"}
    ]


async def test_the_userinfo_switch_takes_only_a_boolean(platform: Platform) -> None:
    answer = await platform.control("PUT", "behaviour", {"userinfo_is_admin": "yes"})

    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["pointer"] == "/userinfo_is_admin"


# --- the request log ---------------------------------------------------------------------------


async def test_the_request_log_never_shows_secrets_codes_tokens_or_passwords(
    platform: Platform,
) -> None:
    agents = (await platform.control("GET", "agents")).json()
    agents[0]["password"] = PASSWORD
    await platform.control("PUT", "agents", agents)
    page = await platform.authorize()
    signed_in = await platform.choose(page, DEFAULT_AGENT_ID, password=PASSWORD)
    code = query_of(signed_in.headers["location"])["code"]
    tokens = (await platform.token(code)).json()
    await platform.userinfo(tokens["access_token"])
    await platform.v4_agent(tokens["access_token"], DEFAULT_AGENT_ID)
    await platform.http.post(
        "/oauth/token",
        params={"siteId": str(SITE)},
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=httpx.BasicAuth(CLIENT_ID, CLIENT_SECRET),
    )
    await platform.token(code)  # reused: refused, and logged too

    log = (await platform.control("GET", "requests")).json()
    text = json.dumps(log)

    for secret in (CLIENT_SECRET, PASSWORD, code, STATE, tokens["access_token"]):
        assert secret not in text
    assert tokens["refresh_token"] not in text
    paths = [entry["path"] for entry in log]
    assert paths == [
        "/oauth/authorize",
        "/oauth/sign-in",
        "/oauth/token",
        "/oauth/userinfo",
        "/v4/global/agents/" + DEFAULT_AGENT_ID,
        "/oauth/token",
        "/oauth/token",
    ]
    assert [entry["status"] for entry in log] == [200, 303, 200, 200, 200, 200, 400]
    users = [None, AGENT_EMAIL, CLIENT_ID, AGENT_EMAIL, AGENT_EMAIL, CLIENT_ID, CLIENT_ID]
    assert [entry["user"] for entry in log] == users
    assert f"client_id={CLIENT_ID}" in log[0]["query"]
    assert log[2]["body"]["client_secret"] == "****"
    assert log[2]["body"]["code"] == "****"
    assert log[1]["body"]["password"] == "****"


# --- wherever the sandbox is mounted -----------------------------------------------------------


async def test_under_a_mount_the_sign_in_posts_and_the_cookie_stay_within_it(
    mounted: Platform,
) -> None:
    page = await mounted.authorize()
    signed_in = await mounted.choose(page, DEFAULT_AGENT_ID)
    again = await mounted.authorize()

    assert {f.action for f in forms_of(page)} == {f"{MOUNT}/oauth/sign-in"}
    assert f'href="{MOUNT}/simulator/static/simulator.css"' in page.text
    assert "Path=/sandbox/comm100;" in signed_in.headers["set-cookie"]
    assert again.status_code == 302
    assert "code" in query_of(again.headers["location"])


async def test_the_simulators_agent_console_signs_the_browser_in_as_its_agent(
    mounted: Platform,
) -> None:
    config = {"site_id": SITE, "agent_id": DEFAULT_ADMIN_ID, "agent_name": "Site Admin"}
    assert (await mounted.control("PUT", "simulator", config)).status_code == 200

    console = await mounted.http.get(f"{MOUNT}/simulator/agent")
    silent = await mounted.authorize()

    assert console.status_code == 200
    assert "Path=/sandbox/comm100;" in console.headers["set-cookie"]
    assert silent.status_code == 302
    code = query_of(silent.headers["location"])["code"]
    token = (await mounted.token(code)).json()["access_token"]
    assert (await mounted.userinfo(token)).json()["AgentId"] == DEFAULT_ADMIN_ID


async def test_a_simulator_agent_unknown_to_the_platform_signs_no_one_in(
    mounted: Platform,
) -> None:
    config = {"site_id": SITE, "agent_id": OTHER_AGENT}
    await mounted.control("PUT", "simulator", config)

    console = await mounted.http.get(f"{MOUNT}/simulator/agent")
    page = await mounted.authorize()

    assert "set-cookie" not in console.headers
    assert "is not an agent of site 10000" in " ".join(console.text.split())
    assert page.status_code == 200


# --- the service's own client, over real HTTP ----------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    serve = (
        "import uvicorn; from optibridge.sandbox.comm100 import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    url = f"http://127.0.0.1:{port}"
    with running_process([sys.executable, "-c", serve], ready_url=f"{url}/_sandbox/limits"):
        yield url


@pytest.mark.integration
@pytest.mark.parametrize(
    ("agent_id", "email", "is_admin", "userinfo_is_admin"),
    [
        (DEFAULT_ADMIN_ID, ADMIN_EMAIL, True, False),  # is_admin from v4 global/agents
        (DEFAULT_AGENT_ID, AGENT_EMAIL, False, True),  # is_admin from userinfo
    ],
    ids=["admin-from-v4", "agent-from-userinfo"],
)
def test_the_services_sign_in_client_learns_who_signed_in(
    sandbox_url: str, agent_id: str, email: str, is_admin: bool, userinfo_is_admin: bool
) -> None:
    with (
        httpx.Client(base_url=sandbox_url, timeout=10.0) as browser,
        httpx.Client() as service,  # lent to sign_in, which closes none of the clients it makes
    ):
        browser.post("/_sandbox/reset").raise_for_status()
        browser.put("/_sandbox/oauth/clients", json=[CLIENT]).raise_for_status()
        behaviour = {"userinfo_is_admin": userinfo_is_admin}
        browser.put("/_sandbox/behaviour", json=behaviour).raise_for_status()
        url = authorize_url(
            sandbox_url, client_id=CLIENT_ID, site_id=SITE, redirect_uri=REDIRECT_URI, state=STATE
        )
        page = browser.get(url)
        form = agent_form(page, agent_id)
        signed_in = browser.post(form.action, data=dict(form.fields))
        code = query_of(signed_in.headers["location"])["code"]

        agent = sign_in(
            sandbox_url,
            f"{sandbox_url}/v4",
            SITE,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=code,
            redirect_uri=REDIRECT_URI,
            need_admin=True,
            limiter=CountingLimiter(),
            http=service,
        )
        log = browser.get("/_sandbox/requests").json()

    assert agent == SignedInAgent(agent_id, SITE, email, is_admin)
    read_v4 = [e["status"] for e in log if e["path"].startswith("/v4/global/agents/")]
    assert read_v4 == ([] if userinfo_is_admin else [200])
    assert CLIENT_SECRET not in json.dumps(log)
