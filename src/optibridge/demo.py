"""`optibridge demo`: the service and the sandboxes in one process, site 10000 ready to try."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from optibridge.config import Config
from optibridge.errors import AppError
from optibridge.listening import served_url
from optibridge.logs import get_logger
from optibridge.runtime import Runtime
from optibridge.secret_box import token_digest
from optibridge.server import run_service
from optibridge.services.comm100_signin import redirect_uri
from optibridge.services.comm100_webhooks import register_webhooks
from optibridge.services.settings import save_document
from optibridge.services.sites import create_site
from optibridge.services.tokens import Role, issue_token
from optibridge.store.repositories import SiteRepository, TokenRepository
from optibridge.sync.sites import get_site, webhook_urls

log = get_logger(__name__)

DEMO_SITE_ID = 10000
SANDBOX_OPTIMOVE_KEY = "sandbox-optimove-key"  # the sandboxes' documented default keys
SANDBOX_COMM100_KEY = "sandbox-comm100-key"
# The OAuth client the demo registers in the Comm100 sandbox, for Comm100 sign-in.
DEMO_OAUTH_CLIENT_ID = "optibridge-demo"
DEMO_OAUTH_SECRET = "sandbox-oauth-client-secret"  # noqa: S105 (the sandbox's, public)
ADMIN_TOKEN_FILE = "demo-admin-token"  # noqa: S105 (a file name)
AGENT_TOKEN_FILE = "demo-agent-token"  # noqa: S105 (a file name)
SIMULATOR_PATH = "/sandbox/comm100/simulator/"

DEMO_CUSTOMERS: dict[str, dict[str, str | None]] = {
    "C1001": {
        "FIRST_NAME": "Ada",
        "LAST_NAME": "Lovelace",
        "EMAIL": "ada@example.com",
        "PHONE": "+44 20 7946 0001",
        "VIP_LEVEL": "gold",
        "COUNTRY": "GB",
    },
    "C1002": {
        "FIRST_NAME": "Grace",
        "LAST_NAME": "Hopper",
        "EMAIL": "grace@example.com",
        "PHONE": None,
        "VIP_LEVEL": None,
        "COUNTRY": "US",
    },
    "C1003": {
        "FIRST_NAME": "Alan",
        "LAST_NAME": "Turing",
        "EMAIL": "alan@example.com",
        "PHONE": "",
        "VIP_LEVEL": "silver",
        "COUNTRY": "GB",
    },
}


# Comm100 contacts (ticket requesters) in the sandbox's v4 shape; custom fields by name.
DEMO_CONTACTS: dict[str, dict[str, Any]] = {
    "6f1c2a9e-0000-4000-8000-000000001001": {
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "customFields": [{"name": "Customer ID", "value": "C1001"}],
        "contactIdentities": [{"contactIdentityType": "Email", "value": "ada@example.com"}],
    },
    "6f1c2a9e-0000-4000-8000-000000001004": {
        "name": "Katherine Johnson",
        "firstName": "Katherine",
        "lastName": "Johnson",
        "customFields": [{"name": "Customer ID", "value": "C1004"}],
        "contactIdentities": [{"contactIdentityType": "Email", "value": "katherine@example.com"}],
    },
}


# People the Comm100 simulator's visitor page offers to play, one per story of the demo.
DEMO_VISITORS: list[dict[str, Any]] = [
    {
        "label": "Ada Lovelace, returning customer C1001",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0001",
        "fields": {"First Name": "Ada", "Customer ID": "C1001"},
        "variables": {"customer_id": "C1001", "vip": "gold"},
    },
    {
        "label": "Grace Hopper, C1002 (Optimove lacks her phone and VIP level)",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": "+1 202 555 0142",
        "fields": {"First Name": "Grace", "Customer ID": "C1002"},
        "variables": {"customer_id": "C1002", "vip": "silver"},
    },
    {
        "label": "Edsger Dijkstra, C2001 (not in Optimove yet)",
        "name": "Edsger Dijkstra",
        "email": "edsger@example.com",
        "fields": {"First Name": "Edsger", "Customer ID": "C2001"},
        "variables": {"customer_id": "C2001", "vip": ""},
    },
]


def demo_past_conversations(now: datetime) -> dict[str, dict[int, dict[str, Any]]]:
    """The past week's conversations in the Comm100 sandbox (v4 shape), for a backfill to
    replay: three chats of known customers, one chat that was missed (nothing to replay), and
    an offline message from someone Optimove does not know yet (its rule creates them)."""

    def visitor(number: int, customer_id: str, **fields: Any) -> dict[str, Any]:
        variables = [{"name": "customer_id", "value": customer_id}]
        return {
            "id": f"8d3c0e51-0000-4000-8000-{number:012d}",
            "customVariables": variables,
            **fields,
        }

    def chat(days: int, customer_id: str, name: str, email: str, **more: Any) -> dict[str, Any]:
        ended = now - timedelta(days=days)
        return {
            "startTime": _iso(ended - timedelta(minutes=12)),
            "endTime": _iso(ended),
            "preChatName": name,
            "preChatEmail": email,
            "visitor": visitor(days, customer_id, name=name, email=email),
            "chatFieldResults": [{"name": "First Name", "value": name.split()[0]}],
            **more,
        }

    return {
        "chats": {
            5001: chat(6, "C1001", "Ada Lovelace", "ada@example.com"),
            5002: chat(
                4, "C1002", "Grace Hopper", "grace@example.com", preChatPhone="+1 202 555 0142"
            ),
            5003: chat(
                2, "C1003", "Alan Turing", "alan@example.com", preChatPhone="+44 161 496 0000"
            ),
            5004: chat(
                1, "C1002", "Grace Hopper", "grace@example.com", endTime=None, status="missed"
            ),
        },
        "offline_messages": {
            6001: {
                "createdTime": _iso(now - timedelta(days=3)),
                "name": "Barbara Liskov",
                "email": "barbara@example.com",
                "subject": "Pricing",
                "message": "Do you have a plan for universities?",
                "visitor": visitor(7, "C2002", name="Barbara Liskov"),
                "customVariables": [{"name": "customer_id", "value": "C2002"}],
            }
        },
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def demo_settings(public_url: str) -> dict[str, Any]:
    optimove_base = f"{public_url}/sandbox/optimove"
    return {
        "optimove": {
            "base_url": optimove_base,
            "api_key": SANDBOX_OPTIMOVE_KEY,
            # The sandbox has no web app; its control surface shows the customer instead.
            "web_app_url": f"{optimove_base}/_sandbox",
            "customer_url_template": "{web_app_url}/customers/{customer_id}",
        },
        "comm100": {
            "api_base_url": f"{public_url}/sandbox/comm100/v4",
            "agent_email": "demo-agent@example.com",
            "api_key": SANDBOX_COMM100_KEY,
            # Comm100 sign-in against the sandbox's OAuth (agents and the site's admin).
            "platform_url": f"{public_url}/sandbox/comm100",
            "oauth_client_id": DEMO_OAUTH_CLIENT_ID,
            "oauth_client_secret": DEMO_OAUTH_SECRET,
        },
        "livechat": {
            "enabled": True,
            "field_mapping": [
                _mapping("EMAIL", "system", "email"),
                _mapping("FIRST_NAME", "prechat", "First Name"),
                _mapping("PHONE", "system", "phone"),
                _mapping("VIP_LEVEL", "custom_variable", "vip"),
            ],
            "identification": [
                {"source": "custom_variable", "name": "customer_id"},
                {"source": "system", "name": "email"},
            ],
            "on_chat_end": {"update": "fill_empty", "no_match": "agent_create"},
            "on_offline_message": {"update": "none", "no_match": "auto_create"},
        },
        "ticketing": {
            "enabled": True,
            "field_mapping": [_mapping("EMAIL", "identity", "Email")],
            "identification": [{"source": "contact", "name": "Customer ID"}],
            # A ticket's contact Optimove doesn't know can be created by the agent from the tab
            # (story step 5 ends there, not at a dead end).
            "on_ticket_created": {"update": "overwrite", "no_match": "agent_create"},
        },
    }


def _mapping(optimove_field: str, source: str, name: str) -> dict[str, Any]:
    return {
        "optimove_field": optimove_field,
        "comm100_field": {"source": source, "name": name},
        "show_in_console": True,
    }


def demo_admin_token(data_dir: Path) -> str:
    """The same token on every demo start, kept in data_dir, so the printed one keeps working."""
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = f"oba_demo_{secrets.token_urlsafe(24)}"
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def demo_agent_token(runtime: Runtime) -> str:
    """An agent token of site 10000 for the simulator's Optimove tab, kept in data_dir and
    reused on every start while the database still knows it."""
    path = runtime.config.data_dir / AGENT_TOKEN_FILE
    with runtime.unit_of_work() as session:
        if path.exists():
            token = path.read_text().strip()
            record = TokenRepository(session).by_hash(token_digest(token))
            if record and record.role == Role.AGENT.value and record.site_id == DEMO_SITE_ID:
                return token
        token = issue_token(session, Role.AGENT, DEMO_SITE_ID, "demo: Comm100 simulator").token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token)
    return token


def simulator_config(runtime: Runtime, public_url: str) -> dict[str, Any]:
    """Where the Comm100 simulator sends site 10000's webhooks, and the tab it embeds."""
    with runtime.unit_of_work(read_only=True) as session:
        urls = webhook_urls(runtime.box, get_site(session, DEMO_SITE_ID), public_url)
    return {
        "site_id": DEMO_SITE_ID,
        "livechat_webhook_url": urls.livechat,
        "ticketing_webhook_url": urls.ticketing,
        "console_url": f"{public_url}/console/{DEMO_SITE_ID}",
        "agent_token": demo_agent_token(runtime),
        "sync_log_url": f"{public_url}/ui/sites/{DEMO_SITE_ID}/syncs",
        "sample_visitors": DEMO_VISITORS,
    }


