"""Telegram cancels a payment whose pre-checkout query is not answered within 10 seconds: the
answer never waits behind the user's other updates (the process's lock, or a Redis lock a
killed replica left), and a check held up by locked rows is answered "not ok" once its budget
is spent, through the real Dispatcher polling the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.bot.storage import create_isolation, create_storage
from app.db.engine import create_engine
from app.handlers import checkout
from app.i18n import translator
from tests.fake_api import FakeBotAPI
from tests.harness import RunningBot, make_settings, running_bot
from tests.shop_helpers import Customer, buy, orders_of, seed_product

en = translator("en")
BUYER = 6001
JSON = dict[str, object]


async def _invoice(shop: RunningBot) -> tuple[Customer, str, int]:
    await seed_product(shop.session_factory, "Key", 10, ["KEY-1"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Key")
    return buyer, payload, amount


async def _answer(shop: RunningBot, payload: str, amount: int) -> JSON:
    """Push a pre-checkout query and wait (a deadline for the harness) until it is answered."""
    update = shop.api.pre_checkout_query(BUYER, payload, amount)
    await shop.tracker.wait(update["update_id"], timeout=20)
    return shop.api.pre_checkout_answers[update["pre_checkout_query"]["id"]]


async def test_answered_while_another_update_of_the_buyer_holds_the_lock(shop: RunningBot) -> None:
    _, payload, amount = await _invoice(shop)
    entered, release = asyncio.Event(), asyncio.Event()

    async def stuck_reply(params: JSON) -> None:
        if params["chat_id"] == BUYER and not release.is_set():
            entered.set()
            await release.wait()

    shop.api.on_call("sendMessage", stuck_reply)
    stuck = shop.api.message(BUYER, "/help")  # its reply never comes: it holds the lock
    await entered.wait()

    answer = await _answer(shop, payload, amount)

    assert answer == {"ok": True, "error_message": None}
    assert not shop.tracker.finished(stuck["update_id"])  # answered while it still waits
    release.set()
    await shop.tracker.wait(stuck["update_id"])


@pytest.fixture
async def redis_shop(
    fake_api: FakeBotAPI, sqlite_url: URL, redis_url: str
) -> AsyncIterator[RunningBot]:
    settings = make_settings(sqlite_url, fake_api.url, redis_url=redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running_bot(fake_api, settings) as running:
            yield running
    finally:
        pattern = f"fsm:{fake_api.bot_user['id']}:*"
        if keys := [key async for key in client.scan_iter(match=pattern)]:
            await client.delete(*keys)
        await client.aclose()


async def test_answered_while_a_killed_replica_holds_the_buyers_redis_lock(
    redis_shop: RunningBot,
) -> None:
    """Another replica took the buyer's lock and died: the lock stays for minutes."""
    shop = redis_shop
    _, payload, amount = await _invoice(shop)
    other_replica = create_storage(shop.settings)  # its keys are the bot's own
    isolation = create_isolation(other_replica)
    key = StorageKey(bot_id=shop.bot.id, chat_id=BUYER, user_id=BUYER)
    held, dead = asyncio.Event(), asyncio.Event()

    async def hold_forever() -> None:
        async with isolation.lock(key):
            held.set()
            await dead.wait()

    holder = asyncio.create_task(hold_forever())
    try:
        await held.wait()
        waiting = shop.api.message(BUYER, "/help")  # the buyer's next message must wait
        answer = await _answer(shop, payload, amount)
        assert answer == {"ok": True, "error_message": None}
        assert not shop.tracker.finished(waiting["update_id"])
    finally:
        dead.set()
        await holder
        await other_replica.close()
    await shop.tracker.wait(waiting["update_id"])


@pytest.fixture
async def pg_shop(fake_api: FakeBotAPI, pg_url: URL) -> AsyncIterator[RunningBot]:
    async with running_bot(fake_api, make_settings(pg_url, fake_api.url)) as running:
        yield running


async def test_locked_rows_are_answered_not_ok_once_the_budget_is_spent(
    pg_shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = pg_shop
    _, payload, amount = await _invoice(shop)
    [order] = await orders_of(shop.session_factory, BUYER)
    monkeypatch.setattr(checkout, "PRE_CHECKOUT_BUDGET", 0.5)
    blocker = create_engine(shop.settings.database_url)
    try:
        async with blocker.connect() as connection:
            await connection.execute(text("BEGIN"))
            await connection.execute(
                text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order.id}
            )
            answer = await _answer(shop, payload, amount)
            assert answer == {"ok": False, "error_message": en("buyer.pre_checkout.error")}
            await connection.execute(text("ROLLBACK"))
    finally:
        await blocker.dispose()
    # The check was rolled back: once the rows are free, the same invoice is answered "ok".
    assert await _answer(shop, payload, amount) == {"ok": True, "error_message": None}
