"""A paid order whose goods Telegram keeps refusing ends refunded, not retried for ever: past
DELIVERY_REFUND_AFTER since its payment it goes to the refund path (refunded under AUTO_REFUND,
else the owners are alerted), its units staying sold. Times are moved in the database; through
the real Dispatcher and the fake Bot API, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.models import ItemKind, ItemStatus, Order, OrderStatus, Refund, RefundReason
from app.i18n import translator
from app.services import refunds
from tests.harness import ADMIN_ID, RunningBot
from tests.promo_helpers import shown
from tests.shop_helpers import Customer, SessionFactory, buy, items_of, orders_of, seed_product

en = translator("en")
BUYER = 7501
HOURS = 72.0  # DELIVERY_REFUND_AFTER's default


async def _paid_long_ago(factory: SessionFactory, hours: float) -> None:
    """The order was paid ``hours`` ago and its next attempt is due now."""
    now = utcnow()
    async with factory() as session:
        await session.execute(
            update(Order)
            .where(Order.status == OrderStatus.PAID.value)
            .values(paid_at=now - timedelta(hours=hours), next_delivery_at=now)
        )
        await session.commit()


async def _paid_order(shop: RunningBot, kind: ItemKind = ItemKind.TEXT) -> tuple[Order, str, int]:
    """A payment whose first delivery Telegram refused: the order stays paid."""
    content = "BQAD-NO-SUCH-FILE" if kind == ItemKind.FILE else "KEY-UNDELIVERABLE"
    product = await seed_product(shop.session_factory, "Key", 10, [content], kind=kind, slug="key")
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Key")
    if kind == ItemKind.TEXT:
        shop.api.block_user(BUYER)  # blocked the bot right after paying: every send is a 403
    charge = await buyer.pay(payload, amount)
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.PAID and order.delivery_attempts == 1
    return order, charge, product


async def _refund(factory: SessionFactory) -> Refund:
    async with factory() as session:
        [refund] = (await session.scalars(select(Refund))).all()
        return refund


async def test_a_blocked_buyers_order_is_refunded_once_the_deadline_passed(
    shop: RunningBot,
) -> None:
    factory, worker = shop.session_factory, shop.dispatcher["money_worker"]
    order, charge, product = await _paid_order(shop)
    await _paid_long_ago(factory, HOURS - 1)  # not yet: retried as before
    await worker.retry_round()
    [order] = await orders_of(factory, BUYER)
    assert (order.status, order.delivery_attempts) == (OrderStatus.PAID, 2)
    assert shop.api.calls_of("refundStarPayment") == []

    await _paid_long_ago(factory, HOURS + 1)
    await worker.retry_round()
    await worker.retry_round()  # nothing more to do
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.REFUNDED
    assert shop.api.calls_of("refundStarPayment") == [
        {"user_id": BUYER, "telegram_payment_charge_id": charge}
    ]
    refund = await _refund(factory)
    assert (refund.charge_id, refund.status, refund.order_id) == (charge, "refunded", order.id)
    assert refund.reason == "undeliverable"  # stored as such, not guessed from the order
    async with factory() as session:
        target = await refunds.target(session, refund.id)
    assert target is not None and target.reason == RefundReason.UNDELIVERABLE
    [unit] = await items_of(factory, product)  # the buyer may have seen it: never resold
    assert (unit.status, unit.order_id) == (ItemStatus.SOLD, order.id)
    assert not any("KEY-UNDELIVERABLE" in m.get("text", "") for m in shop.api.sent_to(BUYER))


async def test_a_file_telegram_refuses_is_refunded_and_the_buyer_told(shop: RunningBot) -> None:
    order, _, _ = await _paid_order(shop, ItemKind.FILE)  # sendDocument: wrong file identifier
    await _paid_long_ago(shop.session_factory, HOURS + 1)
    await shop.dispatcher["money_worker"].retry_round()
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.REFUNDED
    assert len(shop.api.calls_of("refundStarPayment")) == 1
    notice = en("buyer.payment.refunded_undeliverable", title="Key", amount=10)
    texts = [m.get("text") for m in shop.api.sent_to(BUYER)]
    assert texts.count(notice.replace("<b>", "").replace("</b>", "")) == 1


@pytest.mark.settings(auto_refund=False, delivery_refund_after=1)
async def test_without_auto_refund_the_owners_refund_an_undeliverable_order(
    shop: RunningBot,
) -> None:
    factory, worker = shop.session_factory, shop.dispatcher["money_worker"]
    shop.api.start_bot(ADMIN_ID)
    order, charge, _ = await _paid_order(shop)
    await _paid_long_ago(factory, 2)  # the shop's deadline is one hour
    await worker.retry_round()
    await worker.retry_round()
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.REFUND_DUE and order.next_delivery_at is None
    assert shop.api.calls_of("refundStarPayment") == []
    alerts = [m["text"] for m in shop.api.sent_to(ADMIN_ID) if "Undeliverable" in m["text"]]
    assert len(alerts) == 1 and f"/refund {charge}" in alerts[0]
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stats")  # the refund due, with its own reason
    due = en(
        "owner.stats.refund_due_row",
        user_id=BUYER,
        slug="key",
        amount=10,
        reason=en("owner.stats.reason_undeliverable"),
        charge_id=charge,
    )
    assert shown(due) in owner.texts()[-2]
    await owner.send(f"/refund {charge}")
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.REFUNDED
    assert len(shop.api.calls_of("refundStarPayment")) == 1
