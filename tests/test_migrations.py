"""The migrations themselves: pytest-alembic's built-in checks and a stairway, on both backends.

pytest-alembic puts the engine it is given into ``config.attributes["connection"]`` and drives
it with one ``asyncio.run`` per step, so these tests are synchronous (no event loop may be
running). The engine is what its documentation and its users pass: an ordinary pooled
``create_async_engine(url)``, whose pooled connections must not leak from one loop to the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from alembic.config import Config
from pytest_alembic import MigrationContext
from pytest_alembic.tests import (  # the built-in checks, run against our env.py
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.db.migrate import alembic_config as make_alembic_config
from tests.harness import make_settings
from tests.schema import all_revisions

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config(db_url: URL) -> Config:
    return make_alembic_config(make_settings(db_url))


@pytest.fixture
def alembic_engine(db_url: URL) -> Iterator[AsyncEngine]:
    engine = create_async_engine(db_url)  # pooled, no options: as pytest-alembic's docs have it
    assert not isinstance(engine.sync_engine.pool, NullPool)
    yield engine
    asyncio.run(engine.dispose())


def test_stairway(alembic_runner: MigrationContext) -> None:
    """Every revision goes up, down and up again: each downgrade() really runs."""
    for revision in reversed(all_revisions()):
        alembic_runner.migrate_up_to(revision)
        alembic_runner.migrate_down_one()
        alembic_runner.migrate_up_one()
    assert alembic_runner.current == all_revisions()[0]
