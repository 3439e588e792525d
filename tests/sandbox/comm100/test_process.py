"""The Comm100 sandbox as its own process, over real HTTP: a smoke test of the whole surface."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import free_port, running_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUTH = httpx.BasicAuth("agent@example.com", "sandbox-comm100-key")
SITE = {"siteId": "10000"}
ADA = "2f1e6a3c-0d4b-4a5b-8c9d-0123456789ab"


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


def test_a_seeded_contact_and_ticket_are_read_over_http(sandbox_url: str) -> None:
    with httpx.Client(base_url=sandbox_url, timeout=10.0) as client:
        assert client.post("/_sandbox/reset").status_code == 200
        seeded = client.put(
            f"/_sandbox/contacts/{ADA}",
            json={
                "name": "Ada Lovelace",
                "customFields": [{"name": "Customer ID", "value": "C1001"}],
                "contactIdentities": [{"type": "Email", "value": "ada@example.com"}],
            },
        )
        client.put(
            "/_sandbox/tickets/123",
            json={"contactOrVisitorId": ADA, "contactOrVisitorType": "contact"},
        )

        contact = client.get(f"/v4/contact/contacts/{ADA}", params=SITE, auth=AUTH)
        found = client.post(
            "/v4/contact/contacts:query",
            params=SITE,
            auth=AUTH,
            json={"identityValue": "ada@example.com"},
        )
        ticket = client.get("/v4/ticketing/tickets/123", params=SITE, auth=AUTH)
        refused = client.get("/v4/contact/fields", params=SITE)
        log = client.get("/_sandbox/requests").json()

    assert seeded.status_code == 200
    assert contact.status_code == 200
    assert contact.json()["contactIdentities"][0]["contactIdentityType"] == "Email"
    assert [c["id"] for c in found.json()] == [ADA]
    assert ticket.json()["contactOrVisitorType"] == "contact"
    assert refused.status_code == 401
    assert [(e["method"], e["status"]) for e in log] == [
        ("GET", 200),
        ("POST", 200),
        ("GET", 200),
        ("GET", 401),
    ]
