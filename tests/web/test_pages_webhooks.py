"""The webhook URLs on a site's page say plainly when OPTIBRIDGE_PUBLIC_URL is unset: they then
start with this request's (or this server's own) address, which Comm100 can't reach; and when
it is set to a loopback (or private) address, or to plain http."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from tests.web.conftest import ADMIN_TOKEN
from tests.web.ui_client import Element, page, sign_in

SITE = 10000
WARNING = "webhooks-no-public-url"
LOOPBACK = "webhooks-loopback"
PLAIN_HTTP = "webhooks-plain-http"


@contextmanager
def site_page(
    tmp_path: Path, public_url: str | None, *, public_url_assumed: bool = False
) -> Iterator[Element]:
    """Site 10000's control panel page, read by a signed-in administrator."""
    config = Config(data_dir=tmp_path, admin_token=ADMIN_TOKEN, public_url=public_url)
    runtime = Runtime.start(config, public_url_assumed=public_url_assumed)
    upgrade_to_head(runtime.engine)
    try:
        with TestClient(create_app(runtime)) as client:
            created = client.post(
                "/api/v1/sites",
                json={"site_id": SITE, "name": "Acme"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert created.status_code == 201, created.text
            sign_in(client)
            yield page(client.get(f"/ui/sites/{SITE}"))
    finally:
        runtime.close()


def webhook_urls(document: Element) -> list[str]:
    return [document.by_id(f"webhook-{key}").attrs["value"] for key in ("livechat", "ticketing")]


def test_with_a_public_url_the_webhook_urls_carry_it_and_no_warning(tmp_path: Path) -> None:
    with site_page(tmp_path, "https://bridge.example.com") as document:
        assert not any(document.has_id(w) for w in (WARNING, LOOPBACK, PLAIN_HTTP))
        assert all(url.startswith("https://bridge.example.com/") for url in webhook_urls(document))


def test_without_a_public_url_the_page_warns_that_comm100_cant_reach_the_requests_address(
    tmp_path: Path,
) -> None:
    with site_page(tmp_path, None) as document:
        warning = document.by_id(WARNING).text()
        urls = webhook_urls(document)
    assert warning.startswith("OPTIBRIDGE_PUBLIC_URL is not set, so these URLs start with")
    assert "http://testserver" in warning  # the address this page was requested at
    assert "Comm100 can't reach" in warning
    assert all(url.startswith("http://testserver/") for url in urls)
    assert "token" not in warning  # the base only, never a URL with the site's secret


def test_serves_own_address_standing_in_for_the_public_url_is_warned_about_too(
    tmp_path: Path,
) -> None:
    """`optibridge serve` without OPTIBRIDGE_PUBLIC_URL uses the address it serves."""
    with site_page(tmp_path, "http://127.0.0.1:8000", public_url_assumed=True) as document:
        warning = document.by_id(WARNING).text()
        urls = webhook_urls(document)
    assert "start with http://127.0.0.1:8000" in warning
    assert all(url.startswith("http://127.0.0.1:8000/") for url in urls)


def test_a_loopback_public_url_is_warned_about(tmp_path: Path) -> None:
    with site_page(tmp_path, "https://127.0.0.1:8443") as document:
        warning = document.by_id(LOOPBACK).text()
        assert not document.has_id(PLAIN_HTTP)
        assert not document.has_id(WARNING)
    assert warning.startswith("OPTIBRIDGE_PUBLIC_URL is https://127.0.0.1:8443, a loopback")
    assert "Comm100 and Optimove on the internet can't reach these URLs" in warning


def test_a_private_or_local_name_is_warned_about_as_well(tmp_path: Path) -> None:
    for public_url in ("https://10.0.0.7", "https://bridge.localhost", "https://[::1]:8000"):
        with site_page(tmp_path / public_url.split("/")[-1], public_url) as document:
            assert document.has_id(LOOPBACK), public_url


def test_a_plain_http_public_url_is_warned_about(tmp_path: Path) -> None:
    with site_page(tmp_path, "http://bridge.example.com") as document:
        warning = document.by_id(PLAIN_HTTP).text()
        assert not document.has_id(LOOPBACK)
    assert warning.startswith("OPTIBRIDGE_PUBLIC_URL is http://bridge.example.com, plain http")
    assert "secret token" in warning
    assert "token=" not in warning  # the base only, never a URL with the site's secret


def test_the_demos_address_is_both_loopback_and_plain_http(tmp_path: Path) -> None:
    with site_page(tmp_path, "http://127.0.0.1:8000") as document:
        assert document.has_id(LOOPBACK)
        assert document.has_id(PLAIN_HTTP)
