"""PostgreSQL's plans for the statements the bot really ran: record them, EXPLAIN them, read them.

:class:`StatementRecorder` listens on an engine and keeps every SQL statement executed (with its
parameters) while it is on. :func:`explain` runs one of them again under ``EXPLAIN (ANALYZE,
FORMAT JSON)`` inside a transaction that it rolls back (a plain INSERT only under ``EXPLAIN``),
twice: as a *custom* plan (planned for
these values) and as a *generic* plan (planned once for any values), which is what PostgreSQL
switches to after a prepared statement's fifth run. asyncpg prepares every statement, so the
bot lives on both.

:func:`rows_read` sums what the plan's scans really read: the rows they returned plus the rows
their filters threw away, over all loops. A plan whose work grows with a table shows it there,
whichever index it uses (a bitmap of a million entries is a million rows read).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

JSON = dict[str, Any]
PLAN_MODES = ("force_custom_plan", "force_generic_plan")


@dataclass(frozen=True)
class Statement:
    step: str
    sql: str
    parameters: tuple[Any, ...]


@dataclass
class StatementRecorder:
    """Keeps the statements ``engine`` executes while a step is set (see :meth:`step`)."""

    engine: AsyncEngine
    statements: list[Statement] = field(default_factory=list)
    current: str | None = None

    def __post_init__(self) -> None:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._seen)

    def close(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        if self.current is None:
            return
        if not sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            return
        params = tuple(parameters) if isinstance(parameters, list | tuple) else ()
        self.statements.append(Statement(self.current, sql, params))

    def step(self, name: str | None) -> None:
        self.current = name


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _rerunnable(statement: Statement) -> bool:
    """A plain INSERT ran into its own unique keys if run again; it reads nothing anyway."""
    sql = statement.sql.lstrip().upper()
    return not sql.startswith("INSERT") or "ON CONFLICT" in sql


async def explain(driver: asyncpg.Connection, statement: Statement, mode: str) -> JSON:
    """The executed plan of ``statement`` as PostgreSQL plans it in ``mode``; changes nothing."""
    args = ", ".join(_literal(value) for value in statement.parameters)
    execute = f"EXECUTE plan_check({args})" if statement.parameters else "EXECUTE plan_check"
    transaction = driver.transaction()
    await transaction.start()
    prepared = False
    try:
        await driver.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await driver.execute(f"PREPARE plan_check AS {statement.sql}")
        prepared = True
        options = "ANALYZE, FORMAT JSON" if _rerunnable(statement) else "FORMAT JSON"
        text = await driver.fetchval(f"EXPLAIN ({options}) {execute}")
    finally:
        await transaction.rollback()  # EXPLAIN ANALYZE really ran it: leave no trace
        if prepared:  # a prepared statement outlives the transaction
            await driver.execute("DEALLOCATE plan_check")
    plan: JSON = json.loads(text)[0]["Plan"]
    return plan


def nodes(plan: JSON) -> Iterator[JSON]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def seq_scanned(plan: JSON) -> set[str]:
    return {n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"}


def rows_read(plan: JSON) -> int:
    """Rows the plan's scans returned or filtered out, summed over every loop."""
    total = 0.0
    for node in nodes(plan):
        if "Scan" not in node["Node Type"]:
            continue
        per_loop = (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
        total += per_loop * node.get("Actual Loops", 1)
    return round(total)


def describe(plan: JSON, depth: int = 0) -> str:
    """The plan as an indented outline, for an assertion's message."""
    node = plan
    name = node["Node Type"]
    if "Relation Name" in node:
        name += f" on {node['Relation Name']}"
    if "Index Name" in node:
        name += f" using {node['Index Name']}"
    line = f"{'  ' * depth}{name} (rows={node.get('Actual Rows')} loops={node.get('Actual Loops')})"
    return "\n".join([line, *(describe(child, depth + 1) for child in plan.get("Plans", []))])
