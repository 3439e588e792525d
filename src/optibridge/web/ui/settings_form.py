"""The *Manage Integration Settings* form: the settings document as form fields and back.

Field names are the JSON pointer of the value with dots (`livechat.field_mapping.2.
optimove_field`), element ids the pointer with dashes (`f-livechat-field_mapping-2-
optimove_field`), so a problem reported by the settings service at a pointer is shown beside
the element that holds the value. A Comm100 field is posted as `source:name`.

Rows left blank are ignored (the page offers a few spare rows for browsers without
JavaScript). Without JavaScript, the rows' *Add*, *Remove*, *Move up/down* buttons post the
form with an `op`, and the page comes back with the change made but nothing saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from optibridge.domain.records import Channel
from optibridge.domain.settings import CHANNEL_NAMES, DEFAULT_CUSTOMER_URL_TEMPLATE
from optibridge.errors import Problem

CHANNELS: tuple[Channel, ...] = ("livechat", "ticketing")
SPARE_MAPPING_ROWS = 2
SPARE_IDENTIFICATION_ROWS = 1

# Each channel's events, their settings key, and how Comm100's control panel words them.
EVENTS: Mapping[Channel, tuple[tuple[str, str], ...]] = {
    "livechat": (
        ("on_chat_end", "When a chat ends"),
        ("on_offline_message", "When an offline message is submitted"),
    ),
    "ticketing": (("on_ticket_created", "When a ticket is created"),),
}
UPDATE_CHOICES = (
    ("none", "Do not auto-update"),
    ("overwrite", "Update Contact with mapped fields"),
    ("fill_empty", "Only auto-update empty fields in Optimove from mapped fields"),
)
NO_MATCH_CHOICES = (
    ("auto_create", "Auto-create a Contact in Optimove"),
    (
        "agent_create",
        "Do not auto-create a Contact but allow agents to create a Contact manually in Optimove",
    ),
    (
        "never",
        "Do not auto-create a Contact and do not allow agents to create a Contact manually in "
        "Optimove",
    ),
)

_POINTER_WORDS = {
    "optimove": "Optimove",
    "comm100": "Comm100",
    "livechat": CHANNEL_NAMES["livechat"],
    "ticketing": CHANNEL_NAMES["ticketing"],
    "base_url": "Base URL",
    "api_key": "API key",
    "web_app_url": "Web App URL",
    "customer_url_template": "Customer page template",
    "api_base_url": "API base URL",
    "agent_email": "Agent e-mail",
    "enabled": "Enable",
    "field_mapping": "Contact Field Mapping",
    "identification": "Rules to identify the Optimove Contact",
    "optimove_field": "Optimove field",
    "comm100_field": "Comm100 field",
    "show_in_console": "Show on Agent Console",
    "update": "Update strategy",
    "no_match": "When no Contact matches",
    **{key: label for events in EVENTS.values() for key, label in events},
}

RowList = Literal["field_mapping", "identification"]
Verb = Literal["add", "remove", "up", "down"]


@dataclass
class MappingRow:
    optimove_field: str = ""
    comm100_field: str = ""  # "source:name"
    show_in_console: bool = True

    @property
    def blank(self) -> bool:
        return not self.optimove_field and not self.comm100_field


@dataclass
class ChannelForm:
    enabled: bool = False
    field_mapping: list[MappingRow] = field(default_factory=list)
    identification: list[str] = field(default_factory=list)  # "source:name" each
    # event key → {"update": …, "no_match": …}
    policies: dict[str, dict[str, str]] = field(default_factory=dict)

    def compacted(self) -> ChannelForm:
        return ChannelForm(
            enabled=self.enabled,
            field_mapping=[row for row in self.field_mapping if not row.blank],
            identification=[ref for ref in self.identification if ref],
            policies={key: dict(value) for key, value in self.policies.items()},
        )

    def with_spares(self) -> ChannelForm:
        """At least a few blank rows at the end of each list (no-JS browsers fill them in)."""
        mapping = list(self.field_mapping)
        trailing = len(mapping) - len(_rstrip(mapping, lambda row: row.blank))
        mapping += [MappingRow() for _ in range(SPARE_MAPPING_ROWS - trailing)]
        identification = list(self.identification)
        trailing = len(identification) - len(_rstrip(identification, lambda ref: not ref))
        identification += ["" for _ in range(SPARE_IDENTIFICATION_ROWS - trailing)]
        return ChannelForm(self.enabled, mapping, identification, self.policies)


@dataclass
class SettingsForm:
    web_app_url: str = ""
    customer_url_template: str = DEFAULT_CUSTOMER_URL_TEMPLATE
    channels: dict[Channel, ChannelForm] = field(default_factory=dict)

    def channel(self, name: Channel) -> ChannelForm:
        return self.channels[name]

    def compacted(self) -> SettingsForm:
        return SettingsForm(
            self.web_app_url,
            self.customer_url_template,
            {name: form.compacted() for name, form in self.channels.items()},
        )

    def with_spares(self) -> SettingsForm:
        return SettingsForm(
            self.web_app_url,
            self.customer_url_template,
            {name: form.with_spares() for name, form in self.channels.items()},
        )

    def used_refs(self, channel: Channel) -> list[str]:
        form = self.channels[channel]
        used = [row.comm100_field for row in form.field_mapping] + form.identification
        return [ref for ref in used if ref]

    def used_optimove_fields(self) -> list[str]:
        return [
            row.optimove_field
            for form in self.channels.values()
            for row in form.field_mapping
            if row.optimove_field
        ]


# --- from the document, from the posted form, back to the document --------------------------


def encode_ref(ref: object) -> str:
    if not isinstance(ref, Mapping):
        return ""
    return f"{ref.get('source', '')}:{ref.get('name', '')}"


def decode_ref(value: str) -> dict[str, str]:
    source, _, name = value.partition(":")
    return {"source": source, "name": name}


def form_from_document(document: Mapping[str, Any]) -> SettingsForm:
    optimove = document.get("optimove") or {}
    channels: dict[Channel, ChannelForm] = {}
    for channel in CHANNELS:
        section = document.get(channel) or {}
        channels[channel] = ChannelForm(
            enabled=bool(section.get("enabled")),
            field_mapping=[
                MappingRow(
                    optimove_field=str(item.get("optimove_field") or ""),
                    comm100_field=encode_ref(item.get("comm100_field")),
                    show_in_console=bool(item.get("show_in_console", True)),
                )
                for item in section.get("field_mapping") or ()
            ],
            identification=[encode_ref(ref) for ref in section.get("identification") or ()],
            policies={
                key: {
                    "update": str((section.get(key) or {}).get("update", "none")),
                    "no_match": str((section.get(key) or {}).get("no_match", "agent_create")),
                }
                for key, _label in EVENTS[channel]
            },
        )
    return SettingsForm(
        web_app_url=str(optimove.get("web_app_url") or ""),
        customer_url_template=str(
            optimove.get("customer_url_template") or DEFAULT_CUSTOMER_URL_TEMPLATE
        ),
        channels=channels,
    )


_ROW_FIELD = re.compile(
    r"^(livechat|ticketing)\.(field_mapping|identification)\.(\d{1,4})(?:\.(\w+))?$"
)


def is_settings_field(name: str) -> bool:
    """Whether `name` is a field of the settings form (none of which is a secret)."""
    return name in ("optimove.web_app_url", "optimove.customer_url_template") or any(
        name.startswith(f"{channel}.") for channel in CHANNELS
    )


def form_from_post(posted: Mapping[str, str]) -> SettingsForm:
    """The form as posted, rows in the order of their numbers, blank rows kept."""
    channels: dict[Channel, ChannelForm] = {}
    rows: dict[tuple[str, str], dict[int, dict[str, str]]] = {}
    for name, value in posted.items():
        match = _ROW_FIELD.match(name)
        if match:
            channel, list_name, index, part = match.groups()
            rows.setdefault((channel, list_name), {}).setdefault(int(index), {})[part or ""] = (
                value.strip()
            )
    for channel in CHANNELS:
        mapping_rows = rows.get((channel, "field_mapping"), {})
        identification_rows = rows.get((channel, "identification"), {})
        channels[channel] = ChannelForm(
            enabled=f"{channel}.enabled" in posted,
            field_mapping=[
                MappingRow(
                    optimove_field=parts.get("optimove_field", ""),
                    comm100_field=parts.get("comm100_field", ""),
                    show_in_console="show_in_console" in parts,
                )
                for _index, parts in sorted(mapping_rows.items())
            ],
            identification=[
                parts.get("", "") for _index, parts in sorted(identification_rows.items())
            ],
            policies={
                key: {
                    part: posted[f"{channel}.{key}.{part}"]
                    for part in ("update", "no_match")
                    if f"{channel}.{key}.{part}" in posted
                }
                for key, _label in EVENTS[channel]
            },
        )
    return SettingsForm(
        web_app_url=posted.get("optimove.web_app_url", "").strip(),
        customer_url_template=posted.get("optimove.customer_url_template", "").strip(),
        channels=channels,
    )


def document_with_form(stored: Mapping[str, Any], form: SettingsForm) -> dict[str, Any]:
    """The whole document to save: the stored connections (API keys masked, which keeps them)
    with this form's settings. Blank rows are left out."""
    document = {key: dict(value) for key, value in stored.items() if isinstance(value, Mapping)}
    optimove = dict(document.get("optimove", {}))
    optimove["web_app_url"] = form.web_app_url or None
    optimove["customer_url_template"] = form.customer_url_template
    document["optimove"] = optimove
    for channel in CHANNELS:
        compact = form.channels[channel].compacted()
        section: dict[str, Any] = {
            "enabled": compact.enabled,
            "field_mapping": [_mapping_document(row) for row in compact.field_mapping],
            "identification": [decode_ref(ref) for ref in compact.identification],
        }
        section.update({key: dict(policy) for key, policy in compact.policies.items()})
        document[channel] = section
    return document


