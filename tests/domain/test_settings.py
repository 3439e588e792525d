"""The settings document of SPEC 3: its model, the rules checked on save, and its helpers."""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

import pytest
from pydantic import ValidationError

from optibridge.domain.settings import (
    DEFAULT_CUSTOMER_URL_TEMPLATE,
    EventPolicy,
    FieldMapping,
    FieldRef,
    SettingsInvalid,
    SiteSettings,
    customer_url,
    is_masked,
    json_pointer,
    mask_secret,
    settings_to_document,
    validate_settings,
)
from optibridge.errors import Invalid, Problem

SPEC_EXAMPLE: dict[str, Any] = {
    "optimove": {
        "base_url": "https://api4.optimove.net",
        "api_key": "0123456789abcdef7f3a",
        "web_app_url": "https://acme.optimove.net",
        "customer_url_template": "{web_app_url}/#/customer/{customer_id}",
    },
    "comm100": {
        "api_base_url": "https://api11.comm100.io/v4",
        "agent_email": "admin@example.com",
        "api_key": "comm100-secret-key-9d2c",
    },
    "livechat": {
        "enabled": True,
        "field_mapping": [
            {
                "optimove_field": "EMAIL",
                "comm100_field": {"source": "system", "name": "email"},
                "show_in_console": True,
            },
            {
                "optimove_field": "FIRST_NAME",
                "comm100_field": {"source": "prechat", "name": "First Name"},
                "show_in_console": True,
            },
            {
                "optimove_field": "VIP_LEVEL",
                "comm100_field": {"source": "custom_variable", "name": "vip"},
                "show_in_console": True,
            },
        ],
        "identification": [
            {"source": "custom_variable", "name": "customer_id"},
            {"source": "system", "name": "email"},
        ],
        "on_chat_end": {"update": "fill_empty", "no_match": "agent_create"},
        "on_offline_message": {"update": "none", "no_match": "auto_create"},
    },
    "ticketing": {
        "enabled": False,
        "field_mapping": [
            {
                "optimove_field": "EMAIL",
                "comm100_field": {"source": "identity", "name": "Email"},
                "show_in_console": True,
            }
        ],
        "identification": [{"source": "contact", "name": "Customer ID"}],
        "on_ticket_created": {"update": "overwrite", "no_match": "never"},
    },
}
ATTRIBUTES = ["EMAIL", "FIRST_NAME", "VIP_LEVEL", "Age"]


def validate(
    document: object,
    *,
    known_attributes: Collection[str] | None = None,
    allow_private_urls: bool = False,
) -> SiteSettings:
    return validate_settings(
        document, known_attributes=known_attributes, allow_private_urls=allow_private_urls
    )


def problems(
    document: object,
    *,
    known_attributes: Collection[str] | None = None,
    allow_private_urls: bool = False,
) -> list[tuple[str, str]]:
    with pytest.raises(SettingsInvalid) as raised:
        validate(document, known_attributes=known_attributes, allow_private_urls=allow_private_urls)
    return [(p.pointer, p.message) for p in raised.value.problems]


def example(**changes: Any) -> dict[str, Any]:
    """The SPEC example with some sections replaced or merged (a section value of None drops it)."""
    document = copy.deepcopy(SPEC_EXAMPLE)
    for section, value in changes.items():
        if value is None:
            del document[section]
        else:
            document[section] = {**document[section], **value}
    return document


def livechat_mapping(optimove_field: str, source: str = "prechat", name: str = "x") -> Any:
    return {"optimove_field": optimove_field, "comm100_field": {"source": source, "name": name}}


# --- the model and its defaults ------------------------------------------------------------


def test_a_site_without_settings_has_nothing_connected_and_both_channels_disabled() -> None:
    settings = SiteSettings()

    assert settings.optimove.base_url is None
    assert settings.optimove.api_key is None
    assert settings.comm100.api_base_url is None
    assert not settings.livechat.enabled
    assert not settings.ticketing.enabled
    assert settings.livechat.field_mapping == ()
    assert settings.ticketing.identification == ()


