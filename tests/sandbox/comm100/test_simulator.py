"""The Comm100 simulator in-process: its configuration, its pages, and the webhooks it sends.

Each test gets a fresh sandbox (mounted at /sandbox/comm100, as in the demo) reached through
httpx's ASGI transport; the simulator's webhooks go to a stand-in service through an httpx
transport that records them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from optibridge.sandbox.comm100 import create_app

pytestmark = pytest.mark.anyio

MOUNT = "/sandbox/comm100"
SIM = f"{MOUNT}/simulator"
WEBHOOK_TOKEN = "whk_s3cret-site-token"
AGENT_TOKEN = "obg_agent-token-xyz"
SERVICE = "http://service.test"
LIVECHAT_URL = f"{SERVICE}/webhooks/comm100/10000/livechat?token={WEBHOOK_TOKEN}"
TICKETING_URL = f"{SERVICE}/webhooks/comm100/10000/ticketing?token={WEBHOOK_TOKEN}"
CONSOLE_URL = f"{SERVICE}/console/10000"
AGENT_ID = "5e1f0c7a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
VISITOR_ID = "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a"  # the visitor Sim.start_chat plays
ADA_CONTACT = "2f1e6a3c-0d4b-4a5b-8c9d-0123456789ab"
ADA = {
    "label": "Ada, returning customer C1001",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0001",
    "fields": {"First Name": "Ada", "Customer ID": "C1001"},
    "variables": {"customer_id": "C1001", "vip": "gold"},
}
SIMULATOR_CONFIG: dict[str, Any] = {
    "site_id": 10000,
    "livechat_webhook_url": LIVECHAT_URL,
    "ticketing_webhook_url": TICKETING_URL,
    "console_url": CONSOLE_URL,
    "agent_token": AGENT_TOKEN,
    "agent_id": AGENT_ID,
    "agent_name": "Grace the agent",
    "sample_visitors": [ADA],
}
MS_DATE = re.compile(r"^/Date\(\d{13}\)/$")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class StandInService:
    """Answers webhooks as optibridge does: 202 `{"id", "duplicate"}` (or what a test sets)."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 202
    answer: dict[str, Any] | None = None
    unreachable: bool = False
    _seen: dict[str, int] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.unreachable:
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        body = json.loads(request.content)
        self.received.append((str(request.url), body))
        if self.answer is not None:
            return httpx.Response(self.status, json=self.answer)
        digest = json.dumps(body, sort_keys=True)
        duplicate = digest in self._seen
        record_id = self._seen.setdefault(digest, len(self._seen) + 1)
        return httpx.Response(self.status, json={"id": record_id, "duplicate": duplicate})

    def bodies(self, event: str | None = None) -> list[dict[str, Any]]:
        return [b for _, b in self.received if event is None or b.get("event") == event]