@dataclass
class Seeded:
    """How the demo's start went, for its banner: what could not be done, said, not raised."""

    webhooks: str = "not registered in the Comm100 sandbox (see the site's page)"
    problems: list[str] = field(default_factory=list)


def seed_demo(runtime: Runtime, public_url: str, http: httpx.Client) -> Seeded:
    """Sandbox customers, contacts and the past week's conversations (the sandboxes forget them
    at every start), the OAuth
    client, site 10000 and its settings, the Comm100 simulator's configuration, and the site's
    Live Chat webhooks registered in the Comm100 sandbox. Each step that fails is said in the
    result and the others go on: the demo runs all the same. `http` reaches the sandboxes'
    control surfaces (the gate lets its calls through while the demo starts)."""
    seeded = Seeded()
    optimove = f"{public_url}/sandbox/optimove/_sandbox"
    comm100 = f"{public_url}/sandbox/comm100/_sandbox"

    def put(what: str, path: str, body: Any) -> None:
        try:
            http.put(path, json=body).raise_for_status()
        except httpx.HTTPError as error:
            seeded.problems.append(f"{what} could not be set up: {_said(error)}")

    for customer_id, attributes in DEMO_CUSTOMERS.items():
        where = f"{optimove}/customers/{customer_id}"
        put(f"Optimove sandbox customer {customer_id}", where, attributes)
    for contact_id, contact in DEMO_CONTACTS.items():
        put(f"Comm100 sandbox contact {contact_id}", f"{comm100}/contacts/{contact_id}", contact)
    past = demo_past_conversations(datetime.now(UTC))
    for chat_id, past_chat in past["chats"].items():
        put(f"Past chat {chat_id}", f"{comm100}/chats/{chat_id}", past_chat)
    for message_id, message in past["offline_messages"].items():
        where = f"{comm100}/offline-messages/{message_id}"
        put(f"Past offline message {message_id}", where, message)
    put("Comm100 sign-in's OAuth client", f"{comm100}/oauth/clients", [_oauth_client(public_url)])
    try:
        _save_demo_site(runtime, public_url)
    except AppError as error:
        why = "; ".join(f"{p.pointer} {p.message}" for p in error.details) or error.message
        seeded.problems.append(f"Site {DEMO_SITE_ID}'s settings were not saved: {why}")
        return seeded
    put("The Comm100 simulator", f"{comm100}/simulator", simulator_config(runtime, public_url))
    seeded.webhooks = register_demo_webhooks(runtime, public_url)
    return seeded


