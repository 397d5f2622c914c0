"""The migrations themselves: pytest-alembic's built-in checks and a stairway, on both backends.

pytest-alembic puts our AsyncEngine into ``config.attributes["connection"]`` and drives it with
``asyncio.run``, so these tests are synchronous (no event loop may be running).
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
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from app.db.engine import create_engine
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
    # pytest-alembic runs each step in its own asyncio.run: pooled connections would outlive
    # their event loop, so every connection is opened and closed on the loop that uses it.
    engine = create_engine(db_url, poolclass=NullPool)
    yield engine
    asyncio.run(engine.dispose())


def test_stairway(alembic_runner: MigrationContext) -> None:
    """Every revision goes up, down and up again: each downgrade() really runs."""
    for revision in reversed(all_revisions()):
        alembic_runner.migrate_up_to(revision)
        alembic_runner.migrate_down_one()
        alembic_runner.migrate_up_one()
    assert alembic_runner.current == all_revisions()[0]
