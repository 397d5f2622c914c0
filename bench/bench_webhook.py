"""Updates per second through webhook mode: one replica, then three behind a round-robin client.

Three real replicas (``python -m app --webhook``, the first migrating, two ``--no-migrate``) run
on a fresh PostgreSQL database; they are started once. A "1 replica" run POSTs every update to
the first one; a "3 replicas" run spreads them round-robin over all three. The updates are
/start messages and "Catalog" button presses from distinct users (a database write or read,
then one Bot API call each), sent with bounded concurrency like Telegram's max_connections.
Each update is answered only after it was handled, so a run ends when the last one is done.

The client and the fake Bot API run in this process, on the same cores as the replicas: all
traffic stays on 127.0.0.1. Runs alternate (1, 3, 1, 3, …) and the medians are printed.

    .venv/bin/python bench/bench_webhook.py [--rounds 7] [--updates 400] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    BOT_TOKEN,
    FakeBotAPI,
    bot_env,
    create_pg_database,
    drop_pg_database,
    median,
    start_bot,
)
from sqlalchemy.engine import URL

from app.db.engine import create_engine, create_session_factory
from app.keyboards.buyer import MenuCb
from tests.processes import BotProcess
from tests.shop_helpers import seed_category, seed_product

SECRET = "bench_webhook_secret-0123456789abcdef"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
JSON = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_healthy(client: aiohttp.ClientSession, base: str, bot: BotProcess) -> None:
    async with asyncio.timeout(180):
        while True:
            if bot.process.returncode is not None:
                raise RuntimeError(f"a replica exited:\n{bot.output[-3000:]}")
            try:
                async with client.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


class Bench:
    def __init__(self, api: FakeBotAPI, client: aiohttp.ClientSession) -> None:
        self.api = api
        self.client = client
        self.users = itertools.count(10_000_000)

    def updates(self, count: int) -> list[JSON]:
        """Half /start, half "Catalog" presses; every update from a new user."""
        built = []
        catalog = MenuCb(action="catalog").pack()
        for number in range(count):
            user = next(self.users)
            if number % 2:
                built.append(self.api.build_callback_query(user, catalog))
            else:
                built.append(self.api.build_message(user, "/start"))
        return built

    async def run(self, bases: list[str], count: int, concurrency: int) -> float:
        """Updates per second for one run."""
        updates = self.updates(count)
        gate = asyncio.Semaphore(concurrency)
        turn = itertools.count()

        async def send(update: JSON) -> None:
            body = self._encode(update)
            async with gate:
                base = bases[next(turn) % len(bases)]
                async with self.client.post(
                    base + "/webhook",
                    data=body,
                    headers={HEADER: SECRET, "Content-Type": "application/json"},
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(f"{base}: HTTP {response.status}")
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(send(update) for update in updates))
        return count / (time.perf_counter() - started)

    @staticmethod
    def _encode(update: JSON) -> bytes:
        return json.dumps(update).encode()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    url = await create_pg_database()
    replicas: list[BotProcess] = []
    try:
        async with (
            FakeBotAPI(BOT_TOKEN) as api,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client,
        ):
            with tempfile.TemporaryDirectory() as scratch:
                bases = []
                for number in range(3):
                    port = _free_port()
                    env = bot_env(
                        url,
                        api.url,
                        HOST="127.0.0.1",
                        PORT=str(port),
                        WEBHOOK_SECRET=SECRET,
                        WEBHOOK_URL="https://shop.example.com",
                        SCHEMA_WAIT_TIMEOUT="180",
                    )
                    role = () if number == 0 else ("--no-migrate",)
                    replicas.append(await start_bot(env, "--webhook", *role, cwd=Path(scratch)))
                    bases.append(f"http://127.0.0.1:{port}")
                for base, bot in zip(bases, replicas, strict=True):
                    await _wait_healthy(client, base, bot)
                await _seed(url)

                bench = Bench(api, client)
                await bench.run(bases, 60, args.concurrency)  # warm-up: pools, caches
                await bench.run(bases[:1], 60, args.concurrency)
                one: list[float] = []
                three: list[float] = []
                for _ in range(args.rounds):
                    one.append(await bench.run(bases[:1], args.updates, args.concurrency))
                    three.append(await bench.run(bases, args.updates, args.concurrency))
            for bot in replicas:
                await bot.stop()
    finally:
        for bot in replicas:
            if bot.process.returncode is None:
                await bot.stop()
        await drop_pg_database(url)

    cores = os.cpu_count()
    print("Webhook throughput, PostgreSQL, fake Bot API and client in the bench process")
    print(
        f"machine: {cores} cores (the replicas, PostgreSQL, the client and the fake Bot API "
        "all share them)"
    )
    print(
        f"{args.updates} updates per run (/start and Catalog presses, distinct users), "
        f"concurrency {args.concurrency}, {args.rounds} alternating rounds, medians"
    )
    print()
    print(f"{'replicas':>8}  {'median upd/s':>12}  runs (upd/s)")
    for label, values in (("1", one), ("3", three)):
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{label:>8}  {median(values):12.1f}  {runs}")
    print()
    print(f"ratio 3 replicas / 1 replica: {median(three) / median(one):.2f}")
    if cores is not None and cores <= 2:
        print(
            f"(on {cores} cores, three replicas cannot run three times the Python work: "
            "expect a ratio near 1; the gain shows on a machine with a core per replica)"
        )


async def _seed(url: URL) -> None:
    engine = create_engine(url)
    try:
        factory = create_session_factory(engine)
        for number in range(3):
            category = await seed_category(factory, f"Category {number}", number)
            for item in range(3):
                await seed_product(
                    factory,
                    f"Product {number}-{item}",
                    10 + item,
                    [f"KEY-{number}-{item}-{k}" for k in range(5)],
                    category_id=category,
                    slug=f"p-{number}-{item}",
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
