"""Constant-time checks of secrets, shown by behaviour: a spy stands in for `hmac.compare_digest`
and each authentication attempt must reach it from the code that checks that secret (the spy
records the optibridge functions on the stack). Where a secret is not compared but looked up
(stored tokens, by their SHA-256) the test shows the database only ever sees the digest; where
it is a MAC (console sessions, Fernet) that our code opens it only through Fernet's
authenticated decryption, which refuses a changed MAC. The control panel's cookies and CSRF
tokens are signed with itsdangerous, which compares a value's signature (its last part) with
`hmac.compare_digest`: the spy sees that comparison made from our function. Tokens are stored as
hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from optibridge.sandbox.comm100 import create_app as create_comm100_sandbox
from optibridge.sandbox.optimove import create_app as create_optimove_sandbox
from optibridge.secret_box import SecretBox, SecretKeyMismatch
from optibridge.store.models import ApiToken
from tests.security.conftest import SITE_A, Bench, bearer, encoded_forms, fresh_secret
from tests.sync.stack import chat_end_for
from tests.web.ui_client import csrf_token, page, sign_in

pytestmark = pytest.mark.security

_compare_digest = hmac.compare_digest


@dataclass
class Comparison:
    given: Any
    expected: Any
    callers: list[str]  # optibridge functions on the stack, innermost first


@dataclass
class CompareSpy:
    """Stands in for `hmac.compare_digest` (and answers as it would)."""

    calls: list[Comparison] = field(default_factory=list)

    def __call__(self, given: Any, expected: Any) -> bool:
        callers = []
        frame = sys._getframe(1)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith("optibridge."):
                callers.append(f"{module}.{frame.f_code.co_qualname}")
            frame = frame.f_back  # type: ignore[assignment]
        self.calls.append(Comparison(given, expected, callers))
        return _compare_digest(given, expected)

    def by(self, function: str) -> list[Comparison]:
        """The comparisons `function` (module.qualname, or a package prefix ending in a dot)
        made, directly or through a helper."""
        return [
            call
            for call in self.calls
            if any(
                caller == function or (function.endswith(".") and caller.startswith(function))
                for caller in call.callers
            )
        ]

    def compared(self, function: str, secret: str | bytes) -> bool:
        """Whether `function` compared `secret` itself (as text or bytes) in constant time."""
        wanted = {secret, secret.encode()} if isinstance(secret, str) else {secret}
        return any(call.given in wanted or call.expected in wanted for call in self.by(function))


def signature_of(signed: str) -> bytes:
    """The signature of a value signed with itsdangerous (its last part), as it is compared."""
    encoded = signed.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CompareSpy:
    watching = CompareSpy()
    monkeypatch.setattr(hmac, "compare_digest", watching)
    return watching


# --- bearer tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("right", [True, False], ids=["right token", "wrong token"])
def test_the_bootstrap_admin_token_is_compared_in_constant_time(
    bench: Bench, spy: CompareSpy, right: bool
) -> None:
    token = bench.known.admin_token if right else fresh_secret("admin")
    response = bench.client.get("/api/v1/sites", headers=bearer(token))
    assert response.status_code == (200 if right else 401)
    assert spy.compared("optibridge.services.tokens.authenticate", token)


@dataclass
class StatementSpy:
    parameters: list[str] = field(default_factory=list)

    def __call__(self, *args: Any) -> None:
        self.parameters.append(repr(args[3]))  # (conn, cursor, statement, parameters, …)


@pytest.fixture
def statements(bench: Bench) -> Iterator[StatementSpy]:
    watching = StatementSpy()
    event.listen(bench.runtime.engine, "before_cursor_execute", watching)
    yield watching
    event.remove(bench.runtime.engine, "before_cursor_execute", watching)


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_a_stored_token_is_looked_up_by_its_digest_never_compared_as_text(
    bench: Bench, spy: CompareSpy, statements: StatementSpy, role: str
) -> None:
    """SHA-256 of a 256-bit random token: the lookup's timing can only tell about the digest,
    which gives nothing away about any token. The bootstrap comparison is still made."""
    token = bench.issue(SITE_A, role).token
    path = f"/api/v1/sites/{SITE_A}" + ("" if role == "admin" else "/console/changes/1")
    response = bench.client.get(path, headers=bearer(token))
    assert response.status_code in (200, 404), response.text
    assert response.status_code == 200 or "Console change" in response.text
    digest = hashlib.sha256(token.encode()).hexdigest()
    sent = " ".join(statements.parameters)
    assert digest in sent
    assert not any(form in sent for form in encoded_forms(token).values())
    assert spy.compared("optibridge.services.tokens.authenticate", token)


# --- webhooks -------------------------------------------------------------------------------------

WEBHOOKS: dict[str, Callable[[], dict[str, Any]]] = {
    f"/webhooks/comm100/{SITE_A}/livechat": lambda: chat_end_for("C-1", "ann@example.com"),
    f"/webhooks/comm100/{SITE_A}/ticketing": lambda: {"TicketInfo": {"Id": 1}},
    f"/callbacks/optimove/{SITE_A}": lambda: {"isSuccess": True, "errors": []},
}


@pytest.mark.parametrize("right", [True, False], ids=["right token", "wrong token"])
@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_a_webhook_token_is_compared_in_constant_time(
    bench: Bench, spy: CompareSpy, path: str, right: bool
) -> None:
    token = bench.webhook_token(SITE_A)
    given = token if right else "x" * len(token)
    response = bench.client.post(path, params={"token": given}, json=WEBHOOKS[path]())
    assert (response.status_code == 401) is not right, response.text
    assert spy.compared("optibridge.sync.ingest.verify_site", token)


# --- the control panel ----------------------------------------------------------------------------


def test_the_session_cookie_signature_is_checked_in_constant_time(
    bench: Bench, spy: CompareSpy
) -> None:
    browser = bench.browser()
    sign_in(browser, bench.known.admin_token)
    spy.calls.clear()
    assert browser.get("/ui/sites").status_code == 200
    assert spy.by("optibridge.web.ui.auth.UiSigner.unsign")
    # The deployment's bootstrap token is checked again at every request, also by a MAC.
    assert spy.by("optibridge.web.ui.auth._still_valid")

    value = browser.cookies["optibridge_session"]
    browser.cookies.clear()
    browser.cookies.set("optibridge_session", value[:-8] + "0" * 8, path="/ui")
    spy.calls.clear()
    assert browser.get("/ui/sites", follow_redirects=False).status_code == 303
    assert spy.by("optibridge.web.ui.auth.UiSigner.unsign")


def test_the_flash_message_signature_is_checked_in_constant_time(
    bench: Bench, spy: CompareSpy
) -> None:
    browser = bench.browser()
    sign_in(browser, bench.known.admin_token)
    token = csrf_token(page(browser.get("/ui/sites")))
    browser.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    spy.calls.clear()
    assert "signed out" in browser.get("/ui/login").text
    assert spy.by("optibridge.web.ui.auth.read_flash")


def test_the_login_forms_csrf_token_is_compared_in_constant_time(
    bench: Bench, spy: CompareSpy
) -> None:
    browser = bench.browser()
    token = csrf_token(page(browser.get("/ui/login")))
    spy.calls.clear()
    response = browser.post(
        "/ui/login",
        data={"csrf_token": token, "token": bench.known.admin_token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert spy.compared("optibridge.web.ui.auth.check_login_csrf", signature_of(token))
    assert spy.compared("optibridge.services.tokens.authenticate", bench.known.admin_token)


@pytest.mark.parametrize("right", [True, False], ids=["right token", "wrong token"])
def test_a_forms_csrf_token_is_compared_in_constant_time(
    bench: Bench, spy: CompareSpy, right: bool
) -> None:
    browser = bench.browser()
    sign_in(browser, bench.known.admin_token)
    token = csrf_token(page(browser.get("/ui/sites")))
    # Wrong: the signature changed (a token without one is refused before any secret is used).
    given = token if right else token[:-8] + "0" * 8
    spy.calls.clear()
    response = browser.post(
        "/ui/sites",
        data={"csrf_token": given, "site_id": "30000", "name": "C"},
        follow_redirects=False,
    )
    assert response.status_code == (303 if right else 403)
    assert spy.compared("optibridge.web.ui.auth.check_csrf", signature_of(token))


# --- the console ----------------------------------------------------------------------------------


@dataclass
class OpenSpy:
    """What `SecretBox.open` (our one door to Fernet's authenticated decryption) made of each
    sealed value: True when it opened, False when it was refused."""

    opened: list[bool] = field(default_factory=list)


@pytest.fixture
def box_opens(monkeypatch: pytest.MonkeyPatch) -> OpenSpy:
    """Spies on our own boundary, not on cryptography's internals: `SecretBox.open` hands the
    value to `MultiFernet.decrypt`, whose documented contract is to verify the HMAC-SHA256
    before decrypting (in constant time) and to raise `InvalidToken` on any change."""
    watching = OpenSpy()
    open_sealed = SecretBox.open

    def spying(box: SecretBox, sealed: str) -> str:
        try:
            plaintext = open_sealed(box, sealed)
        except SecretKeyMismatch:
            watching.opened.append(False)
            raise
        watching.opened.append(True)
        return plaintext

    monkeypatch.setattr(SecretBox, "open", spying)
    return watching


def test_a_console_session_is_checked_by_its_mac(bench: Bench, box_opens: OpenSpy) -> None:
    agent = bench.issue(SITE_A, "agent").token
    tab = bench.client.get(f"/console/{SITE_A}/livechat", params={"token": agent})
    found = re.search(r'name="optibridge-session" content="([^"]+)"', tab.text)
    assert found is not None
    session = found.group(1)
    path = f"/api/v1/sites/{SITE_A}/console/changes/1"

    box_opens.opened.clear()
    assert bench.client.get(path, headers=bearer(session)).status_code == 404  # no such change
    assert box_opens.opened == [True]

    # One bit of the MAC flipped: the sealed value still decodes, but its MAC no longer holds.
    prefix, sealed = session[:4], session[4:]
    raw = base64.urlsafe_b64decode(sealed)
    forged = prefix + base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()
    box_opens.opened.clear()
    assert bench.client.get(path, headers=bearer(forged)).status_code == 401
    assert box_opens.opened == [False]


def test_an_agent_token_in_the_tabs_address_is_checked_like_any_token(
    bench: Bench, spy: CompareSpy
) -> None:
    agent = bench.issue(SITE_A, "agent").token
    tab = bench.client.get(f"/console/{SITE_A}/livechat", params={"token": agent})
    assert tab.status_code == 200
    assert spy.compared("optibridge.services.tokens.authenticate", agent)


# --- the sandboxes --------------------------------------------------------------------------------


@pytest.mark.parametrize("right", [True, False], ids=["right key", "wrong key"])
def test_the_sandboxes_compare_api_keys_in_constant_time(spy: CompareSpy, right: bool) -> None:
    optimove_key = "sandbox-optimove-key" if right else "sandbox-optimove-kez"
    optimove = TestClient(create_optimove_sandbox())
    answer = optimove.get("/model/GetCustomerAttributeList", headers={"X-API-KEY": optimove_key})
    assert answer.status_code == (200 if right else 401)
    assert spy.compared("optibridge.sandbox.", optimove_key)

    comm100_key = "sandbox-comm100-key" if right else "sandbox-comm100-kez"
    comm100 = TestClient(create_comm100_sandbox())
    answer = comm100.get(
        "/v4/contact/fields",
        params={"siteId": "10000"},
        auth=("agent@example.com", comm100_key),
    )
    assert answer.status_code == (200 if right else 401)
    assert spy.compared("optibridge.sandbox.", comm100_key)


# --- tokens at rest -------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_their_hashes(bench: Bench) -> None:
    issued = [bench.issue(SITE_A, role) for role in ("admin", "agent")]
    with bench.runtime.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(ApiToken)))
    stored = {row.id: row.token_hash for row in rows}
    for token in issued:
        assert stored[token.token_id] == hashlib.sha256(token.token.encode()).hexdigest()
    everything = repr(bench.rows())
    for secret in [*(token.token for token in issued), bench.known.admin_token]:
        found = [form for form, value in encoded_forms(secret).items() if value in everything]
        assert found == [], found
