"""A buyer's statements cost the same in a big shop: PostgreSQL's own plans say so.

The shop has 200,000 keys of one product, a product whose 3,000 reservations all ran out (every
item reserved by an unpaid invoice), tens of thousands of users and of past sales. A buyer goes
through the whole purchase of each product with the real Dispatcher: /start, the catalog, the
category, the card, Buy, pre-checkout, the payment (and its low-stock check), the delivery, My
purchases; then two units of each product through the cart, paid with one invoice. Every
statement the bot ran is then planned again by PostgreSQL, as a custom and as a generic plan
(asyncpg prepares statements, and PostgreSQL switches a prepared statement to its generic plan
after five runs), and run under EXPLAIN ANALYZE in a transaction rolled back:

- no table that grows with the shop (stock, users, orders) is read by a sequential scan (the
  catalog's own tables, a few rows, are read whole where PostgreSQL finds that cheapest);
- no statement's scans read more than a fixed number of rows, whatever the stock: the "in
  stock" count stops at LEFT_CAP rows, everything else reads a handful. 200,000 keys would show.

The owner's /stats is planned the same way, in the same shop with its sales two months back
(but a few) and 2,000 banned users: every statement reads what it shows (a period's sales, two
capped stock walks per product, the banned counted up to a cap), except the all-time figure,
which is every sale by definition and reads them from an index alone. A buyer's ban check is
one primary-key read.

A negative control checks that the measure sees a count that grows with the stock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import pytest
from sqlalchemy import update
from sqlalchemy.engine import URL

from app.db.models import Product
from app.i18n import translator
from app.keyboards.buyer import MenuCb, ProductCb
from app.services.availability import LEFT_CAP
from tests.big_shop import BigShop
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot, make_settings, migrated, running_bot
from tests.query_plans import (
    PLAN_MODES,
    Statement,
    StatementRecorder,
    describe,
    explain,
    nodes,
    rows_read,
    seq_scanned,
)
from tests.shop_helpers import Customer, invoice_amount, seed_category, seed_product

en = translator("en")
BIG_STOCK = 200_000
SOLD = 20_000
ABANDONED = 3_000
USERS = 50_000
FIRST_USER = 100_000
BUYER = 42
GROWING = {"stock_items", "users", "orders"}
# Two capped counts (available, expired) of LEFT_CAP rows each, plus the few rows of the rest.
ROWS_BOUND = 2 * LEFT_CAP + 100


@dataclass
class Shop:
    running: RunningBot
    recorder: StatementRecorder
    products: dict[str, int]


@pytest.fixture
async def big_shop(pg_url: URL, fake_api: FakeBotAPI) -> AsyncIterator[Shop]:
    await migrated(pg_url)
    settings = make_settings(pg_url, fake_api.url)
    async with running_bot(fake_api, settings) as running:
        factory = running.session_factory
        games = await seed_category(factory, "Games", position=1)
        await seed_category(factory, "Books", position=2)
        products = {
            title: await seed_product(factory, title, 10, [], category_id=games)
            for title in ("Small", "Big", "Abandoned")
        }
        async with factory() as session:  # the default threshold: every sale checks it
            await session.execute(update(Product).values(low_stock_threshold=3))
            await session.commit()
        shop = BigShop(pg_url)
        await shop.add_users(FIRST_USER, USERS)
        await shop.add_keys(products["Small"], 1_000, "SMALL")
        await shop.add_keys(products["Big"], BIG_STOCK, "BIG")
        await shop.add_sales(products["Big"], SOLD, FIRST_USER, USERS)
        await shop.add_abandoned(products["Abandoned"], FIRST_USER, ABANDONED, "GONE", 10)
        await shop.analyze()
        recorder = StatementRecorder(running.dispatcher["engine"])
        try:
            yield Shop(running, recorder, products)
        finally:
            recorder.close()


async def _purchase(shop: Shop, buyer: Customer, title: str) -> None:
    """The whole purchase, each update recorded under its step's name."""
    step = shop.recorder.step
    step(f"{title}: /start")
    await buyer.send("/start")
    step(f"{title}: catalog")
    await buyer.press(en("buyer.menu.catalog"))
    step(f"{title}: category")
    await buyer.press("Games")
    step(f"{title}: card")
    await buyer.press(f"{title} · 10 ⭐")
    step(f"{title}: buy")
    await buyer.press("Buy for 10 ⭐")
    invoice = buyer.invoices()[-1]
    payload, amount = invoice["payload"], invoice_amount(invoice)
    step(f"{title}: pre-checkout")
    assert (await buyer.pre_checkout(payload, amount))["ok"]
    step(f"{title}: payment and delivery")
    await buyer.pay(payload, amount)
    assert title.upper()[:4] in buyer.texts()[-1] or "GONE" in buyer.texts()[-1]
    step(f"{title}: my purchases")
    await buyer.press_data(MenuCb(action="purchases").pack())
    step(None)


async def _cart_purchase(shop: Shop, buyer: Customer) -> None:
    """Two units of each product through the cart, one invoice: every step recorded."""
    step = shop.recorder.step
    step("cart: /start")
    await buyer.send("/start")
    for title in ("Small", "Big", "Abandoned"):
        step(f"cart: {title} card")
        await buyer.press_data(ProductCb(id=shop.products[title]).pack())
        step(f"cart: {title} quantity")
        await buyer.press("➕")
        step(f"cart: {title} added")
        await buyer.press(en("buyer.catalog.add_to_cart"))
    step("cart: view")
    await buyer.press(en("buyer.menu.cart"))
    step("cart: pay")
    await buyer.press(en("buyer.cart.pay", price=60))
    invoice = buyer.invoices()[-1]
    payload, amount = invoice["payload"], invoice_amount(invoice)
    step("cart: pre-checkout")
    assert (await buyer.pre_checkout(payload, amount))["ok"]
    step("cart: payment and delivery")
    await buyer.pay(payload, amount)
    assert all(key in buyer.texts()[-1] for key in ("SMALL", "BIG", "GONE"))
    step("cart: my purchases")
    await buyer.press_data(MenuCb(action="purchases").pack())
    step(None)


