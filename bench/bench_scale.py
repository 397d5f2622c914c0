"""A buyer's update costs the same in a big shop: a small and a big shop, side by side.

Two PostgreSQL databases, each served in its turn by a real ``python -m app`` process that
long-polls the fake Bot API (as bench/bench_shop.py does):

  small  the product on sale has 1,000 keys;
  big    the same, but the product has 1,000,000 keys and the shop 100,000 users.

Both products keep the default low-stock threshold (3), so every sale checks it. Each round,
100 concurrent buyers run the whole purchase (/start → Catalog → the product → Buy →
pre-checkout → payment and delivery: six updates each) in the small shop, then 100 others in
the big one; rounds alternate and medians are reported, with the ratio big/small.
The big shop is seeded by COPY (tests/big_shop.py), then settled (VACUUM ANALYZE, CHECKPOINT),
as a shop that has run for a while is; both shops are.

Then the stock import rate: 100,000 keys through the import the /stock command and
``python -m app stock import`` use (parsed by app.services.stock, written in committed
batches by app.stock_import), on PostgreSQL and on SQLite, median of three imports each.

    .venv/bin/python bench/bench_scale.py [--rounds 5] [--buyers 100] [--big-keys 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_shop
from common import (
    BOT_TOKEN,
    FakeBotAPI,
    bot_env,
    create_pg_database,
    drop_pg_database,
    machine_note,
    start_bot,
)
from sqlalchemy import update
from sqlalchemy.engine import URL

from app.config import normalize_database_url
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.models import Product
from app.logs import configure_logging
from app.services.stock import read_upload
from app.stock_import import import_items
from tests.big_shop import BigShop
from tests.harness import make_settings, migrated
from tests.shop_helpers import seed_product

JSON = dict[str, Any]
SMALL_KEYS = 1_000
FIRST_SEEDED_USER = 10_000_000  # seeded users never collide with the buyers' ids
IMPORT_KEYS = 100_000


async def _prepare(url: URL, keys: int, users: int) -> tuple[int, int]:
    """Migrate, then the product on sale (``keys`` keys) and a warm-up product; ANALYZE."""
    engine = create_engine(url)
    await migrate(engine, make_settings(url))
    factory = create_session_factory(engine)
    product = await seed_product(factory, "Bench key", bench_shop.PRICE, slug="bench")
    warm = await seed_product(factory, "Warm-up", bench_shop.PRICE, slug="warm")
    async with factory() as session:  # the default threshold, as a seller's products have
        await session.execute(update(Product).values(low_stock_threshold=3))
        await session.commit()
    await engine.dispose()
    shop = BigShop(url)
    await shop.add_keys(product, keys, "KEY")
    await shop.add_keys(warm, 10_000, "KEY-warm")
    if users:
        await shop.add_users(FIRST_SEEDED_USER, users)
    await shop.settle()
    return product, warm


async def shop_round(url: URL, cwd: Path, ids: tuple[int, int], round_no: int, buyers: int) -> JSON:
    product, warm = ids
    async with FakeBotAPI(BOT_TOKEN) as api:
        answers = bench_shop.Answers(api)
        bot = await start_bot(bot_env(url, api.url, LOG_LEVEL="WARNING"), cwd=cwd)
        try:
            await api.wait_for("getUpdates", timeout=120)
            warm_users = [100_000 * round_no + 90_000 + n for n in range(bench_shop.WARM_UP)]
            await asyncio.gather(*(bench_shop.buyer(api, answers, u, warm) for u in warm_users))
            answers.latencies.clear()
            users = [100_000 * round_no + n for n in range(buyers)]
            started = time.perf_counter()
            bought = await asyncio.gather(
                *(bench_shop.buyer(api, answers, u, product) for u in users)
            )
            elapsed = time.perf_counter() - started
        finally:
            await bot.stop()
    assert all(bought), "every buyer of a shop with stock gets a key"
    return bench_shop.summary(answers.latencies, elapsed)


async def import_rate(url: URL, keys: int) -> float:
    """Keys per second of one import of ``keys`` new keys, as the bot and the CLI import."""
    engine = create_engine(url)
    factory = create_session_factory(engine)
    stamp = time.monotonic_ns()
    product = await seed_product(factory, f"Import {stamp}", 5, slug=f"import-{stamp}")
    text = "\n".join(f"IMPORT-{stamp}-{n:07d}" for n in range(keys))
    async with factory() as session:
        started = time.perf_counter()
        result = await import_items(session, product, read_upload(text))
        elapsed = time.perf_counter() - started
    await engine.dispose()
    assert result.added == keys, result
    return keys / elapsed


def _median(runs: list[JSON], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


async def scale(args: argparse.Namespace) -> None:
    small_url, big_url = await create_pg_database(), await create_pg_database()
    runs: dict[str, list[JSON]] = {"small": [], "big": []}
    try:
        seeding = time.perf_counter()
        small = await _prepare(small_url, SMALL_KEYS, 0)
        big = await _prepare(big_url, args.big_keys, args.users)
        seeded = time.perf_counter() - seeding
        with tempfile.TemporaryDirectory() as scratch:
            for round_no in range(1, args.rounds + 1):
                for name, url, ids in (("small", small_url, small), ("big", big_url, big)):
                    result = await shop_round(url, Path(scratch), ids, round_no, args.buyers)
                    runs[name].append(result)
    finally:
        await drop_pg_database(small_url)
        await drop_pg_database(big_url)
    small_ups, big_ups = (
        _median(runs["small"], "updates_per_s"),
        _median(runs["big"], "updates_per_s"),
    )
    print(
        f"shop size: {args.buyers} concurrent buyers ({bench_shop.STEPS} updates each), real "
        f"polling, PostgreSQL, {args.rounds} rounds ({machine_note()})"
    )
    print(f"  seeding the big shop ({args.big_keys:,} keys, {args.users:,} users): {seeded:.1f} s")
    for name, keys, users in (("small", SMALL_KEYS, 0), ("big", args.big_keys, args.users)):
        print(
            f"  {name:5} {keys:>9,} keys {users:>7,} users   updates/s median "
            f"{_median(runs[name], 'updates_per_s'):7.1f}   p50 "
            f"{_median(runs[name], 'p50_ms'):6.1f} ms   p95 {_median(runs[name], 'p95_ms'):6.1f} ms"
        )
        rounds = ", ".join(f"{run['updates_per_s']:.0f}" for run in runs[name])
        print(f"        rounds: {rounds}")
    print(f"  big/small updates/s = {big_ups / small_ups:.3f}   (target >= 0.9)")


async def imports(args: argparse.Namespace) -> None:
    pg_url = await create_pg_database()
    rates: dict[str, list[float]] = {"PostgreSQL": [], "SQLite": []}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            sqlite_url = normalize_database_url(f"sqlite:///{Path(scratch) / 'market.db'}")
            for url in (pg_url, sqlite_url):
                await migrated(url)
            for _ in range(3):
                rates["PostgreSQL"].append(await import_rate(pg_url, args.import_keys))
                rates["SQLite"].append(await import_rate(sqlite_url, args.import_keys))
    finally:
        await drop_pg_database(pg_url)
    print(f"stock import: {args.import_keys:,} keys through app.stock_import (short transactions)")
    for name, values in rates.items():
        print(f"  {name:10} keys/s median {statistics.median(values):9.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--buyers", type=int, default=100)
    parser.add_argument("--big-keys", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--import-keys", type=int, default=IMPORT_KEYS)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    configure_logging("WARNING", json=True)  # the benchmark's report, not the migrations' lines
    if not args.skip_scale:
        await scale(args)
    if not args.skip_import:
        await imports(args)


if __name__ == "__main__":
    asyncio.run(main())