@dataclass
class Sim:
    http: httpx.AsyncClient
    service: StandInService

    async def configure(self, **changes: Any) -> httpx.Response:
        return await self.http.put(
            f"{MOUNT}/_sandbox/simulator", json={**SIMULATOR_CONFIG, **changes}
        )

    async def start_chat(self, **form: str) -> str:
        """Start a chat as Ada (with `form` overriding); the redirect's path."""
        data = {
            "visitor_id": VISITOR_ID,
            "chat-system:name": "Ada Lovelace",
            "chat-system:email": "ada@example.com",
            "chat-field:First Name": "Ada",
            "chat-field:Customer ID": "C1001",
            "chat-var:customer_id": "C1001",
            "chat-var:vip": "gold",
            "message": "Hello, is my order on its way?",
            "send_chat_started": "on",
            **form,
        }
        response = await self.http.post(f"{SIM}/visitor/chats", data=data)
        assert response.status_code == 303, response.text
        return response.headers["location"]

    async def chat_id(self, **form: str) -> str:
        location = await self.start_chat(**form)
        return urlsplit(location).path.rsplit("/", 1)[1]

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, response.text
        return await self.http.get(response.headers["location"])


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    service = StandInService()
    sandbox = create_app(webhook_transport=httpx.MockTransport(service))
    outer = FastAPI()
    outer.mount(MOUNT, sandbox)
    transport = httpx.ASGITransport(app=outer, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield Sim(http, service)


@pytest.fixture
async def configured(sim: Sim) -> Sim:
    assert (await sim.configure()).status_code == 200
    return sim


class _Page(HTMLParser):
    """What the tests look at in a page: form controls, labels, the iframe, the text."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_targets: set[str] = set()
        self.iframe_src: str | None = None
        self.scripts: dict[str, str] = {}
        self.text: list[str] = []
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag in {"input", "select", "textarea"} and named.get("type") != "hidden":
            self.controls.append({"tag": tag, **named})
        elif tag == "label" and "for" in named:
            self.label_targets.add(named["for"])
        elif tag == "iframe":
            self.iframe_src = named.get("src")
        elif tag == "script":
            self._script = named.get("id", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts[self._script] = self.scripts.get(self._script, "") + data
        else:
            self.text.append(data)

    @property
    def plain_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def page(response: httpx.Response) -> _Page:
    parsed = _Page()
    parsed.feed(response.text)
    return parsed


def announced(response: httpx.Response) -> str:
    match = re.search(r'<p class="announce[^"]*" role="status">([^<]*)</p>', response.text)
    assert match, response.text
    return unescape(match.group(1))


# --- configuration ----------------------------------------------------------------------------


async def test_the_configuration_is_answered_with_its_secrets_masked(sim: Sim) -> None:
    stored = await sim.configure()
    read = await sim.http.get(f"{MOUNT}/_sandbox/simulator")
    assert stored.status_code == read.status_code == 200
    assert stored.json() == read.json()
    assert read.json()["livechat_webhook_url"] == (
        f"{SERVICE}/webhooks/comm100/10000/livechat?token=****"
    )
    assert read.json()["agent_token"] == "****"
    assert WEBHOOK_TOKEN not in read.text
    assert AGENT_TOKEN not in read.text


async def test_a_configuration_with_a_relative_url_or_unknown_key_is_refused(sim: Sim) -> None:
    response = await sim.configure(console_url="/console/10000", colour="blue")
    assert response.status_code == 422
    pointers = {d["pointer"] for d in response.json()["error"]["details"]}
    assert pointers == {"/console_url", "/colour"}


async def test_forgetting_the_configuration(configured: Sim) -> None:
    deleted = await configured.http.delete(f"{MOUNT}/_sandbox/simulator")
    assert deleted.status_code == 204
    assert (await configured.http.get(f"{MOUNT}/_sandbox/simulator")).status_code == 404


async def test_a_reset_forgets_the_configuration_and_the_chats(configured: Sim) -> None:
    await configured.start_chat()
    await configured.http.post(f"{MOUNT}/_sandbox/reset")
    assert (await configured.http.get(f"{MOUNT}/_sandbox/simulator")).status_code == 404
    assert (await configured.http.get(f"{MOUNT}/_sandbox/simulator/chats")).json() == []
    assert (await configured.http.get(f"{MOUNT}/_sandbox/simulator/sent")).json() == []


async def test_the_start_page_says_where_webhooks_go_without_the_token(configured: Sim) -> None:
    response = await configured.http.get(f"{SIM}/")
    assert response.status_code == 200
    text = page(response).plain_text
    assert "Connected to site 10000" in text
    assert f"{SERVICE}/webhooks/comm100/10000/livechat" in text
    assert WEBHOOK_TOKEN not in response.text
    assert AGENT_TOKEN not in response.text


async def test_the_start_page_explains_how_to_configure_an_unconfigured_simulator(
    sim: Sim,
) -> None:
    response = await sim.http.get(f"{SIM}/")
    assert "Not configured yet" in page(response).plain_text
    assert "PUT /_sandbox/simulator" in page(response).plain_text


async def test_the_simulator_root_redirects_to_its_start_page_under_the_mount(sim: Sim) -> None:
    response = await sim.http.get(SIM)
    assert response.status_code == 307
    assert response.headers["location"] == f"{SIM}/"


async def test_pages_link_within_the_mount_and_load_their_stylesheet(sim: Sim) -> None:
    response = await sim.http.get(f"{SIM}/agent")
    assert f'href="{SIM}/static/simulator.css"' in response.text
    assert f'href="{SIM}/visitor"' in response.text
    stylesheet = await sim.http.get(f"{SIM}/static/simulator.css")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")


# --- the visitor ------------------------------------------------------------------------------


async def test_the_pre_chat_form_is_built_from_the_sandbox_forms(sim: Sim) -> None:
    forms = {
        "prechat_fields": [
            {"name": "Name", "type": "name", "isSystem": True, "isRequired": True},
            {"name": "Loyalty number", "type": "text"},
            {"name": "Topic", "type": "dropdownList", "options": ["Orders", "Returns"]},
        ],
        "custom_variables": [{"name": "basket_value"}],
    }
    assert (await sim.http.put(f"{MOUNT}/_sandbox/forms", json=forms)).status_code == 200
    parsed = page(await sim.http.get(f"{SIM}/visitor"))
    names = {c.get("name") for c in parsed.controls}
    assert {"chat-system:name", "chat-field:Loyalty number", "chat-field:Topic"} <= names
    assert "chat-var:basket_value" in names
    name_input = next(c for c in parsed.controls if c.get("name") == "chat-system:name")
    assert "required" in name_input
    assert "Returns" in parsed.plain_text


async def test_every_form_control_of_every_page_has_a_label(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    created = await configured.http.post(
        f"{SIM}/agent/tickets", data={"requester_type": "visitor", "visitor_id": "new"}
    )
    paths = [
        f"{SIM}/",
        f"{SIM}/visitor",
        f"{SIM}/visitor?sample=0",
        f"{SIM}/visitor/chats/{chat_id}",
        f"{SIM}/agent",
        f"{SIM}/agent/chats/{chat_id}",
        urlsplit(created.headers["location"]).path,
    ]
    for path in paths:
        parsed = page(await configured.http.get(path))
        unlabelled = [c for c in parsed.controls if c.get("id") not in parsed.label_targets]
        assert unlabelled == [], path


async def test_a_sample_visitor_fills_the_forms(configured: Sim) -> None:
    parsed = page(await configured.http.get(f"{SIM}/visitor?sample=0"))
    values = {c.get("name"): c.get("value") for c in parsed.controls if c["tag"] == "input"}
    assert values["chat-system:email"] == "ada@example.com"
    assert values["chat-field:Customer ID"] == "C1001"
    assert values["chat-var:customer_id"] == "C1001"
    assert values["offline-var:vip"] == "gold"


async def test_starting_a_chat_sends_chat_started_with_the_visitor(configured: Sim) -> None:
    location = await configured.start_chat()
    assert configured.service.received[0][0] == LIVECHAT_URL
    (body,) = configured.service.bodies("chat_started")
    visitor = body["visitor"]
    assert visitor["name"] == "Ada Lovelace"
    assert visitor["email"] == "ada@example.com"
    assert visitor["chat_id"] == urlsplit(location).path.rsplit("/", 1)[1]
    assert {"name": "customer_id", "value": "C1001"} in visitor["custom_variables"]
    answers = {f["name"]: f["value"] for f in visitor["custom_fields"]}
    assert answers == {"First Name": "Ada", "Customer ID": "C1001"}
    assert visitor["ip"] == "203.0.113.9"
    chat_page = await configured.http.get(location)
    assert announced(chat_page) == "Sent chat_started: 202, sync record #1"
    assert "Hello, is my order on its way?" in page(chat_page).plain_text


async def test_a_chat_can_start_without_the_chat_started_webhook(configured: Sim) -> None:
    location = await configured.start_chat(send_chat_started="")
    assert configured.service.received == []
    assert "sent=" not in location
    chats = (await configured.http.get(f"{MOUNT}/_sandbox/simulator/chats")).json()
    assert len(chats) == 1


async def test_a_pre_chat_form_missing_a_required_field_is_shown_again(configured: Sim) -> None:
    data = {"chat-system:name": "", "chat-system:email": "ada@example.com", "message": "Hi"}
    response = await configured.http.post(f"{SIM}/visitor/chats", data=data)
    assert response.status_code == 422
    assert "Name is required." in page(response).plain_text
    assert 'aria-invalid="true"' in response.text
    assert configured.service.received == []


async def test_a_returning_visitor_keeps_their_id_and_counts_visits(configured: Sim) -> None:
    await configured.chat_id()
    again = page(await configured.http.get(f"{SIM}/visitor?visitor={VISITOR_ID}"))
    assert "a returning visitor" in again.plain_text
    await configured.start_chat()
    bodies = configured.service.bodies("chat_started")
    assert [b["visitor"]["visits"] for b in bodies] == [1, 2]
    assert bodies[0]["visitor"]["id"] == bodies[1]["visitor"]["id"]


async def test_an_offline_message_sends_offline_message_submitted(configured: Sim) -> None:
    data = {
        "visitor_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
        "offline-system:name": "Grace Hopper",
        "offline-system:email": "grace@example.com",
        "offline-subject": "Invoice",
        "offline-content": "Please send my invoice again.",
        "offline-field:Customer ID": "C1002",
        "offline-var:customer_id": "C1002",
    }
    response = await configured.http.post(f"{SIM}/visitor/offline-messages", data=data)
    (body,) = configured.service.bodies("offline_message_submitted")
    message = body["offline_message"]
    assert message["subject"] == "Invoice"
    assert message["content"] == "Please send my invoice again."
    assert message["email"] == "grace@example.com"
    assert {"name": "customer_id", "value": "C1002"} in message["custom_variable"]
    assert MS_DATE.match(message["time"])
    assert body["visitor"]["id"] == data["visitor_id"]
    assert announced(await configured.follow(response)).startswith(
        "Sent offline_message_submitted: 202, sync record #"
    )


# --- the agent --------------------------------------------------------------------------------


async def test_the_agent_console_lists_the_open_chat(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    response = await configured.http.get(f"{SIM}/agent")
    assert f'href="{SIM}/agent/chats/{chat_id}"' in response.text
    assert "Ada Lovelace open" in page(response).plain_text


async def test_a_chat_embeds_the_live_chat_tab_as_comm100_would(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    parsed = page(await configured.http.get(f"{SIM}/agent/chats/{chat_id}"))
    assert parsed.iframe_src is not None
    src = urlsplit(parsed.iframe_src)
    assert f"{src.scheme}://{src.netloc}{src.path}" == f"{CONSOLE_URL}/livechat"
    assert parse_qs(src.query) == {
        "siteId": ["10000"],
        "agentId": [AGENT_ID],
        "token": [AGENT_TOKEN],
    }


async def test_a_chat_is_what_the_consoles_sdk_answers_the_tab_with(configured: Sim) -> None:
    """The chat and its visitor as the App SDK gives them (reference/comm100.md): what was
    typed in the chat on the chat, custom variables and the SSO id on the visitor."""
    chat_id = await configured.chat_id(**{"sso_id": "sso-ada"})
    parsed = page(await configured.http.get(f"{SIM}/agent/chats/{chat_id}"))
    answers = json.loads(parsed.scripts["comm100-console-data"])
    assert answers["chat"] == {
        "id": chat_id,
        "visitorId": VISITOR_ID,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "company": "",
        "productService": "",
        "department": "",
        "fields": [
            {"name": "First Name", "value": "Ada"},
            {"name": "Customer ID", "value": "C1001"},
        ],
        "requestPage": answers["chat"]["requestPage"],
    }
    visitor = answers["visitor"]
    assert (visitor["id"], visitor["name"], visitor["email"]) == (
        VISITOR_ID,
        "Ada Lovelace",
        "ada@example.com",
    )
    assert visitor["ssoId"] == "sso-ada"
    assert visitor["customVariables"] == [
        {"name": "customer_id", "value": "C1001"},
        {"name": "vip", "value": "gold"},
    ]
    assert "phone" not in visitor
    assert "company" not in visitor
    assert answers["agent"]["siteId"] == 10000


async def test_no_page_shows_a_token_outside_the_tab_address(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    created = await configured.http.post(
        f"{SIM}/agent/tickets", data={"requester_type": "visitor", "visitor_id": "new"}
    )
    ticket_page = await configured.follow(created)
    for response in (
        ticket_page,
        await configured.http.get(f"{SIM}/agent/chats/{chat_id}"),
        await configured.http.get(f"{SIM}/visitor/chats/{chat_id}"),
        await configured.http.get(f"{SIM}/visitor"),
    ):
        parsed = page(response)
        without_tab = response.text.replace((parsed.iframe_src or "").replace("&", "&amp;"), "", 1)
        assert WEBHOOK_TOKEN not in response.text
        assert AGENT_TOKEN not in without_tab


async def test_the_agent_and_the_visitor_talk_in_the_transcript(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    await configured.http.post(
        f"{SIM}/agent/chats/{chat_id}/messages", data={"message": "It ships today."}
    )
    await configured.http.post(
        f"{SIM}/visitor/chats/{chat_id}/messages", data={"message": "Thanks!"}
    )
    text = page(await configured.http.get(f"{SIM}/visitor/chats/{chat_id}")).plain_text
    assert "Grace the agent : It ships today." in text
    assert "Ada Lovelace : Thanks!" in text


async def test_end_chat_sends_chat_ended_and_shows_the_service_answer(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    await configured.http.post(
        f"{SIM}/agent/chats/{chat_id}/messages", data={"message": "It ships today."}
    )
    ended = await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    (body,) = configured.service.bodies("chat_ended")
    assert body["visitor"]["chat_id"] == body["chat"]["id"] == chat_id
    assert MS_DATE.match(body["chat"]["start_time"])
    assert MS_DATE.match(body["chat"]["end_time"])
    lines = body["chat"]["chat_transcript"].split("⊙")
    assert [line.split("] ", 1)[1] for line in lines] == [
        "Ada Lovelace: Hello, is my order on its way?",
        "Grace the agent: It ships today.",
    ]
    assert {"name": "vip", "value": "gold"} in body["chat"]["custom_variable"]
    console = await configured.follow(ended)
    assert announced(console) == "Sent chat_ended: 202, sync record #2"
    assert "ended" in page(console).plain_text
    assert "End chat" not in page(console).plain_text


async def test_the_answer_links_to_the_sync_log_when_configured(sim: Sim) -> None:
    await sim.configure(sync_log_url=f"{SERVICE}/ui/sites/10000/syncs")
    response = await sim.http.get(await sim.start_chat())
    assert f'<a href="{SERVICE}/ui/sites/10000/syncs">Open the sync log</a>' in response.text


async def test_an_ended_chat_cannot_end_again(configured: Sim) -> None:
    chat_id = await configured.chat_id()
    await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    again = await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    assert again.status_code == 409
    assert len(configured.service.bodies("chat_ended")) == 1


async def test_an_unknown_chat_is_a_404_page(configured: Sim) -> None:
    response = await configured.http.get(f"{SIM}/agent/chats/no-such-chat")
    assert response.status_code == 404
    assert "no such chat" in page(response).plain_text


@pytest.mark.parametrize("ticket", ["1001", "not-a-number"])
async def test_an_unknown_ticket_is_a_404_page(configured: Sim, ticket: str) -> None:
    response = await configured.http.get(f"{SIM}/agent/tickets/{ticket}")
    assert response.status_code == 404
    assert "no ticket" in page(response).plain_text


async def test_a_ticket_for_a_contact_is_stored_and_triggers_the_webhook(
    configured: Sim,
) -> None:
    contact = {
        "name": "Ada Lovelace",
        "contactIdentities": [{"contactIdentityType": "Email", "value": "ada@example.com"}],
    }
    await configured.http.put(f"{MOUNT}/_sandbox/contacts/{ADA_CONTACT}", json=contact)
    agent = page(await configured.http.get(f"{SIM}/agent"))
    assert "Ada Lovelace <ada@example.com>" in agent.plain_text
    created = await configured.http.post(
        f"{SIM}/agent/tickets",
        data={"requester_type": "contact", "contact_id": ADA_CONTACT, "subject": "Invoice"},
    )
    assert created.headers["location"].startswith(f"{SIM}/agent/tickets/1001?")
    stored = (await configured.http.get(f"{MOUNT}/_sandbox/tickets/1001")).json()
    assert stored["contactOrVisitorType"] == "contact"
    assert stored["contactOrVisitorId"] == ADA_CONTACT
    ((url, body),) = configured.service.received
    assert url == TICKETING_URL
    assert body["SiteId"] == 10000
    assert body["TicketInfo"]["Id"] == 1001
    assert body["TicketInfo"]["Subject"] == "Invoice"
    assert body["TicketInfo"]["ContactOrVisitorType"] == 3
    assert body["TicketInfo"]["ContactOrVisitorId"] == ADA_CONTACT
    ticket_page = await configured.follow(created)
    assert announced(ticket_page) == "Sent ticket_created: 202, sync record #1"
    assert "#1001 Invoice" in page(ticket_page).plain_text


async def test_a_ticket_embeds_the_ticketing_tab_with_its_context(configured: Sim) -> None:
    created = await configured.http.post(
        f"{SIM}/agent/tickets", data={"requester_type": "visitor", "visitor_id": "new"}
    )
    parsed = page(await configured.follow(created))
    assert (parsed.iframe_src or "").startswith(f"{CONSOLE_URL}/ticketing?siteId=10000&")
    ticket = json.loads(parsed.scripts["comm100-console-data"])["ticket"]
    body = configured.service.bodies()[0]
    assert (ticket["id"], ticket["relatedType"], ticket["relatedId"]) == (
        1001,
        "visitor",
        body["TicketInfo"]["ContactOrVisitorId"],
    )
    assert body["TicketInfo"]["ContactOrVisitorType"] == 2


async def test_a_ticket_for_a_chat_visitor_names_that_visitor(configured: Sim) -> None:
    await configured.chat_id()
    visitor_id = VISITOR_ID
    await configured.http.post(
        f"{SIM}/agent/tickets", data={"requester_type": "visitor", "visitor_id": visitor_id}
    )
    (body,) = [b for _, b in configured.service.received if "TicketInfo" in b]
    assert body["TicketInfo"]["ContactOrVisitorId"] == visitor_id


async def test_a_ticket_without_a_requester_choice_is_refused(configured: Sim) -> None:
    response = await configured.http.post(f"{SIM}/agent/tickets", data={"subject": "x"})
    assert response.status_code == 422
    assert "contact or a visitor" in page(response).plain_text
    assert configured.service.received == []


async def test_converting_a_ticket_visitor_makes_a_contact_with_their_fields(
    configured: Sim,
) -> None:
    await configured.chat_id()
    visitor_id = VISITOR_ID
    await configured.http.post(
        f"{SIM}/agent/tickets", data={"requester_type": "visitor", "visitor_id": visitor_id}
    )
    converted = await configured.http.post(f"{SIM}/agent/tickets/1001/convert")
    ticket = (await configured.http.get(f"{MOUNT}/_sandbox/tickets/1001")).json()
    assert ticket["contactOrVisitorType"] == "contact"
    contact = (
        await configured.http.get(f"{MOUNT}/_sandbox/contacts/{ticket['contactOrVisitorId']}")
    ).json()
    assert contact["name"] == "Ada Lovelace"
    assert [(i["contactIdentityType"], i["value"]) for i in contact["contactIdentities"]] == [
        ("Email", "ada@example.com")
    ]
    fields = (await configured.http.get(f"{MOUNT}/_sandbox/forms")).json()["contact_fields"]
    customer_id_field = next(f["id"] for f in fields if f["name"] == "Customer ID")
    assert {"id": customer_id_field, "value": "C1001"} in contact["customFields"]
    parsed = page(await configured.follow(converted))
    assert "is now the contact Ada Lovelace" in parsed.plain_text
    current = json.loads(parsed.scripts["comm100-console-data"])["ticket"]
    assert (current["relatedType"], current["relatedId"]) == (
        "contact",
        ticket["contactOrVisitorId"],
    )


async def test_converting_a_visitor_reuses_the_contact_with_their_email(configured: Sim) -> None:
    contact = {
        "name": "Ada L.",
        "contactIdentities": [{"contactIdentityType": "Email", "value": "ADA@example.com"}],
    }
    await configured.http.put(f"{MOUNT}/_sandbox/contacts/{ADA_CONTACT}", json=contact)
    await configured.chat_id()
    await configured.http.post(
        f"{SIM}/agent/tickets",
        data={"requester_type": "visitor", "visitor_id": VISITOR_ID},
    )
    await configured.http.post(f"{SIM}/agent/tickets/1001/convert")
    ticket = (await configured.http.get(f"{MOUNT}/_sandbox/tickets/1001")).json()
    assert ticket["contactOrVisitorId"] == ADA_CONTACT
    assert len((await configured.http.get(f"{MOUNT}/_sandbox/contacts")).json()) == 1


# --- what the service answered ----------------------------------------------------------------


async def test_a_refusal_is_shown_with_the_service_reason(configured: Sim) -> None:
    configured.service.status = 401
    configured.service.answer = {"error": {"code": "unauthorized", "message": "Wrong token."}}
    chat_id = await configured.chat_id(send_chat_started="")
    console = await configured.follow(
        await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    )
    assert announced(console) == "Sent chat_ended: 401 (Wrong token.)"
    assert 'class="announce bad"' in console.text


async def test_an_unreachable_service_is_shown_without_the_token(configured: Sim) -> None:
    configured.service.unreachable = True
    chat_id = await configured.chat_id(send_chat_started="")
    console = await configured.follow(
        await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    )
    message = announced(console)
    assert message.startswith("chat_ended not delivered: ConnectError")
    assert WEBHOOK_TOKEN not in console.text
    sent = (await configured.http.get(f"{MOUNT}/_sandbox/simulator/sent")).json()
    assert WEBHOOK_TOKEN not in json.dumps(sent)


async def test_an_unconfigured_simulator_says_nothing_was_sent(sim: Sim) -> None:
    location = await sim.start_chat()
    message = announced(await sim.http.get(location))
    assert message == (
        "chat_started not sent: no Live Chat webhook URL is configured (PUT /_sandbox/simulator)"
    )
    chat_id = urlsplit(location).path.rsplit("/", 1)[1]
    parsed = page(await sim.http.get(f"{SIM}/agent/chats/{chat_id}"))
    assert parsed.iframe_src is None
    assert "No Optimove tab is configured" in parsed.plain_text


async def test_delivering_again_repeats_the_same_body(configured: Sim) -> None:
    chat_id = await configured.chat_id(send_chat_started="")
    ended = await configured.follow(await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end"))
    back = re.search(r'name="next" value="([^"]+)"', ended.text)
    assert back
    assert back.group(1) == f"{SIM}/agent/chats/{chat_id}"
    again = await configured.http.post(f"{SIM}/sent/1/redeliver", data={"next": back.group(1)})
    assert again.headers["location"] == f"{SIM}/agent/chats/{chat_id}?sent=2"
    first, second = configured.service.received
    assert first == second
    console = await configured.follow(again)
    assert announced(console) == (
        "Sent chat_ended: 202, sync record #1 (a duplicate: the service had it already)"
    )


async def test_delivering_again_never_redirects_outside_the_simulator(configured: Sim) -> None:
    chat_id = await configured.chat_id(send_chat_started="")
    await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    again = await configured.http.post(
        f"{SIM}/sent/1/redeliver", data={"next": "https://elsewhere.example/"}
    )
    assert again.headers["location"].startswith(f"{SIM}/agent?sent=")


async def test_the_sent_log_lists_deliveries_newest_first_without_query(
    configured: Sim,
) -> None:
    chat_id = await configured.chat_id()
    await configured.http.post(f"{SIM}/agent/chats/{chat_id}/end")
    sent = (await configured.http.get(f"{MOUNT}/_sandbox/simulator/sent")).json()
    assert [s["event"] for s in sent] == ["chat_ended", "chat_started"]
    assert sent[0]["target"] == f"{SERVICE}/webhooks/comm100/10000/livechat"
    assert sent[0]["summary"] == "Sent chat_ended: 202, sync record #2"
    assert sent[0]["body"]["event"] == "chat_ended"