def test_event_policies_default_to_no_update_and_agents_may_create() -> None:
    settings = SiteSettings()

    default = EventPolicy(update="none", no_match="agent_create")
    assert settings.livechat.on_chat_end == default
    assert settings.livechat.on_offline_message == default
    assert settings.ticketing.on_ticket_created == default


def test_the_customer_url_template_defaults_to_the_web_app_customer_page() -> None:
    assert SiteSettings().optimove.customer_url_template == "{web_app_url}/#/customer/{customer_id}"


def test_an_empty_document_is_a_site_without_settings() -> None:
    assert validate({}) == SiteSettings()


def test_a_partial_document_is_completed_with_defaults() -> None:
    settings = validate({"livechat": {"on_chat_end": {"update": "overwrite"}}})

    assert settings.livechat.on_chat_end == EventPolicy(update="overwrite", no_match="agent_create")
    assert settings.ticketing == SiteSettings().ticketing
    assert settings.optimove == SiteSettings().optimove


def test_the_spec_example_is_valid() -> None:
    settings = validate(SPEC_EXAMPLE, known_attributes=ATTRIBUTES)

    assert settings.optimove.base_url == "https://api4.optimove.net"
    assert settings.livechat.field_mapping[1] == FieldMapping(
        optimove_field="FIRST_NAME",
        comm100_field=FieldRef(source="prechat", name="First Name"),
        show_in_console=True,
    )
    assert settings.ticketing.on_ticket_created == EventPolicy(update="overwrite", no_match="never")


def test_settings_are_immutable() -> None:
    settings = validate(SPEC_EXAMPLE)

    with pytest.raises(ValidationError):
        settings.livechat.enabled = False  # type: ignore[misc]


def test_a_mapped_field_is_shown_in_the_console_unless_said_otherwise() -> None:
    settings = validate({"livechat": {"field_mapping": [livechat_mapping("EMAIL")]}})

    assert settings.livechat.field_mapping[0].show_in_console


def test_a_stored_document_loads_without_the_deployment_rules() -> None:
    stored = {"optimove": {"base_url": "http://127.0.0.1:8000/sandbox/optimove"}}

    settings = SiteSettings.model_validate(stored)

    assert settings.optimove.base_url == "http://127.0.0.1:8000/sandbox/optimove"


def test_the_model_alone_still_rejects_a_malformed_url() -> None:
    with pytest.raises(ValidationError):
        SiteSettings.model_validate({"optimove": {"base_url": "javascript:alert(1)"}})


def test_channel_gives_the_configuration_of_a_channel_by_name() -> None:
    settings = validate(SPEC_EXAMPLE)

    assert settings.channel("livechat") is settings.livechat
    assert settings.channel("ticketing") is settings.ticketing


@pytest.mark.parametrize(
    ("channel", "event", "setting"),
    [
        ("livechat", "chat_ended", "on_chat_end"),
        ("livechat", "offline_message_submitted", "on_offline_message"),
        ("ticketing", "ticket_created", "on_ticket_created"),
    ],
)
def test_each_event_uses_its_channels_policy(channel: str, event: str, setting: str) -> None:
    settings = validate(SPEC_EXAMPLE)
    config = settings.livechat if channel == "livechat" else settings.ticketing

    assert config.policy(event) == getattr(config, setting)


@pytest.mark.parametrize(
    ("channel", "event"),
    [
        ("livechat", "chat_started"),
        ("livechat", "chat_wrapped_up"),
        ("livechat", "ticket_created"),
        ("ticketing", "chat_ended"),
    ],
)
def test_other_events_have_no_policy(channel: str, event: str) -> None:
    settings = validate(SPEC_EXAMPLE)
    config = settings.livechat if channel == "livechat" else settings.ticketing

    assert config.policy(event) is None


# --- structure: unknown keys and JSON types -----------------------------------------------


def test_a_document_that_is_not_an_object_is_rejected_as_a_whole() -> None:
    assert problems(["optimove"]) == [("", "must be an object")]


