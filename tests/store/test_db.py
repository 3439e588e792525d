"""Engines: SQLite syncs every commit to disk unless told otherwise (SPEC 4.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optibridge.config import Config
from optibridge.runtime import Runtime


@pytest.mark.parametrize(("setting", "pragma"), [(None, 2), ("FULL", 2), ("NORMAL", 1)])
def test_sqlite_syncs_every_commit_to_disk_unless_told_otherwise(
    tmp_path: Path, setting: str | None, pragma: int
) -> None:
    extra = {} if setting is None else {"sqlite_synchronous": setting}
    runtime = Runtime.start(Config(data_dir=tmp_path, **extra))  # type: ignore[arg-type]
    try:
        with runtime.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
    finally:
        runtime.close()


def test_only_full_or_normal_is_accepted() -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Config(sqlite_synchronous="OFF")
