"""Faults a real shop meets, with real processes and real databases: a bot killed with
``kill -9`` after Telegram confirmed the payments it was handling, and a database that is
unreachable for 10 s while payments arrive. Every buyer ends with the key (or a refund)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.models import Order, OrderStatus, Payment
from tests.fake_api import FakeBotAPI
from tests.harness import make_settings, running_bot
from tests.processes import BotProcess, bot_env, start_bot
from tests.shop_helpers import SessionFactory, eventually, reserve_for, seed_product
from tests.tcp_proxy import TcpProxy

BUYERS = 20
FIRST = 7000
RECONCILE = "1"


async def _delivered(factory: SessionFactory) -> int:
    async with factory() as session:
        count = await session.scalar(
            select(func.count(Order.id)).where(Order.status == OrderStatus.DELIVERED.value)
        )
    return int(count or 0)


def _keys_sent(api: FakeBotAPI, user_id: int) -> int:
    return sum("KEY-" in (m.get("text") or "") for m in api.sent_to(user_id))


@contextlib.asynccontextmanager
async def _write_lock(url: URL) -> AsyncIterator[None]:
    """Writes to the ledger wait while this is held: on PostgreSQL a lock on ``payments``, on
    SQLite the database's write lock."""
    engine = create_engine(url).execution_options(sqlite_begin="IMMEDIATE")
    try:
        async with engine.begin() as connection:
            if url.get_backend_name() == "postgresql":
                await connection.execute(text("LOCK TABLE payments IN ACCESS EXCLUSIVE MODE"))
            else:
                await connection.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
            yield
            await connection.rollback()
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _shop(url: URL, api: FakeBotAPI) -> AsyncIterator[tuple[SessionFactory, list[str]]]:
    """A migrated database with one product, 20 keys and a reservation for each buyer."""
    engine = create_engine(url)
    try:
        await migrate(engine, make_settings(url))
        factory = create_session_factory(engine)
        keys = [f"KEY-{n}" for n in range(BUYERS)]
        product_id = await seed_product(factory, "Key", 10, keys)
        payloads = [await reserve_for(factory, FIRST + n, product_id) for n in range(BUYERS)]
        api.start_bot(*(FIRST + n for n in range(BUYERS)))
        yield factory, payloads
    finally:
        await engine.dispose()


async def test_kill_9_after_telegram_confirmed_the_payments(
    db_url: URL, fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    async with _shop(db_url, fake_api) as (factory, payloads):
        await _kill_and_restart(db_url, fake_api, tmp_path, factory, payloads)


async def _kill_and_restart(
    db_url: URL, fake_api: FakeBotAPI, tmp_path: Path, factory: SessionFactory, payloads: list[str]
) -> None:
    env = bot_env(db_url, fake_api.url, RECONCILE_INTERVAL=RECONCILE, RETRY_INTERVAL="0.5")
    bot: BotProcess = await start_bot(env, cwd=tmp_path)
    try:
        await fake_api.wait_for("getUpdates", timeout=60)
        async with _write_lock(db_url):
            updates = [
                fake_api.build_successful_payment(FIRST + n, payloads[n], 10, f"ch-{n}")
                for n in range(BUYERS)
            ]
            for update in updates:
                fake_api.push_update(update)
            ids = {update["update_id"] for update in updates}

            async def confirmed() -> bool:  # a later getUpdates carried a higher offset
                return not any(u["update_id"] in ids for u in fake_api.updates.pending)

            await eventually(confirmed, "Telegram sees the payment updates confirmed")
            bot.process.kill()  # SIGKILL, with every payment still waiting for the lock
            code = await bot.wait()
        assert code == -9, bot.output
        assert await _delivered(factory) == 0
        async with factory() as session:
            assert await session.scalar(select(func.count(Payment.id))) == 0
        restarted = await start_bot(env, cwd=tmp_path)  # a plain restart
        try:
            await eventually(
                lambda: _all_delivered(factory),
                "every buyer who paid gets the key after the restart",
                timeout=90,
            )
        finally:
            await restarted.stop()
    finally:
        if bot.process.returncode is None:
            bot.process.kill()
            await bot.wait()
    for n in range(BUYERS):
        assert _keys_sent(fake_api, FIRST + n) == 1, (n, restarted.output[-3000:])
    async with factory() as session:
        sources = set(await session.scalars(select(Payment.source)))
    assert sources == {"reconciliation"}


async def _all_delivered(factory: SessionFactory) -> bool:
    return await _delivered(factory) == BUYERS


async def test_payments_during_a_database_outage_are_fulfilled_once_it_returns(
    pg_url: URL, fake_api: FakeBotAPI
) -> None:
    async with _shop(pg_url, fake_api) as (factory, payloads):
        await _outage(pg_url, fake_api, factory, payloads)


async def _outage(
    pg_url: URL, fake_api: FakeBotAPI, factory: SessionFactory, payloads: list[str]
) -> None:
    proxy = TcpProxy(pg_url.host or "127.0.0.1", pg_url.port or 5432)
    await proxy.start()
    through_proxy = pg_url.set(host="127.0.0.1", port=proxy.port)
    settings = make_settings(
        through_proxy,
        fake_api.url,
        reconcile_interval=1.0,
        retry_interval=0.5,
        db_connect_timeout=5,
    )
    try:
        async with running_bot(fake_api, settings) as shop:
            proxy.cut()  # the database is unreachable for 10 s
            updates = [
                fake_api.build_successful_payment(FIRST + n, payloads[n], 10, f"ch-{n}")
                for n in range(BUYERS)
            ]
            for update in updates:
                fake_api.push_update(update)
            await shop.tracker.wait(*(u["update_id"] for u in updates), failing=True, timeout=60)
            await asyncio.sleep(10)  # the outage lasts; the tracker saw every update fail
            assert await _delivered(factory) == 0
            proxy.restore()
            await eventually(
                lambda: _all_delivered(factory),
                "every payment is recorded and fulfilled once the database is back",
                timeout=90,
            )
    finally:
        await proxy.stop()
    for n in range(BUYERS):
        assert _keys_sent(fake_api, FIRST + n) == 1, n
    async with factory() as session:
        assert await session.scalar(select(func.count(Payment.id))) == BUYERS
