"""Restock alerts cost the same per watcher however many there are: PostgreSQL's plans say so.

Two products have 40,000 watchers each. A buyer opens the first one's sold-out card, joins its
list, reads /alerts and leaves one alert, through the real Dispatcher; stock is then imported
and the alert's sender tells its first watchers. Every statement is planned again by PostgreSQL
as a custom and a generic plan and run under EXPLAIN ANALYZE (rolled back, see
:mod:`tests.query_plans`): none scans the watches or the users sequentially, and every one on
the buyer's side or per recipient reads a bounded number of rows (the sender reads a batch of
watchers at a time). The import's enqueue counts whom it will tell up to WATCHERS_CAP.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import URL

from app.db.engine import create_engine, create_session_factory
from app.i18n import translator
from app.services import stock
from app.services.broadcast import BATCH
from app.services.restock import WATCHERS_CAP, owner_line
from app.stock_import import import_items
from app.workers.broadcast_sender import BroadcastSender, RateLimiter
from tests.big_shop import BigShop
from tests.fake_api import FakeBotAPI
from tests.harness import make_settings, migrated, running_bot
from tests.query_plans import (
    PLAN_MODES,
    Statement,
    StatementRecorder,
    describe,
    explain,
    rows_read,
    seq_scanned,
)
from tests.shop_helpers import Customer, seed_product

en = translator("en")
WATCHERS = 40_000
FIRST_USER = 100_000
BUYER = 42
GROWING = {"restock_watches", "users"}  # what grows here (the stock stays small)
PER_RECIPIENT_BOUND = 3 * BATCH + 50  # a batch of watchers, their users, and a few rows more
ENQUEUE_BOUND = 2 * WATCHERS_CAP + 50  # the capped count: watches and their users
TOLD = 5  # watchers the sender tells before it is stopped


async def test_restock_statements_do_not_grow_with_the_watchers(
    pg_url: URL, fake_api: FakeBotAPI
) -> None:
    await migrated(pg_url)
    settings = make_settings(pg_url, fake_api.url, broadcast_poll_interval=3600)
    async with running_bot(fake_api, settings) as running:
        factory = running.session_factory
        watched = await seed_product(factory, "Game key", 10, slug="game-key")
        other = await seed_product(factory, "Gift card", 10, slug="gift-card")
        shop = BigShop(pg_url)
        await shop.add_users(FIRST_USER, WATCHERS)
        for product in (watched, other):
            await shop.execute(
                "INSERT INTO restock_watches (user_id, product_id, created_at)"
                f" SELECT id, {product}, CURRENT_TIMESTAMP FROM users WHERE id >= {FIRST_USER}"
            )
        await shop.analyze()
        fake_api.start_bot(*range(FIRST_USER, FIRST_USER + WATCHERS))

        recorder = StatementRecorder(running.dispatcher["engine"])
        try:
            buyer = Customer(running.api, running.tracker, BUYER)
            await buyer.send("/start")
            await buyer.press(en("buyer.menu.catalog"))
            recorder.step("card")
            await buyer.press("Game key")
            recorder.step("watch")
            await buyer.press(en("buyer.restock.notify"))
            recorder.step("alerts")
            await buyer.send("/alerts")
            recorder.step("leave")
            await buyer.press(en("buyer.restock.leave", title="Game key"))
            recorder.step(None)
        finally:
            recorder.close()
        statements = list(recorder.statements)

        sender_engine = create_engine(pg_url)
        recorder = StatementRecorder(sender_engine)
        try:
            sessions = create_session_factory(sender_engine)
            recorder.step("enqueue")
            async with sessions() as session:
                result = await import_items(session, watched, stock.read_upload("K1\nK2\n"))
            assert result.restock is not None and result.restock.watchers == WATCHERS_CAP
            assert owner_line(en, result.restock) == (
                "999+ buyers waiting for it will be told it is back."
            )
            recorder.step("per recipient")
            told = asyncio.Event()
            count = 0

            def seen(_: dict[str, object]) -> None:
                nonlocal count
                count += 1
                if count >= TOLD:
                    told.set()

            fake_api.on_call("sendMessage", seen)
            sender = BroadcastSender(
                running.bot, sessions, RateLimiter(1000), result.restock.broadcast_id
            )
            task = asyncio.create_task(sender.run())
            await asyncio.wait_for(told.wait(), timeout=30)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            recorder.step(None)
        finally:
            recorder.close()
            await sender_engine.dispose()
        statements += recorder.statements

    driver = await asyncpg.connect(pg_url.set(drivername="postgresql").render_as_string(False))
    problems: list[str] = []
    checked: set[str] = set()
    try:
        for statement in statements:
            checked.add(statement.step)
            for mode in PLAN_MODES:
                plan = await explain(driver, statement, mode)
                if scanned := seq_scanned(plan) & GROWING:
                    problems.append(_problem(statement, mode, f"Seq Scan on {scanned}", plan))
                read = rows_read(plan)
                bound = ENQUEUE_BOUND if statement.step == "enqueue" else PER_RECIPIENT_BOUND
                if read > bound:
                    problems.append(_problem(statement, mode, f"{read} rows read", plan))
        # The negative control: counting the product's whole watch list shows as what it is.
        control = Statement(
            "control",
            "SELECT count(*) FROM restock_watches WHERE product_id = $1::INTEGER",
            (watched,),
        )
        reads = [rows_read(await explain(driver, control, mode)) for mode in PLAN_MODES]
        assert all(read >= WATCHERS - TOLD - 1 for read in reads), reads
    finally:
        await driver.close()
    assert checked == {"card", "watch", "alerts", "leave", "enqueue", "per recipient"}
    assert not problems, "\n\n".join(problems)


def _problem(statement: Statement, mode: str, what: str, plan: dict[str, object]) -> str:
    return f"[{statement.step}, {mode}] {what}\n{statement.sql}\n{describe(plan)}"
