"""A session that ends while a page is open never loses work silently (issue 16, point 2): the
form is not acted on, the administrator is told so and brought back to the same page after
signing in again, and what was typed in the site page's forms is filled in again, marked as not
saved, when that is safe: never a secret, and only from a page of this browser's own session
(docs/decisions.md). The service runs in-process; no outside service is needed."""

from __future__ import annotations

import json
import secrets
import zlib
from typing import Any

import httpx
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.services.tokens import Role, issue_token
from optibridge.web.ui.auth import UiSigner, cookie_keys
from optibridge.web.ui.drafts import DRAFT_COOKIE, DRAFT_LIFETIME_S
from tests.web.conftest import ADMIN_TOKEN, Service
from tests.web.ui_client import Element, csrf_token, flash, form_values, page, sign_in

SITE = 10000
PAGE = f"/ui/sites/{SITE}"
WEB_APP = "https://acme.optimove.net"


def create_site(service: Service, site_id: int = SITE) -> None:
    response = service.client.post(
        "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
    )
    assert response.status_code == 201, response.text


def settings_typed(document: Element) -> dict[str, str]:
    """The settings form as an administrator has changed it (not saved yet)."""
    values = form_values(document.by_id("settings-form"))
    values["optimove.web_app_url"] = WEB_APP
    values["livechat.enabled"] = "on"
    values["livechat.field_mapping.0.optimove_field"] = "EMAIL"
    values["livechat.field_mapping.0.comm100_field"] = "system:email"
    values["livechat.on_chat_end.update"] = "fill_empty"
    return values


def sign_out(client: TestClient) -> None:
    """Signing out in another tab of the same browser (same cookies)."""
    token = csrf_token(page(client.get("/ui/sites")))
    response = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303