def test_an_unknown_section_is_rejected() -> None:
    assert problems({"salesforce": {}}) == [("/salesforce", "unknown key")]


def test_an_unknown_key_in_a_section_is_rejected() -> None:
    assert problems({"optimove": {"password": "x"}}) == [("/optimove/password", "unknown key")]


def test_an_unknown_key_in_a_field_reference_is_rejected() -> None:
    document = {
        "ticketing": {"identification": [{"source": "contact", "name": "id", "label": "ID"}]}
    }

    assert problems(document) == [("/ticketing/identification/0/label", "unknown key")]


def test_an_unknown_key_is_escaped_in_its_pointer() -> None:
    assert problems({"livechat": {"a/b~c": 1}}) == [("/livechat/a~1b~0c", "unknown key")]


def test_a_section_that_is_not_an_object_is_rejected() -> None:
    assert problems({"comm100": "admin@example.com"}) == [("/comm100", "must be an object")]


def test_a_null_section_is_rejected() -> None:
    assert problems({"livechat": None}) == [("/livechat", "must be an object")]


def test_a_field_mapping_that_is_not_a_list_is_rejected() -> None:
    assert problems({"livechat": {"field_mapping": {}}}) == [
        ("/livechat/field_mapping", "must be a list")
    ]


def test_a_mapping_row_that_is_not_an_object_is_rejected() -> None:
    assert problems({"livechat": {"field_mapping": ["EMAIL"]}}) == [
        ("/livechat/field_mapping/0", "must be an object")
    ]


def test_enabled_must_be_a_json_boolean() -> None:
    assert problems({"ticketing": {"enabled": "true"}}) == [
        ("/ticketing/enabled", "must be true or false")
    ]


def test_show_in_console_must_be_a_json_boolean() -> None:
    document = {
        "livechat": {"field_mapping": [{**livechat_mapping("EMAIL"), "show_in_console": 1}]}
    }

    assert problems(document) == [
        ("/livechat/field_mapping/0/show_in_console", "must be true or false")
    ]


def test_an_update_strategy_is_one_of_the_three() -> None:
    assert problems({"livechat": {"on_chat_end": {"update": "always"}}}) == [
        ("/livechat/on_chat_end/update", "must be one of none, overwrite, fill_empty")
    ]


def test_a_no_match_operation_is_one_of_the_three() -> None:
    assert problems({"ticketing": {"on_ticket_created": {"no_match": "create"}}}) == [
        ("/ticketing/on_ticket_created/no_match", "must be one of auto_create, agent_create, never")
    ]


def test_a_mapping_row_needs_its_optimove_field_and_comm100_field() -> None:
    document = {"livechat": {"field_mapping": [{"show_in_console": True}]}}

    assert problems(document) == [
        ("/livechat/field_mapping/0/optimove_field", "is required"),
        ("/livechat/field_mapping/0/comm100_field", "is required"),
    ]


def test_a_field_name_must_be_a_string() -> None:
    document = {"livechat": {"identification": [{"source": "prechat", "name": 7}]}}

    assert problems(document) == [("/livechat/identification/0/name", "must be a string")]


def test_a_url_must_be_a_string_or_null() -> None:
    assert problems({"optimove": {"base_url": 4}}) == [
        ("/optimove/base_url", "must be a string or null")
    ]


def test_the_customer_url_template_must_be_a_string() -> None:
    assert problems({"optimove": {"customer_url_template": None}}) == [
        ("/optimove/customer_url_template", "must be a string")
    ]


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pointer", ["/optimove/base_url", "/optimove/web_app_url", "/comm100/api_base_url"]
)
def test_every_url_must_use_https(pointer: str) -> None:
    section, key = pointer.strip("/").split("/")

    assert problems({section: {key: "http://api.example.com"}}) == [(pointer, "must use https")]


