"""Browser tests: Playwright drives Debian's chromium (installed by .ci/run, never downloaded)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_VARIABLE = "OPTIBRIDGE_CHROMIUM"
# The real binary first: Debian's /usr/bin/chromium is a wrapper script that prints a harmless
# shell error; other distributions name it otherwise.
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
    "chromium",
    "chromium-browser",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def find_chromium() -> str:
    """The chromium to drive: OPTIBRIDGE_CHROMIUM, else the first of the usual places."""
    chosen = os.environ.get(CHROMIUM_VARIABLE)
    for candidate in [chosen] if chosen else CHROMIUM_CANDIDATES:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return found
    where = chosen or ", ".join(CHROMIUM_CANDIDATES)
    raise RuntimeError(
        f"no chromium at {where}: install Debian's chromium (.ci/run does) or set "
        f"{CHROMIUM_VARIABLE}; browsers are never downloaded"
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": find_chromium(),
        "args": CHROMIUM_ARGS,
        "headless": True,
    }
