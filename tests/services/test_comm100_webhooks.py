"""The Live Chat webhooks the service registers in Comm100 (SPEC 5.2), against the Comm100
sandbox running as its own process: each needed event's state, registering and repairing
idempotently, webhooks of other integrations left alone unless asked, this site's webhooks at an
older address repointed, and the site's webhooks removed when it is deleted, best effort."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from optibridge.comm100.errors import MissingPermissionError
from optibridge.config import Config
from optibridge.errors import Invalid, NotFound
from optibridge.runtime import Runtime
from optibridge.services.comm100_webhooks import (
    WebhookReport,
    register_webhooks,
    remove_site_webhooks,
    webhook_report,
)
from optibridge.services.settings import save_document
from optibridge.services.sites import create_site, delete_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.sync.sites import get_site, webhook_token
from tests.comm100.conftest import SANDBOX_KEY, Sandbox, start_sandbox

SITE = 10000
PUBLIC = "https://bridge.example.com"
NEEDED = ("chatEnds", "offlineMessageIsSubmitted")


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Sandbox) -> Sandbox:
    comm100_process.control("POST", "reset")
    return comm100_process


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    started = Runtime.start(Config(data_dir=tmp_path, allow_private_urls=True, comm100_timeout_s=5))
    upgrade_to_head(started.engine)
    with started.unit_of_work() as session:
        create_site(session, started.box, SITE, "Acme")
    yield started
    started.close()


def connect(runtime: Runtime, comm100: Sandbox, api_base_url: str | None = None) -> None:
    save_document(
        runtime,
        SITE,
        {
            "comm100": {
                "api_base_url": api_base_url or comm100.api_base_url,
                "agent_email": "agent@example.com",
                "api_key": SANDBOX_KEY,
            }
        },
    )


@pytest.fixture
def connected(runtime: Runtime, comm100: Sandbox) -> Runtime:
    connect(runtime, comm100)
    return runtime


def token_of(runtime: Runtime) -> str:
    with runtime.unit_of_work(read_only=True) as session:
        return webhook_token(runtime.box, get_site(session, SITE))


def our_url(runtime: Runtime, base: str = PUBLIC) -> str:
    return f"{base}/webhooks/comm100/{SITE}/livechat?token={token_of(runtime)}"


def stored(comm100: Sandbox) -> list[dict[str, Any]]:
    webhooks: list[dict[str, Any]] = comm100.control("GET", "webhooks")
    return webhooks


def seed(comm100: Sandbox, *webhooks: tuple[str, str]) -> list[dict[str, Any]]:
    body = [{"siteId": SITE, "event": event, "targetUrl": url} for event, url in webhooks]
    seeded: list[dict[str, Any]] = comm100.control("PUT", "webhooks", body)
    return seeded


def states(report: WebhookReport) -> dict[str, str]:
    return {event.event: event.state for event in report.livechat}


def everything_said(report: WebhookReport) -> str:
    return repr(report)


# --- the state --------------------------------------------------------------------------------


def test_without_webhooks_both_events_are_missing(connected: Runtime, comm100: Sandbox) -> None:
    report = webhook_report(connected, SITE, PUBLIC)

    assert states(report) == {"chatEnds": "missing", "offlineMessageIsSubmitted": "missing"}
    assert [e.name for e in report.livechat] == ["Chat Ended", "Offline Message Submitted"]
    assert report.livechat[0].message.startswith("Missing: no webhook for Chat Ended")
    assert report.repairable
    assert report.ticket_trigger.state == "manual"
    assert report.ticket_trigger.event == "whenTicketIsCreated"
    assert '"When a ticket is created"' in report.ticket_trigger.message
    assert "POST" in report.ticket_trigger.message
    assert report.changed == ()
    assert report.warning is None
    assert [r["method"] for r in comm100.requests()] == ["GET"]


def test_our_url_written_otherwise_is_still_registered(
    connected: Runtime, comm100: Sandbox
) -> None:
    token = token_of(connected)
    seed(
        comm100,
        (
            "chatEnds",
            f"HTTPS://Bridge.Example.COM:443/webhooks/comm100/{SITE}/livechat?token={token}",
        ),
        ("offlineMessageIsSubmitted", our_url(connected)),
    )

    assert states(webhook_report(connected, SITE, PUBLIC)) == dict.fromkeys(NEEDED, "registered")


def test_a_webhook_of_another_integration_is_elsewhere_shown_by_its_origin_only(
    connected: Runtime, comm100: Sandbox
) -> None:
    seed(comm100, ("chatEnds", "https://hooks.other.example/catch/123/s3cr3t?key=abcdefgh"))

    report = webhook_report(connected, SITE, PUBLIC)

    chat_ends = report.livechat[0]
    assert chat_ends.state == "elsewhere"
    assert chat_ends.elsewhere == ("https://hooks.other.example",)
    assert "another integration's" in chat_ends.message
    assert "s3cr3t" not in everything_said(report)
    assert "abcdefgh" not in everything_said(report)
    assert report.livechat[1].state == "missing"


def test_this_sites_url_at_an_older_address_is_elsewhere_and_named_so(
    connected: Runtime, comm100: Sandbox
) -> None:
    seed(comm100, ("chatEnds", our_url(connected, "http://old.example.com:8080/bridge")))

    report = webhook_report(connected, SITE, PUBLIC)

    assert report.livechat[0].state == "elsewhere"
    assert "older address of this service (http://old.example.com:8080)" in (
        report.livechat[0].message
    )
    assert token_of(connected) not in everything_said(report)


def test_webhooks_of_other_events_and_sites_do_not_count(
    connected: Runtime, comm100: Sandbox
) -> None:
    comm100.control("PUT", "sites", [SITE, 20000])
    comm100.control(
        "PUT",
        "webhooks",
        [
            {"siteId": SITE, "event": "chatStarts", "targetUrl": our_url(connected)},
            {"siteId": 20000, "event": "chatEnds", "targetUrl": our_url(connected)},
        ],
    )

    assert states(webhook_report(connected, SITE, PUBLIC)) == dict.fromkeys(NEEDED, "missing")


def test_an_unconnected_site_is_a_422_and_an_unknown_one_a_404(runtime: Runtime) -> None:
    with pytest.raises(Invalid, match="not connected"):
        webhook_report(runtime, SITE, PUBLIC)
    with pytest.raises(Invalid, match="not connected"):
        register_webhooks(runtime, SITE, PUBLIC)
    with pytest.raises(NotFound):
        webhook_report(runtime, 77, PUBLIC)


# --- registering --------------------------------------------------------------------------------


def test_registering_creates_what_is_missing_once(connected: Runtime, comm100: Sandbox) -> None:
    first = register_webhooks(connected, SITE, PUBLIC)
    second = register_webhooks(connected, SITE, PUBLIC)

    assert states(first) == dict.fromkeys(NEEDED, "registered")
    assert first.changed == ("Chat Ended: registered.", "Offline Message Submitted: registered.")
    assert states(second) == dict.fromkeys(NEEDED, "registered")
    assert second.changed == ()
    assert not second.repairable
    assert [(w["event"], w["targetUrl"]) for w in stored(comm100)] == [
        ("chatEnds", our_url(connected)),
        ("offlineMessageIsSubmitted", our_url(connected)),
    ]
    assert states(webhook_report(connected, SITE, PUBLIC)) == dict.fromkeys(NEEDED, "registered")
    assert token_of(connected) not in everything_said(first)


def test_registering_at_once_from_two_threads_creates_once(
    connected: Runtime, comm100: Sandbox
) -> None:
    reports: list[WebhookReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(register_webhooks(connected, SITE, PUBLIC)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reports) == 2
    assert len(stored(comm100)) == 2


def test_only_the_missing_one_is_created(connected: Runtime, comm100: Sandbox) -> None:
    [kept] = seed(comm100, ("chatEnds", our_url(connected)))

    report = register_webhooks(connected, SITE, PUBLIC)

    assert report.changed == ("Offline Message Submitted: registered.",)
    assert stored(comm100)[0] == kept


def test_another_integrations_webhook_is_left_and_ours_added_beside(
    connected: Runtime, comm100: Sandbox
) -> None:
    [theirs] = seed(comm100, ("chatEnds", "https://crm.example/hook"))

    report = register_webhooks(connected, SITE, PUBLIC)

    assert states(report) == dict.fromkeys(NEEDED, "registered")
    assert "(to https://crm.example) may be another integration's: left in place" in (
        report.livechat[0].message
    )
    assert theirs in stored(comm100)
    assert len(stored(comm100)) == 3


def test_asked_to_replace_the_other_webhook_is_pointed_here(
    connected: Runtime, comm100: Sandbox
) -> None:
    [theirs, extra] = seed(
        comm100, ("chatEnds", "https://crm.example/hook"), ("chatEnds", "https://b.example/")
    )

    report = register_webhooks(connected, SITE, PUBLIC, replace_elsewhere=True)

    assert report.changed == (
        "Chat Ended: pointed the webhook to https://crm.example at this service.",
        "Chat Ended: removed the webhook to https://b.example.",
        "Offline Message Submitted: registered.",
    )
    chat_ends = [w for w in stored(comm100) if w["event"] == "chatEnds"]
    assert chat_ends == [{**theirs, "targetUrl": our_url(connected)}]
    assert extra["id"] not in {w["id"] for w in stored(comm100)}


def test_asked_to_replace_when_ours_is_there_the_others_are_removed(
    connected: Runtime, comm100: Sandbox
) -> None:
    [ours, _theirs] = seed(
        comm100, ("chatEnds", our_url(connected)), ("chatEnds", "https://crm.example/hook")
    )

    report = register_webhooks(connected, SITE, PUBLIC, replace_elsewhere=True)

    assert "Chat Ended: removed the webhook to https://crm.example." in report.changed
    assert [w for w in stored(comm100) if w["event"] == "chatEnds"] == [ours]


def test_this_sites_webhook_at_an_older_address_is_repointed_not_duplicated(
    connected: Runtime, comm100: Sandbox
) -> None:
    [older, theirs] = seed(
        comm100,
        ("chatEnds", our_url(connected, "http://old.example.com")),
        ("chatEnds", "https://crm.example/hook"),
    )

    report = register_webhooks(connected, SITE, PUBLIC)

    assert report.changed[0] == (
        "Chat Ended: pointed the webhook to http://old.example.com at this service."
    )
    chat_ends = [w for w in stored(comm100) if w["event"] == "chatEnds"]
    assert chat_ends == [{**older, "targetUrl": our_url(connected)}, theirs]


def test_older_addresses_beside_the_current_one_are_removed(
    connected: Runtime, comm100: Sandbox
) -> None:
    ticketing = our_url(connected).replace("/livechat?", "/ticketing?")
    [current, _pasted] = seed(comm100, ("chatEnds", our_url(connected)), ("chatEnds", ticketing))

    before = webhook_report(connected, SITE, PUBLIC)
    report = register_webhooks(connected, SITE, PUBLIC)

    assert "An older address of this service is registered too" in before.livechat[0].message
    assert before.livechat[0].state == "registered"
    assert before.livechat[0].repairable
    assert not report.livechat[0].repairable
    assert report.changed[0] == f"Chat Ended: removed the webhook to {PUBLIC}."
    assert [w for w in stored(comm100) if w["event"] == "chatEnds"] == [current]


def test_without_manage_integration_registering_says_so(
    connected: Runtime, comm100: Sandbox
) -> None:
    comm100.control("PUT", "behaviour", {"manage_integration": False})

    with pytest.raises(MissingPermissionError, match="Manage Integration permission") as caught:
        register_webhooks(connected, SITE, PUBLIC)

    assert caught.value.status == 403
    assert token_of(connected) not in caught.value.message


def test_a_comm100_on_the_internet_is_never_given_a_local_address(
    runtime: Runtime, comm100: Sandbox
) -> None:
    connect(runtime, comm100, api_base_url="https://api11.comm100.io/v4")

    with pytest.raises(Invalid, match=r"OPTIBRIDGE_PUBLIC_URL") as caught:
        register_webhooks(runtime, SITE, "http://127.0.0.1:8000")

    assert "private, loopback or local address" in caught.value.message
    assert "(http://127.0.0.1:8000)" in caught.value.message


def test_plain_http_on_a_public_host_is_reachable(connected: Runtime, comm100: Sandbox) -> None:
    assert register_webhooks(connected, SITE, "http://bridge.example.com").warning is None


# --- deleting the site ------------------------------------------------------------------------


def test_deleting_the_site_removes_its_webhooks_and_only_those(
    connected: Runtime, comm100: Sandbox
) -> None:
    register_webhooks(connected, SITE, PUBLIC)
    [theirs, _older] = seed(
        comm100,
        ("chatEnds", "https://crm.example/hook"),
        ("offlineMessageIsSubmitted", our_url(connected, "http://old.example.com")),
    )
    register_webhooks(connected, SITE, PUBLIC)  # ours again, beside theirs

    with structlog.testing.capture_logs() as logs:
        removal = delete_site(connected, SITE)

    assert sorted(removal.removed) == ["chatEnds", "offlineMessageIsSubmitted"]
    assert removal.complete
    assert stored(comm100) == [{**theirs, "siteId": SITE}]
    assert [entry["event"] for entry in logs] == ["comm100_webhooks_removed"]
    with connected.unit_of_work(read_only=True) as session, pytest.raises(NotFound):
        get_site(session, SITE)


def test_a_failing_comm100_never_keeps_the_site_from_being_deleted(
    connected: Runtime, comm100: Sandbox
) -> None:
    register_webhooks(connected, SITE, PUBLIC)
    token = token_of(connected)
    comm100.control("PUT", "faults", {"error_rate": 1.0})

    with structlog.testing.capture_logs() as logs:
        removal = delete_site(connected, SITE)

    assert removal.removed == ()
    assert removal.left is None  # the list could not even be read
    assert removal.problem is not None
    assert not removal.complete
    [line] = logs
    assert line["event"] == "comm100_webhooks_left"
    assert line["log_level"] == "warning"
    assert line["events"] == "unknown"
    assert token not in repr(line)
    with connected.unit_of_work(read_only=True) as session, pytest.raises(NotFound):
        get_site(session, SITE)
    comm100.control("PUT", "faults", {"error_rate": 0.0})
    assert len(stored(comm100)) == 2  # left in Comm100, as said


def test_a_refused_removal_says_which_events_are_left(connected: Runtime, comm100: Sandbox) -> None:
    register_webhooks(connected, SITE, PUBLIC)
    comm100.control("PUT", "behaviour", {"manage_integration": False})

    removal = remove_site_webhooks(connected, SITE)

    assert removal.left is None
    assert removal.problem is not None
    assert "Manage Integration" in removal.problem


def test_a_site_never_connected_to_comm100_is_deleted_without_a_call(
    runtime: Runtime, comm100: Sandbox
) -> None:
    removal = delete_site(runtime, SITE)

    assert removal.complete
    assert removal.removed == ()
    assert comm100.requests() == []


def test_deleting_an_unknown_site_is_a_404(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        delete_site(runtime, 77)
