"""`optibridge demo`: the service and the sandboxes in one process, site 10000 ready to try."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

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
            "on_ticket_created": {"update": "overwrite", "no_match": "never"},
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


def seed_demo(runtime: Runtime, public_url: str) -> str:
    """Sandbox customers and the past week's conversations (the sandboxes forget them at every
    start), site 10000's settings, the Comm100 simulator's configuration, and the site's Live
    Chat webhooks registered in the Comm100 sandbox. Says how the registration went, for the
    banner."""
    optimove = f"{public_url}/sandbox/optimove/_sandbox"
    comm100 = f"{public_url}/sandbox/comm100/_sandbox"
    with httpx.Client(timeout=10) as http:
        for customer_id, attributes in DEMO_CUSTOMERS.items():
            http.put(f"{optimove}/customers/{customer_id}", json=attributes).raise_for_status()
        for contact_id, contact in DEMO_CONTACTS.items():
            http.put(f"{comm100}/contacts/{contact_id}", json=contact).raise_for_status()
        past = demo_past_conversations(datetime.now(UTC))
        for chat_id, past_chat in past["chats"].items():
            http.put(f"{comm100}/chats/{chat_id}", json=past_chat).raise_for_status()
        for message_id, message in past["offline_messages"].items():
            http.put(f"{comm100}/offline-messages/{message_id}", json=message).raise_for_status()
        http.put(
            f"{comm100}/oauth/clients",
            json=[
                {
                    "clientId": DEMO_OAUTH_CLIENT_ID,
                    "clientSecret": DEMO_OAUTH_SECRET,
                    "redirectUris": [redirect_uri(public_url)],
                    "siteId": DEMO_SITE_ID,
                }
            ],
        ).raise_for_status()
    with runtime.unit_of_work() as session:
        if SiteRepository(session).get(DEMO_SITE_ID) is None:
            create_site(session, runtime.box, DEMO_SITE_ID, "Demo site")
    # Saved at every start: the sandbox's address depends on this run's host and port.
    save_document(runtime, DEMO_SITE_ID, demo_settings(public_url))
    with httpx.Client(timeout=10) as http:
        http.put(
            f"{comm100}/simulator", json=simulator_config(runtime, public_url)
        ).raise_for_status()
    return register_demo_webhooks(runtime, public_url)


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

    def announce(runtime: Runtime) -> None:
        webhooks = seed_demo(runtime, public_url)
        print(
            "\n".join(
                [
                    "",
                    "optibridge demo is running.",
                    f"  Control panel:             {public_url}/ui/login",
                    f"  Agent console simulator:   {public_url}{SIMULATOR_PATH}  <- start here",
                    f"  API and its documentation: {public_url}/docs",
                    f"  Optimove sandbox:          {public_url}/sandbox/optimove",
                    f"  Comm100 sandbox:           {public_url}/sandbox/comm100",
                    f"  Demo site:                 {DEMO_SITE_ID} (connected to both sandboxes)",
                    f"  Its Live Chat webhooks:    {webhooks}",
                    "  Past conversations:        the last week's, in the Comm100 sandbox:"
                    " backfill them from the sync log page",
                    f"  Admin token:               {token.get_secret_value()}",
                    "",
                    "Try it:",
                    f"  curl -H 'Authorization: Bearer {token.get_secret_value()}' "
                    f"{public_url}/api/v1/sites/{DEMO_SITE_ID}/settings",
                    "",
                ]
            ),
            flush=True,
        )

    run_service(config, host=host, port=port, mount_sandboxes=True, on_started=announce)