def _mapping_document(row: MappingRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "optimove_field": row.optimove_field,
        "show_in_console": row.show_in_console,
    }
    if row.comm100_field:  # an empty choice is reported as "is required" at the field
        item["comm100_field"] = decode_ref(row.comm100_field)
    return item


# --- the rows' buttons without JavaScript -------------------------------------------------------

_OP = re.compile(
    r"^(add|remove|up|down):(livechat|ticketing)\.(field_mapping|identification)(?:\.(\d{1,4}))?$"
)


def apply_op(form: SettingsForm, op: str) -> str | None:
    """Apply a row button's `op` (`remove:livechat.field_mapping.2`); the anchor of the list
    it changed, or None when `op` is not a row operation."""
    match = _OP.match(op)
    if not match:
        return None
    verb, channel_name, list_name, index_text = match.groups()
    channel: Channel = "livechat" if channel_name == "livechat" else "ticketing"
    target = form.channels[channel]
    items: list[Any] = (
        target.field_mapping if list_name == "field_mapping" else target.identification
    )
    index = int(index_text) if index_text is not None else None
    if verb == "add":
        items.append(MappingRow() if list_name == "field_mapping" else "")
    elif index is not None and 0 <= index < len(items):
        if verb == "remove":
            del items[index]
        elif verb == "up" and index > 0:
            items[index - 1], items[index] = items[index], items[index - 1]
        elif verb == "down" and index < len(items) - 1:
            items[index + 1], items[index] = items[index], items[index + 1]
    return f"{channel}-{list_name}"


