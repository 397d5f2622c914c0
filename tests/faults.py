"""Database faults for the money tests: a table that refuses inserts, as an outage would.

A trigger makes every INSERT into the table fail (PostgreSQL and SQLite alike), so the bot's
own engine, pool and retries meet a real database error, and removing the trigger ends it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL

from app.db.engine import create_engine

_PG_REFUSE = (
    "CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION 'inserts refused by the test'; END $$",
    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
    " FOR EACH ROW EXECUTE FUNCTION refuse_insert()",
)
_SQLITE_REFUSE = (
    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
    " BEGIN SELECT RAISE(ABORT, 'inserts refused by the test'); END",
)


async def _run(url: URL, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def refuse_inserts(url: URL, table: str) -> None:
    statements = _PG_REFUSE if url.get_backend_name() == "postgresql" else _SQLITE_REFUSE
    await _run(url, *(s.format(table=table) for s in statements))


async def allow_inserts(url: URL, table: str) -> None:
    on = f" ON {table}" if url.get_backend_name() == "postgresql" else ""
    await _run(url, f"DROP TRIGGER refuse_{table}{on}")
