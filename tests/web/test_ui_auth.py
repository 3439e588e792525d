"""Control-panel sessions across a secret key rotation: signed with the first key, accepted
under any configured key, ended when the key that signed them is removed. And what a signed
value is bound to: its purpose, and its lifetime from when it was signed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from optibridge.web.ui.auth import CLOCK_SKEW_S, SESSION_LIFETIME_S, UiSigner
from tests.web.conftest import ADMIN_TOKEN
from tests.web.ui_client import csrf_token, page, sign_in

NEW, OLD = Fernet.generate_key(), Fernet.generate_key()


@contextmanager
def browser_on(tmp_path: Path, *keys: bytes) -> Iterator[TestClient]:
    """A browser talking to a process configured with `keys` (newest first); every such process
    shares one database."""
    config = Config(
        data_dir=tmp_path,
        admin_token=ADMIN_TOKEN,
        secret_key=",".join(key.decode() for key in keys),
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield client
    finally:
        runtime.close()


def same_browser(source: TestClient, target: TestClient) -> None:
    for cookie in source.cookies.jar:
        target.cookies.jar.set_cookie(cookie)


def signed_in(client: TestClient) -> bool:
    response: httpx.Response = client.get("/ui/sites", follow_redirects=False)
    return response.status_code == 200


def test_a_session_signed_with_the_old_key_stays_valid_after_a_new_key_is_put_in_front(
    tmp_path: Path,
) -> None:
    with browser_on(tmp_path, OLD) as before, browser_on(tmp_path, NEW, OLD) as after:
        assert sign_in(before).status_code == 303
        same_browser(before, after)
        assert signed_in(after)


def test_a_form_shown_before_the_new_key_was_put_in_front_is_still_accepted(
    tmp_path: Path,
) -> None:
    with browser_on(tmp_path, OLD) as before, browser_on(tmp_path, NEW, OLD) as after:
        sign_in(before)
        token = csrf_token(page(before.get("/ui/sites")))
        same_browser(before, after)
        response = after.post(
            "/ui/sites",
            data={"csrf_token": token, "site_id": "20000", "name": "Acme"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/sites/20000"


def test_a_new_session_is_signed_with_the_first_key(tmp_path: Path) -> None:
    with browser_on(tmp_path, NEW, OLD) as rotating, browser_on(tmp_path, NEW) as rotated:
        sign_in(rotating)
        same_browser(rotating, rotated)
        assert signed_in(rotated)


def test_removing_the_old_key_ends_the_sessions_signed_with_it(tmp_path: Path) -> None:
    with browser_on(tmp_path, OLD) as before, browser_on(tmp_path, NEW) as rotated:
        sign_in(before)
        assert signed_in(before)
        same_browser(before, rotated)
        assert not signed_in(rotated)


def test_a_session_ends_when_its_lifetime_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with browser_on(tmp_path, NEW) as browser:
        sign_in(browser)
        signed_at = time.time()
        monkeypatch.setattr(time, "time", lambda: signed_at + SESSION_LIFETIME_S - 5)
        assert signed_in(browser)
        monkeypatch.setattr(time, "time", lambda: signed_at + SESSION_LIFETIME_S + 5)
        assert not signed_in(browser)


def test_a_signed_value_is_bound_to_its_purpose_and_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = UiSigner([NEW, OLD])
    signed = signer.sign("csrf", "secret")
    assert signer.unsign("csrf", signed, 60) is not None
    for other in ("session", "flash", "login"):
        assert signer.unsign(other, signed, 60) is None
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 65)
    assert signer.unsign("csrf", signed, 60) is None
    # Signed by a process whose clock runs a little ahead: still accepted.
    monkeypatch.setattr(time, "time", lambda: now - CLOCK_SKEW_S + 5)
    assert signer.unsign("csrf", signed, 60) is not None


def test_the_newest_key_signs_and_every_listed_key_verifies() -> None:
    signed_by_old = UiSigner([OLD]).sign("session", {"role": "admin"})
    assert UiSigner([NEW, OLD]).unsign("session", signed_by_old, 60) is not None
    assert UiSigner([NEW]).unsign("session", signed_by_old, 60) is None
    signed_during_rotation = UiSigner([NEW, OLD]).sign("session", {"role": "admin"})
    assert UiSigner([NEW]).unsign("session", signed_during_rotation, 60) is not None
    assert UiSigner([OLD]).unsign("session", signed_during_rotation, 60) is None
