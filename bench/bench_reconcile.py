"""Reconciliation with Telegram's ledger: a full pass, an incremental one, and a catch-up.

The fake Bot API's ``getStarTransactions`` holds ``--transactions`` payments (default 10,000).
- **full**: the checkpoint is 0 and the ledger already knows every payment: the pass reads
  everything (100 per call) and records nothing; the cost of a first start on an old shop.
- **incremental**: the checkpoint is at the end: one call reads the overlap and stops; the
  cost of every ``RECONCILE_INTERVAL`` on a healthy shop.
- **catch-up**: ``--lost`` payments of real reservations are only in Telegram's ledger (their
  updates were lost): the pass records, settles and delivers each of them.

In-process on PostgreSQL, through the bot's own Bot session and the real services. Medians of
``--rounds`` runs, seconds and API calls side by side.

    .venv/bin/python bench/bench_reconcile.py [--transactions 10000] [--lost 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from aiogram import Bot
from common import (
    BOT_TOKEN,
    FakeBotAPI,
    create_pg_database,
    drop_pg_database,
    machine_note,
    median,
)
from sqlalchemy import func, insert, select, update

from app.bot.factory import create_bot
from app.config import Settings
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.models import Order, OrderStatus, Payment, WorkerLease
from app.db.uow import SessionFactory
from app.workers.reconcile import LEASE, reconcile
from tests.harness import make_settings
from tests.shop_helpers import reserve_for, seed_product


async def _pass(
    api: FakeBotAPI, bot: Bot, factory: SessionFactory, settings: Settings
) -> tuple[float, int]:
    before = len(api.calls_of("getStarTransactions"))
    started = time.perf_counter()
    report = await reconcile(bot, factory, settings, "bench")
    elapsed = time.perf_counter() - started
    assert report.ran
    return elapsed, len(api.calls_of("getStarTransactions")) - before


async def _set_checkpoint(factory: SessionFactory, value: int) -> None:
    async with factory() as session:
        await session.execute(
            update(WorkerLease).where(WorkerLease.name == LEASE).values(checkpoint=value)
        )
        await session.commit()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--lost", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = await create_pg_database()
    engine = create_engine(url)
    try:
        async with FakeBotAPI(BOT_TOKEN) as api:
            settings = make_settings(url, api.url)
            await migrate(engine, settings)
            factory = create_session_factory(engine)
            bot = create_bot(settings)
            charges = api.many_payments(args.transactions, amount=10, payload="old:{n}")
            paid_at = datetime.now(UTC)
            async with factory() as session:  # the shop has recorded them all before
                rows = [
                    {
                        "charge_id": charge,
                        "user_id": 10**6 + n,
                        "payload": f"old:{n}",
                        "currency": "XTR",
                        "amount": 10,
                        "paid_at": paid_at,
                        "source": "update",
                    }
                    for n, charge in enumerate(charges)
                ]
                await session.execute(insert(Payment), rows)
                await session.commit()
            full, incremental = [], []
            for _ in range(args.rounds):
                await _set_checkpoint(factory, 0)
                full.append(await _pass(api, bot, factory, settings))
                incremental.append(await _pass(api, bot, factory, settings))
            product_id = await seed_product(
                factory, "Key", 10, [f"KEY-{n}" for n in range(args.lost)]
            )
            for n in range(args.lost):
                user = 5_000_000 + n
                payload = await reserve_for(factory, user, product_id)
                api.start_bot(user)
                api.lost_payment(user, payload, 10, f"lost-{n}")
            catch_up = await _pass(api, bot, factory, settings)
            async with factory() as session:
                delivered = await session.scalar(
                    select(func.count(Order.id)).where(Order.status == OrderStatus.DELIVERED.value)
                )
            await bot.session.close()
    finally:
        await engine.dispose()
        await drop_pg_database(url)
    assert delivered == args.lost, delivered
    f_s, i_s = median([s for s, _ in full]), median([s for s, _ in incremental])
    f_calls, i_calls = full[0][1], incremental[0][1]
    print(
        f"reconciliation: {args.transactions} Star transactions in the fake ledger, PostgreSQL, "
        f"{args.rounds} rounds ({machine_note()})"
    )
    print(f"  full pass         median {f_s:7.2f} s   {f_calls:4d} getStarTransactions calls")
    print(f"  incremental pass  median {i_s:7.3f} s   {i_calls:4d} call(s)")
    print(f"  incremental/full  = {i_s / f_s:.4f}")
    print(
        f"  catch-up          {catch_up[0]:7.2f} s   {catch_up[1]:4d} call(s): {args.lost} lost "
        f"payments recorded, settled and delivered ({args.lost / catch_up[0]:.0f}/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
