"""A payment update that fails before its handler runs (the FSM storage, the user's event lock,
a middleware) goes the way of a payment the ledger refused: not in the ledger, so the webhook
answers 500 and Telegram delivers it again, and under long polling the buyer reads that the
payment is being processed (never "try again") while the reconciliation records it. A copy of
a payment already in the ledger is the money worker's: 200. A pre-checkout query that fails
before its handler is answered "not ok" at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import TelegramObject
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from app.bot.webhook import WebhookServer
from app.db.models import OrderStatus, Payment
from app.i18n import translator
from tests.fake_api import FakeBotAPI
from tests.harness import RunningBot
from tests.shop_helpers import Customer, SessionFactory, buy, orders_of, seed_product
from tests.test_webhook import Replica, _reserve, post, wait_healthy, webhook_settings

en = translator("en")
BUYER = 7001


class FlakyStorage(MemoryStorage):
    """The FSM storage of a replica whose Redis went away while ``down``."""

    down = False

    async def get_state(self, key: StorageKey) -> str | None:
        if self.down:
            raise ConnectionError("Connection closed by server.")
        return await super().get_state(key)


async def _payments(factory: SessionFactory) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


def _texts(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in api.sent_to(chat_id)]


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
async def flaky_replica(
    pg_url: URL, fake_api: FakeBotAPI, client: aiohttp.ClientSession
) -> AsyncIterator[tuple[Replica, FlakyStorage]]:
    storage = FlakyStorage()
    settings = webhook_settings(pg_url, fake_api, reconcile_interval=3600)
    running = Replica(WebhookServer(settings, migrate=True, storage=storage))
    await running.start()
    try:
        await wait_healthy(client, running.base)
        yield running, storage
    finally:
        await running.stop()


async def test_webhook_payment_failing_before_its_handler_is_answered_500_then_fulfilled(
    flaky_replica: tuple[Replica, FlakyStorage],
    fake_api: FakeBotAPI,
    client: aiohttp.ClientSession,
) -> None:
    running, storage = flaky_replica
    factory = running.server.dispatcher["session_factory"]
    product = await seed_product(factory, "Disk Key", 25, ["KEY-FSM-1"])
    payload, amount = await _reserve(client, running.base, fake_api, BUYER, product)
    payment = fake_api.build_successful_payment(BUYER, payload, amount, "charge-fsm-1")

    storage.down = True
    status, _ = await post(client, running.base, payment)
    assert status == 500  # not in the ledger: Telegram must deliver it again
    assert await _payments(factory) == 0
    assert en("error") not in _texts(fake_api, BUYER)  # nobody is invited to pay twice

    storage.down = False
    status, _ = await post(client, running.base, payment)  # Telegram's retry
    assert status == 200
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    assert sum("KEY-FSM-1" in text for text in _texts(fake_api, BUYER)) == 1


async def test_webhook_copy_of_a_recorded_payment_failing_before_its_handler_is_answered_200(
    flaky_replica: tuple[Replica, FlakyStorage],
    fake_api: FakeBotAPI,
    client: aiohttp.ClientSession,
) -> None:
    running, storage = flaky_replica
    factory = running.server.dispatcher["session_factory"]
    product = await seed_product(factory, "Disk Key", 25, ["KEY-FSM-2"])
    payload, amount = await _reserve(client, running.base, fake_api, BUYER, product)
    payment = fake_api.build_successful_payment(BUYER, payload, amount, "charge-fsm-2")
    assert (await post(client, running.base, payment))[0] == 200

    storage.down = True
    status, _ = await post(client, running.base, payment)  # a copy, while Redis is away
    assert status == 200  # in the ledger: the money worker's from now on
    assert _texts(fake_api, BUYER)[-1] == en("buyer.payment.delayed")
    assert await _payments(factory) == 1
    assert sum("KEY-FSM-2" in text for text in _texts(fake_api, BUYER)) == 1


async def test_polling_payment_failing_before_its_handler_is_reconciled(
    shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_product(shop.session_factory, "Key", 10, ["KEY-LATE"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Key")

    async def redis_down(key: StorageKey) -> StateType:
        raise ConnectionError("Connection closed by server.")

    monkeypatch.setattr(shop.dispatcher.storage, "get_state", redis_down)
    update = buyer.payment_update(payload, amount, "ch-fsm")
    shop.api.push_update(update)
    await shop.tracker.wait(update["update_id"], failing=True)
    assert buyer.screen()["text"] == en("buyer.payment.delayed")
    assert en("error") not in buyer.texts()
    assert await _payments(shop.session_factory) == 0

    monkeypatch.undo()
    await shop.dispatcher["money_worker"].reconcile()  # Telegram's ledger has the payment
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    assert sum("KEY-LATE" in text for text in buyer.texts()) == 1


async def test_a_pre_checkout_failing_before_its_handler_is_answered_not_ok(
    shop: RunningBot,
) -> None:
    await seed_product(shop.session_factory, "Key", 10, ["KEY-1"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Key")

    async def broken(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        raise ConnectionError("a middleware's backend went away")

    shop.dispatcher.update.outer_middleware.register(broken)
    update = shop.api.pre_checkout_query(BUYER, payload, amount)
    await shop.tracker.wait(update["update_id"], failing=True)
    answer = shop.api.pre_checkout_answers[update["pre_checkout_query"]["id"]]
    assert answer == {"ok": False, "error_message": en("buyer.pre_checkout.error")}
