"""The money's promises through the real Dispatcher and the fake Bot API, on both databases:
every payment is in the ledger; every paid order ends delivered or refunded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from app.db.engine import create_engine, create_session_factory
from app.db.models import Order, OrderStatus, Payment, Refund
from app.i18n import translator
from app.workers.money import MoneyWorker
from tests.faults import allow_inserts, refuse_inserts
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import (
    Customer,
    SessionFactory,
    buy,
    eventually,
    orders_of,
    reserve_for,
    seed_product,
)

en = translator("en")
BUYER = 4001
FAST = {"retry_interval": 0.2, "reconcile_interval": 0.5}


@pytest.fixture
def customer(shop: RunningBot) -> Callable[..., Customer]:
    def make(user_id: int = BUYER) -> Customer:
        return Customer(shop.api, shop.tracker, user_id)

    return make


async def _refunds(factory: SessionFactory) -> list[Refund]:
    async with factory() as session:
        return list(await session.scalars(select(Refund).order_by(Refund.id)))


async def _ledger(factory: SessionFactory) -> list[Payment]:
    async with factory() as session:
        return list(await session.scalars(select(Payment).order_by(Payment.id)))


async def _status(factory: SessionFactory, user_id: int) -> list[str]:
    return [order.status for order in await orders_of(factory, user_id)]


async def test_an_unknown_payload_is_in_the_ledger_and_refunded(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    buyer = customer()
    charge = await buyer.pay("no-such-order", 25, "ch-unknown")
    [payment] = await _ledger(shop.session_factory)
    assert (payment.charge_id, payment.user_id, payment.amount) == (charge, BUYER, 25)
    assert (payment.payload, payment.source) == ("no-such-order", "update")
    assert shop.api.stars_refunds == [{"user_id": BUYER, "telegram_payment_charge_id": charge}]
    [refund] = await _refunds(shop.session_factory)
    assert (refund.reason, refund.status, refund.order_id) == ("unmatched", "refunded", None)
    assert buyer.screen()["text"] == en("buyer.payment.refunded_unmatched", amount=25)


@pytest.mark.settings(auto_refund=False)
async def test_an_unknown_payload_can_be_refunded_by_an_owner_once(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)
    buyer, owner = customer(), customer(ADMIN_ID)
    charge = await buyer.pay("no-such-order", 25, "ch-unknown")
    alerts = [m["text"] for m in shop.api.sent_to(ADMIN_ID)]
    assert sum(f"/refund {charge}" in text for text in alerts) == 1
    assert shop.api.stars_refunds == []
    await owner.send("/stats")
    assert "Refunds due: 1" in owner.texts()[-2] and "no matching order" in owner.texts()[-2]
    await owner.send(f"/refund {charge}")
    assert owner.texts()[-1] == f"Refunded 25 ⭐ to user {BUYER} ({charge})."
    await owner.send(f"/refund {charge}")
    assert owner.texts()[-1] == f"The payment {charge} is already refunded."
    assert len(shop.api.calls_of("refundStarPayment")) == 1
    [refund] = await _refunds(shop.session_factory)
    assert (refund.reason, refund.status) == ("unmatched", "refunded")
    await owner.send("/stats")
    assert "Refunds due: 0" in owner.texts()[-2] and "Refunds made: 1" in owner.texts()[-2]


@pytest.mark.settings(auto_refund=False)
async def test_a_refund_telegram_already_made_is_recorded_as_refunded(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)
    buyer, owner = customer(), customer(ADMIN_ID)
    charge = await buyer.pay("no-such-order", 25, "ch-twice")
    shop.api.refund_elsewhere(BUYER, charge)
    await owner.send(f"/refund {charge}")
    assert owner.texts()[-1] == f"The payment {charge} is already refunded."
    [refund] = await _refunds(shop.session_factory)
    assert refund.status == "refunded"


@pytest.mark.settings(**FAST)
async def test_a_refused_delivery_is_retried_and_shown_in_stats(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)
    await seed_product(shop.session_factory, "Key", 10, ["KEY-403"])
    buyer, owner = customer(), customer(ADMIN_ID)
    payload, amount = await buy(buyer, "Key")
    shop.api.block_user(BUYER)  # blocked the bot right after paying
    await buyer.pay(payload, amount)
    assert await _status(shop.session_factory, BUYER) == [OrderStatus.PAID]
    await owner.send("/stats")
    assert "Paid, goods not delivered yet: 1" in owner.texts()[-2]  # then the chart
    [order] = await orders_of(shop.session_factory, BUYER)
    factory = shop.session_factory

    async def attempted_again() -> bool:
        [now] = await orders_of(factory, BUYER)
        return now.delivery_attempts >= 2

    await eventually(attempted_again, "the worker retries the refused delivery")
    assert not any("KEY-403" in text for text in buyer.texts())
    shop.api.unblock_user(BUYER)

    async def delivered() -> bool:
        return await _status(factory, BUYER) == [OrderStatus.DELIVERED]

    await eventually(delivered, "the worker delivers once the buyer unblocks the bot")
    assert sum("KEY-403" in text for text in buyer.texts()) == 1
    await owner.send("/stats")
    assert "Paid, goods not delivered yet: 0" in owner.texts()[-2]  # then the chart
    assert order.id == (await orders_of(factory, BUYER))[0].id


@pytest.mark.settings(**FAST)
async def test_a_payment_whose_update_was_lost_is_found_and_delivered(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    product_id = await seed_product(shop.session_factory, "Key", 10, ["KEY-LOST"])
    payload = await reserve_for(shop.session_factory, BUYER, product_id)
    shop.api.lost_payment(BUYER, payload, 10, "ch-lost")  # Telegram took it; no update came
    factory = shop.session_factory

    async def delivered() -> bool:
        return await _status(factory, BUYER) == [OrderStatus.DELIVERED]

    await eventually(delivered, "reconciliation records, settles and delivers the payment")
    [payment] = await _ledger(factory)
    assert (payment.charge_id, payment.source) == ("ch-lost", "reconciliation")
    assert sum("KEY-LOST" in text for text in customer().texts()) == 1
    # The update arriving after all (a redelivery) changes nothing.
    await customer().pay(payload, 10, "ch-lost")
    assert sum("KEY-LOST" in text for text in customer().texts()) == 1
    assert len(await _ledger(factory)) == 1


@pytest.mark.settings(**FAST)
async def test_a_refund_made_elsewhere_is_recorded(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    await seed_product(shop.session_factory, "Key", 10, ["KEY-R"])
    buyer = customer()
    payload, amount = await buy(buyer, "Key")
    charge = await buyer.pay(payload, amount)
    shop.api.refund_elsewhere(BUYER, charge)
    factory = shop.session_factory

    async def refunded() -> bool:
        return await _status(factory, BUYER) == [OrderStatus.REFUNDED]

    await eventually(refunded, "reconciliation marks the refund made outside the bot")
    [refund] = await _refunds(factory)
    assert (refund.charge_id, refund.reason, refund.status) == (charge, "external", "refunded")
    assert shop.api.stars_refunds == []  # the bot itself asked for nothing


@pytest.mark.settings(max_reservations_per_user=2)  # the former name: still read
async def test_a_buyer_holds_at_most_the_reservation_cap(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    for title in ("Alpha", "Beta", "Gamma"):
        await seed_product(shop.session_factory, title, 10, [f"{title}-1", f"{title}-2"])
    buyer = customer()
    await buy(buyer, "Alpha")
    await buy(buyer, "Beta")
    await buy(buyer, "Alpha")  # the same reservation again: no new one
    assert len(buyer.invoices()) == 3
    await buyer.press("‹ Back")  # to the list
    await buyer.press("Gamma")
    answer = await buyer.press("Buy")
    assert answer is not None and answer.get("show_alert")
    assert answer["text"] == en("buyer.checkout.limit", n=2, minutes=15)
    assert len(buyer.invoices()) == 3
    assert await _status(shop.session_factory, BUYER) == [OrderStatus.PENDING] * 2
    other = customer(BUYER + 1)  # the cap is per buyer
    await buy(other, "Gamma")


async def test_two_replicas_reconciling_at_once_fulfil_each_payment_once(
    shop: RunningBot,
) -> None:
    """Two more processes' worth of engines and workers over the same database and ledger."""
    count = 12
    product_id = await seed_product(
        shop.session_factory, "Key", 10, [f"KEY-{n}" for n in range(count)]
    )
    for n in range(count):
        payload = await reserve_for(shop.session_factory, 5000 + n, product_id)
        shop.api.lost_payment(5000 + n, payload, 10, f"ch-{n}")
    engines = [create_engine(shop.settings.database_url) for _ in range(2)]
    try:
        workers = [
            MoneyWorker(shop.bot, create_session_factory(engine), shop.settings)
            for engine in engines
        ]
        await asyncio.gather(*(worker.reconcile() for worker in workers))
        await asyncio.gather(*(worker.reconcile() for worker in workers))  # and again
    finally:
        for engine in engines:
            await engine.dispose()
    async with shop.session_factory() as session:
        delivered = await session.scalar(
            select(func.count(Order.id)).where(Order.status == OrderStatus.DELIVERED.value)
        )
    assert delivered == count
    for n in range(count):
        keys = [m["text"] for m in shop.api.sent_to(5000 + n) if "KEY-" in m["text"]]
        assert len(keys) == 1, (n, keys)
    assert len(await _ledger(shop.session_factory)) == count
    assert await _refunds(shop.session_factory) == []


async def test_a_payment_the_ledger_refuses_is_recorded_by_reconciliation_later(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    """Polling: the update is gone once confirmed, so the buyer is told it is being processed;
    Telegram's ledger still has the payment, and the next reconciliation fulfils it."""
    await seed_product(shop.session_factory, "Key", 10, ["KEY-LATE"])
    buyer = customer()
    payload, amount = await buy(buyer, "Key")
    await refuse_inserts(shop.settings.database_url, "payments")
    shop.api.lost_payment(BUYER, payload, amount, "ch-down")  # Telegram's ledger has it
    update = buyer.payment_update(payload, amount, "ch-down")
    shop.api.push_update(update)
    await shop.tracker.wait(update["update_id"], failing=True)
    assert buyer.screen()["text"] == en("buyer.payment.delayed")
    assert await _ledger(shop.session_factory) == []
    await allow_inserts(shop.settings.database_url, "payments")
    await shop.dispatcher["money_worker"].reconcile()
    assert await _status(shop.session_factory, BUYER) == [OrderStatus.DELIVERED]
    assert sum("KEY-LATE" in text for text in buyer.texts()) == 1
