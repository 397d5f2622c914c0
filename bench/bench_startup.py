"""Seconds from process start to the first getUpdates, with the schema at head.

  (A) python -m app                                   (checks the schema, migrates if needed)
  (B) a bare aiogram polling bot, no database          (the framework's floor)
  (B') the same bare bot, holding the garbage collector during start-up as (A) does
  (C) alembic upgrade head && python -m app --no-migrate   (the usual release-step way)

Runs A, B, B', C alternately, ROUNDS times, on PostgreSQL, and prints medians and ratios, and
the resident memory (RSS) of A and B at their first getUpdates. Also: the time to migrate a fresh
database in-process, and the wall time until 8 processes started at the same moment on a fresh
database are all polling.

``--before DIR`` also starts an earlier release's source tree (e.g. ``git archive <commit> | tar
-x -C DIR``, catalogs compiled) as (A0), alternating with the others, on a database of its own
that it migrated itself, and prints A/A0 for the time and the memory.

    .venv/bin/python bench/bench_startup.py [--rounds 7] [--before DIR]
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
from typing import NamedTuple

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


class Start(NamedTuple):
    seconds: float  # from the process's start to its first getUpdates
    rss_mib: float  # its resident memory at that moment


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) / 1024


async def _until_first_poll(api: FakeBotAPI, started: float) -> float:
    await api.wait_for("getUpdates", timeout=120)
    first = next(call for call in api.calls if call.method == "getUpdates")
    return first.at - started


async def start_app(url: URL, cwd: Path, *args: str) -> Start:
    async with FakeBotAPI(BOT_TOKEN) as api:
        started = time.monotonic()
        bot = await start_bot(bot_env(url, api.url), *args, cwd=cwd)
        try:
            seconds = await _until_first_poll(api, started)
            return Start(seconds, _rss_mib(bot.process.pid))
        finally:
            await bot.stop()


async def start_bare(cwd: Path, *args: str) -> Start:
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
            seconds = await _until_first_poll(api, started)
            return Start(seconds, _rss_mib(process.pid))
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


def _seconds(starts: list[Start]) -> float:
    return median([start.seconds for start in starts])


def _rss(starts: list[Start]) -> float:
    return median([start.rss_mib for start in starts])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", type=Path, help="an earlier release's source tree")
    args = parser.parse_args()
    rounds, before_dir = args.rounds, args.before
    os.environ.pop("DATABASE_URL", None)
    # A deployed bot runs from bytecode (pip compiles an installed package; Python caches it on
    # the first start). Compile it here too, in case PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(REPO_ROOT / "app", quiet=1)
    if before_dir is not None:
        compileall.compile_dir(before_dir / "app", quiet=1)
    url = await create_pg_database()
    before_url = await create_pg_database() if before_dir is not None else None
    a: list[Start] = []
    b: list[Start] = []
    b_held: list[Start] = []
    a0: list[Start] = []
    c, fresh, eight = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        try:
            await start_app(url, cwd)  # migrate once: A is measured on a warm start
            if before_dir is not None and before_url is not None:
                await start_app(before_url, before_dir)  # the earlier release's own schema
            for _ in range(rounds):
                a.append(await start_app(url, cwd))
                b.append(await start_bare(cwd))
                b_held.append(await start_bare(cwd, "--hold-gc"))
                if before_dir is not None and before_url is not None:
                    a0.append(await start_app(before_url, before_dir))
                c.append(await release_then_replica(url, cwd))
                fresh.append(await migrate_fresh())
            for _ in range(3):
                eight.append(await eight_at_once(cwd))
        finally:
            await drop_pg_database(url)
            if before_url is not None:
                await drop_pg_database(before_url)
    print(f"startup to first getUpdates, PostgreSQL, {rounds} rounds ({machine_note()})")
    print(f"  (A) python -m app (schema at head)            median {_seconds(a):6.3f} s")
    print(f"  (B) bare aiogram polling bot, no database      median {_seconds(b):6.3f} s")
    print(f"  (B') the same, holding the GC as python -m app  median {_seconds(b_held):6.3f} s")
    print(f"  (C) alembic upgrade head && --no-migrate        median {median(c):6.3f} s")
    print(f"  A/B = {_seconds(a) / _seconds(b):.3f}   (target <= 1.10)")
    print(f"  A/B' = {_seconds(a) / _seconds(b_held):.3f}   (like for like: what the app adds)")
    print(f"  C/A = {median(c) / _seconds(a):.3f}")
    print(f"  RSS at the first getUpdates: A {_rss(a):.1f} MiB, B {_rss(b):.1f} MiB")
    if a0:
        print(f"  (A0) {before_dir}: median {_seconds(a0):6.3f} s, RSS {_rss(a0):.1f} MiB")
        print(
            f"  A/A0 = {_seconds(a) / _seconds(a0):.3f} (time), {_rss(a) / _rss(a0):.3f} (memory)"
        )
    print(f"  migrate a fresh database in-process            median {median(fresh):6.3f} s")
    print(f"  8 simultaneous starters, fresh database, all polling: median {median(eight):.3f} s")


if __name__ == "__main__":
    asyncio.run(main())
