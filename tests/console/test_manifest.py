"""The Comm100 app manifest in comm100-app/: the two agent console widgets point at the tab."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

APP = Path(__file__).resolve().parents[2] / "comm100-app"


def manifest() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((APP / "manifest.json").read_text())
    return document


def test_the_manifest_is_version_2_with_a_chat_and_a_ticket_widget() -> None:
    document = manifest()
    assert document["manifestVersion"] == "2.0"
    widgets = document["agentConsole"]["widgets"]
    assert [w["type"] for w in widgets] == ["chatSideTab", "ticketTab"]
    assert (APP / document["icon"]).is_file()


@pytest.mark.parametrize(("index", "channel"), [(0, "livechat"), (1, "ticketing")])
def test_each_widget_opens_the_tab_of_its_channel_with_an_agent_token(
    index: int, channel: str
) -> None:
    url = urlsplit(manifest()["agentConsole"]["widgets"][index]["url"])
    assert url.scheme == "https"
    assert re.fullmatch(rf"/console/[0-9]+/{channel}", url.path)
    assert parse_qs(url.query)["token"] == ["REPLACE_WITH_AGENT_TOKEN"]
