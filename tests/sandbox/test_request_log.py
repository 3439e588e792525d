"""The log of vendor API calls both sandboxes show at /_sandbox/requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from optibridge.sandbox import request_log
from optibridge.sandbox.request_log import LOG_CAPACITY, LoggedRequest, RequestLog


def test_an_entry_shows_its_call_and_answer_in_order() -> None:
    log = RequestLog(LoggedRequest)
    entry = log.record("POST", "/v4/x", "siteId=1")
    entry.body, entry.status = {"a": 1}, 200
    [shown] = log.since(None)
    assert list(shown) == ["method", "path", "query", "status", "time", "body"]
    assert shown | {"time": 0} == {
        "method": "POST",
        "path": "/v4/x",
        "query": "siteId=1",
        "status": 200,
        "time": 0,
        "body": {"a": 1},
    }


def test_a_vendor_entry_shows_its_own_fields_where_it_puts_them() -> None:
    @dataclass
    class WithUser(request_log.LoggedRequest):
        shown: ClassVar[tuple[str, ...]] = ("method", "user", "path")
        user: str | None = None

    entry = RequestLog(WithUser).record("GET", "/p", "")
    entry.user = "agent@example.com"
    assert entry.as_dict() == {"method": "GET", "user": "agent@example.com", "path": "/p"}
    assert list(entry.as_dict()) == ["method", "user", "path"]


def test_since_keeps_the_entries_strictly_after_the_time() -> None:
    log = RequestLog(LoggedRequest)
    for at, path in ((10.0, "/a"), (20.0, "/b"), (30.0, "/c")):
        log.record("GET", path, "").time = at
    assert [e["path"] for e in log.since(20.0)] == ["/c"]
    assert [e["path"] for e in log.since(None)] == ["/a", "/b", "/c"]


def test_the_log_keeps_the_newest_entries_and_can_be_cleared() -> None:
    log = RequestLog(LoggedRequest)
    for index in range(LOG_CAPACITY + 1):
        log.record("GET", f"/{index}", "")
    kept = log.since(None)
    assert (len(kept), kept[0]["path"]) == (LOG_CAPACITY, "/1")
    log.clear()
    assert log.since(None) == []