@pytest.mark.parametrize(
    "pointer", ["/optimove/base_url", "/optimove/web_app_url", "/comm100/api_base_url"]
)
def test_no_url_may_point_to_a_private_host(pointer: str) -> None:
    section, key = pointer.strip("/").split("/")

    assert problems({section: {key: "https://192.168.1.10"}}) == [
        (pointer, "must not point to a private, loopback or local address")
    ]


def test_plain_http_and_private_hosts_are_allowed_when_the_deployment_allows_them() -> None:
    settings = validate(
        {"optimove": {"base_url": "http://127.0.0.1:8000/sandbox/optimove"}},
        allow_private_urls=True,
    )

    assert settings.optimove.base_url == "http://127.0.0.1:8000/sandbox/optimove"


def test_a_url_without_a_scheme_is_not_absolute() -> None:
    assert problems({"optimove": {"base_url": "api4.optimove.net"}}) == [
        ("/optimove/base_url", "must be an absolute https URL")
    ]


def test_a_url_may_not_carry_credentials() -> None:
    assert problems({"comm100": {"api_base_url": "https://me:secret@api11.comm100.io/v4"}}) == [
        ("/comm100/api_base_url", "must not contain a user name or password")
    ]


def test_a_base_url_may_not_have_a_query_or_fragment() -> None:
    assert problems({"optimove": {"web_app_url": "https://acme.optimove.net/#/home"}}) == [
        ("/optimove/web_app_url", "must not contain a query (?…) or a fragment (#…)")
    ]


def test_a_base_url_keeps_its_path_without_the_trailing_slash() -> None:
    settings = validate({"optimove": {"base_url": "  https://api4.optimove.net/current/ "}})

    assert settings.optimove.base_url == "https://api4.optimove.net/current"


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_url_means_not_connected_yet(empty: str | None) -> None:
    settings = validate({"optimove": {"base_url": empty}, "comm100": {"api_base_url": empty}})

    assert settings.optimove.base_url is None
    assert settings.comm100.api_base_url is None


# --- Comm100 agent and API keys -------------------------------------------------------------


def test_the_agent_email_must_look_like_an_email_address() -> None:
    assert problems({"comm100": {"agent_email": "admin"}}) == [
        ("/comm100/agent_email", "must be an e-mail address")
    ]


def test_the_agent_email_is_kept_trimmed() -> None:
    assert validate({"comm100": {"agent_email": " admin@example.com "}}).comm100.agent_email == (
        "admin@example.com"
    )


def test_an_empty_agent_email_means_not_set() -> None:
    assert validate({"comm100": {"agent_email": ""}}).comm100.agent_email is None


def test_an_api_key_is_trimmed_and_an_empty_one_means_none() -> None:
    settings = validate({"optimove": {"api_key": " abc\n"}, "comm100": {"api_key": ""}})

    assert settings.optimove.api_key == "abc"
    assert settings.comm100.api_key is None


def test_an_api_key_has_a_maximum_length() -> None:
    assert problems({"optimove": {"api_key": "k" * 1025}}) == [
        ("/optimove/api_key", "must be at most 1024 characters")
    ]


def test_a_masked_api_key_sent_back_is_accepted_as_is_for_the_service_to_replace() -> None:
    assert validate({"optimove": {"api_key": "****7f3a"}}).optimove.api_key == "****7f3a"


# --- the customer URL template --------------------------------------------------------------


def test_the_template_must_contain_the_customer_id() -> None:
    assert problems({"optimove": {"customer_url_template": "{web_app_url}/#/customers"}}) == [
        ("/optimove/customer_url_template", "must contain {customer_id}")
    ]


@pytest.mark.parametrize(
    "template",
    [
        "{web_app_url}/#/site/{site_id}/customer/{customer_id}",
        "{web_app_url}/#/customer/{}",
        "{web_app_url}/#/customer/{customer_id:>10}",
        "{web_app_url}/#/customer/{customer_id!r}",
        "{web_app_url.__class__}/{customer_id}",
    ],
)
def test_the_template_may_only_use_its_two_plain_placeholders(template: str) -> None:
    assert problems({"optimove": {"customer_url_template": template}}) == [
        (
            "/optimove/customer_url_template",
            "may only contain the placeholders {web_app_url} and {customer_id}",
        )
    ]


