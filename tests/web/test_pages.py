"""The control panel's frame (SPEC 5.6): signing in and out, sessions, CSRF, the sites page,
friendly error pages. The service runs in-process; no outside service is needed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.services.tokens import Role, issue_token
from tests.web.conftest import ADMIN_TOKEN, Service
from tests.web.ui_client import (
    csrf_token,
    flash,
    page,
    post_form,
    sign_in,
    unlabelled_controls,
)

SITE = 10000


def create_site(service: Service, site_id: int = SITE, name: str = "Acme") -> None:
    response = service.client.post(
        "/api/v1/sites", json={"site_id": site_id, "name": name}, headers=service.admin()
    )
    assert response.status_code == 201, response.text


def issue(service: Service, role: Role, site_id: int | None) -> tuple[str, int]:
    with service.runtime.unit_of_work() as session:
        issued = issue_token(session, role, site_id)
        return issued.token, issued.record.id


# --- signing in -----------------------------------------------------------------------------


def test_a_page_without_a_session_sends_to_the_sign_in_page_and_back(service: Service) -> None:
    response = service.client.get("/ui/sites/10000/syncs?outcome=failed", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/sites/10000/syncs%3Foutcome%3Dfailed"
    login = page(service.client.get(response.headers["location"]))
    assert login.find_all("input", name="next")[0].attrs["value"] == (
        "/ui/sites/10000/syncs?outcome=failed"
    )


def test_the_sign_in_page_labels_its_field_and_protects_its_form(service: Service) -> None:
    response = service.client.get("/ui/login")
    document = page(response)
    assert unlabelled_controls(document) == []
    assert document.by_id("token").attrs["type"] == "password"
    assert csrf_token(document)
    assert "optibridge_login" in response.cookies


def test_an_admin_token_opens_a_session_in_a_protected_cookie(service: Service) -> None:
    response = sign_in(service.client)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sites"
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith("optibridge_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http here
    assert ADMIN_TOKEN not in cookie
    assert service.client.get("/ui/sites").status_code == 200


def test_over_https_the_session_cookie_is_secure(service: Service) -> None:
    with TestClient(create_app(service.runtime), base_url="https://testserver") as client:
        response = sign_in(client)
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith("optibridge_session=")
    )
    assert "Secure" in cookie


def test_signing_in_goes_on_only_to_a_control_panel_page(service: Service) -> None:
    for target in ("//evil.example.com/ui/", "https://evil.example.com/", "/api/v1/sites"):
        service.client.cookies.clear()
        login = page(service.client.get("/ui/login"))
        response = service.client.post(
            "/ui/login",
            data={"csrf_token": csrf_token(login), "token": ADMIN_TOKEN, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/ui/sites", target


def test_a_wrong_token_is_refused_in_plain_words(service: Service) -> None:
    response = sign_in(service.client, "not-a-token")
    assert response.status_code == 401
    document = page(response)
    assert "That token is not valid" in document.by_id("token-error").text()
    assert document.by_id("token").attrs["aria-invalid"] == "true"
    assert "token-error" in document.by_id("token").attrs["aria-describedby"]
    assert document.text().count("That token is not valid") == 1  # said once, beside the field
    assert "`" not in document.text()
    assert "optibridge_session" not in response.cookies
    assert service.client.get("/ui/sites", follow_redirects=False).status_code == 303


def test_an_agent_token_cannot_open_the_control_panel(service: Service) -> None:
    create_site(service)
    token, _ = issue(service, Role.AGENT, SITE)
    response = sign_in(service.client, token)
    assert response.status_code == 403
    assert "agent token" in page(response).by_id("token-error").text()


def test_signing_in_without_the_forms_token_is_refused_with_a_page(service: Service) -> None:
    response = service.client.post("/ui/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert response.status_code == 403
    assert "cookie" in page(response).text()
    assert "optibridge_session" not in response.cookies


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(service: Service) -> None:
    sign_in(service.client)
    response = service.client.post(
        "/ui/sites", data={"site_id": "20000", "name": "Forged"}, follow_redirects=False
    )
    assert response.status_code == 403
    document = page(response)
    assert "This form has expired" in document.text()
    assert service.client.get("/api/v1/sites", headers=service.admin()).json() == []


def test_a_post_with_another_sessions_token_is_refused(service: Service) -> None:
    sign_in(service.client)
    stale = csrf_token(page(service.client.get("/ui/sites")))
    service.client.cookies.clear()
    sign_in(service.client)
    response = service.client.post(
        "/ui/sites",
        data={"csrf_token": stale, "site_id": "20000", "name": "Forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_signing_out_ends_the_session(service: Service) -> None:
    sign_in(service.client)
    response = post_form(service.client, "/ui/logout", {}, from_page="/ui/sites")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    login = page(service.client.get("/ui/login"))
    assert "You are signed out." in flash(login)
    assert service.client.get("/ui/sites", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_ignored(service: Service) -> None:
    sign_in(service.client)
    value = service.client.cookies["optibridge_session"]
    service.client.cookies.clear()
    service.client.cookies.set("optibridge_session", value[:-2] + "00", path="/ui")
    assert service.client.get("/ui/sites", follow_redirects=False).status_code == 303


def test_revoking_a_token_ends_its_sessions(service: Service) -> None:
    create_site(service)
    token, token_id = issue(service, Role.ADMIN, SITE)
    sign_in(service.client, token)
    assert service.client.get("/ui/sites").status_code == 200
    revoked = service.client.delete(
        f"/api/v1/sites/{SITE}/tokens/{token_id}", headers=service.admin()
    )
    assert revoked.status_code == 204
    assert service.client.get("/ui/sites", follow_redirects=False).status_code == 303


# --- sites --------------------------------------------------------------------------------------


def test_the_sites_page_lists_sites_with_their_state(service: Service) -> None:
    create_site(service, SITE, "Acme")
    sign_in(service.client)
    response = service.client.get("/ui/sites")
    assert response.status_code == 200
    document = page(response)
    assert unlabelled_controls(document) == []
    [row] = [r for r in document.find_all("tr") if r.find_all("th", scope="row")]
    assert "Acme" in row.text()
    assert "10000" in row.text()
    assert "Not connected" in row.text()
    links = {a.attrs["href"] for a in row.find_all("a")}
    assert {"/ui/sites/10000", "/ui/sites/10000/syncs"} <= links


def test_a_site_is_created_from_the_sites_page(service: Service) -> None:
    sign_in(service.client)
    response = post_form(
        service.client,
        "/ui/sites",
        {"site_id": "20000", "name": "Acme"},
        from_page="/ui/sites",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sites/20000"
    sites = service.client.get("/api/v1/sites", headers=service.admin()).json()
    assert [(s["site_id"], s["name"]) for s in sites] == [(20000, "Acme")]
    assert "Site 20000 is created" in flash(page(service.client.get("/ui/sites/20000")))


def test_an_invalid_site_shows_each_problem_beside_its_field(service: Service) -> None:
    sign_in(service.client)
    response = post_form(
        service.client, "/ui/sites", {"site_id": "ten", "name": " "}, from_page="/ui/sites"
    )
    assert response.status_code == 422
    document = page(response)
    assert "whole number" in document.by_id("f-site_id-error").text()
    assert document.by_id("f-name-error").text()
    assert document.by_id("f-site_id").attrs["value"] == "ten"
    summary_links = [a.attrs["href"] for a in document.find_all("a") if "#f-" in a.attrs["href"]]
    assert summary_links == ["#f-site_id", "#f-name"]


def test_an_existing_site_id_is_refused_beside_the_field(service: Service) -> None:
    create_site(service)
    sign_in(service.client)
    response = post_form(
        service.client, "/ui/sites", {"site_id": "10000", "name": "Again"}, from_page="/ui/sites"
    )
    assert response.status_code == 409
    assert "already exists" in page(response).by_id("f-site_id-error").text()


def test_a_site_scoped_admin_sees_only_its_site_and_cannot_create(service: Service) -> None:
    create_site(service, SITE, "Acme")
    create_site(service, 20000, "Other")
    token, _ = issue(service, Role.ADMIN, SITE)
    sign_in(service.client, token)
    document = page(service.client.get("/ui/sites"))
    assert "Acme" in document.text()
    assert "Other" not in document.text()
    assert not document.find_all("form", action="/ui/sites")
    other = service.client.get("/ui/sites/20000")
    assert other.status_code == 404
    assert "Site 20000 does not exist" in page(other).text()
    create = post_form(
        service.client, "/ui/sites", {"site_id": "30000", "name": "X"}, from_page="/ui/sites"
    )
    assert create.status_code == 403


# --- error pages and headers ---------------------------------------------------------------------


def test_errors_are_pages_not_json(service: Service) -> None:
    sign_in(service.client)
    for path in ("/ui/sites/424242", "/ui/sites/not-a-number", "/ui/no/such/page"):
        response = service.client.get(path)
        assert response.status_code == 404, path
        document = page(response)
        assert document.find_all("h1")[0].text() == "Not found"


def test_pages_carry_security_headers(service: Service) -> None:
    response = service.client.get("/ui/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_stylesheet_and_script_are_served(service: Service) -> None:
    css = service.client.get("/ui/static/optibridge.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    script = service.client.get("/ui/static/optibridge.js")
    assert script.status_code == 200


def test_a_form_that_is_not_urlencoded_is_refused(service: Service) -> None:
    sign_in(service.client)
    response = service.client.post("/ui/sites", json={"site_id": 1}, follow_redirects=False)
    assert response.status_code == 415
    assert page(response).find_all("h1")
