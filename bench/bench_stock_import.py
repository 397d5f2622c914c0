"""A 2 MB stock import on SQLite while a buyer writes: how long the buyer's writes wait.

  (A) the import in short transactions (app.stock_import: 500 items each, a pause between)
  (B) the same items in one transaction (how the import worked before)

A buyer thread on its own connection writes (BEGIN IMMEDIATE, one UPDATE, COMMIT) every 20 ms
for the whole import; each write's wait for SQLite's lock is measured. A and B alternate on
fresh databases, ROUNDS times; prints the medians of the import time, of the buyer's median
and of its longest wait, and the ratios.

    .venv/bin/python bench/bench_stock_import.py [--rounds 3] [--items 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from common import machine_note, median
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import normalize_database_url
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.uow import write
from app.services import stock
from app.services.stock import ParsedUpload
from app.stock_import import BATCH_ROWS, import_items
from tests.harness import make_settings
from tests.shop_helpers import seed_product

Importer = Callable[[AsyncSession, int, ParsedUpload], Awaitable[object]]


async def one_transaction(session: AsyncSession, product_id: int, parsed: ParsedUpload) -> None:
    items = stock.unique_items(parsed)
    async with write(session):
        for start in range(0, len(items), BATCH_ROWS):
            await stock.insert_items(session, product_id, items[start : start + BATCH_ROWS])


async def batched(session: AsyncSession, product_id: int, parsed: ParsedUpload) -> None:
    await import_items(session, product_id, parsed)


def buyer(database: str, product_id: int, stop: threading.Event, waits: list[float]) -> None:
    import sqlite3  # noqa: PLC0415

    connection = sqlite3.connect(database, timeout=120, isolation_level=None)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            waits.append(time.perf_counter() - started)
            connection.execute(
                "UPDATE products SET low_stock_threshold = low_stock_threshold WHERE id = ?",
                (product_id,),
            )
            connection.execute("COMMIT")
            stop.wait(0.02)
    finally:
        connection.close()


async def one_run(importer: Importer, items: int) -> tuple[float, float, float]:
    """(import seconds, the buyer's median wait, its longest wait)."""
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "market.db")
        url = normalize_database_url(f"sqlite:///{database}")
        engine = create_engine(url)
        try:
            await migrate(engine, make_settings(url))
            factory = create_session_factory(engine)
            product_id = await seed_product(factory, "Key", 10, slug="key")
            text = "\n".join(f"KEY-{n:08d}-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123" for n in range(items))
            parsed = stock.read_upload(text)
            stop, waits = threading.Event(), []
            thread = threading.Thread(target=buyer, args=(database, product_id, stop, waits))
            thread.start()
            started = time.perf_counter()
            try:
                async with factory() as session:
                    await importer(session, product_id, parsed)
            finally:
                seconds = time.perf_counter() - started
                stop.set()
                await asyncio.to_thread(thread.join)
        finally:
            await engine.dispose()
    return seconds, statistics.median(waits), max(waits)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=50_000)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
    for _ in range(args.rounds):
        results["A"].append(await one_run(batched, args.items))
        results["B"].append(await one_run(one_transaction, args.items))
    print(f"stock import of {args.items} items (about {args.items * 41 / 2**20:.1f} MB) on SQLite")
    print(machine_note())
    rows = {}
    for name, label in (("A", "short transactions"), ("B", "one transaction")):
        runs = results[name]
        rows[name] = [median([run[i] for run in runs]) for i in range(3)]
        seconds, typical, longest = rows[name]
        print(
            f"  ({name}) {label:<19} import {seconds:6.2f} s   buyer's write waits: "
            f"median {typical * 1000:7.1f} ms, longest {longest * 1000:8.1f} ms"
        )
    a, b = rows["A"], rows["B"]
    print(f"  A/B import time {a[0] / b[0]:.2f}x; longest buyer wait B/A {b[2] / a[2]:.0f}x")


if __name__ == "__main__":
    asyncio.run(main())