def test_a_brace_without_its_pair_is_reported() -> None:
    assert problems({"optimove": {"customer_url_template": "{web_app_url}/{customer_id"}}) == [
        (
            "/optimove/customer_url_template",
            "has a { or } without its pair (write {{ or }} for a brace)",
        )
    ]


def test_the_template_cannot_turn_the_link_into_script() -> None:
    assert problems({"optimove": {"customer_url_template": "javascript:alert({customer_id})"}}) == [
        ("/optimove/customer_url_template", "must be an absolute https URL")
    ]


def test_the_template_cannot_smuggle_credentials_after_the_web_app_url() -> None:
    template = "{web_app_url}@evil.example/{customer_id}"

    assert problems({"optimove": {"customer_url_template": template}}) == [
        ("/optimove/customer_url_template", "must not contain a user name or password")
    ]


def test_a_template_may_be_a_full_https_url_of_its_own() -> None:
    template = "https://crm.example.com/customer?id={customer_id}"

    assert validate({"optimove": {"customer_url_template": template}}).optimove == (
        SiteSettings().optimove.model_copy(update={"customer_url_template": template})
    )


def test_a_plain_http_template_needs_the_deployment_to_allow_it() -> None:
    document = {"optimove": {"customer_url_template": "http://127.0.0.1:9000/c/{customer_id}"}}

    assert problems(document) == [("/optimove/customer_url_template", "must use https")]
    assert validate(document, allow_private_urls=True).optimove.customer_url_template == (
        "http://127.0.0.1:9000/c/{customer_id}"
    )


# --- channels: identification and field references ------------------------------------------


def test_an_enabled_channel_needs_an_identification_rule() -> None:
    assert problems({"livechat": {"enabled": True, "identification": []}}) == [
        ("/livechat/identification", "must have at least one rule when Live Chat is enabled")
    ]


def test_an_enabled_channel_without_the_identification_key_is_reported_at_that_key() -> None:
    assert problems({"ticketing": {"enabled": True}}) == [
        (
            "/ticketing/identification",
            "must have at least one rule when Ticketing & Messaging is enabled",
        )
    ]


def test_a_disabled_channel_may_have_no_identification_rule() -> None:
    assert validate({"livechat": {"enabled": False}}).livechat.identification == ()


def test_a_live_chat_reference_cannot_use_a_ticketing_source() -> None:
    document = {"livechat": {"identification": [{"source": "contact", "name": "Customer ID"}]}}

    assert problems(document) == [
        (
            "/livechat/identification/0/source",
            "must be one of system, prechat, offline, custom_variable",
        )
    ]


def test_a_ticketing_mapping_cannot_use_a_live_chat_source() -> None:
    document = {"ticketing": {"field_mapping": [livechat_mapping("EMAIL", "system", "email")]}}

    assert problems(document) == [
        ("/ticketing/field_mapping/0/comm100_field/source", "must be one of contact, identity")
    ]


def test_an_unknown_source_is_answered_with_the_channels_sources() -> None:
    document = {"ticketing": {"identification": [{"source": "crm", "name": "id"}]}}

    assert problems(document) == [
        ("/ticketing/identification/0/source", "must be one of contact, identity")
    ]


def test_a_system_field_is_one_of_comm100s_live_chat_fields() -> None:
    document = {"livechat": {"identification": [{"source": "system", "name": "customer_id"}]}}

    assert problems(document) == [
        (
            "/livechat/identification/0/name",
            "must be one of name, email, phone, company, product_service, department, ip,"
            " visitor_id, sso_id, city, state, country, language, referrer_url, landing_page",
        )
    ]


def test_a_system_field_is_matched_case_insensitively_and_kept_in_comm100s_spelling() -> None:
    document = {"livechat": {"identification": [{"source": "system", "name": "SSO_ID"}]}}

    assert validate(document).livechat.identification == (FieldRef(source="system", name="sso_id"),)


