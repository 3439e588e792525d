"""Properties of identification (SPEC 4.1) over generated rules, conversations and links."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.context import ConversationContext
from optibridge.domain.fields import resolve
from optibridge.domain.identify import identify, normalize_customer_id
from optibridge.domain.settings import FieldRef
from tests.support.strategies import nasty_text

NAMES = ["customer_id", "Customer ID", "email", "vip"]
refs = st.builds(
    lambda source, name: FieldRef(source=source, name=name),
    st.sampled_from(["custom_variable", "prechat", "offline"]),
    st.sampled_from(NAMES),
)
values = st.sampled_from(["", "  ", "C-1", " C-2 ", "Ann@Example.COM", "abc"]) | nasty_text(
    max_size=8
)
forms = st.dictionaries(st.sampled_from(NAMES), values, max_size=4)
contexts = st.builds(
    lambda prechat, offline, custom_variables: ConversationContext(
        channel="livechat",
        event="chat_ended",
        prechat=prechat,
        offline=offline,
        custom_variables=custom_variables,
    ),
    forms,
    forms,
    forms,
)
links = st.none() | values


@given(st.lists(refs, max_size=4), contexts, links)
def test_the_first_rule_with_a_value_identifies_else_the_link(
    rules: list[FieldRef], context: ConversationContext, link: str | None
) -> None:
    identification = identify(rules, context, link)
    first = next((rule for rule in rules if resolve(rule, context) is not None), None)
    if first is not None:
        assert identification.via == "rule"
        assert identification.rule == first
        assert identification.customer_id == normalize_customer_id(resolve(first, context), first)
    elif normalize_customer_id(link) is not None:
        assert identification.via == "link"
        assert identification.customer_id == normalize_customer_id(link)
    else:
        assert identification.customer_id is None
        assert set(identification.missing) == set(rules)


@given(st.lists(refs, max_size=4), contexts, links)
def test_an_identified_customer_id_is_trimmed_and_non_empty_and_nothing_is_missing(
    rules: list[FieldRef], context: ConversationContext, link: str | None
) -> None:
    identification = identify(rules, context, link)
    if identification.customer_id is not None:
        assert identification.customer_id == identification.customer_id.strip() != ""
        assert identification.missing == ()
    else:
        assert identification.via is None
        assert identification.rule is None


@given(st.lists(refs, max_size=4), contexts, links, links)
def test_the_link_never_overrides_a_rule(
    rules: list[FieldRef], context: ConversationContext, link: str | None, other: str | None
) -> None:
    identification = identify(rules, context, link)
    if identification.via == "rule":
        assert identify(rules, context, other) == identification


@given(values, st.none() | refs)
def test_normalising_a_customer_id_twice_changes_nothing(value: str, ref: FieldRef | None) -> None:
    once = normalize_customer_id(value, ref)
    assert normalize_customer_id(once, ref) == once
