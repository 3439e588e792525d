"""The example Comm100 app manifest in comm100-app/ is what the service hands out (manifest 2.0,
widgets keyed by type, as Comm100 documents), so the file never drifts from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optibridge.services.comm100_app import app_manifest

APP = Path(__file__).resolve().parents[2] / "comm100-app"


def manifest() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((APP / "manifest.json").read_text())
    return document


def test_the_example_manifest_is_the_one_the_service_builds() -> None:
    assert manifest() == app_manifest("https://optibridge.example.com", 10000, sign_in_ready=True)


def test_the_manifest_keys_its_widgets_by_type() -> None:
    document = manifest()
    assert document["manifestVersion"] == "2.0"
    widgets = document["agentConsole"]["widgets"]
    assert isinstance(widgets, dict)
    assert widgets["chatSideTab"]["url"].endswith("/console/10000/livechat")
    assert widgets["ticketSideTab"]["url"].endswith("/console/10000/ticketing")


def test_the_icon_it_names_is_the_one_served() -> None:
    served = Path(__file__).resolve().parents[2] / "src/optibridge/console/static/icon.svg"
    assert (APP / "icon.svg").read_bytes() == served.read_bytes()