def test_an_identity_type_is_kept_in_comm100s_spelling() -> None:
    document = {"ticketing": {"identification": [{"source": "identity", "name": "ssoid"}]}}

    assert validate(document).ticketing.identification == (
        FieldRef(source="identity", name="SSOID"),
    )


def test_the_visitor_identity_is_not_a_choice() -> None:
    document = {"ticketing": {"identification": [{"source": "identity", "name": "visitor"}]}}

    assert problems(document) == [
        (
            "/ticketing/identification/0/name",
            "must be one of Email, SMS, whatsApp, facebook, twitter, wechat, SSOID, externalID,"
            " instagram, telegram, line, SecureMessaging",
        )
    ]


def test_form_field_and_custom_variable_names_are_free_and_trimmed() -> None:
    document = {"livechat": {"identification": [{"source": "custom_variable", "name": " Acct # "}]}}

    assert validate(document).livechat.identification[0].name == "Acct #"


def test_a_field_name_cannot_be_blank() -> None:
    document = {"ticketing": {"identification": [{"source": "contact", "name": "  "}]}}

    assert problems(document) == [("/ticketing/identification/0/name", "must not be empty")]


def test_a_field_name_has_a_maximum_length() -> None:
    document = {"ticketing": {"identification": [{"source": "contact", "name": "n" * 201}]}}

    assert problems(document) == [
        ("/ticketing/identification/0/name", "must be at most 200 characters")
    ]


# --- channels: field mapping ---------------------------------------------------------------


def test_a_mapped_field_must_be_an_attribute_of_the_connected_account() -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping("LOYALTY")]}}

    assert problems(document, known_attributes=ATTRIBUTES) == [
        (
            "/livechat/field_mapping/0/optimove_field",
            "LOYALTY is not an attribute of the connected Optimove account",
        )
    ]


def test_any_field_name_is_accepted_while_no_account_is_connected() -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping("LOYALTY")]}}

    assert validate(document, known_attributes=None).livechat.field_mapping[0].optimove_field == (
        "LOYALTY"
    )


def test_a_mapped_field_is_matched_case_insensitively_and_kept_in_the_accounts_spelling() -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping(" age ")]}}

    settings = validate(document, known_attributes=ATTRIBUTES)

    assert settings.livechat.field_mapping[0].optimove_field == "Age"


def test_an_exact_match_wins_over_a_case_insensitive_one() -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping("email")]}}

    settings = validate(document, known_attributes=["EMAIL", "email"])

    assert settings.livechat.field_mapping[0].optimove_field == "email"


def test_a_field_mapped_twice_in_a_channel_is_reported_at_the_second_row() -> None:
    document = {
        "livechat": {"field_mapping": [livechat_mapping("EMAIL"), livechat_mapping("Email")]}
    }

    assert problems(document) == [
        (
            "/livechat/field_mapping/1/optimove_field",
            "Email is already mapped: each Optimove field can be mapped only once in Live Chat",
        )
    ]


def test_the_repeated_field_is_named_in_the_accounts_spelling() -> None:
    document = {
        "livechat": {"field_mapping": [livechat_mapping("EMAIL"), livechat_mapping("email")]}
    }

    assert problems(document, known_attributes=ATTRIBUTES) == [
        (
            "/livechat/field_mapping/1/optimove_field",
            "EMAIL is already mapped: each Optimove field can be mapped only once in Live Chat",
        )
    ]


def test_the_same_field_may_be_mapped_in_both_channels() -> None:
    settings = validate(SPEC_EXAMPLE)

    assert settings.livechat.field_mapping[0].optimove_field == "EMAIL"
    assert settings.ticketing.field_mapping[0].optimove_field == "EMAIL"


@pytest.mark.parametrize("name", ["CustomerID", "customerid", "CUSTOMERID"])
def test_the_customer_id_is_not_a_mappable_field(name: str) -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping(name)]}}

    assert problems(document) == [
        (
            "/livechat/field_mapping/0/optimove_field",
            "CustomerID identifies the customer: set it with the identification rules,"
            " not as a mapped field",
        )
    ]


