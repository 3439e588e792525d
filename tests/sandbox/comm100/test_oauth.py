"""The Comm100 sandbox's OAuth 2 sign-in (authorization code), as the service's client meets it.

So far who is who on the platform: its agents and OAuth clients, set through the control surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from optibridge.sandbox.comm100 import create_app
from optibridge.sandbox.comm100.identity import DEFAULT_ADMIN_ID, DEFAULT_AGENT_ID

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
