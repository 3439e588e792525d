"""Prometheus metrics: what a process observes, and the sync log's state read at each scrape.

The observation counters live for the whole test process, so tests compare before and after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.metrics import (
    PROCESS_REGISTRY,
    SyncLogCollector,
    count_record_outcome,
    observe_optimove_call,
    observe_webhook,
)
from optibridge.optimove.client import CallRecord
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from tests.store.test_sync_log import OTHER_SITE, SITE, add_record, add_site

UPDATE = "POST Customers/UpdateCustomerAttributes"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def sample(name: str, **labels: str) -> float:
    return PROCESS_REGISTRY.get_sample_value(name, labels) or 0.0


def parse(text: str) -> Series:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.start(Config(data_dir=tmp_path, database_url=database_url))
    upgrade_to_head(runtime.engine)
    with runtime.unit_of_work() as session:
        add_site(session, SITE)
        add_site(session, OTHER_SITE)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


# --- observations ----------------------------------------------------------------------------


def test_an_optimove_call_is_counted_by_endpoint_and_status() -> None:
    before = sample("optibridge_optimove_calls_total", endpoint=UPDATE, status="200")
    observe_optimove_call(CallRecord(UPDATE, 1, 200, 0.0, 0.2))
    after = sample("optibridge_optimove_calls_total", endpoint=UPDATE, status="200")
    assert after == before + 1


def test_a_429_is_counted_as_throttled() -> None:
    before = sample("optibridge_optimove_throttled_total", endpoint=UPDATE)
    observe_optimove_call(CallRecord(UPDATE, 1, 429, 0.0, 0.1))
    observe_optimove_call(CallRecord(UPDATE, 2, 200, 0.0, 0.1))
    assert sample("optibridge_optimove_throttled_total", endpoint=UPDATE) == before + 1


def test_a_call_that_got_no_answer_has_status_none() -> None:
    before = sample("optibridge_optimove_calls_total", endpoint=UPDATE, status="none")
    observe_optimove_call(CallRecord(UPDATE, 1, None, 0.0, 10.0))
    assert sample("optibridge_optimove_calls_total", endpoint=UPDATE, status="none") == before + 1


def test_the_limiter_wait_and_the_call_duration_are_observed() -> None:
    waits = sample("optibridge_optimove_limiter_wait_seconds_count")
    waited = sample("optibridge_optimove_limiter_wait_seconds_sum")
    slow = sample("optibridge_optimove_call_duration_seconds_bucket", endpoint=UPDATE, le="1.0")
    observe_optimove_call(CallRecord(UPDATE, 1, 200, limiter_wait_s=3.0, duration_s=0.8))
    assert sample("optibridge_optimove_limiter_wait_seconds_count") == waits + 1
    assert sample("optibridge_optimove_limiter_wait_seconds_sum") == pytest.approx(waited + 3.0)
    assert (
        sample("optibridge_optimove_call_duration_seconds_bucket", endpoint=UPDATE, le="1.0")
        == slow + 1
    )


def test_a_webhook_answer_is_counted_and_timed() -> None:
    answered = sample("optibridge_webhook_requests_total", channel="livechat", status="202")
    fast = sample("optibridge_webhook_duration_seconds_bucket", channel="livechat", le="0.025")
    observe_webhook("livechat", 202, 0.012)
    assert (
        sample("optibridge_webhook_requests_total", channel="livechat", status="202")
        == answered + 1
    )
    assert (
        sample("optibridge_webhook_duration_seconds_bucket", channel="livechat", le="0.025")
        == fast + 1
    )


def test_an_unknown_channel_or_outcome_is_labelled_other() -> None:
    webhooks = sample("optibridge_webhook_requests_total", channel="other", status="404")
    outcomes = sample("optibridge_sync_outcomes_total", outcome="other")
    observe_webhook("../../etc", 404, 0.001)
    count_record_outcome("exploded")
    assert (
        sample("optibridge_webhook_requests_total", channel="other", status="404") == webhooks + 1
    )
    assert sample("optibridge_sync_outcomes_total", outcome="other") == outcomes + 1


def test_record_outcomes_are_counted() -> None:
    before = sample("optibridge_sync_outcomes_total", outcome="created")
    count_record_outcome("created")
    assert sample("optibridge_sync_outcomes_total", outcome="created") == before + 1


# --- the /metrics endpoint -------------------------------------------------------------------


def test_metrics_need_no_token_and_use_the_prometheus_text_format(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_metrics_show_this_process_observations(client: TestClient) -> None:
    observe_optimove_call(CallRecord(UPDATE, 1, 503, 0.5, 1.5))
    observe_webhook("ticketing", 202, 0.03)
    count_record_outcome("no_match")
    series = parse(client.get("/metrics").text)
    assert value(series, "optibridge_optimove_calls_total", endpoint=UPDATE, status="503")
    assert value(series, "optibridge_optimove_limiter_wait_seconds_count")
    assert value(series, "optibridge_optimove_call_duration_seconds_count", endpoint=UPDATE)
    assert value(series, "optibridge_webhook_requests_total", channel="ticketing", status="202")
    assert value(series, "optibridge_webhook_duration_seconds_count", channel="ticketing")
    assert value(series, "optibridge_sync_outcomes_total", outcome="no_match")


def test_database_gauges_reflect_the_sync_records(runtime: Runtime, client: TestClient) -> None:
    received = datetime.now(UTC) - timedelta(minutes=5)
    with runtime.unit_of_work() as session:
        due: dict[str, Any] = {
            "state": "queued",
            "outcome": None,
            "next_attempt_at": time.time() - 1,
        }
        add_record(session, **due, received_at=received)
        add_record(session, OTHER_SITE, **due)
        add_record(session, state="queued", outcome=None, next_attempt_at=time.time() + 600)
        add_record(session, state="done", outcome="created")
        add_record(session, state="done", outcome="updated")
        add_record(session, state="failed", outcome="failed")
        add_record(session, state="awaiting_callback", outcome="pending")
    series = parse(client.get("/metrics").text)
    assert value(series, "optibridge_metrics_database_up") == 1
    assert value(series, "optibridge_sync_records", state="queued") == 3
    assert value(series, "optibridge_sync_records", state="done") == 2
    assert value(series, "optibridge_sync_records", state="failed") == 1
    assert value(series, "optibridge_sync_records", state="awaiting_callback") == 1
    assert value(series, "optibridge_sync_records", state="working") == 0
    assert value(series, "optibridge_sync_records_by_outcome", outcome="none") == 3
    assert value(series, "optibridge_sync_records_by_outcome", outcome="created") == 1
    assert value(series, "optibridge_sync_records_by_outcome", outcome="pending") == 1
    assert value(series, "optibridge_sync_records_by_outcome", outcome="no_match") == 0
    assert value(series, "optibridge_sync_queue_depth") == 2
    age = value(series, "optibridge_sync_oldest_queued_age_seconds")
    assert age is not None
    assert 300 <= age < 360


def test_metrics_name_no_site_record_or_customer(runtime: Runtime, client: TestClient) -> None:
    with runtime.unit_of_work() as session:
        add_record(session, customer_id="CUSTOMER-4711", state="failed", outcome="failed")
    families = list(text_string_to_metric_families(client.get("/metrics").text))
    assert families
    # Names and label values are where an identifier could leak; sample values are numbers
    # (a count or a timestamp may well contain the digits of a site id by chance).
    words = {family.name for family in families} | {
        text
        for family in families
        for sample in family.samples
        for item in sample.labels.items()
        for text in item
    }
    assert not [word for word in words if "CUSTOMER-4711" in word or str(SITE) in word]


def test_each_app_in_a_process_serves_its_own_metrics(runtime: Runtime) -> None:
    with TestClient(create_app(runtime)) as first, TestClient(create_app(runtime)) as second:
        assert first.get("/metrics").status_code == 200
        assert second.get("/metrics").status_code == 200


def test_a_scrape_says_when_the_database_cannot_be_read() -> None:
    @contextmanager
    def unreachable() -> Iterator[Session]:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        yield  # pragma: no cover

    def unit_of_work() -> AbstractContextManager[Session]:
        return unreachable()

    families = {family.name: family for family in SyncLogCollector(unit_of_work).collect()}
    assert list(families) == ["optibridge_metrics_database_up"]
    assert families["optibridge_metrics_database_up"].samples[0].value == 0
