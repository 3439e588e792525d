"""CSRF (SPEC 5.6): every form the control panel takes by POST is refused without the form's
token, with another session's token, or with a token that is not even ASCII, and a refused form
changes nothing: no row, no call to a vendor, no cookie. The cookies are HttpOnly, SameSite=Lax,
limited to /ui, and Secure over https."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.store import backfills
from optibridge.web.ui.auth import FLASH_COOKIE, LOGIN_COOKIE, SESSION_COOKIE
from tests.security.conftest import SITE_A, Bench, fresh_secret, route_keys
from tests.store.test_sync_log import add_record
from tests.web.ui_client import csrf_token, form_values, page, sign_in

pytestmark = pytest.mark.security


@dataclass(frozen=True)
class FormCase:
    """A form as a signed-in administrator would post it: where, what, and from which page
    (whose CSRF token is the right one)."""

    path: str
    data: Callable[[Bench, TestClient], dict[str, str]]
    from_page: str


def _failed_record(bench: Bench) -> int:
    with bench.runtime.unit_of_work() as session:
        return add_record(session, SITE_A, state="failed", outcome="failed", attempts=6).id


def _a_backfill(bench: Bench) -> dict[str, str]:
    """Site A's first backfill (id 1), queued: the form names it in its path."""
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with bench.runtime.unit_of_work() as session:
        created = backfills.create(session, SITE_A, "livechat", since, since + timedelta(1), {})
    assert created.id == 1
    return {}


def _settings_form(bench: Bench, browser: TestClient) -> dict[str, str]:
    document = page(browser.get(f"/ui/sites/{SITE_A}"))
    values = form_values(document.by_id("settings-form"))
    del values["csrf_token"]
    return {**values, "optimove.web_app_url": "https://forged.example.com"}


# Path template → the form. A POST route under /ui without a row here fails
# `test_every_form_route_is_covered`.
FORMS: dict[str, FormCase] = {
    "/ui/login": FormCase(
        "/ui/login",
        lambda bench, _: {"token": bench.known.admin_token, "next": "/ui/sites"},
        "/ui/login",
    ),
    "/ui/logout": FormCase("/ui/logout", lambda _b, _c: {}, "/ui/sites"),
    "/ui/sites": FormCase(
        "/ui/sites", lambda _b, _c: {"site_id": "30000", "name": "Forged"}, "/ui/sites"
    ),
    "/ui/sites/{site_id}/optimove": FormCase(
        f"/ui/sites/{SITE_A}/optimove",
        lambda _b, _c: {
            "base_url": "https://api4.optimove.net",
            "api_key": fresh_secret("forged-key"),
        },
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/comm100": FormCase(
        f"/ui/sites/{SITE_A}/comm100",
        lambda _b, _c: {
            "api_base_url": "https://api11.comm100.io/v4",
            "agent_email": "forger@example.com",
            "api_key": fresh_secret("forged-key"),
        },
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/settings": FormCase(
        f"/ui/sites/{SITE_A}/settings", _settings_form, f"/ui/sites/{SITE_A}"
    ),
    "/ui/sites/{site_id}/comm100-sign-in": FormCase(
        f"/ui/sites/{SITE_A}/comm100-sign-in",
        lambda _b, _c: {
            "platform_url": "https://dash11.comm100.io",
            "oauth_client_id": "forged",
            "oauth_client_secret": fresh_secret("forged-secret"),
        },
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/comm100-app/manifest-with-token": FormCase(
        f"/ui/sites/{SITE_A}/comm100-app/manifest-with-token",
        lambda _b, _c: {},
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/comm100/webhooks": FormCase(
        f"/ui/sites/{SITE_A}/comm100/webhooks",
        lambda _b, _c: {"replace_elsewhere": "on"},
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/preview": FormCase(
        f"/ui/sites/{SITE_A}/preview",
        lambda bench, browser: {**_settings_form(bench, browser), "preview_channel": "livechat"},
        f"/ui/sites/{SITE_A}",
    ),
    "/ui/sites/{site_id}/syncs/{record_id}/restore": FormCase(
        f"/ui/sites/{SITE_A}/syncs/{{record}}/restore",
        lambda _b, _c: {"next": f"/ui/sites/{SITE_A}/syncs"},
        f"/ui/sites/{SITE_A}/syncs",
    ),
    "/ui/sites/{site_id}/syncs/{record_id}/retry": FormCase(
        f"/ui/sites/{SITE_A}/syncs/{{record}}/retry",
        lambda _b, _c: {"next": f"/ui/sites/{SITE_A}/syncs"},
        f"/ui/sites/{SITE_A}/syncs",
    ),
    "/ui/sites/{site_id}/backfills": FormCase(
        f"/ui/sites/{SITE_A}/backfills",
        lambda _b, _c: {"channel": "livechat", "since": "2026-01-01T00:00", "until": ""},
        f"/ui/sites/{SITE_A}/syncs",
    ),
    "/ui/sites/{site_id}/backfills/{backfill_id}": FormCase(
        f"/ui/sites/{SITE_A}/backfills/1",
        lambda bench, _: {"action": "cancel", **_a_backfill(bench)},
        f"/ui/sites/{SITE_A}/syncs",
    ),
}


