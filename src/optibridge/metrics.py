"""Prometheus metrics: what this process observed, and the sync log read at scrape time.

The observations (Optimove calls, webhook answers, record outcomes) are counters and histograms
of this process, kept in `PROCESS_REGISTRY`, created once per process. The queue's state is
not an observation but a fact in the database, the same for every process: it is read when
/metrics is scraped (`SyncLogCollector`), so any process answers with the whole deployment's
queue. `render_metrics` builds a fresh registry for each scrape from the two; nothing is
registered in prometheus_client's global registry, so any number of apps can live in one process.

Labels carry only bounded vocabularies (endpoints, channels, statuses, outcomes, states):
never site, record or customer ids, never secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from optibridge.domain.records import CHANNELS, OUTCOMES, RECORD_STATES
from optibridge.logs import get_logger
from optibridge.store.sync_log import SyncLogRepository
from optibridge.vendor_http.client import CallRecord

log = get_logger(__name__)

# The classic text format: our names need none of 1.0.0's escaping, and every Prometheus reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
OTHER = "other"  # the label value for anything outside a known vocabulary
NO_ANSWER = "none"  # the status label of an Optimove call that got no HTTP answer
UNDECIDED = "none"  # the outcome label of a record not decided yet

PROCESS_REGISTRY = CollectorRegistry()

OPTIMOVE_CALLS = Counter(
    "optibridge_optimove_calls",
    "Optimove call attempts, by endpoint and HTTP status ('none': no answer, e.g. a timeout).",
    ["endpoint", "status"],
    registry=PROCESS_REGISTRY,
)
OPTIMOVE_THROTTLED = Counter(
    "optibridge_optimove_throttled",
    "Optimove answers 429 Too Many Requests (the shared limiter should make these rare).",
    ["endpoint"],
    registry=PROCESS_REGISTRY,
)
OPTIMOVE_LIMITER_WAIT = Histogram(
    "optibridge_optimove_limiter_wait_seconds",
    "Time a call waited for a slot of the shared rate limiter (50 calls per 10 s per key).",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
    registry=PROCESS_REGISTRY,
)
OPTIMOVE_CALLS_BY_PRIORITY = Counter(
    "optibridge_optimove_priority_calls",
    "Optimove call attempts by who made them (SPEC 4.5): 'agent' (the console), 'live' (events),"
    " 'background' (read-backs, backfills).",
    ["priority"],
    registry=PROCESS_REGISTRY,
)
OPTIMOVE_PRIORITY_WAIT = Histogram(
    "optibridge_optimove_priority_wait_seconds",
    "Time a call waited for a slot of the shared limiter, by priority: agents should barely wait"
    " whatever the backlog.",
    ["priority"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
    registry=PROCESS_REGISTRY,
)
OPTIMOVE_CALL_DURATION = Histogram(
    "optibridge_optimove_call_duration_seconds",
    "Duration of one Optimove call attempt, limiter wait excluded, by endpoint.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=PROCESS_REGISTRY,
)
WEBHOOK_REQUESTS = Counter(
    "optibridge_webhook_requests",
    "Comm100 webhook deliveries answered, by channel and HTTP status.",
    ["channel", "status"],
    registry=PROCESS_REGISTRY,
)
WEBHOOK_DURATION = Histogram(
    "optibridge_webhook_duration_seconds",
    "Time to answer a Comm100 webhook delivery (budget: p99 under 0.1 s), by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
    registry=PROCESS_REGISTRY,
)
RECORD_OUTCOMES = Counter(
    "optibridge_sync_outcomes",
    "Sync records this process brought to an outcome, by outcome.",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)


def observe_optimove_call(record: CallRecord, priority: str = "live") -> None:
    """Count one Optimove call attempt (pass as the client's `on_call` hook, with the priority
    its calls wait at)."""
    OPTIMOVE_CALLS_BY_PRIORITY.labels(priority=priority).inc()
    OPTIMOVE_PRIORITY_WAIT.labels(priority=priority).observe(record.limiter_wait_s)
    status = NO_ANSWER if record.status is None else str(record.status)
    OPTIMOVE_CALLS.labels(endpoint=record.endpoint, status=status).inc()
    if record.status == 429:
        OPTIMOVE_THROTTLED.labels(endpoint=record.endpoint).inc()
    OPTIMOVE_LIMITER_WAIT.observe(record.limiter_wait_s)
    OPTIMOVE_CALL_DURATION.labels(endpoint=record.endpoint).observe(record.duration_s)


def observe_webhook(channel: str, status: int, seconds: float) -> None:
    """Count one webhook answer and its latency."""
    label = channel if channel in CHANNELS else OTHER
    WEBHOOK_REQUESTS.labels(channel=label, status=str(status)).inc()
    WEBHOOK_DURATION.labels(channel=label).observe(seconds)


def count_record_outcome(outcome: str) -> None:
    """Count a record reaching an outcome (call once per decision, after the commit)."""
    RECORD_OUTCOMES.labels(outcome=outcome if outcome in OUTCOMES else OTHER).inc()


class SyncLogCollector:
    """The sync records' state, read from the database at each scrape.

    When the database can't be read, only `optibridge_metrics_database_up 0` is reported, so a
    scrape still succeeds and says why the other series are missing.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], AbstractContextManager[Session]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    def describe(self) -> list[Metric]:
        # Nothing to check for clashes, and registering must not query the database.
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "optibridge_metrics_database_up",
            "1 when the database answered this scrape's sync record queries.",
        )
        now = self._clock()
        try:
            with self._unit_of_work() as session:
                stats = SyncLogRepository(session).queue_stats(now)
        except SQLAlchemyError as error:
            log.warning("metrics_database_unreadable", error_type=type(error).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)

        by_state: dict[str, int] = dict.fromkeys(RECORD_STATES, 0)
        by_outcome = dict.fromkeys((*OUTCOMES, UNDECIDED), 0)
        for (state, outcome), count in stats.by_state_and_outcome.items():
            state_label = state if state in RECORD_STATES else OTHER
            by_state[state_label] = by_state.get(state_label, 0) + count
            outcome_label = UNDECIDED if outcome is None else outcome
            outcome_label = outcome_label if outcome_label in by_outcome else OTHER
            by_outcome[outcome_label] = by_outcome.get(outcome_label, 0) + count

        states = GaugeMetricFamily(
            "optibridge_sync_records",
            "Sync records in the database, by pipeline state.",
            labels=["state"],
        )
        for state, count in by_state.items():
            states.add_metric([state], count)
        outcomes = GaugeMetricFamily(
            "optibridge_sync_records_by_outcome",
            "Sync records in the database, by outcome ('none': not decided yet).",
            labels=["outcome"],
        )
        for outcome, count in by_outcome.items():
            outcomes.add_metric([outcome], count)
        depth = GaugeMetricFamily(
            "optibridge_sync_queue_depth",
            "Queued sync records that are due now (waiting for a worker).",
            value=stats.due,
        )
        oldest = stats.oldest_queued_received_at
        age = GaugeMetricFamily(
            "optibridge_sync_oldest_queued_age_seconds",
            "Seconds since the oldest queued sync record was received (0: none queued).",
            value=max(0.0, now - oldest.timestamp()) if oldest is not None else 0.0,
        )
        return [up, states, outcomes, depth, age]


def render_metrics(unit_of_work: Callable[[], AbstractContextManager[Session]]) -> bytes:
    """The Prometheus text exposition of this process's metrics and the sync log's state."""
    registry = CollectorRegistry()
    registry.register(PROCESS_REGISTRY)
    registry.register(SyncLogCollector(unit_of_work))
    return generate_latest(registry)