def sign_in_to(client: TestClient, login_location: str, token: str = ADMIN_TOKEN) -> str:
    """Sign in on the login page at `login_location`; where it sends the administrator."""
    login = page(client.get(login_location))
    response = client.post(
        "/ui/login",
        data={
            "csrf_token": csrf_token(login),
            "token": token,
            "next": login.find_all("input", name="next")[0].attrs["value"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def draft_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{DRAFT_COOKIE}="):
            return header
    return None


def opened_draft(service: Service, cookie_header: str) -> dict[str, Any]:
    sealed = cookie_header.split(";")[0].split("=", 1)[1].strip('"')
    packed = UiSigner(cookie_keys(service.runtime.config)).open_sealed(sealed, DRAFT_LIFETIME_S)
    assert packed is not None
    draft: dict[str, Any] = json.loads(zlib.decompress(packed))
    return draft


def stored(service: Service) -> dict[str, Any]:
    document: dict[str, Any] = service.client.get(
        f"/api/v1/sites/{SITE}/settings", headers=service.admin()
    ).json()
    return document


# --- the settings form ----------------------------------------------------------------------------


def test_saving_after_signing_out_elsewhere_brings_what_was_typed_back_after_signing_in(
    service: Service,
) -> None:
    create_site(service)
    sign_in(service.client)
    typed = settings_typed(page(service.client.get(PAGE)))
    sign_out(service.client)

    response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?next={PAGE}%23settings"
    cookie = draft_cookie(response)
    assert cookie is not None
    assert "HttpOnly" in cookie
    assert "Path=/ui" in cookie
    assert "Max-Age=1800" in cookie
    assert WEB_APP not in cookie  # sealed, not only signed
    login = page(service.client.get(response.headers["location"]))
    assert "Your session had ended" in flash(login)
    assert "nothing was saved" in flash(login)
    assert "filled in again" in flash(login)

    assert sign_in_to(service.client, response.headers["location"]) == f"{PAGE}#settings"
    back = service.client.get(PAGE)
    document = page(back)
    assert "Not saved yet" in document.by_id("settings-draft").text()
    assert document.by_id("f-optimove-web_app_url").attrs["value"] == WEB_APP
    assert "checked" in document.by_id("f-livechat-enabled").attrs
    assert stored(service)["optimove"]["web_app_url"] is None  # nothing was saved
    assert any(
        header.startswith(f'{DRAFT_COOKIE}=""') or f"{DRAFT_COOKIE}=;" in header
        for header in back.headers.get_list("set-cookie")
    )
    # Shown once: the next visit shows what is saved.
    assert not page(service.client.get(PAGE)).has_id("settings-draft")


def test_a_revoked_tokens_session_keeps_what_was_typed_too(service: Service) -> None:
    create_site(service)
    with service.runtime.unit_of_work() as session:
        issued = issue_token(session, Role.ADMIN, SITE)
    sign_in(service.client, issued.token)
    typed = settings_typed(page(service.client.get(PAGE)))
    revoked = service.client.delete(
        f"/api/v1/sites/{SITE}/tokens/{issued.record.id}", headers=service.admin()
    )
    assert revoked.status_code == 204

    response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)

    assert response.headers["location"] == f"/ui/login?next={PAGE}%23settings"
    assert draft_cookie(response) is not None
    sign_in_to(service.client, response.headers["location"])
    document = page(service.client.get(PAGE))
    assert document.by_id("f-optimove-web_app_url").attrs["value"] == WEB_APP


def test_a_page_of_an_earlier_session_of_this_browser_is_kept_without_signing_in_again(
    service: Service,
) -> None:
    create_site(service)
    sign_in(service.client)
    typed = settings_typed(page(service.client.get(PAGE)))
    sign_out(service.client)
    sign_in(service.client)  # in another tab, before the old page is saved

    response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}#settings"
    document = page(service.client.get(PAGE))
    assert "That page was from a session that has ended, so nothing was saved." in flash(document)
    assert document.by_id("f-optimove-web_app_url").attrs["value"] == WEB_APP


def test_previewing_after_the_session_ended_keeps_the_form_on_screen_too(
    service: Service,
) -> None:
    create_site(service)
    sign_in(service.client)
    typed = settings_typed(page(service.client.get(PAGE)))
    sign_out(service.client)

    response = service.client.post(
        f"{PAGE}/preview", data={**typed, "op": "preview"}, follow_redirects=False
    )

    assert response.headers["location"] == f"/ui/login?next={PAGE}%23settings"
    sign_in_to(service.client, response.headers["location"])
    document = page(service.client.get(PAGE))
    assert document.by_id("f-optimove-web_app_url").attrs["value"] == WEB_APP


# --- what is never kept ---------------------------------------------------------------------------


def test_a_connection_form_keeps_the_address_but_never_the_key(service: Service) -> None:
    create_site(service)
    sign_in(service.client)
    token = csrf_token(page(service.client.get(PAGE)))
    sign_out(service.client)
    typed = {
        "csrf_token": token,
        "base_url": "https://api4.optimove.net",
        "api_key": "typed-secret-key-0123",
    }

    response = service.client.post(f"{PAGE}/optimove", data=typed, follow_redirects=False)

    assert response.headers["location"] == f"/ui/login?next={PAGE}%23optimove-connection"
    cookie = draft_cookie(response)
    assert cookie is not None
    assert opened_draft(service, cookie) == {
        "site": SITE,
        "form": "optimove",
        "values": {"base_url": "https://api4.optimove.net"},
    }
    sign_in_to(service.client, response.headers["location"])
    card = page(service.client.get(PAGE)).by_id("optimove-connection")
    assert card.find_all("input", name="base_url")[0].attrs["value"] == "https://api4.optimove.net"
    assert card.find_all("input", name="api_key")[0].attrs["value"] == ""
    result = card.find_all("div", role="alert")[0].text()
    assert result.startswith("Not done yet. Your session had ended")
    assert "except keys and secrets (they are never kept)" in result


def test_a_form_from_elsewhere_is_refused_and_nothing_is_kept(service: Service) -> None:
    create_site(service)
    # Another browser's session: a real token, but not of this browser.
    with TestClient(create_app(service.runtime)) as other:
        sign_in(other)
        foreign = csrf_token(page(other.get(PAGE)))
    for token in (foreign, "forged", ""):
        service.client.cookies.clear()
        typed = {"csrf_token": token, "optimove.web_app_url": "https://evil.example.com"}
        response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/ui/login?next={PAGE}"
        assert draft_cookie(response) is None
        login = page(service.client.get(response.headers["location"]))
        assert "so that was not done" in flash(login)


def test_a_draft_too_large_for_a_cookie_is_not_kept_and_that_is_said(service: Service) -> None:
    create_site(service)
    sign_in(service.client)
    typed = settings_typed(page(service.client.get(PAGE)))
    for index in range(1, 120):  # values nothing compresses
        typed[f"livechat.field_mapping.{index}.optimove_field"] = secrets.token_hex(16)
    sign_out(service.client)

    response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)

    assert response.headers["location"] == f"/ui/login?next={PAGE}%23settings"
    assert draft_cookie(response) is None
    assert "too large to keep" in flash(page(service.client.get(response.headers["location"])))


def test_a_draft_waits_for_its_own_sites_page_and_an_admin_of_it(service: Service) -> None:
    create_site(service)
    create_site(service, 20000)
    sign_in(service.client)
    typed = settings_typed(page(service.client.get(PAGE)))
    sign_out(service.client)
    response = service.client.post(f"{PAGE}/settings", data=typed, follow_redirects=False)
    with service.runtime.unit_of_work() as session:
        other_admin = issue_token(session, Role.ADMIN, 20000).token
    sign_in_to(service.client, response.headers["location"], other_admin)

    assert not page(service.client.get("/ui/sites/20000")).has_id("settings-draft")
    assert service.client.get(PAGE).status_code == 404  # not theirs: nothing shown


# --- the other forms --------------------------------------------------------------------------


def test_any_other_form_brings_the_administrator_back_to_its_page(service: Service) -> None:
    create_site(service)
    retry = f"{PAGE}/syncs/1/retry"
    response = service.client.post(retry, data={"csrf_token": "x"}, follow_redirects=False)
    assert response.headers["location"] == f"/ui/login?next={PAGE}/syncs"
    filtered = f"http://testserver{PAGE}/syncs?outcome=failed"
    response = service.client.post(
        retry, data={"csrf_token": "x"}, headers={"Referer": filtered}, follow_redirects=False
    )
    assert response.headers["location"] == f"/ui/login?next={PAGE}/syncs%3Foutcome%3Dfailed"
    elsewhere = {"Referer": "https://evil.example.com/ui/sites/20000"}
    response = service.client.post(
        "/ui/sites", data={"csrf_token": "x"}, headers=elsewhere, follow_redirects=False
    )
    assert response.headers["location"] == "/ui/login?next=/ui/sites"