def test_a_mapped_field_name_cannot_be_blank() -> None:
    document = {"livechat": {"field_mapping": [livechat_mapping(" ")]}}

    assert problems(document) == [("/livechat/field_mapping/0/optimove_field", "must not be empty")]


# --- every problem at once ------------------------------------------------------------------


def test_an_unknown_key_and_a_rule_broken_elsewhere_are_reported_together() -> None:
    document = example(
        optimove={"region": "eu"},
        livechat={"field_mapping": [livechat_mapping("EMAIL"), livechat_mapping("EMAIL")]},
    )

    assert [pointer for pointer, _ in problems(document)] == [
        "/optimove/region",
        "/livechat/field_mapping/1/optimove_field",
    ]


def test_a_malformed_row_does_not_hide_the_rules_broken_by_the_other_rows() -> None:
    document = {
        "livechat": {
            "field_mapping": [
                {**livechat_mapping("EMAIL"), "show_in_console": "yes"},
                livechat_mapping("EMAIL"),
                livechat_mapping("PHONE", "contact", "phone"),
            ]
        }
    }

    assert problems(document) == [
        ("/livechat/field_mapping/0/show_in_console", "must be true or false"),
        (
            "/livechat/field_mapping/2/comm100_field/source",
            "must be one of system, prechat, offline, custom_variable",
        ),
        (
            "/livechat/field_mapping/1/optimove_field",
            "EMAIL is already mapped: each Optimove field can be mapped only once in Live Chat",
        ),
    ]


def test_problems_of_every_section_are_listed() -> None:
    document = {
        "optimove": {"base_url": "http://api4.optimove.net"},
        "comm100": {"agent_email": "nobody"},
        "livechat": {"enabled": True},
        "ticketing": {"on_ticket_created": {"update": "sometimes"}},
    }

    assert [pointer for pointer, _ in problems(document)] == [
        "/optimove/base_url",
        "/comm100/agent_email",
        "/ticketing/on_ticket_created/update",
        "/livechat/identification",
    ]


def test_invalid_settings_are_a_422_listing_the_problems() -> None:
    with pytest.raises(SettingsInvalid) as raised:
        validate({"optimove": {"x": 1}, "ticketing": {"y": 2}})

    error = raised.value
    assert isinstance(error, Invalid)
    assert error.status == 422
    assert error.message == "The settings are not valid: 2 problems."
    assert (
        error.details
        == error.problems
        == [
            Problem("/optimove/x", "unknown key"),
            Problem("/ticketing/y", "unknown key"),
        ]
    )


def test_validation_does_not_change_the_document() -> None:
    document = example(livechat={"identification": [{"source": "system", "name": "EMAIL"}]})
    before = copy.deepcopy(document)

    validate(document)

    assert document == before


# --- helpers for the service ---------------------------------------------------------------


def test_a_json_pointer_escapes_tilde_and_slash() -> None:
    assert json_pointer(("livechat", "field_mapping", 2, "a~/b")) == (
        "/livechat/field_mapping/2/a~0~1b"
    )


def test_the_whole_document_has_an_empty_pointer() -> None:
    assert json_pointer(()) == ""


def test_a_long_secret_is_masked_but_for_its_last_four_characters() -> None:
    assert mask_secret("0123456789abcdef7f3a") == "****7f3a"


def test_a_short_secret_is_masked_entirely() -> None:
    assert mask_secret("abcdefghijk") == "****"


@pytest.mark.parametrize("value", ["****", "****7f3a"])
def test_a_mask_is_recognised(value: str) -> None:
    assert is_masked(value)


@pytest.mark.parametrize("value", ["0123456789abcdef7f3a", "", "***", "****7f3a9"])
def test_a_real_key_is_not_taken_for_a_mask(value: str) -> None:
    assert not is_masked(value)


