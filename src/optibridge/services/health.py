"""Whether this process can do its work: the database answers and its schema is current."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from optibridge.runtime import Runtime
from optibridge.store.migrate import is_current

Readiness = Literal["ready", "migrations pending", "database unreachable"]


def readiness(runtime: Runtime) -> Readiness:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if not is_current(runtime.engine):
            return "migrations pending"
    except SQLAlchemyError:
        return "database unreachable"
    return "ready"
