"""The security group's bench: the service in-process with secrets whose values the tests know,
the tools to look for those secrets in any encoding, to name the route that answered a request,
and to prove that a refused request changed nothing."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import Base, Site
from optibridge.sync.sites import webhook_token

SITE_A, SITE_B = 10000, 20000
MISSING_SITE = 99999
PUBLIC_URL = "https://bridge.example.com"

# (method, path template) of a route, e.g. ("GET", "/api/v1/sites/{site_id}").
RouteKey = tuple[str, str]
DatabaseRows = dict[str, list[tuple[Any, ...]]]


def fresh_secret(kind: str) -> str:
    """A value no test, fixture or vendor could produce by chance."""
    return f"{kind}-{secrets.token_urlsafe(24)}"


@dataclass(frozen=True)
class KnownSecrets:
    """The deployment's secrets, chosen by the test so it can look for them."""

    admin_token: str = field(default_factory=lambda: fresh_secret("admin"))
    secret_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    optimove_key: str = field(default_factory=lambda: fresh_secret("optimove"))
    comm100_key: str = field(default_factory=lambda: fresh_secret("comm100"))


# --- looking for secrets ----------------------------------------------------------------------


def encoded_forms(secret: str) -> dict[str, str]:
    """`secret` as it could show up: plain, URL- or form-encoded, hex, and base64 (standard and
    URL-safe) at each of the three alignments it can have inside a longer encoded value, such
    as `base64("agent@example.com:" + key)` in a Basic Authorization header."""
    raw = secret.encode()
    forms = {
        "plain": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "hex": raw.hex(),
    }
    for offset in range(3):
        padded = b"\0" * offset + raw
        # Only the characters made of the secret's bits alone, whatever precedes or follows.
        start, end = -(-offset * 4 // 3), (offset + len(raw)) * 4 // 3
        forms[f"base64 at +{offset}"] = base64.b64encode(padded).decode()[start:end]
        forms[f"base64url at +{offset}"] = base64.urlsafe_b64encode(padded).decode()[start:end]
    return forms


def secrets_in(text: str | bytes, known: Mapping[str, str]) -> list[str]:
    """Which of the `known` secrets (name → value) `text` carries, and in which form."""
    found = []
    for name, secret in known.items():
        for form, value in encoded_forms(secret).items():
            needle: str | bytes = value.encode() if isinstance(text, bytes) else value
            if needle in text:  # type: ignore[operator]
                found.append(f"{name} ({form})")
                break
    return found


# --- the database -------------------------------------------------------------------------------


def database_rows(engine: Engine) -> DatabaseRows:
    """Every row of every table, in a stable order: two equal snapshots mean nothing changed."""
    rows: DatabaseRows = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found = connection.execute(select(table)).all()
            rows[table.name] = sorted((tuple(row) for row in found), key=repr)
    return rows


# --- routes ---------------------------------------------------------------------------------------


def route_keys(app: FastAPI) -> set[RouteKey]:
    """Every route the app serves (HEAD aside); a mounted app counts as one GET route."""
    keys: set[RouteKey] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None, route
        if isinstance(route.original_route, Mount):
            keys.add(("GET", path))
            continue
        keys.update((method, path) for method in route.methods or () if method != "HEAD")
    return keys


class RecordingApp:
    """The app, noting for each request the route that answered it (its template, not the
    URL), so a test can prove it exercised a route rather than merely listed it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.hits: list[tuple[RouteKey | None, str]] = []
        self._by_endpoint: dict[int, str] = {}
        for route in iter_route_contexts(app.routes):
            target = route.app if isinstance(route.original_route, Mount) else route.endpoint
            if target is not None and route.path is not None:
                self._by_endpoint[id(target)] = route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.hits.append((self._route_of(scope), scope["path"]))

    def _route_of(self, scope: Scope) -> RouteKey | None:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is None:
            path = self._by_endpoint.get(id(scope.get("endpoint")))
        return None if path is None else (scope["method"], path)

    def routes_hit(self) -> set[RouteKey]:
        return {route for route, _ in self.hits if route is not None}


# --- the service ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: int


@dataclass
class Bench:
    """The service in-process with known secrets, and what it sent out (when offline)."""

    client: TestClient
    recorder: RecordingApp
    runtime: Runtime
    known: KnownSecrets
    data_dir: Path
    outbound: list[httpx.Request] = field(default_factory=list)

    def admin(self) -> dict[str, str]:
        return bearer(self.known.admin_token)

    def browser(self, *, https: bool = False) -> TestClient:
        """Another browser (its own cookies) on the same service."""
        base_url = "https://testserver" if https else "http://testserver"
        return TestClient(self.recorder, base_url=base_url, raise_server_exceptions=False)

    def create_site(self, site_id: int, name: str = "Acme") -> None:
        response = self.client.post(
            "/api/v1/sites", json={"site_id": site_id, "name": name}, headers=self.admin()
        )
        assert response.status_code == 201, response.text

    def issue(self, site_id: int, role: str, label: str = "") -> IssuedToken:
        response = self.client.post(
            f"/api/v1/sites/{site_id}/tokens",
            json={"role": role, "label": label},
            headers=self.admin(),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return IssuedToken(body["token"], body["id"])

    def webhook_token(self, site_id: int) -> str:
        with self.runtime.unit_of_work(read_only=True) as session:
            site = session.get(Site, site_id)
            assert site is not None
            return webhook_token(self.runtime.box, site)

    def rows(self) -> DatabaseRows:
        return database_rows(self.runtime.engine)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _offline_http(sent: list[httpx.Request]) -> httpx.Client:
    """An HTTP client that reaches no vendor and remembers what it was asked to send. Every
    call is refused as a wrong key would be: at once, with nothing to retry."""

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(401, text="offline: this test reaches no vendor")

    return httpx.Client(transport=httpx.MockTransport(refuse))


@contextmanager
def running_bench(
    data_dir: Path,
    *,
    known: KnownSecrets | None = None,
    database_url: str = "",
    offline: bool = True,
    **config: Any,
) -> Iterator[Bench]:
    """The service on a migrated database. `offline`: every outgoing call is answered 401 at
    once (and recorded in `Bench.outbound`); otherwise it reaches the vendors in settings."""
    known = known or KnownSecrets()
    settings: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "admin_token": known.admin_token,
        "secret_key": known.secret_key,
        "allow_private_urls": True,
        "public_url": PUBLIC_URL,
        "optimove_max_attempts": 1,
        "optimove_timeout_s": 5,
        "comm100_timeout_s": 5,
        **config,
    }
    runtime = Runtime.start(Config(**settings))
    upgrade_to_head(runtime.engine)
    outbound: list[httpx.Request] = []
    if offline:
        runtime.http.close()
        runtime.http = _offline_http(outbound)
    recorder = RecordingApp(create_app(runtime))
    try:
        with TestClient(recorder, raise_server_exceptions=False) as client:
            yield Bench(client, recorder, runtime, known, data_dir, outbound)
    finally:
        runtime.close()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    """The service on SQLite, offline, with sites A and B."""
    with running_bench(tmp_path) as running:
        running.create_site(SITE_A, "Alpha")
        running.create_site(SITE_B, "Beta")
        yield running
