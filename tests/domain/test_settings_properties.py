"""Properties of settings validation over generated documents (valid ones, and faulty ones
derived from them)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.records import Channel
from optibridge.domain.settings import (
    CHANNEL_SOURCES,
    CONTACT_IDENTITY_TYPES,
    LIVECHAT_SYSTEM_FIELDS,
    SECRET_SETTINGS,
    SettingsInvalid,
    is_masked,
    mask_secret,
    settings_to_document,
    validate_settings,
)
from optibridge.errors import Problem
from optibridge.sync.sites import StoredSettings

Path = tuple[str | int, ...]

# --- generating valid documents ------------------------------------------------------------

labels = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
hosts = st.builds(
    lambda names, tld: ".".join([*names, tld]),
    st.lists(labels, min_size=1, max_size=3),
    st.sampled_from(["com", "net", "io", "example"]),
)
paths = st.lists(st.from_regex(r"[A-Za-z0-9_.~-]{1,8}", fullmatch=True), max_size=3).map(
    lambda segments: "".join("/" + s for s in segments if s not in (".", ".."))
)
ports = st.sampled_from(["", ":443", ":8443"])
base_urls = st.builds(lambda h, port, p: f"https://{h}{port}{p}", hosts, ports, paths)
templates = st.sampled_from(
    [
        "{web_app_url}/#/customer/{customer_id}",
        "{web_app_url}/#/customer-360/{customer_id}?tab=profile",
        "https://crm.example.com/c?id={customer_id}",
    ]
)
emails = st.from_regex(r"[a-z0-9._+-]{1,12}@[a-z0-9-]{1,10}\.(com|io|co\.uk)", fullmatch=True)
secrets = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)
free_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s == s.strip() and bool(s))
optimove_fields = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True).filter(
    lambda s: s.casefold() != "customerid"
)
policies = st.fixed_dictionaries(
    {
        "update": st.sampled_from(["none", "overwrite", "fill_empty"]),
        "no_match": st.sampled_from(["auto_create", "agent_create", "never"]),
    }
)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


def field_refs(channel: Channel) -> st.SearchStrategy[dict[str, str]]:
    def free(source: str) -> st.SearchStrategy[dict[str, str]]:
        return st.builds(lambda name: {"source": source, "name": name}, free_names)

    def fixed(source: str, names: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
        return st.sampled_from(names).map(lambda name: {"source": source, "name": name})

    if channel == "livechat":
        return st.one_of(
            fixed("system", LIVECHAT_SYSTEM_FIELDS),
            free("prechat"),
            free("offline"),
            free("custom_variable"),
        )
    return st.one_of(fixed("identity", CONTACT_IDENTITY_TYPES), free("contact"))


@st.composite
def channel_sections(draw: st.DrawFn, channel: Channel) -> dict[str, Any]:
    enabled = draw(st.booleans())
    fields = draw(st.lists(optimove_fields, max_size=4, unique_by=str.casefold))
    section: dict[str, Any] = {
        "enabled": enabled,
        "field_mapping": [
            {
                "optimove_field": field,
                "comm100_field": draw(field_refs(channel)),
                "show_in_console": draw(st.booleans()),
            }
            for field in fields
        ],
        "identification": draw(
            st.lists(field_refs(channel), min_size=1 if enabled else 0, max_size=3)
        ),
    }
    events = (
        ("on_chat_end", "on_offline_message") if channel == "livechat" else ("on_ticket_created",)
    )
    section.update({event: draw(policies) for event in events})
    return section


@st.composite
def valid_documents(draw: st.DrawFn) -> tuple[dict[str, Any], list[str] | None]:
    """A complete valid document (every key present, in canonical form) and the account's
    attribute names (None: not connected)."""
    document: dict[str, Any] = {
        "optimove": {
            "base_url": draw(st.none() | base_urls),
            "api_key": draw(st.none() | secrets),
            "web_app_url": draw(st.none() | base_urls),
            "customer_url_template": draw(templates),
        },
        "comm100": {
            "api_base_url": draw(st.none() | base_urls),
            "agent_email": draw(st.none() | emails),
            "api_key": draw(st.none() | secrets),
            # Comm100 sign-in: all three, or none.
            **draw(
                st.just(dict.fromkeys(("platform_url", "oauth_client_id", "oauth_client_secret")))
                | st.fixed_dictionaries(
                    {
                        "platform_url": base_urls,
                        "oauth_client_id": st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
                        "oauth_client_secret": secrets,
                    }
                )
            ),
        },
        "livechat": draw(channel_sections("livechat")),
        "ticketing": draw(channel_sections("ticketing")),
    }
    if draw(st.booleans()):
        return document, None
    mapped = [
        mapping["optimove_field"]
        for channel in CHANNEL_SOURCES
        for mapping in document[channel]["field_mapping"]
    ]
    others = draw(st.lists(optimove_fields, max_size=5))
    return document, sorted({*mapped, *others})


# --- walking and changing documents ---------------------------------------------------------


def nodes(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from nodes(child, (*path, index))


def objects(document: Any) -> list[Path]:
    return [path for path, value in nodes(document) if isinstance(value, dict)]


def leaves(document: Any) -> list[Path]:
    return [path for path, value in nodes(document) if not isinstance(value, dict | list)]


def pointer(path: Path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def at(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def resolves(document: Any, json_pointer: str) -> bool:
    if json_pointer == "":
        return True
    for token in json_pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and key in document:
            document = document[key]
        elif isinstance(document, list) and key.isdigit() and int(key) < len(document):
            document = document[int(key)]
        else:
            return False
    return True


def parent(json_pointer: str) -> str:
    return json_pointer.rsplit("/", 1)[0]


@st.composite
def unknown_keys(draw: st.DrawFn, document: dict[str, Any]) -> Path:
    """Where to add a key the model does not know: (path of an object, new key)."""
    place = draw(st.sampled_from(objects(document)))
    key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in at(document, place)))
    return (*place, key)


def with_value(document: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    at(changed, path[:-1])[path[-1]] = value
    return changed


@st.composite
def faulty_documents(draw: st.DrawFn) -> tuple[Any, list[str] | None]:
    """A valid document after one to three arbitrary changes: a node replaced by any JSON
    value, a key removed, or a key added."""
    document: Any
    document, attributes = draw(valid_documents())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        change = draw(st.sampled_from(["replace", "remove", "add"]))
        if change == "replace":
            path = draw(st.sampled_from([p for p, _ in nodes(document)]))
            value: Any = draw(json_scalars | st.lists(json_scalars, max_size=2) | st.just({}))
            document = with_value(document, path, value) if path else value
        elif change == "remove" and any(at(document, p) for p in objects(document)):
            path = draw(st.sampled_from([p for p in objects(document) if at(document, p)]))
            key = draw(st.sampled_from(sorted(at(document, path))))
            document = copy.deepcopy(document)
            del at(document, path)[key]
        elif objects(document):
            document = with_value(document, draw(unknown_keys(document)), draw(json_scalars))
    return document, attributes


def problems_of(document: Any, attributes: list[str] | None) -> list[Problem]:
    try:
        validate_settings(document, known_attributes=attributes, allow_private_urls=False)
    except SettingsInvalid as error:
        problems = error.problems
    else:
        return []
    assert problems, "a document was refused without a reason"
    return problems


def masked(document: dict[str, Any]) -> dict[str, Any]:
    expected = copy.deepcopy(document)
    for section, name in SECRET_SETTINGS:
        key = expected[section][name]
        expected[section][name] = None if key is None else mask_secret(key)
    return expected


# --- the properties ------------------------------------------------------------------------


@given(valid_documents())
def test_a_valid_document_comes_back_as_it_was_saved_but_for_the_masked_keys(
    case: tuple[dict[str, Any], list[str] | None],
) -> None:
    document, attributes = case

    settings = validate_settings(document, known_attributes=attributes, allow_private_urls=False)
    secrets = StoredSettings.of(settings)
    out = settings_to_document(
        settings,
        {
            (section, key): mask_secret(value) if (value := secrets.secret(section, key)) else None
            for section, key in SECRET_SETTINGS
        },
    )

    assert out == masked(document)
    assert settings.optimove.api_key == document["optimove"]["api_key"]
    assert settings.comm100.api_key == document["comm100"]["api_key"]


@given(valid_documents(), st.data())
def test_a_partial_document_is_the_whole_document_with_defaults(
    case: tuple[dict[str, Any], list[str] | None], data: st.DataObject
) -> None:
    document, attributes = case
    partial = copy.deepcopy(document)
    for path in reversed(objects(document)):  # innermost first, so removals keep paths valid
        optional = [k for k in at(partial, path) if not _required(path, k, at(partial, path))]
        for key in data.draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []:
            del at(partial, path)[key]

    settings = validate_settings(partial, known_attributes=attributes, allow_private_urls=False)
    secrets = StoredSettings.of(settings)
    whole = settings_to_document(  # the secrets themselves as "masks": a complete document
        settings, {(s, k): secrets.secret(s, k) for s, k in SECRET_SETTINGS}
    )

    assert validate_settings(whole, known_attributes=attributes, allow_private_urls=False) == (
        settings
    )


_SIGN_IN_KEYS = ("platform_url", "oauth_client_id", "oauth_client_secret")


def _required(path: Path, key: str | int, value: dict[str, Any]) -> bool:
    """Keys that a generated document can't lose and stay valid."""
    if key in ("source", "name", "optimove_field", "comm100_field"):
        return True
    if path == ("comm100",) and key in _SIGN_IN_KEYS:  # all three or none
        return any(value.get(k) is not None for k in _SIGN_IN_KEYS)
    return len(path) == 1 and key == "identification" and value.get("enabled") is True


