"""The bot's pool keeps the connections a burst needed, instead of closing and reopening them.

SQLAlchemy's default pool keeps 5 connections and closes the 10 more it opens for a burst as
they come back, so a shop with a few dozen buyers at once connects again and again, and each
new connection prepares every statement anew. The bot's engine keeps DATABASE_POOL_SIZE
connections (15) open with no overflow: the same at most 15 at once, never reopened. The
negative control is SQLAlchemy's default on the same server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.engine import create_engine

BURST = 12


async def _connects_over_two_bursts(engine: AsyncEngine) -> int:
    """Connections opened by two bursts of BURST concurrent transactions, one after another."""
    connects: list[object] = []
    event.listen(engine.sync_engine.pool, "connect", lambda *_: connects.append(1))
    hold = asyncio.Event()

    async def one() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await hold.wait()

    for _ in range(2):
        hold.clear()
        tasks = [asyncio.create_task(one()) for _ in range(BURST)]
        async with asyncio.timeout(30):  # a deadline, not a timing: every task holds one
            while engine.sync_engine.pool.checkedout() < BURST:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        hold.set()
        await asyncio.gather(*tasks)
    return len(connects)


@pytest.mark.postgres
async def test_a_second_burst_reuses_the_connections_of_the_first(pg_url: URL) -> None:
    settings = DatabaseSettings(database_url=pg_url)
    assert settings.pool_options == {"pool_size": 15, "max_overflow": 0}
    engine = create_engine(pg_url, **settings.pool_options)
    default = create_engine(pg_url)  # SQLAlchemy's 5 + 10
    try:
        assert await _connects_over_two_bursts(engine) == BURST
        assert await _connects_over_two_bursts(default) == 2 * BURST - 5  # the control
    finally:
        await engine.dispose()
        await default.dispose()


def test_the_pool_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "30")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "5")
    options: dict[str, Any] = DatabaseSettings().pool_options
    assert options == {"pool_size": 30, "max_overflow": 5}
