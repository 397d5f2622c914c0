"""How many statements each step of a purchase runs: a budget that may only go down.

On the buyer's path a statement is most of what an update costs the bot: a round trip to the
database and a fixed CPU cost in SQLAlchemy and asyncpg (``bench/bench_shop.py`` prints the
bot's CPU per update). A single-item purchase and a cart of two lines run through the real
Dispatcher on PostgreSQL, with the workers' rounds pushed out of the way, and each step's
statements are counted. A step over its budget fails with the statements it ran; a change
that saves one lowers the budget here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

from app.i18n import translator
from app.keyboards.buyer import CartAddCb, CartCb, MenuCb, ProductCb
from tests.fake_api import FakeBotAPI
from tests.harness import RunningBot, make_settings, running_bot
from tests.query_plans import StatementRecorder
from tests.shop_helpers import Customer, invoice_amount, seed_product

en = translator("en")

# Statements per step at PostgreSQL. The purchase: 25 (it was 32 before the order's lock read
# its lines and products, and the settlement handed over the goods it held).
SINGLE = {"start": 2, "catalog": 2, "card": 1, "buy": 7, "pre-checkout": 3, "payment": 10}
CART = {"add": 5, "pay": 9, "pre-checkout": 3, "payment": 11}
QUIET = {"retry_interval": 3600, "reconcile_interval": 3600, "broadcast_poll_interval": 3600}


@pytest.fixture
async def quiet_shop(migrated_pg_url: URL, fake_api: FakeBotAPI) -> AsyncIterator[RunningBot]:
    async with running_bot(fake_api, make_settings(migrated_pg_url, fake_api.url, **QUIET)) as bot:
        yield bot


def _over_budget(recorder: StatementRecorder, budget: dict[str, int]) -> list[str]:
    counts = Counter(statement.step for statement in recorder.statements)
    return [
        f"{step}: {counts[step]} statements, budget {limit}:\n  "
        + "\n  ".join(" ".join(s.sql.split())[:160] for s in recorder.statements if s.step == step)
        for step, limit in budget.items()
        if counts[step] > limit
    ]


async def _check_out(recorder: StatementRecorder, buyer: Customer) -> None:
    """Pre-checkout and pay the buyer's latest invoice, each a step of its own."""
    invoice = buyer.invoices()[-1]
    payload, amount = invoice["payload"], invoice_amount(invoice)
    recorder.step("pre-checkout")
    assert (await buyer.pre_checkout(payload, amount))["ok"]
    recorder.step("payment")
    await buyer.pay(payload, amount)
    recorder.step(None)


async def test_a_purchase_stays_within_its_statements(quiet_shop: RunningBot) -> None:
    factory = quiet_shop.session_factory
    await seed_product(factory, "Game", 10, [f"KEY-{n}" for n in range(5)])
    recorder = StatementRecorder(quiet_shop.dispatcher["engine"])
    buyer = Customer(quiet_shop.api, quiet_shop.tracker, 501)
    try:
        recorder.step("start")
        await buyer.send("/start")
        recorder.step("catalog")
        await buyer.press(en("buyer.menu.catalog"))
        recorder.step("card")
        await buyer.press("Game")
        recorder.step("buy")
        await buyer.press("Buy")
        await _check_out(recorder, buyer)
    finally:
        recorder.close()
    assert "KEY-0" in buyer.texts()[-1]
    assert not _over_budget(recorder, SINGLE), "\n".join(_over_budget(recorder, SINGLE))
    assert {s.step for s in recorder.statements} == set(SINGLE)  # every step was recorded


async def test_a_cart_purchase_stays_within_its_statements(quiet_shop: RunningBot) -> None:
    factory = quiet_shop.session_factory
    first = await seed_product(factory, "Game", 10, [f"GAME-{n}" for n in range(5)])
    second = await seed_product(factory, "Book", 5, [f"BOOK-{n}" for n in range(5)])
    buyer = Customer(quiet_shop.api, quiet_shop.tracker, 502)
    await buyer.send("/start")
    await buyer.press_data(ProductCb(id=first).pack())
    await buyer.press_data(CartAddCb(product=first, qty=1).pack())
    recorder = StatementRecorder(quiet_shop.dispatcher["engine"])
    try:
        recorder.step("add")
        await buyer.press_data(CartAddCb(product=second, qty=2).pack())
        recorder.step("pay")
        await buyer.press_data(CartCb(action="pay").pack())
        await _check_out(recorder, buyer)
    finally:
        recorder.close()
    assert all(key in buyer.texts()[-1] for key in ("GAME-0", "BOOK-0", "BOOK-1"))
    assert not _over_budget(recorder, CART), "\n".join(_over_budget(recorder, CART))
    await buyer.press_data(MenuCb(action="purchases").pack())  # the purchase is listed
    assert "Game" in buyer.texts()[-1] and "Book" in buyer.texts()[-1]
