"""The money worker never swallows the strict transaction guard: a Telegram call inside an open
transaction is a bug, so it stops the worker (and fails the test) instead of being logged as
one more failed round. Both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.db.uow import transaction
from app.middlewares.db import OpenTransactionError
from app.workers import reconcile as reconciliation
from app.workers.money import MoneyWorker
from tests.harness import RunningBot
from tests.shop_helpers import reserve_for, seed_product


class _CallsTelegramInsideATransaction(MoneyWorker):
    """A round that breaks the rule, as a future change could."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.tried = asyncio.Event()

    async def reconcile(self) -> None:
        try:
            async with transaction(self.factory):
                await self.bot.get_me()
        finally:
            self.tried.set()


async def test_the_money_worker_stops_on_a_telegram_call_inside_a_transaction(
    shop: RunningBot,
) -> None:
    worker = _CallsTelegramInsideATransaction(shop.bot, shop.session_factory, shop.settings)
    worker.start()
    await asyncio.wait_for(worker.tried.wait(), timeout=30)
    with pytest.raises(OpenTransactionError):
        await worker.stop()  # the worker's task ended with the guard's error


async def test_reconciliation_does_not_swallow_the_guard_while_settling(
    shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = shop.session_factory
    product = await seed_product(factory, "Key", 10, ["KEY-G"])
    payload = await reserve_for(factory, 7801, product)
    shop.api.lost_payment(7801, payload, 10, "ch-guard")  # found by the next reconciliation

    async def settles_inside_a_transaction(*_: object) -> None:
        async with transaction(factory):
            await shop.bot.get_me()

    monkeypatch.setattr(reconciliation, "settle", settles_inside_a_transaction)
    with pytest.raises(OpenTransactionError):
        await reconciliation.reconcile(shop.bot, factory, shop.settings, "test-holder")
