from sqlalchemy import Engine, inspect

from optibridge.store.db import make_engine
from optibridge.store.migrate import head_revision, is_current, upgrade_to_head


def test_a_new_database_is_migrated_to_head(engine: Engine) -> None:
    assert is_current(engine)
    assert {"sites", "site_settings", "api_tokens", "rate_limit_buckets"} <= set(
        inspect(engine).get_table_names()
    )


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    upgrade_to_head(engine)
    assert is_current(engine)
    assert head_revision() is not None
    engine.dispose()


def test_an_empty_database_is_not_current(database_url: str) -> None:
    engine = make_engine(database_url)
    assert not is_current(engine)
    engine.dispose()