def _oauth_client(public_url: str) -> dict[str, Any]:
    return {
        "clientId": DEMO_OAUTH_CLIENT_ID,
        "clientSecret": DEMO_OAUTH_SECRET,
        "redirectUris": [redirect_uri(public_url)],
        "siteId": DEMO_SITE_ID,
    }


def _save_demo_site(runtime: Runtime, public_url: str) -> None:
    with runtime.unit_of_work() as session:
        if SiteRepository(session).get(DEMO_SITE_ID) is None:
            create_site(session, runtime.box, DEMO_SITE_ID, "Demo site")
    # Saved at every start: the sandbox's address depends on this run's host and port.
    save_document(runtime, DEMO_SITE_ID, demo_settings(public_url))


def _said(error: httpx.HTTPError) -> str:
    """What a sandbox said when it refused, in a line."""
    if isinstance(error, httpx.HTTPStatusError):
        body = error.response.text.strip().replace("\n", " ")
        return f"HTTP {error.response.status_code}: {body[:300]}"
    return str(error) or type(error).__name__


def register_demo_webhooks(runtime: Runtime, public_url: str) -> str:
    """Site 10000's Live Chat webhooks registered in the Comm100 sandbox through its API, as an
    administrator's *Register in Comm100* would (the sandbox forgets them at every start). When
    that fails the demo runs all the same: the simulator sends its webhooks to the URLs it is
    configured with, and the control panel shows why."""
    try:
        register_webhooks(runtime, DEMO_SITE_ID, public_url)
    except AppError as error:
        log.warning("demo_webhooks_not_registered", site_id=DEMO_SITE_ID, reason=error.message)
        return "not registered in the Comm100 sandbox (see the site's page)"
    return "registered in the Comm100 sandbox"


