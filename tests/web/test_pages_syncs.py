"""The sync log page (SPEC 1, administrator story 6): every event, what was decided and why,
what was sent to Optimove, counts for the last 24 hours, filters, and retry. Records are seeded
through the ORM the way the worker leaves them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from optibridge.store.models import SyncRecord
from tests.store.test_sync_log import add_call, add_record, add_write
from tests.web.conftest import Service
from tests.web.ui_client import Element, flash, page, post_form, sign_in, unlabelled_controls

SITE = 10000
LOG = f"/ui/sites/{SITE}/syncs"


@pytest.fixture
def signed_in(service: Service) -> Service:
    for site_id in (SITE, 20000):
        created = service.client.post(
            "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
        )
        assert created.status_code == 201, created.text
    sign_in(service.client)
    return service


def seed(service: Service, site_id: int = SITE, **fields: Any) -> int:
    with service.runtime.unit_of_work() as session:
        return add_record(session, site_id, **fields).id


def listed(document: Element) -> list[int]:
    return [
        int(row.attrs["id"].removeprefix("record-"))
        for row in document.find_all("tr")
        if row.attrs.get("id", "").startswith("record-")
    ]


def count(document: Element, label: str) -> int:
    for item in document.find_all("li"):
        labels = [
            e.text() for e in item.find_all("span") if "count-label" in e.attrs.get("class", "")
        ]
        if labels == [label]:
            number = [
                e for e in item.find_all("span") if "count-number" in e.attrs.get("class", "")
            ]
            return int(number[0].text())
    raise AssertionError(f"no count labelled {label!r}")


def test_a_record_shows_its_decision_its_changes_and_its_optimove_calls(
    signed_in: Service,
) -> None:
    with signed_in.runtime.unit_of_work() as session:
        record = add_record(
            session,
            SITE,
            customer_id="C-7",
            reason="fill_empty: 1 empty field filled",
            changes=[{"field": "PHONE", "old": None, "new": "+1 202 555 0199"}],
        )
        write = add_write(session, SITE, request_id="req-42")
        add_call(session, record)
        add_call(
            session,
            record,
            endpoint="POST Customers/UpdateCustomerAttributes",
            request_id="req-42",
            write_id=write.id,
        )
        record_id = record.id
    response = signed_in.client.get(LOG)
    assert response.status_code == 200
    document = page(response)
    assert unlabelled_controls(document) == []
    row = document.by_id(f"record-{record_id}")
    text = row.text()
    assert "Chat ended" in text
    assert "Live Chat" in text
    assert "C-7" in text
    assert "Updated" in text
    assert "Fill_empty: 1 empty field filled" in text
    [change] = row.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    assert change.text() == "PHONE (empty) → +1 202 555 0199"
    calls = row.find_all("details")[0]
    assert "Optimove calls (2)" in calls.text()
    assert (
        "POST Customers/UpdateCustomerAttributes — HTTP 200 in 42 ms · request req-42 confirmed"
        in calls.text()
    )
    ids = calls.find_all("dl")[0]
    assert [e.text() for e in ids.find_all("dt")] == ["chat_id", "visitor_id"]


def test_the_last_24_hours_are_counted_per_outcome(signed_in: Service) -> None:
    seed(signed_in, outcome="updated")
    seed(signed_in, outcome="updated")
    seed(signed_in, outcome="failed", state="failed")
    seed(signed_in, outcome=None, state="queued")
    seed(signed_in, outcome="created", received_at=datetime.now(UTC) - timedelta(hours=30))
    seed(signed_in, 20000, outcome="updated")
    document = page(signed_in.client.get(LOG))
    assert count(document, "received") == 4
    assert count(document, "Updated") == 2
    assert count(document, "Failed") == 1
    assert count(document, "Created") == 0
    assert count(document, "In progress") == 1


@pytest.mark.parametrize(
    ("query", "matching"),
    [
        ("outcome=failed", {"outcome": "failed", "state": "failed"}),
        ("channel=ticketing", {"channel": "ticketing", "event": "ticket_created"}),
        ("customer=C-2", {"customer_id": "C-2"}),
    ],
)
def test_the_filters_keep_only_the_matching_records(
    signed_in: Service, query: str, matching: dict[str, Any]
) -> None:
    seed(signed_in)
    wanted = seed(signed_in, **matching)
    document = page(signed_in.client.get(f"{LOG}?{query}"))
    assert listed(document) == [wanted]
    assert document.find_all("a", href=LOG)  # "Clear filters"


def test_the_period_filter_takes_utc_times(signed_in: Service) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed(signed_in, received_at=now - timedelta(hours=3))
    recent = seed(signed_in, received_at=now - timedelta(minutes=30))
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    document = page(signed_in.client.get(f"{LOG}?since={since}"))
    assert listed(document) == [recent]
    assert document.by_id("filter-since").attrs["value"] == since


def test_a_wrong_time_is_shown_beside_its_filter(signed_in: Service) -> None:
    seed(signed_in)
    response = signed_in.client.get(f"{LOG}?since=yesterday&until=2025-01-01T00:00")
    assert response.status_code == 422
    document = page(response)
    assert "Enter a date and time" in document.by_id("filter-since-error").text()
    assert document.by_id("filter-since").attrs["aria-invalid"] == "true"


def test_a_failed_record_is_retried(signed_in: Service) -> None:
    failed = seed(signed_in, outcome="failed", state="failed", last_error="Optimove answered 500")
    document = page(signed_in.client.get(f"{LOG}?outcome=failed"))
    row = document.by_id(f"record-{failed}")
    assert "Optimove answered 500" in row.text()
    [form] = row.find_all("form")
    assert form.find_all("button")[0].text() == f"Retry record {failed}"
    response = post_form(
        signed_in.client,
        form.attrs["action"],
        {"next": f"{LOG}?outcome=failed"},
        from_page=LOG,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{LOG}?outcome=failed"
    with signed_in.runtime.unit_of_work() as session:
        record = session.get(SyncRecord, failed)
        assert record is not None
        assert (record.state, record.attempts) == ("queued", 0)
    after = page(signed_in.client.get(f"{LOG}?outcome=failed"))
    assert f"Record {failed} is queued again" in flash(after)


def test_a_record_that_is_not_failed_is_not_retried(signed_in: Service) -> None:
    done = seed(signed_in)
    response = post_form(signed_in.client, f"{LOG}/{done}/retry", {}, from_page=LOG)
    assert response.status_code == 303
    document = page(signed_in.client.get(LOG))
    assert "only failed records can be retried" in flash(document)
    assert not document.by_id(f"record-{done}").find_all("form")


def test_retry_goes_back_only_to_a_control_panel_page(signed_in: Service) -> None:
    failed = seed(signed_in, outcome="failed", state="failed")
    response = post_form(
        signed_in.client,
        f"{LOG}/{failed}/retry",
        {"next": "https://evil.example.com/"},
        from_page=LOG,
    )
    assert response.headers["location"] == LOG


def test_older_records_are_a_page_away(signed_in: Service) -> None:
    ids = [seed(signed_in, outcome="updated") for _ in range(27)]
    document = page(signed_in.client.get(f"{LOG}?outcome=updated"))
    assert listed(document) == ids[::-1][:25]
    [older] = [a for a in document.find_all("a") if a.text() == "Older records →"]
    second = page(signed_in.client.get(older.attrs["href"]))
    assert listed(second) == ids[::-1][25:]
    assert [a for a in second.find_all("a") if a.text() == "← Newest records"]


def test_a_site_without_events_explains_where_they_come_from(signed_in: Service) -> None:
    document = page(signed_in.client.get(LOG))
    assert "No events received yet" in document.text()


def test_another_sites_record_cannot_be_retried_through_this_site(signed_in: Service) -> None:
    other = seed(signed_in, 20000, outcome="failed", state="failed")
    post_form(signed_in.client, f"{LOG}/{other}/retry", {}, from_page=LOG)
    with signed_in.runtime.unit_of_work() as session:
        record = session.get(SyncRecord, other)
        assert record is not None
        assert record.state == "failed"


# --- what happened to Optimove, not what agents looked at ---------------------------------------


def test_agents_views_are_shown_only_when_asked_for(signed_in: Service) -> None:
    chat = seed(signed_in)
    view = seed(signed_in, event="console_lookup", outcome="unchanged")
    assert listed(page(signed_in.client.get(LOG))) == [chat]
    document = page(signed_in.client.get(f"{LOG}?views=1"))
    assert listed(document) == [view, chat]
    assert document.by_id("filter-views").attrs.get("checked") is not None
    assert "Agent viewed the customer" in document.by_id(f"record-{view}").text()


def test_agents_views_are_counted_apart(signed_in: Service) -> None:
    seed(signed_in, outcome="updated")
    seed(signed_in, event="console_lookup", outcome="unchanged")
    seed(signed_in, event="console_lookup", outcome="failed", state="failed")
    document = page(signed_in.client.get(LOG))
    assert count(document, "received") == 1
    assert count(document, "Unchanged") == 0
    assert count(document, "Failed") == 0
    [note] = [p for p in document.find_all("p") if "agent-views" in p.attrs.get("class", "")]
    assert "2 customer views by agents" in note.text()
    [link] = note.find_all("a")
    assert link.attrs["href"] == f"{LOG}?views=1"


def test_an_older_page_keeps_the_choice_of_views(signed_in: Service) -> None:
    ids = [seed(signed_in, event="console_lookup") for _ in range(27)]
    document = page(signed_in.client.get(f"{LOG}?views=1"))
    [older] = [a for a in document.find_all("a") if a.text() == "Older records →"]
    assert listed(page(signed_in.client.get(older.attrs["href"]))) == ids[::-1][25:]


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("console_edit", "Agent edited the customer"),
        ("console_create", "Agent created the customer"),
        ("offline_message_submitted", "Offline message submitted"),
        ("chat_transferred", "Chat transferred"),
    ],
)
def test_each_event_reads_in_words(signed_in: Service, event: str, name: str) -> None:
    record_id = seed(signed_in, event=event, outcome="skipped")
    cell = page(signed_in.client.get(LOG)).by_id(f"record-{record_id}").find_all("td")[0]
    assert cell.text().startswith(name)
    assert event not in cell.text()


@pytest.mark.parametrize("event", ["console_lookup", "console_edit", "console_create"])
def test_an_agents_failed_view_or_change_offers_no_retry(signed_in: Service, event: str) -> None:
    record_id = seed(signed_in, event=event, outcome="failed", state="failed")
    row = page(signed_in.client.get(f"{LOG}?views=1")).by_id(f"record-{record_id}")
    assert not row.find_all("form")
    assert "Retry" not in row.text()


def test_a_record_that_made_no_call_does_not_say_none_was_needed(signed_in: Service) -> None:
    record_id = seed(signed_in, outcome="failed", state="failed", last_error="Comm100 is down")
    calls = page(signed_in.client.get(LOG)).by_id(f"record-{record_id}").find_all("details")[0]
    assert "Optimove calls (0)" in calls.text()
    assert "No call to Optimove was made for this record." in calls.text()
    assert "needed" not in calls.text()


def test_every_attempt_of_a_failed_call_is_listed_with_its_status(signed_in: Service) -> None:
    with signed_in.runtime.unit_of_work() as session:
        record = add_record(
            session, SITE, outcome="failed", state="failed", last_error="gave up", changes=[]
        )
        for attempt in range(1, 6):
            add_call(
                session,
                record,
                status=503,
                detail=f"attempt {attempt}: HTTP 503, tried again" if attempt < 5 else "gave up",
            )
        record_id = record.id
    row = page(signed_in.client.get(LOG)).by_id(f"record-{record_id}")
    calls = row.find_all("details")[0]
    assert "Optimove calls (5)" in calls.text()
    assert [item.text().count("HTTP 503") for item in calls.find_all("li")] == [2, 2, 2, 2, 1]


# --- the last day, as pictures ---------------------------------------------------------------


def chart(document: Element, chart_id: str) -> Element:
    [svg] = document.by_id(chart_id).find_all("svg")
    return svg


def test_the_last_day_is_drawn_per_hour_by_outcome_readable_without_javascript(
    signed_in: Service,
) -> None:
    now = datetime.now(UTC)
    for _ in range(3):
        seed(signed_in, outcome="updated", received_at=now)
    seed(signed_in, outcome="failed", state="failed", received_at=now - timedelta(hours=2))
    seed(signed_in, event="console_lookup", outcome="unchanged", received_at=now)
    response = signed_in.client.get(LOG)
    assert "<script" not in response.text.split("</main>")[0].split("<main")[-1]
    document = page(response)
    svg = chart(document, "chart-records")
    assert svg.attrs["role"] == "img"
    assert svg.attrs["aria-labelledby"] == "chart-records-title chart-records-desc"
    assert document.by_id("chart-records-title").text() == (
        "Records per hour, by what happened to them"
    )
    description = document.by_id("chart-records-desc").text()
    assert description.startswith("4 records received in the last 24 hours (3 written to")
    assert "1 failed" in description
    assert "the most in one hour: 3" in description
    bars = [rect for rect in svg.find_all("rect")]
    assert sorted(rect.attrs["class"] for rect in bars) == ["series-failed", "series-written"]
    tips = sorted(rect.find_all("title")[0].text() for rect in bars)
    assert tips[1].endswith("UTC: 3 written to optimove")


def test_optimove_calls_are_drawn_against_the_limit(signed_in: Service) -> None:
    now = datetime.now(UTC)
    with signed_in.runtime.unit_of_work() as session:
        record = add_record(session, SITE, received_at=now)
        for second in range(7):
            add_call(session, record, at=now - timedelta(seconds=second))
    document = page(signed_in.client.get(LOG))
    svg = chart(document, "chart-calls")
    assert "against the limit" in document.by_id("chart-calls-title").text()
    assert document.by_id("chart-calls-desc").text() == (
        "7 Optimove calls in the last 24 hours; the busiest 10 s had 7, at"
        f" {now:%H}:00 UTC, against a limit of 50."
    )
    [bar] = svg.find_all("rect")
    assert bar.find_all("title")[0].text().endswith("7 calls, at most 7 in 10 s")
    [limit] = [g for g in svg.find_all("g") if g.attrs.get("class") == "limit"]
    assert limit.find_all("text")[0].text() == "limit 50"
    assert float(limit.find_all("line")[0].attrs["y1"]) < float(bar.attrs["y"])  # above it


def test_the_pictures_numbers_are_in_a_table_too(signed_in: Service) -> None:
    now = datetime.now(UTC)
    seed(signed_in, outcome="updated", received_at=now)
    document = page(signed_in.client.get(LOG))
    [details] = [
        d for d in document.find_all("details") if "chart-table" in d.attrs.get("class", "")
    ]
    [table] = details.find_all("table")
    headings = [th.text() for th in table.find_all("thead")[0].find_all("th")]
    assert headings == [
        "Hour (UTC)",
        "Received",
        "Written to Optimove",
        "Unchanged",
        "Not written",
        "Failed",
        "In progress",
        "Optimove calls",
        "Busiest 10 s (limit 50)",
    ]
    rows = table.find_all("tbody")[0].find_all("tr")
    assert len(rows) == 24
    assert [cell.text() for cell in rows[-1].find_all("th") + rows[-1].find_all("td")] == [
        f"{now:%H}:00",
        "1",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
    ]


def test_an_empty_day_says_so(signed_in: Service) -> None:
    document = page(signed_in.client.get(LOG))
    assert document.by_id("chart-records-desc").text() == (
        "No record was received in the last 24 hours."
    )
    assert document.by_id("chart-calls-desc").text() == (
        "No Optimove call in the last 24 hours (the limit: 50)."
    )
