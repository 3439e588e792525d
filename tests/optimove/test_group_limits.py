"""Limits per Optimove endpoint group (reference/optimove.md: "can vary between different
endpoints"): by default every call shares the key's bucket; a group given its own limit counts
in its own bucket, with its own limit."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine

from optibridge.config import Config
from optibridge.domain.budget import ENDPOINT_GROUPS, GroupLimit, parse_group_limits
from optibridge.optimove.client import OptimoveClient, bucket_for_api_key
from optibridge.optimove.schemas import CustomerUpdate
from optibridge.store.limiter import LimiterBusy, RateLimiter
from tests.optimove.fakes import API_KEY, BASE_URL
from tests.support import vendor_fakes
from tests.support.strategies import nasty_text

KEY_BUCKET = bucket_for_api_key(API_KEY)


def test_group_limits_are_read_as_calls_per_seconds() -> None:
    assert parse_group_limits(" reads=50/10, writes = 20/2.5 ,") == {
        "reads": GroupLimit(50, 10.0),
        "writes": GroupLimit(20, 2.5),
    }
    assert parse_group_limits("") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("mails=10/1", "unknown endpoint group 'mails'"),
        ("reads=fifty/10", "CALLS/SECONDS"),
        ("reads=0/10", "at least 1 call"),
        ("reads=5/0", "at least 1 call"),
        ("reads=5/10,reads=6/10", "given twice"),
    ],
)
def test_a_wrong_group_limit_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_group_limits(text)


def test_the_setting_is_refused_at_start_when_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown endpoint group"):
        Config(data_dir=tmp_path, optimove_group_limits="mails=1/1")


@given(nasty_text(max_size=30))
def test_any_text_is_limits_or_a_clear_refusal(text: str) -> None:
    try:
        limits = parse_group_limits(text)
    except ValueError as refused:
        message = str(refused)
        limits = None
    if limits is None:
        assert message
        return
    assert set(limits) <= set(ENDPOINT_GROUPS)
    assert all(limit.calls >= 1 and limit.window_s > 0 for limit in limits.values())


def test_a_group_with_its_own_limit_counts_apart_from_the_key(engine: Engine) -> None:
    limiter = RateLimiter(
        engine, limit=50, window_s=60, margin_s=0, group_limits={"reads": GroupLimit(1, 60)}
    )
    limiter.take_slot(f"{KEY_BUCKET}#reads")

    with pytest.raises(LimiterBusy):
        limiter.take_slot(f"{KEY_BUCKET}#reads", max_wait_s=0)
    limiter.take_slot(KEY_BUCKET, max_wait_s=0)  # the key's other calls are not held back
    assert limiter.free_slots(KEY_BUCKET) == 49
    assert limiter.free_slots(f"{KEY_BUCKET}#reads") == 0


@st.composite
def own_groups(draw: st.DrawFn) -> frozenset[str]:
    return frozenset(draw(st.sets(st.sampled_from(ENDPOINT_GROUPS))))


@given(own_groups())
def test_each_call_takes_its_slot_in_its_groups_bucket_or_the_keys(groups: frozenset[str]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("GetCustomerAttributeList"):
            return httpx.Response(200, json=[])
        if request.method == "GET":
            return httpx.Response(200, json=[{"RealFieldName": "EMAIL", "Value": "a@b.c"}])
        return httpx.Response(200, json={})

    make_client = partial(OptimoveClient, BASE_URL, API_KEY, own_groups=groups)
    harness = vendor_fakes.harness(answer, make_client, max_attempts=1, jitter=1.0)
    client = harness.client
    client.get_attribute_list()
    client.get_customer_attributes("C-1")
    client.update_customer_attributes([CustomerUpdate("C-1", {"EMAIL": "x@y.z"})], None)

    def bucket(group: str) -> str:
        return f"{KEY_BUCKET}#{group}" if group in groups else KEY_BUCKET

    assert harness.limiter.buckets == [bucket("attributes"), bucket("reads"), bucket("writes")]
