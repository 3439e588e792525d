"""The tab's words: fields as an agent knows them, never as the settings name them."""

from __future__ import annotations

import pytest

from optibridge.console.views import agent_words, either
from optibridge.domain.settings import FieldRef, FieldSource


@pytest.mark.parametrize(
    ("source", "name", "words"),
    [
        ("custom_variable", "customer_id", "customer ID"),
        ("custom_variable", "Customer ID", "Customer ID"),
        ("system", "email", "e-mail address"),
        ("system", "phone", "phone number"),
        ("system", "sso_id", "SSO ID"),
        ("system", "name", "name"),
        ("prechat", "E-mail", "e-mail address"),
        ("prechat", "Loyalty number", "Loyalty number"),
        ("contact", "Customer ID", "Customer ID"),
        ("identity", "Email", "e-mail address"),
        ("identity", "externalID", "external ID"),
        ("identity", "facebook", "facebook ID"),
    ],
)
def test_a_field_reads_as_an_agent_knows_it(source: FieldSource, name: str, words: str) -> None:
    assert agent_words(FieldRef(source=source, name=name)) == words


def test_no_configuration_word_is_ever_said() -> None:
    for source in ("system", "prechat", "offline", "custom_variable", "contact", "identity"):
        said = agent_words(FieldRef(source=source, name="email"))
        assert "variable" not in said
        assert "field" not in said
        assert "'" not in said


def test_fields_are_offered_one_or_another() -> None:
    assert either(["customer ID"]) == "customer ID"
    assert either(["customer ID", "e-mail address"]) == "customer ID or e-mail address"
    assert either(["a", "b", "a", "c"]) == "a, b or c"
