"""Browser tests: Playwright drives Debian's chromium (installed by .ci/run, never downloaded)."""

from __future__ import annotations

from typing import Any

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary; /usr/bin/chromium is a wrapper script
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }
