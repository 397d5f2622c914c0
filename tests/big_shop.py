"""A big shop, seeded fast: a million keys in seconds, for the plan tests and the benchmarks.

PostgreSQL gets ``COPY`` (asyncpg's ``copy_records_to_table``); SQLite gets ``executemany`` in
batches inside one transaction. Rows are written as the bot would have written them (the same
columns, statuses and fingerprints), without going through the ORM, which would take minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from app.db.base import utcnow

BATCH = 50_000
STOCK_COLUMNS = ("product_id", "kind", "content", "fingerprint", "status", "created_at")
RESERVED_COLUMNS = (*STOCK_COLUMNS, "reserved_until")
USER_COLUMNS = ("id", "first_name", "language_code", "is_blocked", "last_seen_at", "created_at")


def _batches(rows: Iterable[tuple[Any, ...]], size: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def keys(prefix: str, count: int) -> Iterator[str]:
    return (f"{prefix}-{n:08d}" for n in range(count))


def stock_rows(
    product_id: int, contents: Iterable[str], now: datetime, status: str = "available"
) -> Iterator[tuple[Any, ...]]:
    for content in contents:
        digest = hashlib.sha256(content.encode()).hexdigest()
        yield (product_id, "text", content, digest, status, now)


def user_rows(first_id: int, count: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    for user_id in range(first_id, first_id + count):
        yield (user_id, f"Buyer {user_id}", "en", False, now, now)


class BigShop:
    """Bulk writes to one database (PostgreSQL or SQLite), in the bot's own row shapes."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.postgres = url.get_backend_name() == "postgresql"

    # --- the two backends ---------------------------------------------------------------------

    async def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Any]) -> int:
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        written = 0
        try:
            for batch in _batches(rows):
                await connection.copy_records_to_table(table, records=batch, columns=columns)
                written += len(batch)
        finally:
            await connection.close()
        return written

    def _insert_sqlite(self, table: str, columns: Sequence[str], rows: Iterable[Any]) -> int:
        connection = sqlite3.connect(str(self.url.database))
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        written = 0
        try:
            with connection:
                for batch in _batches(rows):
                    connection.executemany(sql, [self._sqlite_row(row) for row in batch])
                    written += len(batch)
        finally:
            connection.close()
        return written

    @staticmethod
    def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
        # SQLAlchemy stores SQLite datetimes as naive UTC text; write them the same way.
        return tuple(
            value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value
            for value in row
        )

    async def insert(self, table: str, columns: Sequence[str], rows: Iterable[Any]) -> int:
        if self.postgres:
            return await self._copy(table, columns, rows)
        return await asyncio.to_thread(self._insert_sqlite, table, columns, rows)

    async def execute(self, sql: str) -> None:
        """One statement of plain SQL that both backends understand (no parameters)."""
        if self.postgres:
            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            connection = await asyncpg.connect(dsn)
            try:
                await connection.execute(sql)
            finally:
                await connection.close()
            return

        def run() -> None:
            connection = sqlite3.connect(str(self.url.database))
            try:
                with connection:
                    connection.execute(sql)
            finally:
                connection.close()

        await asyncio.to_thread(run)

    # --- what a big shop has ------------------------------------------------------------------

    async def add_keys(self, product_id: int, count: int, prefix: str) -> int:
        return await self.insert(
            "stock_items", STOCK_COLUMNS, stock_rows(product_id, keys(prefix, count), utcnow())
        )

    async def add_users(self, first_id: int, count: int) -> int:
        return await self.insert("users", USER_COLUMNS, user_rows(first_id, count, utcnow()))

    async def add_abandoned(
        self, product_id: int, first_user: int, count: int, prefix: str, price: int
    ) -> None:
        """``count`` items reserved by invoices nobody paid: their reservations ran out.

        Each buyer (``first_user`` onwards, who must exist) holds one pending order.
        """
        now = utcnow()
        past = now - timedelta(hours=1)
        rows = (
            (*row, past)
            for row in stock_rows(product_id, keys(prefix, count), now, status="reserved")
        )
        await self.insert("stock_items", RESERVED_COLUMNS, rows)
        await self.execute(
            "INSERT INTO orders (user_id, product_id, stock_item_id, payload, amount, currency,"
            " status, expires_at, created_at)"
            f" SELECT {first_user} + ROW_NUMBER() OVER (ORDER BY id) - 1, product_id, id,"
            f" 'abandoned-' || id, {price}, 'XTR', 'pending', reserved_until, created_at"
            f" FROM stock_items WHERE product_id = {product_id} AND status = 'reserved'"
        )

    async def add_sales(self, product_id: int, count: int, first_user: int, users: int) -> None:
        """Sell the first ``count`` available keys of the product, spread over ``users`` buyers."""
        stamp = "CURRENT_TIMESTAMP"
        await self.execute(
            "INSERT INTO orders (user_id, product_id, stock_item_id, payload, amount, currency,"
            " status, expires_at, telegram_payment_charge_id, paid_at, delivered_at, created_at)"
            f" SELECT {first_user} + (id % {users}), product_id, id, 'sold-' || id, 1, 'XTR',"
            f" 'delivered', {stamp}, 'sold-charge-' || id, {stamp}, {stamp}, {stamp}"
            f" FROM stock_items WHERE product_id = {product_id} AND status = 'available'"
            f" ORDER BY id LIMIT {count}"
        )
        await self.execute(
            f"UPDATE stock_items SET status = 'sold', sold_at = {stamp}"
            " WHERE id IN (SELECT stock_item_id FROM orders"
            f" WHERE product_id = {product_id} AND status = 'delivered')"
        )

    async def analyze(self) -> None:
        await self.execute("ANALYZE")

    async def settle(self) -> None:
        """What a shop that has run for a while has had done: VACUUM ANALYZE, a checkpoint.

        Otherwise autovacuum and the checkpointer work through the freshly written rows in the
        middle of whatever is measured next.
        """
        if not self.postgres:
            await self.analyze()
            return
        await self.execute("VACUUM ANALYZE")
        await self.execute("CHECKPOINT")
