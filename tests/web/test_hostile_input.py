"""Every door, as a hostile sender would knock, on SQLite and PostgreSQL (SPEC 4.4): valid JSON
is answered 2xx or a 4xx with the error shape, never a 5xx. Lone surrogates and NUL become
U+FFFD wherever they come in (docs/decisions.md); nesting past 64 levels is a 400; ids past
2^63 name nothing (404)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from tests.support.processes import optibridge_command

ADMIN = {"Authorization": "Bearer hostile-admin-token-0123456789"}
SITE = 10000
DEEP = b'{"a":' * 1000 + b"1" + b"}" * 1000
BEYOND_64_BITS = str(2**64)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    config = Config(
        data_dir=tmp_path,
        database_url=database_url,
        admin_token=ADMIN["Authorization"].removeprefix("Bearer "),
        allow_private_urls=True,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        created = test_client.post(
            "/api/v1/sites", json={"site_id": SITE, "name": "A"}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        yield test_client
    runtime.close()


def post_json(client: TestClient, path: str, body: Any, **headers: str) -> httpx.Response:
    """`body` as JSON text (lone surrogates as `\\ud800` escapes); bytes are sent as they are."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response: httpx.Response = client.post(
        path, content=content, headers={**ADMIN, "content-type": "application/json", **headers}
    )
    return response


def assert_error_shape(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]


def webhook_token(client: TestClient) -> str:
    urls = client.get(f"/api/v1/sites/{SITE}/webhooks", headers=ADMIN).json()
    token: str = httpx.URL(urls["livechat"]).params["token"]
    return token


def test_a_site_name_with_a_lone_surrogate_and_nul_is_stored_with_them_replaced(
    client: TestClient,
) -> None:
    created = post_json(client, "/api/v1/sites", {"site_id": 20000, "name": "B\ud800\x00x"})
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/sites/20000", headers=ADMIN).json()["name"] == "B\ufffd\ufffdx"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sites",
        f"/api/v1/sites/{SITE}/optimove/test",
        f"/api/v1/sites/{SITE}/tokens",
        "/webhooks/comm100/{site}/livechat?token={token}",
        "/webhooks/comm100/{site}/ticketing?token={token}",
        "/callbacks/optimove/{site}?token={token}",
    ],
)
def test_json_nested_a_thousand_deep_is_a_400_at_every_door(client: TestClient, path: str) -> None:
    url = path.format(site=SITE, token=webhook_token(client))
    assert_error_shape(post_json(client, url, DEEP), 400)


def test_settings_nested_a_thousand_deep_are_a_400(client: TestClient) -> None:
    response = client.put(
        f"/api/v1/sites/{SITE}/settings",
        content=DEEP,
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert_error_shape(response, 400)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/sites/{id}"),
        ("GET", "/api/v1/sites/{site}/syncs/{id}"),
        ("POST", "/api/v1/sites/{site}/syncs/{id}/retry"),
        ("DELETE", "/api/v1/sites/{site}/tokens/{id}"),
        ("DELETE", f"/api/v1/sites/{{site}}/tokens/{2**31}"),
        ("POST", "/webhooks/comm100/{id}/livechat?token=x"),
        ("POST", "/callbacks/optimove/{id}?token=x"),
    ],
)
def test_an_id_past_64_bits_names_nothing(client: TestClient, method: str, path: str) -> None:
    url = path.format(site=SITE, id=BEYOND_64_BITS)
    response = client.request(method, url, headers=ADMIN, json={})
    assert_error_shape(response, 404)


@pytest.mark.parametrize("path", ["/console/{id}/livechat?token=x", "/ui/sites/{id}"])
def test_a_page_past_64_bits_is_a_page_that_says_not_found(client: TestClient, path: str) -> None:
    response = client.get(path.format(id=BEYOND_64_BITS), follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Nothing has that id" in response.text


def test_a_query_with_nul_and_bytes_that_are_no_utf8_is_read(client: TestClient) -> None:
    response = client.get(f"/api/v1/sites/{SITE}/syncs?customer_id=C%00%ED%A0%80", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def test_a_webhook_full_of_unstorable_text_is_stored_and_readable(client: TestClient) -> None:
    body = {
        "event": "chat_ended",
        "visitor": {"id": "v-\ud800", "name": "\x00", "email": "x\udfff@e.com"},
        "chat": {"id": "chat-\udc00-1", "end_time": "/Date(1764000000000)/"},
    }
    sent = post_json(
        client, f"/webhooks/comm100/{SITE}/livechat?token={webhook_token(client)}", body
    )
    assert sent.status_code == 202, sent.text
    record = client.get(f"/api/v1/sites/{SITE}/syncs/{sent.json()['id']}", headers=ADMIN)
    assert record.status_code == 200, record.text
    again = post_json(
        client, f"/webhooks/comm100/{SITE}/livechat?token={webhook_token(client)}", body
    )
    assert again.json() == {"id": sent.json()["id"], "duplicate": True}


def test_a_callback_naming_an_unstorable_request_is_answered(client: TestClient) -> None:
    body = {"isSuccess": True, "requestId": "r\x00\ud800", "errors": []}
    url = f"/callbacks/optimove/{SITE}?token={webhook_token(client)}&write=w%00"
    answered = post_json(client, url, body)
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"settled": False}


def test_a_login_form_with_nul_is_refused_politely(client: TestClient) -> None:
    response = client.post(
        "/ui/login",
        content=b"token=%00%ED%A0%80&csrf_token=%00",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code < 500, response.text


def test_cli_arguments_that_are_no_utf8_are_stored_replaced(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "OPTIBRIDGE_DATABASE_URL": database_url,
        "OPTIBRIDGE_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    argv = [os.fsencode(part) for part in optibridge_command("sites", "create", "30000", "--name")]
    created = subprocess.run(
        [*argv, b"Caf\xff"], env=env, capture_output=True, timeout=60, check=False
    )
    assert created.returncode == 0, created.stderr
    listed = subprocess.run(
        optibridge_command("sites", "list"), env=env, capture_output=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "Caf\ufffd" in listed.stdout.decode()