# --- problems beside their fields ---------------------------------------------------------------


def element_id(pointer: str) -> str:
    return "f" + pointer.replace("/", "-")


def pointer_label(pointer: str) -> str:
    """`/livechat/field_mapping/2/optimove_field` → "Live Chat, Contact Field Mapping, row 3,
    Optimove field"."""
    words: list[str] = []
    for part in pointer.strip("/").split("/"):
        if not part or part in ("source", "name"):
            continue
        words.append(f"row {int(part) + 1}" if part.isdigit() else _POINTER_WORDS.get(part, part))
    return ", ".join(words) or "Settings"


@dataclass(frozen=True)
class ShownProblem:
    label: str
    message: str
    anchor: str


class ErrorIndex:
    """The problems of one answer, looked up by the pointer of the element showing them."""

    def __init__(self, problems: Iterable[Problem] = (), known: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        self._known = set(known)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def at(self, pointer: str) -> list[str]:
        """Messages about the value at `pointer` or anything inside it."""
        return [
            friendly(p.message)
            for p in self.problems
            if p.pointer == pointer or p.pointer.startswith(pointer + "/")
        ]

    def exactly(self, pointer: str) -> list[str]:
        return [friendly(p.message) for p in self.problems if p.pointer == pointer]

    def summary(self) -> list[ShownProblem]:
        return [
            ShownProblem(pointer_label(p.pointer), friendly(p.message), self._anchor(p.pointer))
            for p in self.problems
        ]

    def _anchor(self, pointer: str) -> str:
        parts = pointer.split("/")
        while len(parts) > 1:
            candidate = "/".join(parts)
            if candidate in self._known:
                return element_id(candidate)
            parts.pop()
        return "settings"


def known_pointers(form: SettingsForm) -> set[str]:
    """The pointer of every element the settings page shows a value or a list in."""
    known = {
        "/optimove/base_url",
        "/optimove/api_key",
        "/optimove/web_app_url",
        "/optimove/customer_url_template",
        "/comm100/api_base_url",
        "/comm100/agent_email",
        "/comm100/api_key",
    }
    for channel, section in form.channels.items():
        known |= {f"/{channel}/enabled", f"/{channel}/field_mapping", f"/{channel}/identification"}
        for i in range(len(section.field_mapping)):
            for part in ("optimove_field", "comm100_field", "show_in_console"):
                known.add(f"/{channel}/field_mapping/{i}/{part}")
        known |= {f"/{channel}/identification/{i}" for i in range(len(section.identification))}
        for key, _label in EVENTS[channel]:
            known |= {f"/{channel}/{key}/update", f"/{channel}/{key}/no_match"}
    return known


_FRIENDLY = {
    "is required": "Choose a value.",
    "must not be empty": "Choose a value.",
}


def friendly(message: str) -> str:
    """A service message as a sentence: capitalised, ending with a full stop."""
    if message in _FRIENDLY:
        return _FRIENDLY[message]
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _rstrip(items: Sequence[Any], blank: Any) -> list[Any]:
    kept = list(items)
    while kept and blank(kept[-1]):
        kept.pop()
    return kept
