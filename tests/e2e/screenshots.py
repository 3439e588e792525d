"""Screenshots for the docs, taken on the browser tests' way through each page.

A test run never rewrites tracked files: the pictures are only written when
`OPTIBRIDGE_SCREENSHOTS_DIR` names a directory (`make screenshots` sets it to docs/screenshots/).
Otherwise each screenshot is still taken, so a page that can't be drawn fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Locator, Page

SCREENSHOTS_DIR_VARIABLE = "OPTIBRIDGE_SCREENSHOTS_DIR"


def shoot(target: Page | Locator, filename: str, *, full_page: bool = False) -> None:
    """Screenshot `target` (a whole page, or one element) as `filename`."""
    directory = os.environ.get(SCREENSHOTS_DIR_VARIABLE)
    path = None
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        path = str(Path(directory) / filename)
    if isinstance(target, Page):
        target.screenshot(path=path, full_page=full_page)
    else:
        target.screenshot(path=path)
