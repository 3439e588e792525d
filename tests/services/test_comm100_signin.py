"""Comm100 sign-in's service (`services/comm100_signin.py`): where a sign-in may go, the state it
carries through Comm100, and how long a session from it holds.

Exchanging a code is tested against a fake Comm100 in tests/comm100/test_oauth.py and against
the sandbox, end to end, in tests/console/test_sign_in_e2e.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.config import Config
from optibridge.console.session import authenticate_console, issue_signed_in_session
from optibridge.errors import Invalid, Unauthorized
from optibridge.runtime import Runtime
from optibridge.services.comm100_signin import (
    SignInNotReady,
    checked_next,
    checked_nonce,
    client_mark,
    new_nonce,
    read_state,
    start,
    still_signed_in,
)
from optibridge.services.settings import read_document, save_document
from optibridge.services.sites import create_site
from optibridge.services.tokens import Role
from optibridge.store.migrate import upgrade_to_head
from optibridge.sync.sites import load_settings
from tests.support.strategies import nasty_text

SITE = 10000
PUBLIC = "https://ob.example.com"
SIGN_IN = {
    "platform_url": "https://dash11.comm100.io",
    "oauth_client_id": "optibridge",
    "oauth_client_secret": "0auth-s3cret-DO-NOT-LEAK",
}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    started = Runtime.start(Config(data_dir=tmp_path, admin_token="sign-in-admin-token-0123456789"))
    upgrade_to_head(started.engine)
    with started.unit_of_work() as session:
        create_site(session, started.box, SITE, "site")
    yield started
    started.close()


def set_up_sign_in(runtime: Runtime, **changes: str | None) -> None:
    document = read_document(runtime, SITE)
    document["comm100"].update({**SIGN_IN, **changes})
    save_document(runtime, SITE, document)


@pytest.mark.parametrize(
    "target",
    ["/ui/sites/10000", "/console/10000/livechat?agent_id=a", "/console/10000/ticketing"],
)
def test_a_sign_in_may_go_back_to_the_control_panel_or_the_sites_tab(target: str) -> None:
    assert checked_next(SITE, target + "#fragment") == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/\\evil.example",
        "/console/20000/livechat",
        "/api/v1/sites",
        "/ui/\nSet-Cookie: x",
        "ui/sites",
    ],
)
def test_a_sign_in_never_goes_anywhere_else(target: str | None) -> None:
    with pytest.raises(Invalid) as refused:
        checked_next(SITE, target)
    assert refused.value.details[0].pointer == "/next"


@given(nasty_text(max_size=40))
def test_any_next_is_a_path_of_the_service_or_refused(target: str) -> None:
    try:
        checked = checked_next(SITE, target)
    except Invalid:
        return
    assert checked.startswith(("/ui/", f"/console/{SITE}/"))
    assert "#" not in checked
    assert checked.isprintable()


@given(nasty_text(max_size=120))
def test_any_nonce_is_a_plain_token_or_refused(nonce: str) -> None:
    try:
        checked = checked_nonce(nonce)
    except Invalid:
        return
    assert 16 <= len(checked) <= 100
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in checked)


def test_a_new_nonce_is_a_nonce() -> None:
    first, second = new_nonce(), new_nonce()
    assert checked_nonce(first) == first
    assert first != second


def test_a_site_without_sign_in_set_up_refuses_to_start(runtime: Runtime) -> None:
    with pytest.raises(SignInNotReady) as refused:
        start(runtime, SITE, "/ui/sites", new_nonce(), PUBLIC)
    assert refused.value.status == 409


def test_the_state_carries_site_next_and_nonce_through_comm100_unreadable(
    runtime: Runtime,
) -> None:
    set_up_sign_in(runtime)
    nonce = new_nonce()

    url = start(runtime, SITE, "/console/10000/livechat", nonce, PUBLIC)

    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [PUBLIC + "/auth/comm100/callback"]
    assert query["client_id"] == ["optibridge"]
    (state,) = query["state"]
    assert nonce not in state
    assert "livechat" not in state
    assert SIGN_IN["oauth_client_secret"] not in url
    begun = read_state(runtime, state)
    assert (begun.site_id, begun.next_path, begun.nonce) == (SITE, "/console/10000/livechat", nonce)
    assert begun.for_control_panel is False


@pytest.mark.parametrize("state", [None, "", "forged", "x" * 5000])
def test_a_state_not_made_here_is_refused(runtime: Runtime, state: str | None) -> None:
    with pytest.raises(Invalid, match="did not start here"):
        read_state(runtime, state)


def test_an_expired_state_or_one_of_another_kind_is_refused(runtime: Runtime) -> None:
    claims = {"kind": "comm100-sign-in", "site": SITE, "next": "/ui/", "nonce": new_nonce()}
    expired = runtime.box.seal(json.dumps({**claims, "exp": time.time() - 1}))
    other_kind = runtime.box.seal(
        json.dumps({**claims, "kind": "console", "exp": time.time() + 60})
    )
    for state in (expired, other_kind):
        with pytest.raises(Invalid):
            read_state(runtime, state)


def test_a_session_from_sign_in_names_the_agent_and_ends_when_the_set_up_changes(
    runtime: Runtime,
) -> None:
    set_up_sign_in(runtime)
    mark = client_mark(load_settings(runtime, SITE).settings.comm100)
    session = issue_signed_in_session(runtime, SITE, " agent-7 ", "a@example.com", mark)

    caller = authenticate_console(runtime, session)
    assert caller.principal.role is Role.AGENT
    assert caller.principal.site_id == SITE
    assert (caller.agent_id, caller.agent_email, caller.agent_verified) == (
        "agent-7",
        "a@example.com",
        True,
    )
    assert still_signed_in(runtime, SITE, mark)

    set_up_sign_in(runtime, oauth_client_id="another-client")

    assert not still_signed_in(runtime, SITE, mark)
    with pytest.raises(Unauthorized, match="Comm100 sign-in for this site was changed"):
        authenticate_console(runtime, session)


@given(st.integers(min_value=1, max_value=10**6))
def test_another_sites_tab_is_never_a_place_to_go(site_id: int) -> None:
    other = site_id + 1
    with pytest.raises(Invalid):
        checked_next(site_id, f"/console/{other}/livechat")
