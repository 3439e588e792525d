"""Restoring a change from the sync log (SPEC 4.7): what can be undone, and the write that does
it, one scenario per test; then properties over generated customers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.decide import Change
from optibridge.domain.restore import (
    ChangeRecord,
    RestoreRefused,
    changes_of,
    check_restorable,
    plan_restore,
)
from optibridge.domain.values import is_empty, same_value

TYPES: dict[str, str | None] = {"EMAIL": "Nvarchar(100)", "AGE": "Bigint", "PHONE": None}


def logged(
    *changes: Change,
    outcome: str | None = "updated",
    state: str = "done",
    event: str = "chat_ended",
    customer_id: str | None = "C-1",
) -> ChangeRecord:
    return ChangeRecord(12, "livechat", event, state, outcome, customer_id, changes)


EMAIL_CHANGE = Change("EMAIL", "old@example.com", "new@example.com")


def refusal(original: ChangeRecord, current: dict[str, str | None] | None) -> RestoreRefused:
    with pytest.raises(RestoreRefused) as refused:
        plan_restore(original, current, TYPES)
    assert refused.value.status == 409
    return refused.value


def test_an_update_is_restored_by_writing_the_old_value_back() -> None:
    plan = plan_restore(logged(EMAIL_CHANGE), {"EMAIL": "new@example.com"}, TYPES)
    assert plan.action == "update"
    assert plan.outcome == "updated"
    assert plan.customer_id == "C-1"
    assert plan.changes == (Change("EMAIL", "new@example.com", "old@example.com"),)
    assert plan.asserted == ("EMAIL",)
    assert "record 12" in plan.reason


def test_a_field_that_was_empty_is_emptied_again() -> None:
    filled = Change("PHONE", None, "+1 555")
    plan = plan_restore(logged(filled), {"PHONE": "+1 555"}, TYPES)
    assert plan.changes == (Change("PHONE", "+1 555", None),)


def test_a_field_that_changed_since_refuses_the_whole_restore_naming_it() -> None:
    phone = Change("PHONE", None, "+1 555")
    refused = refusal(
        logged(EMAIL_CHANGE, phone), {"EMAIL": "later@example.com", "PHONE": "+1 555"}
    )
    assert refused.code == "restore_changed_since"
    assert "EMAIL" in refused.message
    assert "'later@example.com'" in refused.message
    assert "PHONE" not in refused.message
    assert [problem.pointer for problem in refused.details] == ["/changes/0"]


def test_a_field_emptied_since_counts_as_changed() -> None:
    refused = refusal(logged(EMAIL_CHANGE), {"EMAIL": None})
    assert "EMAIL now holds nothing (empty)" in refused.message


def test_the_account_spelling_and_type_of_a_value_are_respected() -> None:
    age = Change("AGE", "41", "42")
    plan = plan_restore(logged(age), {"Age": "42.0"}, TYPES)
    assert plan.changes == (Change("Age", "42.0", "41"),)


def test_a_customer_gone_from_optimove_is_refused() -> None:
    assert refusal(logged(EMAIL_CHANGE), None).code == "restore_customer_gone"


def test_a_creation_is_refused_because_customers_cant_be_deleted() -> None:
    created = logged(Change("EMAIL", None, "a@example.com"), outcome="created")
    refused = refusal(created, {"EMAIL": "a@example.com"})
    assert refused.code == "restore_of_creation"
    assert "can't be deleted" in refused.message


def test_an_agents_creation_is_refused_even_before_it_is_confirmed() -> None:
    created = logged(outcome="pending", state="awaiting_callback", event="console_create")
    with pytest.raises(RestoreRefused) as refused:
        check_restorable(created)
    assert refused.value.code == "restore_of_creation"


@pytest.mark.parametrize("state", ["queued", "working", "awaiting_callback"])
def test_a_change_still_under_way_is_refused(state: str) -> None:
    with pytest.raises(RestoreRefused) as refused:
        check_restorable(logged(EMAIL_CHANGE, outcome="pending", state=state))
    assert refused.value.code == "restore_not_settled"


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("unchanged", "done"), ("no_match", "done"), ("skipped", "done"), ("failed", "failed")],
)
def test_a_record_that_wrote_nothing_has_nothing_to_restore(outcome: str, state: str) -> None:
    with pytest.raises(RestoreRefused) as refused:
        check_restorable(logged(EMAIL_CHANGE, outcome=outcome, state=state))
    assert refused.value.code == "nothing_to_restore"


def test_a_restore_can_itself_be_restored() -> None:
    restore = logged(Change("PHONE", "+1 555", None), event="restore")
    plan = plan_restore(restore, {"PHONE": ""}, TYPES)
    assert plan.changes == (Change("PHONE", "", "+1 555"),)


def test_old_values_already_back_write_nothing() -> None:
    same = logged(Change("EMAIL", "Same@example.com", "Same@example.com"))
    plan = plan_restore(same, {"EMAIL": "Same@example.com"}, TYPES)
    assert (plan.action, plan.outcome, plan.changes) == ("none", "unchanged", ())


def test_stored_changes_are_read_tolerantly() -> None:
    stored = [
        {"field": "EMAIL", "old": None, "new": "a@example.com"},
        {"field": "", "old": "x", "new": "y"},
        "not a change",
        {"field": "AGE", "old": 41, "new": "42"},
    ]
    assert changes_of(stored) == (
        Change("EMAIL", None, "a@example.com"),
        Change("AGE", None, "42"),
    )


# --- properties ---------------------------------------------------------------------------

VALUES = st.sampled_from([None, "", "a", "b", "A", "42", "42.0"])
FIELDS = st.sampled_from(["EMAIL", "AGE", "PHONE"])


@given(
    changes=st.dictionaries(FIELDS, st.tuples(VALUES, VALUES.filter(lambda v: v)), min_size=1),
    current=st.dictionaries(FIELDS, VALUES),
)
def test_a_restore_either_refuses_or_puts_every_old_value_back(
    changes: dict[str, tuple[str | None, str]], current: dict[str, str | None]
) -> None:
    original = logged(*(Change(field, old, new) for field, (old, new) in changes.items()))
    still_held = all(
        same_value(current.get(field), new, TYPES[field]) for field, (_old, new) in changes.items()
    )
    if not still_held:  # refused only when some field no longer holds what the change wrote
        assert refusal(original, current).code == "restore_changed_since"
        return
    plan = plan_restore(original, current, TYPES)
    after = {**current, **plan.attributes}
    for field, (old, new) in changes.items():
        assert same_value(current.get(field), new, TYPES[field])  # the change still held
        if old is None or is_empty(old):
            assert is_empty(after.get(field))
        else:
            assert same_value(after.get(field), old, TYPES[field])
    # Only the fields of the change are written, each at most once.
    written = [change.field for change in plan.changes]
    assert len(written) == len(set(written))
    assert set(written) <= set(changes)
