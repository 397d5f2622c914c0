"""Schema facts for tests: the script head and what a database says about itself."""

from __future__ import annotations

from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.config import DatabaseSettings
from app.db.engine import create_engine
from app.db.migrate import alembic_config, database_heads, script_head


@cache
def head() -> str:
    return script_head(ScriptDirectory.from_config(alembic_config(DatabaseSettings())))


@cache
def all_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(DatabaseSettings()))
    return [rev.revision for rev in script.walk_revisions()]


async def heads_of(url: URL) -> tuple[str, ...]:
    engine = create_engine(url)
    try:
        return await database_heads(engine)
    finally:
        await engine.dispose()


async def scalar(url: URL, sql: str) -> object:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


async def execute(url: URL, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def table_exists(url: URL, table: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return bool(await connection.run_sync(lambda c: c.dialect.has_table(c, table)))
    finally:
        await engine.dispose()
