"""The whole product as users run it: the service (with its worker) and both sandboxes, each in
its own process, talking real HTTP. Tests drive it through webhooks and the admin API."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, select

from optibridge.store.models import SyncRecord
from tests.support.processes import free_port, optibridge_command, running_process

ADMIN_TOKEN = "stack-admin-token-0123456789abcdef"
OPTIMOVE_KEY = "sandbox-optimove-key"
COMM100_KEY = "sandbox-comm100-key"
SETTLED_STATES = ("done", "failed")
_site_numbers = itertools.count(50_000)


@dataclass
class Site:
    site_id: int
    livechat_url: str
    ticketing_url: str


@dataclass
class Stack:
    service_url: str
    optimove: httpx.Client
    comm100: httpx.Client
    admin: httpx.Client
    engine: Engine
    log_dir: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    comm100_sites: list[int] = field(default_factory=lambda: [10000])

    def new_site(self, **sections: Any) -> Site:
        """A fresh site whose settings point at both sandboxes; `sections` replace defaults."""
        site_id = next(_site_numbers)
        self.comm100_sites.append(site_id)  # the sandbox's list is replaced as a whole
        self.comm100.put("/_sandbox/sites", json=self.comm100_sites).raise_for_status()
        created = self.admin.post("/sites", json={"site_id": site_id, "name": f"s{site_id}"})
        assert created.status_code == 201, created.text
        document = default_settings(str(self.optimove.base_url), str(self.comm100.base_url))
        document.update(sections)
        saved = self.admin.put(f"/sites/{site_id}/settings", json=document)
        assert saved.status_code == 200, saved.text
        urls = self.admin.get(f"/sites/{site_id}/webhooks").json()
        return Site(site_id, urls["livechat"], urls["ticketing"])

    def send(self, url: str, body: Any) -> httpx.Response:
        return self.http.post(url, json=body)

    def settled(self, record_id: int, timeout_s: float = 30.0) -> SyncRecord:
        """The record once it is done or failed (fails the test after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.engine.connect() as connection:
                row = connection.execute(
                    select(SyncRecord).where(SyncRecord.id == record_id)
                ).one_or_none()
            if row is not None and row.state in SETTLED_STATES:
                return row  # type: ignore[return-value]
            if time.monotonic() > deadline:
                state = row.state if row is not None else "missing"
                raise AssertionError(f"record {record_id} still {state} after {timeout_s} s")
            time.sleep(0.05)

    def accept(self, url: str, body: Any) -> SyncRecord:
        """Send an event, expect 202, and wait until its record is settled."""
        response = self.send(url, body)
        assert response.status_code == 202, response.text
        return self.settled(response.json()["id"])

    def customer(self, customer_id: str) -> dict[str, str | None] | None:
        response = self.optimove.get(f"/_sandbox/customers/{customer_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        customer: dict[str, str | None] = response.json()
        return customer

    def seed_customer(self, **attributes: str | None) -> str:
        customer_id = f"C-{uuid.uuid4().hex[:10]}"
        self.optimove.put(f"/_sandbox/customers/{customer_id}", json=attributes).raise_for_status()
        return customer_id

    def optimove_writes(self, since: float) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.optimove.get(
            "/_sandbox/requests", params={"since": since}
        ).json()
        return [r for r in requests if r["method"] in {"POST", "PUT"}]


def default_settings(optimove_url: str, comm100_url: str) -> dict[str, Any]:
    def mapping(field: str, source: str, name: str) -> dict[str, Any]:
        return {
            "optimove_field": field,
            "comm100_field": {"source": source, "name": name},
            "show_in_console": True,
        }

    return {
        "optimove": {"base_url": optimove_url, "api_key": OPTIMOVE_KEY},
        "comm100": {
            "api_base_url": f"{comm100_url}/v4",
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
        "livechat": {
            "enabled": True,
            "field_mapping": [
                mapping("EMAIL", "system", "email"),
                mapping("PHONE", "system", "phone"),
                mapping("FIRST_NAME", "prechat", "First Name"),
                mapping("VIP_LEVEL", "custom_variable", "vip"),
            ],
            "identification": [{"source": "custom_variable", "name": "customer_id"}],
            "on_chat_end": {"update": "fill_empty", "no_match": "agent_create"},
            "on_offline_message": {"update": "overwrite", "no_match": "auto_create"},
        },
        "ticketing": {
            "enabled": True,
            "field_mapping": [
                mapping("EMAIL", "identity", "Email"),
                mapping("LAST_NAME", "contact", "lastName"),
            ],
            "identification": [{"source": "contact", "name": "Customer ID"}],
            "on_ticket_created": {"update": "overwrite", "no_match": "never"},
        },
    }


@contextmanager
def running_stack(
    tmp: Path, *, serve_args: list[str] | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    optimove_port, comm100_port, service_port = free_port(), free_port(), free_port()
    optimove_url = f"http://127.0.0.1:{optimove_port}"
    comm100_url = f"http://127.0.0.1:{comm100_port}"
    service_url = f"http://127.0.0.1:{service_port}"
    env = {
        "OPTIBRIDGE_DATA_DIR": str(tmp),
        "OPTIBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
        "OPTIBRIDGE_ALLOW_PRIVATE_URLS": "1",
        "OPTIBRIDGE_PUBLIC_URL": service_url,
        "OPTIBRIDGE_WORKER_POLL_S": "0.05",
        "OPTIBRIDGE_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    with ExitStack() as stack:
        stack.enter_context(
            running_process(
                optibridge_command("sandbox", "optimove", "--port", str(optimove_port)),
                ready_url=f"{optimove_url}/_sandbox/requests",
                log_path=tmp / "optimove.log",
            )
        )
        stack.enter_context(
            running_process(
                optibridge_command("sandbox", "comm100", "--port", str(comm100_port)),
                ready_url=f"{comm100_url}/_sandbox/requests",
                log_path=tmp / "comm100.log",
            )
        )
        stack.enter_context(
            running_process(
                optibridge_command("serve", "--port", str(service_port), *(serve_args or [])),
                ready_url=f"{service_url}/healthz",
                env=env,
                log_path=tmp / "service.log",
            )
        )
        clients = [
            httpx.Client(base_url=optimove_url, timeout=30),
            httpx.Client(base_url=comm100_url, timeout=30),
            httpx.Client(
                base_url=f"{service_url}/api/v1",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=30,
            ),
        ]
        for client in clients:
            stack.callback(client.close)
        engine = create_engine(f"sqlite:///{tmp / 'optibridge.db'}")
        stack.callback(engine.dispose)
        optimove, comm100, admin = clients
        running = Stack(service_url, optimove, comm100, admin, engine=engine, log_dir=tmp)
        stack.callback(running.http.close)
        yield running