def test_every_form_route_is_covered(bench: Bench) -> None:
    posted = {path for method, path in route_keys(bench.recorder.app) if method == "POST"}
    assert {path for path in posted if path.startswith("/ui")} == set(FORMS)


def _signed_in(bench: Bench) -> TestClient:
    browser = bench.browser()
    response = sign_in(browser, bench.known.admin_token)
    assert response.status_code == 303, response.text
    return browser


def _token_of(browser: TestClient, path: str) -> str:
    return csrf_token(page(browser.get(path)))


def _session_cookies(response: httpx.Response) -> list[str]:
    return [
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(f"{SESSION_COOKIE}=")
    ]


def _forged_token(kind: str, bench: Bench, case: FormCase) -> str | None:
    """The CSRF token an attacker could send: none, empty, another session's, not ASCII."""
    if kind == "missing":
        return None
    if kind == "empty":
        return ""
    if kind == "not ascii":
        return "\u00e9t\u00e9-" + "0" * 60
    other = bench.browser()
    if case.path != "/ui/login":
        sign_in(other, bench.known.admin_token)
    return _token_of(other, case.from_page)


@pytest.mark.parametrize("kind", ["missing", "empty", "another session's", "not ascii"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_form_without_its_own_csrf_token_is_refused_and_changes_nothing(
    bench: Bench, form: str, kind: str
) -> None:
    case = FORMS[form]
    path = case.path.format(record=_failed_record(bench))
    browser = bench.browser()
    if form != "/ui/login":
        browser = _signed_in(bench)
    own = _token_of(browser, case.from_page)
    data = case.data(bench, browser)
    forged = _forged_token(kind, bench, case)
    assert forged != own
    before = bench.rows()

    body = data if forged is None else {"csrf_token": forged, **data}
    response = browser.post(
        path,
        content=urlencode(body),  # even an empty form is a form (no 415)
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )

    assert response.status_code == 403, (path, kind, response.text[:300])
    assert "This form has expired" in page(response).text()
    assert bench.rows() == before
    assert bench.outbound == []
    assert _session_cookies(response) == []
    if form != "/ui/login":  # still signed in: a forged sign-out did not end the session
        assert browser.get("/ui/sites", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_same_form_with_its_own_token_gets_past_the_check(bench: Bench, form: str) -> None:
    """The control for the test above: the forms it forges are ones the panel accepts."""
    case = FORMS[form]
    path = case.path.format(record=_failed_record(bench))
    browser = bench.browser() if form == "/ui/login" else _signed_in(bench)
    token = _token_of(browser, case.from_page)
    data = case.data(bench, browser)
    response = browser.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
    assert response.status_code != 403, (path, response.text[:300])


# --- cookies --------------------------------------------------------------------------------------


def _cookie_attributes(header: str) -> tuple[str, dict[str, str]]:
    name_value, *attributes = (part.strip() for part in header.split(";"))
    flags = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        flags[key.lower()] = value.lower()
    return name_value.partition("=")[0], flags


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_every_control_panel_cookie_is_httponly_samesite_lax_and_secure_over_https(
    bench: Bench, https: bool
) -> None:
    browser = bench.browser(https=https)
    set_cookies = list(browser.get("/ui/login").headers.get_list("set-cookie"))
    login = sign_in(browser, bench.known.admin_token)
    set_cookies += login.headers.get_list("set-cookie")
    created = browser.post(
        "/ui/sites",
        data={"csrf_token": _token_of(browser, "/ui/sites"), "site_id": "30000", "name": "C"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    set_cookies += created.headers.get_list("set-cookie")
    signed_out = browser.post(
        "/ui/logout", data={"csrf_token": _token_of(browser, "/ui/sites")}, follow_redirects=False
    )
    set_cookies += signed_out.headers.get_list("set-cookie")

    seen = set()
    for header in set_cookies:
        name, flags = _cookie_attributes(header)
        seen.add(name)
        assert "httponly" in flags, header
        assert flags.get("samesite") == "lax", header
        assert flags.get("path") == "/ui", header
        assert ("secure" in flags) is https, header
    assert {LOGIN_COOKIE, SESSION_COOKIE, FLASH_COOKIE} <= seen


@pytest.mark.parametrize("cookie", [SESSION_COOKIE, FLASH_COOKIE])
def test_a_signed_cookie_that_is_not_even_ascii_is_ignored(bench: Bench, cookie: str) -> None:
    """A forged signature is refused like any wrong one, not with a server error."""
    forged = {"cookie": f"{cookie}=e30.\u00e9t\u00e9".encode("latin-1")}
    browser = bench.browser()
    login = browser.get("/ui/login", headers=forged)
    assert login.status_code == 200
    response = browser.get("/ui/sites", headers=forged, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login")
