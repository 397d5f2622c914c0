"""Seconds from process start to the first getUpdates, with the schema at head.

  (A) python -m app                                   (checks the schema, migrates if needed)
  (B) a bare aiogram polling bot, no database          (the framework's floor)
  (B') the same bare bot, holding the garbage collector during start-up as (A) does
  (C) alembic upgrade head && python -m app --no-migrate   (the usual release-step way)

Runs A, B, B', C alternately, ROUNDS times, on PostgreSQL, and prints medians and ratios. Also:
the time to migrate a fresh database in-process, and the wall time until 8 processes started
at the same moment on a fresh database are all polling.

    .venv/bin/python bench/bench_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import sys
import tempfile
import time
from pathlib import Path

from common import (
    BOT_TOKEN,
    REPO_ROOT,
    FakeBotAPI,
    bot_env,
    create_pg_database,
    drop_pg_database,
    machine_note,
    median,
    start_bot,
)
from sqlalchemy.engine import URL

from app.db.engine import create_engine
from app.db.migrate import migrate
from tests.harness import make_settings

ALEMBIC = str(Path(sys.executable).with_name("alembic"))


async def _until_first_poll(api: FakeBotAPI, started: float) -> float:
    await api.wait_for("getUpdates", timeout=120)
    first = next(call for call in api.calls if call.method == "getUpdates")
    return first.at - started


async def start_app(url: URL, cwd: Path, *args: str) -> float:
    async with FakeBotAPI(BOT_TOKEN) as api:
        started = time.monotonic()
        bot = await start_bot(bot_env(url, api.url), *args, cwd=cwd)
        try:
            return await _until_first_poll(api, started)
        finally:
            await bot.stop()


async def start_bare(cwd: Path, *args: str) -> float:
    async with FakeBotAPI(BOT_TOKEN) as api:
        env = bot_env(None, api.url)
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO_ROOT / "bench" / "bare_bot.py"),
            *args,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            return await _until_first_poll(api, started)
        finally:
            process.terminate()
            await process.wait()


async def release_then_replica(url: URL, cwd: Path) -> float:
    async with FakeBotAPI(BOT_TOKEN) as api:
        env = bot_env(url, api.url)
        started = time.monotonic()
        alembic = await asyncio.create_subprocess_exec(
            ALEMBIC,
            "upgrade",
            "head",
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await alembic.wait() != 0:
            raise RuntimeError("alembic upgrade head failed")
        bot = await start_bot(env, "--no-migrate", cwd=cwd)
        try:
            return await _until_first_poll(api, started)
        finally:
            await bot.stop()


async def migrate_fresh() -> float:
    url = await create_pg_database()
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        await migrate(engine, make_settings(url))
        return time.perf_counter() - started
    finally:
        await engine.dispose()
        await drop_pg_database(url)


async def eight_at_once(cwd: Path) -> float:
    url = await create_pg_database()
    apis = [FakeBotAPI(BOT_TOKEN) for _ in range(8)]
    for api in apis:
        await api.start()
    try:
        started = time.monotonic()
        bots = await asyncio.gather(*(start_bot(bot_env(url, a.url), cwd=cwd) for a in apis))
        try:
            return max(await asyncio.gather(*(_until_first_poll(a, started) for a in apis)))
        finally:
            for bot in bots:
                await bot.stop()
    finally:
        for api in apis:
            await api.stop()
        await drop_pg_database(url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    os.environ.pop("DATABASE_URL", None)
    # A deployed bot runs from bytecode (pip compiles an installed package; Python caches it on
    # the first start). Compile it here too, in case PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(REPO_ROOT / "app", quiet=1)
    url = await create_pg_database()
    a, b, b_held, c, fresh, eight = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        try:
            await start_app(url, cwd)  # migrate once: A is measured on a warm start
            for _ in range(rounds):
                a.append(await start_app(url, cwd))
                b.append(await start_bare(cwd))
                b_held.append(await start_bare(cwd, "--hold-gc"))
                c.append(await release_then_replica(url, cwd))
                fresh.append(await migrate_fresh())
            for _ in range(3):
                eight.append(await eight_at_once(cwd))
        finally:
            await drop_pg_database(url)
    print(f"startup to first getUpdates, PostgreSQL, {rounds} rounds ({machine_note()})")
    print(f"  (A) python -m app (schema at head)            median {median(a):6.3f} s")
    print(f"  (B) bare aiogram polling bot, no database      median {median(b):6.3f} s")
    print(f"  (B') the same, holding the GC as python -m app  median {median(b_held):6.3f} s")
    print(f"  (C) alembic upgrade head && --no-migrate        median {median(c):6.3f} s")
    print(f"  A/B = {median(a) / median(b):.3f}   (target <= 1.10)")
    print(f"  A/B' = {median(a) / median(b_held):.3f}   (like for like: what the app itself adds)")
    print(f"  C/A = {median(c) / median(a):.3f}")
    print(f"  migrate a fresh database in-process            median {median(fresh):6.3f} s")
    print(f"  8 simultaneous starters, fresh database, all polling: median {median(eight):.3f} s")


if __name__ == "__main__":
    asyncio.run(main())
