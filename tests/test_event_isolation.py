"""A user's updates are handled one at a time, also when they arrive in one batch (aiogram
handles a batch's updates as concurrent tasks): in one process by SimpleEventIsolation, across
replicas by RedisEventIsolation. Dialogs therefore see each message in the state the previous
one left, and a long paste that Telegram split into two messages lands whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisEventIsolation
from sqlalchemy.engine import URL

from app.bot.isolation import ProcessIsolation, ReplicaIsolation
from app.db.models import Product
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot, make_settings, running_bot
from tests.shop_helpers import Customer, items_of, seed_product


async def _batch(shop: RunningBot, *texts: str) -> None:
    """The owner's messages, queued together: one getUpdates answers them in one batch."""
    updates = [shop.api.build_message(ADMIN_ID, text) for text in texts]
    for update in updates:
        shop.api.push_update(update)
    await shop.tracker.wait(*(update["update_id"] for update in updates))


async def test_a_paste_split_over_two_messages_in_one_batch_is_added_whole(
    shop: RunningBot,
) -> None:
    isolation = shop.dispatcher.fsm.events_isolation
    assert isinstance(isolation, ProcessIsolation)
    admin = Customer(shop.api, shop.tracker, ADMIN_ID)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    first = [f"KEY-A-{n:04d}" for n in range(150)]
    second = [f"KEY-B-{n:04d}" for n in range(150)]
    await admin.send("/stock game-key")

    await _batch(shop, "\n".join(first), "\n".join(second))

    replies = admin.texts()[-2:]
    assert all(reply.startswith("Game key: added 150, duplicates rejected 0") for reply in replies)
    await admin.send("/done")
    assert admin.texts()[-1] == (
        "Game key: upload finished. Uploads: 2; added 300, duplicates rejected 0. "
        "Available now: 300."
    )
    contents = sorted(item.content for item in await items_of(shop.session_factory, product_id))
    assert contents == sorted(first + second)
    assert isolation.keys_in_use == 0  # no lock is kept for a user nobody is serving


async def _dialog_answers_in_one_batch(shop: RunningBot) -> None:
    """Each answer of the /addproduct dialog must see the state the one before it left."""
    admin = Customer(shop.api, shop.tracker, ADMIN_ID)
    await admin.send("/addproduct")
    await _batch(shop, "game-key", "Game key", "150", "-", "The description")
    assert admin.texts()[-1].startswith("Product Game key (game-key) created")
    async with shop.session_factory() as session:
        product = (await session.execute(Product.__table__.select())).one()
    assert (product.slug, product.title, product.price) == ("game-key", "Game key", 150)


async def test_a_dialogs_answers_in_one_batch_are_taken_in_order(shop: RunningBot) -> None:
    await _dialog_answers_in_one_batch(shop)


@pytest.fixture
async def redis_shop(
    fake_api: FakeBotAPI, sqlite_url: URL, redis_url: str
) -> AsyncIterator[RunningBot]:
    settings = make_settings(sqlite_url, fake_api.url, redis_url=redis_url)
    bot_id = fake_api.bot_user["id"]
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running_bot(fake_api, settings) as running:
            yield running
    finally:
        keys = [key async for key in client.scan_iter(match=f"fsm:{bot_id}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_with_redis_the_isolation_is_shared_by_the_replicas(redis_shop: RunningBot) -> None:
    isolation = redis_shop.dispatcher.fsm.events_isolation
    assert isinstance(isolation, ReplicaIsolation)
    assert isinstance(isolation.shared, RedisEventIsolation)
    assert isolation.shared.lock_kwargs["timeout"] >= 300  # never expires under a live handler
    await _dialog_answers_in_one_batch(redis_shop)


async def test_process_isolation_serves_one_key_at_a_time_in_arrival_order() -> None:
    isolation = ProcessIsolation()
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    other = StorageKey(bot_id=1, chat_id=3, user_id=3)
    order: list[str] = []
    gate = asyncio.Event()

    async def update(name: str, which: StorageKey, wait: bool = False) -> None:
        async with isolation.lock(which):
            order.append(f"{name} in")
            if wait:
                await gate.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(update("a", key, wait=True))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(update(n, key)) for n in ("b", "c")]
    elsewhere = asyncio.create_task(update("x", other))
    await elsewhere  # another user is not held up
    gate.set()
    await asyncio.gather(first, *rest)
    assert order == ["a in", "x in", "x out", "a out", "b in", "b out", "c in", "c out"]
    assert isolation.keys_in_use == 0


async def test_an_update_finishing_after_the_isolation_closed_releases_cleanly() -> None:
    """At shutdown aiogram closes the isolation while an update may still hold its lock."""
    isolation = ProcessIsolation()
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    async with isolation.lock(key):
        await isolation.close()
    assert isolation.keys_in_use == 0
    async with isolation.lock(key):  # a later update of the same user still gets it
        assert isolation.keys_in_use == 1
    assert isolation.keys_in_use == 0
