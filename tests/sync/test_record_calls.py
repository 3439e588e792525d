"""What a record lists of its Optimove calls (SPEC 4.3): every attempt, with its status, those
of a call that failed too. Optimove is an `httpx.MockTransport` here: these are the engine's
bookkeeping, not the vendor's behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.services.settings import save_document
from optibridge.services.sites import create_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import OptimoveCallLog, SyncRecord
from optibridge.sync.ingest import parse_event, store_event
from optibridge.sync.worker import Worker

SITE = 10000
ATTRIBUTES = [{"RealFieldName": "EMAIL", "Alias": "Email", "FieldType": "Nvarchar(200)"}]


def optimove_answering(status_of_reads: int) -> httpx.MockTransport:
    """An Optimove whose attribute list works and whose customer reads answer `status`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/model/GetCustomerAttributeList"):
            return httpx.Response(200, json=ATTRIBUTES)
        return httpx.Response(status_of_reads, json={"message": "unavailable"})

    return httpx.MockTransport(answer)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = Config(
        data_dir=tmp_path, optimove_max_attempts=3, sync_max_attempts=1, sync_retry_base_s=0.01
    )
    started = Runtime.start(config)
    running = replace(started, http=httpx.Client(transport=optimove_answering(503)))
    upgrade_to_head(running.engine)
    with running.unit_of_work() as session:
        create_site(session, running.box, SITE, "Acme")
    save_document(
        running,
        SITE,
        {
            "optimove": {"base_url": "https://api.optimove.example", "api_key": "key-1"},
            "livechat": {
                "enabled": True,
                "field_mapping": [
                    {
                        "optimove_field": "EMAIL",
                        "comm100_field": {"source": "system", "name": "email"},
                    }
                ],
                "identification": [{"source": "custom_variable", "name": "customer_id"}],
                "on_chat_end": {"update": "overwrite", "no_match": "agent_create"},
            },
        },
    )
    yield running
    started.http.close()
    running.close()


def chat_ended(customer_id: str) -> bytes:
    return json.dumps(
        {
            "event": "chat_ended",
            "chat_id": "chat-1",
            "visitor": {
                "id": "visitor-1",
                "email": "ann@example.com",
                "custom_variables": [{"name": "customer_id", "value": customer_id}],
            },
        }
    ).encode()


def test_a_read_that_failed_lists_each_attempt_with_its_status(runtime: Runtime) -> None:
    accepted = store_event(runtime, SITE, parse_event("livechat", chat_ended("C-1")))
    Worker(runtime).run_once()
    with runtime.unit_of_work(read_only=True) as session:
        record = session.get(SyncRecord, accepted.record_id)
        assert record is not None
        calls = session.scalars(
            select(OptimoveCallLog)
            .where(OptimoveCallLog.record_id == record.id)
            .order_by(OptimoveCallLog.id)
        ).all()
        assert record.state == "failed"
        assert [call.status for call in calls] == [503, 503, 503]
        assert [call.endpoint for call in calls] == ["GET Customers/{customer_id}/Attributes"] * 3
        assert calls[0].detail == "attempt 1: HTTP 503, tried again"
        assert calls[-1].detail is not None
        assert (record.last_error or "").endswith(calls[-1].detail)  # the reason it failed