@given(valid_documents(), st.data())
def test_an_unknown_key_anywhere_is_exactly_one_problem_at_its_pointer(
    case: tuple[dict[str, Any], list[str] | None], data: st.DataObject
) -> None:
    document, attributes = case
    path = data.draw(unknown_keys(document))

    found = problems_of(with_value(document, path, data.draw(json_scalars)), attributes)

    assert found == [Problem(pointer(path), "unknown key")]


@st.composite
def rule_faults(draw: st.DrawFn, document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A valid document with one fault that is not about shape, and where it is reported:
    a value of the wrong JSON type, a field mapped twice, or an enabled channel that can't
    identify anyone."""
    channel: Channel = draw(st.sampled_from(["livechat", "ticketing"]))
    rows = document[channel]["field_mapping"]
    kinds = ["wrong_type", "no_identification", *(["mapped_twice"] if rows else [])]
    kind = draw(st.sampled_from(kinds))
    if kind == "wrong_type":
        leaf = draw(st.sampled_from(leaves(document)))
        return with_value(document, leaf, []), pointer(leaf)
    if kind == "mapped_twice":
        again = copy.deepcopy(draw(st.sampled_from(rows)))
        changed = with_value(document, (channel, "field_mapping"), [*rows, again])
        return changed, pointer((channel, "field_mapping", len(rows), "optimove_field"))
    section = {**document[channel], "enabled": True, "identification": []}
    return with_value(document, (channel,), section), pointer((channel, "identification"))


@given(valid_documents(), st.data())
def test_a_fault_of_shape_and_any_other_fault_are_reported_together(
    case: tuple[dict[str, Any], list[str] | None], data: st.DataObject
) -> None:
    document, attributes = case
    faulty, rule_pointer = data.draw(rule_faults(document))
    unknown = data.draw(unknown_keys(faulty))

    found = problems_of(with_value(faulty, unknown, 1), attributes)

    assert sorted(p.pointer for p in found) == sorted([pointer(unknown), rule_pointer])


@given(faulty_documents())
def test_every_problem_points_into_the_document_or_at_a_missing_key(
    case: tuple[Any, list[str] | None],
) -> None:
    document, attributes = case

    for problem in problems_of(document, attributes):
        assert resolves(document, problem.pointer) or resolves(document, parent(problem.pointer))


@given(faulty_documents())
def test_validation_is_deterministic_and_leaves_the_input_alone(
    case: tuple[Any, list[str] | None],
) -> None:
    document, attributes = case
    before = copy.deepcopy(document)

    first = problems_of(document, attributes)

    assert problems_of(copy.deepcopy(document), attributes) == first
    assert document == before


@given(faulty_documents())
def test_every_problem_is_told_in_our_own_words(case: tuple[Any, list[str] | None]) -> None:
    document, attributes = case

    for problem in problems_of(document, attributes):
        assert problem.message
        assert "Input should" not in problem.message
        assert "pydantic" not in problem.message


@given(st.text(max_size=64))
def test_a_mask_reveals_at_most_the_last_four_characters_and_only_of_a_long_secret(
    secret: str,
) -> None:
    mask = mask_secret(secret)

    hint = mask.removeprefix("****")
    assert mask.startswith("****")
    assert len(hint) <= 4
    assert secret.endswith(hint)
    assert len(hint) * 3 <= len(secret)
    assert is_masked(mask)
