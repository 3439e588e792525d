"""The whole product as users run it: the service (with its worker) and both sandboxes, each in
its own process, talking real HTTP. Tests drive it through webhooks and the admin API.

`running_stack` starts one `optibridge serve` by default, on SQLite in the test's directory;
`database_url` puts every process on another database (PostgreSQL to scale out) and `services`
starts several serve processes on it. Extra `optibridge worker` processes come from
`worker_process`, with the same environment as the service (database, secret key, public URL).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select

from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from optibridge.store.db import make_engine
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
    # Every serve process (the first is `service_url`, the public URL Optimove calls back), and
    # the OPTIBRIDGE_ environment they run with, for workers to share.
    service_urls: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def via(self, url: str, service: int) -> str:
        """`url` (a webhook URL of the first service) sent to serve process number `service`."""
        return self.service_urls[service] + url.removeprefix(self.service_url)

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

    def seed_contact(self, customer_id: str, email: str, last_name: str) -> str:
        """A Comm100 contact whose custom field "Customer ID" is `customer_id`."""
        contact_id = str(uuid.uuid4())
        self.comm100.put(
            f"/_sandbox/contacts/{contact_id}",
            json={
                "name": f"Someone {last_name}",
                "lastName": last_name,
                "customFields": [{"name": "Customer ID", "value": customer_id}],
                "contactIdentities": [{"contactIdentityType": "Email", "value": email}],
            },
        ).raise_for_status()
        return contact_id

    def optimove_writes(self, since: float) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.optimove.get(
            "/_sandbox/requests", params={"since": since}
        ).json()
        return [r for r in requests if r["method"] in {"POST", "PUT"}]

    def counts_by_state(self, site_id: int) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(SyncRecord.state, func.count())
                .where(SyncRecord.site_id == site_id)
                .group_by(SyncRecord.state)
            ).all()
        return {state: count for state, count in rows}

    def records(self, site_id: int) -> list[SyncRecord]:
        """The site's records in the order they were received."""
        with self.engine.connect() as connection:
            return connection.execute(  # type: ignore[return-value]
                select(SyncRecord).where(SyncRecord.site_id == site_id).order_by(SyncRecord.id)
            ).all()

    def written_customers(self) -> Counter[str]:
        """How many times each customer was sent in an update call that Optimove accepted."""
        sent: Counter[str] = Counter()
        for request in self.optimove.get("/_sandbox/requests").json():
            body = request.get("body")
            if request["status"] != 200 or not isinstance(body, dict):
                continue
            updates = body.get("CustomerNewAttributesValuesList")
            if updates:
                sent.update(entry["CustomerID"] for entry in updates)
        return sent


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def worker_process(
    stack: Stack, env: dict[str, str], name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """An `optibridge worker` process, stopped (if still alive) when the block ends.

    It runs with the service's environment (database, secret key, public URL) plus `env`.
    """
    with open(stack.log_dir / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            optibridge_command("worker"),
            env={**os.environ, **stack.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


def overwrite_site(stack: Stack) -> Site:
    """A site whose chat_ended events overwrite existing customers (and never create any)."""
    section = default_settings("", "")["livechat"]
    section["on_chat_end"] = {"update": "overwrite", "no_match": "never"}
    return stack.new_site(livechat=section)


def chat_end_for(customer_id: str, email: str, visitor_id: str | None = None) -> dict[str, Any]:
    """A chat_ended webhook of a new chat identifying `customer_id` (a new visitor unless
    `visitor_id` is given), whose visitor's e-mail is `email`."""
    now = datetime.now(UTC)
    visitor = Visitor(
        id=visitor_id or str(uuid.uuid4()),
        email=email,
        custom_variables={"customer_id": customer_id},
    )
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


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
    tmp: Path,
    *,
    serve_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    database_url: str | None = None,
    services: int = 1,
) -> Iterator[Stack]:
    """Both sandboxes and `services` serve processes sharing one database (default: SQLite in
    `tmp`) and one explicit secret key; the first serve process is the public URL."""
    optimove_port, comm100_port = free_port(), free_port()
    service_ports = [free_port() for _ in range(services)]
    optimove_url = f"http://127.0.0.1:{optimove_port}"
    comm100_url = f"http://127.0.0.1:{comm100_port}"
    service_urls = [f"http://127.0.0.1:{port}" for port in service_ports]
    service_url = service_urls[0]
    database_url = database_url or f"sqlite:///{tmp / 'optibridge.db'}"
    env = {
        "OPTIBRIDGE_DATA_DIR": str(tmp),
        "OPTIBRIDGE_DATABASE_URL": database_url,
        "OPTIBRIDGE_SECRET_KEY": Fernet.generate_key().decode(),
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
        for index, port in enumerate(service_ports):
            stack.enter_context(
                running_process(
                    optibridge_command("serve", "--port", str(port), *(serve_args or [])),
                    ready_url=f"{service_urls[index]}/healthz",
                    env=env,
                    log_path=tmp / ("service.log" if index == 0 else f"service-{index + 1}.log"),
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
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        optimove, comm100, admin = clients
        running = Stack(
            service_url,
            optimove,
            comm100,
            admin,
            engine=engine,
            log_dir=tmp,
            service_urls=service_urls,
            env=env,
        )
        stack.callback(running.http.close)
        yield running