async def _driver(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))


async def test_no_buyer_statement_reads_more_because_the_shop_is_big(big_shop: Shop) -> None:
    running = big_shop.running
    buyer = Customer(running.api, running.tracker, BUYER)
    for title in ("Small", "Big", "Abandoned"):
        await _purchase(big_shop, buyer, title)
    await _cart_purchase(big_shop, buyer)
    statements = big_shop.recorder.statements
    steps = {statement.step for statement in statements}
    assert len(steps) == 3 * 8 + 15, sorted(steps)  # every step ran SQL and was recorded

    driver = await _driver(running.settings.database_url)
    problems: list[str] = []
    try:
        for statement in statements:
            for mode in PLAN_MODES:
                plan = await explain(driver, statement, mode)
                if scanned := seq_scanned(plan) & GROWING:
                    problems.append(_problem(statement, mode, f"Seq Scan on {scanned}", plan))
                if (read := rows_read(plan)) > ROWS_BOUND:
                    problems.append(_problem(statement, mode, f"{read} rows read", plan))
    finally:
        await driver.close()
    assert not problems, "\n\n".join(problems)


def _problem(statement: Statement, mode: str, what: str, plan: dict[str, object]) -> str:
    return f"[{statement.step}, {mode}] {what}\n{statement.sql}\n{describe(plan)}"


async def test_the_measure_sees_a_count_that_grows_with_the_stock(big_shop: Shop) -> None:
    """Negative control: counting every key of the big product reads them all, and it shows."""
    everything = Statement(
        "control",
        "SELECT count(*) FROM stock_items WHERE product_id = $1::INTEGER AND status = 'available'",
        (big_shop.products["Big"],),
    )
    driver = await _driver(big_shop.running.settings.database_url)
    try:
        reads = [rows_read(await explain(driver, everything, mode)) for mode in PLAN_MODES]
    finally:
        await driver.close()
    assert all(read >= BIG_STOCK - SOLD for read in reads), reads


# /stats reads, per product, two capped walks (available, reserved); the rest a few rows, or
# the sales of the chart's 30 days.
RECENT = 300  # of the shop's sales, those made in the last days
BANNED = 2_000
STATS_BOUND = 3 * 2 * LEFT_CAP + 2 * RECENT + 200


def _all_time(statement: Statement) -> bool:
    """The all-time figure: every sale is its answer, so it reads every sale (an index-only
    scan of ix_orders_sold_at, never the orders themselves)."""
    since = [value for value in statement.parameters if isinstance(value, datetime)]
    return "sum(orders.amount)" in statement.sql and not since  # a period starts somewhen


async def test_no_stats_statement_reads_more_because_the_shop_is_big(big_shop: Shop) -> None:
    """The owner's /stats and a buyer's ban check in the big shop: its 20,000 sales lie two
    months back but for a few, and 2,000 users are banned."""
    running = big_shop.running
    shop = BigShop(running.settings.database_url)
    await shop.execute(
        "UPDATE orders SET paid_at = paid_at - interval '60 days',"
        " created_at = created_at - interval '60 days' WHERE status = 'delivered'"
    )
    await shop.execute(
        "UPDATE orders SET paid_at = now() - interval '2 days' WHERE id IN"
        f" (SELECT id FROM orders WHERE status = 'delivered' ORDER BY id LIMIT {RECENT})"
    )
    await shop.execute(f"UPDATE users SET banned_at = now() WHERE id < {FIRST_USER + BANNED}")
    await shop.settle()
    owner = Customer(running.api, running.tracker, ADMIN_ID)
    buyer = Customer(running.api, running.tracker, BUYER)
    big_shop.recorder.step("stats")
    await owner.send("/stats")
    big_shop.recorder.step("a buyer's ban check")
    await buyer.send("/start")
    big_shop.recorder.step(None)
    figures = "\n".join(owner.texts())
    assert "Last 7 days: 300 sales, 300 ⭐" in figures and "All time: 20000 sales" in figures
    assert "product-2: 999+ (0)" in figures and "product-3: 0 (999+)" in figures  # capped
    assert en("owner.stats.banned_over", n=999) in figures
    statements = big_shop.recorder.statements
    assert {s.step for s in statements} == {"stats", "a buyer's ban check"}
    assert sum(_all_time(s) for s in statements) == 1

    driver = await _driver(running.settings.database_url)
    problems: list[str] = []
    try:
        for statement in statements:
            for mode in PLAN_MODES:
                plan = await explain(driver, statement, mode)
                if scanned := seq_scanned(plan) & GROWING:
                    problems.append(_problem(statement, mode, f"Seq Scan on {scanned}", plan))
                if _all_time(statement):
                    scans = {(n["Node Type"], n.get("Index Name")) for n in nodes(plan)}
                    if ("Index Only Scan", "ix_orders_sold_at") not in scans:
                        problems.append(_problem(statement, mode, "not index-only", plan))
                elif (read := rows_read(plan)) > STATS_BOUND:
                    problems.append(_problem(statement, mode, f"{read} rows read", plan))
    finally:
        await driver.close()
    assert not problems, "\n\n".join(problems)