class StartingGate:
    """The demo answers only once it is ready (issue 16): until `open()`, every request is
    answered 503 `starting` (`/readyz` too; `/healthz` says the process is alive), except the
    demo's own while it seeds: its calls to the sandboxes'
    control surfaces (they carry this start's key) and the service's calls to the sandboxes'
    APIs (the settings' field check, registering the webhooks). So no one can change a sandbox
    between the demo answering and its being seeded."""

    HEADER = "x-optibridge-demo-start"

    def __init__(self) -> None:
        self.key = secrets.token_urlsafe(24)
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    def client(self) -> httpx.Client:
        """An HTTP client whose calls the gate lets through."""
        return httpx.Client(timeout=10, headers={self.HEADER: self.key})

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def gated(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or self._open.is_set() or self._lets_through(scope):
                await app(scope, receive, send)
                return
            await JSONResponse(
                {
                    "error": {
                        "code": "starting",
                        "message": "The demo is starting (it sets up its sandboxes and site"
                        " 10000); try again in a moment.",
                        "details": [],
                    }
                },
                status_code=503,
                headers={"Retry-After": "1"},
            )(scope, receive, send)

        return gated

    def _lets_through(self, scope: Scope) -> bool:
        if scope["path"] == "/healthz":  # alive, if not ready yet (`/readyz` says when)
            return True
        for name, value in scope["headers"]:
            if name == self.HEADER.encode() and secrets.compare_digest(value, self.key.encode()):
                return True
        path: str = scope["path"]
        for sandbox in ("/sandbox/optimove/", "/sandbox/comm100/"):
            if path.startswith(sandbox):
                return not path[len(sandbox) :].startswith(("_sandbox", "simulator"))
        return False


def run_demo(base: Config, *, host: str, port: int) -> None:
    """The demo on `base` (from the environment), whose data_dir holds its SQLite database."""
    data_dir = base.data_dir
    public_url = base.public_url or served_url(host, port)
    token = base.admin_token or SecretStr(demo_admin_token(data_dir))
    config = base.model_copy(
        update={
            "allow_private_urls": True,
            "public_url": public_url,
            "admin_token": token,
        }
    )

    gate = StartingGate()

    def announce(runtime: Runtime) -> None:
        try:
            with gate.client() as http:
                seeded = seed_demo(runtime, public_url, http)
        except Exception as error:  # never the end of the demo: it is said, and it runs on
            log.exception("demo_seeding_failed")
            seeded = Seeded(problems=[f"Setting up the demo failed: {error}"])
        finally:
            gate.open()
        for problem in seeded.problems:
            log.warning("demo_not_ready", problem=problem)
        print(_banner(public_url, token.get_secret_value(), seeded), flush=True)

    run_service(
        config,
        host=host,
        port=port,
        mount_sandboxes=True,
        on_started=announce,
        wrap=gate.wrap,
    )


def _banner(public_url: str, token: str, seeded: Seeded) -> str:
    site = "connected to both sandboxes" if not seeded.problems else "see the problems below"
    lines = [
        "",
        "optibridge demo is running.",
        f"  Control panel:             {public_url}/ui/login",
        f"  Agent console simulator:   {public_url}{SIMULATOR_PATH}  <- start here",
        f"  API and its documentation: {public_url}/docs",
        f"  Optimove sandbox:          {public_url}/sandbox/optimove",
        f"  Comm100 sandbox:           {public_url}/sandbox/comm100",
        f"  Demo site:                 {DEMO_SITE_ID} ({site})",
        f"  Its Live Chat webhooks:    {seeded.webhooks}",
        "  Past conversations:        the last week's, in the Comm100 sandbox: backfill them"
        " from the sync log page",
        f"  Admin token:               {token}",
        "",
    ]
    if seeded.problems:
        lines += ["Not everything could be set up (the demo runs all the same):"]
        lines += [f"  - {problem}" for problem in seeded.problems]
        lines += ["  Restart the demo to set it up again.", ""]
    lines += [
        "Try it:",
        f"  curl -H 'Authorization: Bearer {token}' "
        f"{public_url}/api/v1/sites/{DEMO_SITE_ID}/settings",
        "",
    ]
    return "\n".join(lines)
