"""`optibridge demo`: the service and the sandboxes in one process, site 10000 ready to try."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.server import run_service
from optibridge.services.settings import save_document
from optibridge.services.sites import create_site
from optibridge.store.repositories import SiteRepository

DEMO_SITE_ID = 10000
SANDBOX_OPTIMOVE_KEY = "sandbox-optimove-key"  # the sandboxes' documented default keys
SANDBOX_COMM100_KEY = "sandbox-comm100-key"
ADMIN_TOKEN_FILE = "demo-admin-token"  # noqa: S105 (a file name)

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


def seed_demo(runtime: Runtime, public_url: str) -> None:
    """Sandbox customers (the sandbox forgets them at every start) and site 10000's settings."""
    optimove = f"{public_url}/sandbox/optimove/_sandbox"
    comm100 = f"{public_url}/sandbox/comm100/_sandbox"
    with httpx.Client(timeout=10) as http:
        for customer_id, attributes in DEMO_CUSTOMERS.items():
            http.put(f"{optimove}/customers/{customer_id}", json=attributes).raise_for_status()
        for contact_id, contact in DEMO_CONTACTS.items():
            http.put(f"{comm100}/contacts/{contact_id}", json=contact).raise_for_status()
    with runtime.unit_of_work() as session:
        if SiteRepository(session).get(DEMO_SITE_ID) is None:
            create_site(session, runtime.box, DEMO_SITE_ID, "Demo site")
    # Saved at every start: the sandbox's address depends on this run's host and port.
    save_document(runtime, DEMO_SITE_ID, demo_settings(public_url))


def run_demo(*, host: str, port: int, data_dir: Path) -> None:
    base = Config()
    self_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104
    public_url = base.public_url or f"http://{self_host}:{port}"
    token = base.admin_token or SecretStr(demo_admin_token(data_dir))
    config = base.model_copy(
        update={
            "data_dir": data_dir,
            "allow_private_urls": True,
            "public_url": public_url,
            "admin_token": token,
        }
    )

    def announce(runtime: Runtime) -> None:
        seed_demo(runtime, public_url)
        print(
            "\n".join(
                [
                    "",
                    "optibridge demo is running.",
                    f"  API and its documentation: {public_url}/docs",
                    f"  Optimove sandbox:          {public_url}/sandbox/optimove",
                    f"  Comm100 sandbox:           {public_url}/sandbox/comm100",
                    f"  Demo site:                 {DEMO_SITE_ID} (connected to the sandbox)",
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