def test_the_document_shows_the_masks_in_place_of_the_api_keys() -> None:
    settings = validate(SPEC_EXAMPLE)

    document = settings_to_document(settings, {("optimove", "api_key"): "****7f3a"})

    assert document["optimove"]["api_key"] == "****7f3a"
    assert document["comm100"]["api_key"] is None
    assert "0123456789abcdef7f3a" not in repr(document)
    assert "comm100-secret-key-9d2c" not in repr(document)


def test_the_document_is_the_whole_settings_with_every_key() -> None:
    document = settings_to_document(SiteSettings(), {})

    assert document == {
        "optimove": {
            "base_url": None,
            "api_key": None,
            "web_app_url": None,
            "customer_url_template": DEFAULT_CUSTOMER_URL_TEMPLATE,
        },
        "comm100": {
            "api_base_url": None,
            "agent_email": None,
            "api_key": None,
            "platform_url": None,
            "oauth_client_id": None,
            "oauth_client_secret": None,
        },
        "livechat": {
            "enabled": False,
            "field_mapping": [],
            "identification": [],
            "on_chat_end": {"update": "none", "no_match": "agent_create"},
            "on_offline_message": {"update": "none", "no_match": "agent_create"},
        },
        "ticketing": {
            "enabled": False,
            "field_mapping": [],
            "identification": [],
            "on_ticket_created": {"update": "none", "no_match": "agent_create"},
        },
    }


def test_the_customer_url_fills_the_template_with_the_quoted_customer_id() -> None:
    settings = validate(SPEC_EXAMPLE)

    assert customer_url(settings, "A/B 7?") == "https://acme.optimove.net/#/customer/A%2FB%207%3F"


def test_there_is_no_customer_url_before_the_web_app_url_is_set() -> None:
    assert customer_url(SiteSettings(), "123") is None


def test_there_is_no_customer_url_without_a_customer_id() -> None:
    assert customer_url(validate(SPEC_EXAMPLE), "") is None


def test_a_template_without_the_web_app_url_needs_no_web_app_url() -> None:
    template = "https://crm.example.com/customer?id={customer_id}&src=comm100"
    settings = validate({"optimove": {"customer_url_template": template}})

    assert customer_url(settings, "42") == "https://crm.example.com/customer?id=42&src=comm100"


def test_escaped_braces_in_the_template_stay_literal() -> None:
    template = "{web_app_url}/#/customer/{customer_id}?view={{360}}"
    settings = validate(
        {
            "optimove": {
                "web_app_url": "https://acme.optimove.net",
                "customer_url_template": template,
            }
        }
    )

    assert customer_url(settings, "42") == "https://acme.optimove.net/#/customer/42?view={360}"


def test_comm100_sign_in_needs_its_three_settings_together() -> None:
    with pytest.raises(SettingsInvalid) as invalid:
        validate_settings(
            {"comm100": {"oauth_client_id": "optibridge"}},
            known_attributes=None,
            allow_private_urls=False,
        )
    assert [(p.pointer, p.message) for p in invalid.value.problems] == [
        ("/comm100/platform_url", "is needed for Comm100 sign-in (or leave all three empty)"),
        (
            "/comm100/oauth_client_secret",
            "is needed for Comm100 sign-in (or leave all three empty)",
        ),
    ]
    ready = validate_settings(
        {
            "comm100": {
                "platform_url": "https://dash11.comm100.io",
                "oauth_client_id": "optibridge",
                "oauth_client_secret": "s3cret-value-0000",
            }
        },
        known_attributes=None,
        allow_private_urls=False,
    )
    assert ready.comm100.oauth_client_secret == "s3cret-value-0000"


@pytest.mark.parametrize("client_id", ["has space", "x" * 201, "tab\there"])
def test_an_oauth_client_id_is_one_printable_word(client_id: str) -> None:
    with pytest.raises(SettingsInvalid) as invalid:
        validate_settings(
            {"comm100": {"oauth_client_id": client_id}},
            known_attributes=None,
            allow_private_urls=False,
        )
    assert "/comm100/oauth_client_id" in [p.pointer for p in invalid.value.problems]
