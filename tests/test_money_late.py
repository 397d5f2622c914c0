"""A late payment for several units of a product gets every unit it paid for, or a full refund:
never one unit twice (the order's own lapsed units are locked by its settlement, which SKIP
LOCKED does not skip), on both databases through the real Dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderStatus, StockItem
from app.i18n import translator
from app.services.holds import UnitsMismatchError, check_units
from tests.harness import RunningBot
from tests.shop_helpers import Customer, buttons, items_of, orders_of, seed_product

en = translator("en")
BUYER = 7101


@pytest.fixture
def customer(shop: RunningBot) -> Callable[..., Customer]:
    def make(user_id: int = BUYER) -> Customer:
        return Customer(shop.api, shop.tracker, user_id)

    return make


async def _open_card(buyer: Customer, title: str) -> None:
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    if not any(title in b["text"] for b in buttons(buyer.screen())):
        await buyer.press(en("buyer.catalog.other"))
    await buyer.press(title)


async def test_a_late_payment_never_sells_its_own_lapsed_unit_twice(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    wide = await seed_product(factory, "Wide", 10, ["WIDE-0", "WIDE-1"])
    buyer, rival = customer(), customer(BUYER + 1)
    await _open_card(buyer, "Wide")
    await buyer.press("➕")
    await buyer.press(en("buyer.catalog.buy_n", n=2, price=20))
    [invoice] = buyer.invoices()
    assert (await buyer.pre_checkout(invoice["payload"], 20))["ok"] is True
    past = utcnow() - timedelta(minutes=1)
    async with factory() as session:  # the settlement is late: both holds ran out
        await session.execute(update(Order).values(expires_at=past))
        await session.execute(update(StockItem).values(reserved_until=past))
        await session.commit()
    await _open_card(rival, "Wide")
    await rival.press("Buy for 10 ⭐")  # takes one of the buyer's lapsed units over
    [rivals] = await orders_of(factory, BUYER + 1)

    charge = await buyer.pay(invoice["payload"], 20, "charge-late-twice")

    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.REFUNDED  # one unit left for two paid: all of it back
    assert shop.api.stars_refunds == [{"user_id": BUYER, "telegram_payment_charge_id": charge}]
    async with factory() as session:
        sold = await session.scalars(select(StockItem.id).where(StockItem.order_id == order.id))
        assert list(sold) == []
    units = {item.content: item for item in await items_of(factory, wide)}
    held = [item for item in units.values() if item.order_id == rivals.id]
    assert len(held) == 1 and held[0].status == ItemStatus.RESERVED
    [free] = [item for item in units.values() if item.order_id is None]
    assert free.status == ItemStatus.AVAILABLE  # the buyer's remaining unit is back on sale
    assert not any("WIDE-" in text for text in buyer.texts())


def test_a_sale_of_the_same_unit_twice_fails_loudly() -> None:
    unit = StockItem(id=7, product_id=3)
    other = StockItem(id=8, product_id=3)
    check_units(1, [(3, 2)], [unit, other])  # two distinct units for two ordered: fine
    with pytest.raises(UnitsMismatchError, match="1 distinct units of 2"):
        check_units(1, [(3, 2)], [unit, unit])
    with pytest.raises(UnitsMismatchError):
        check_units(1, [(3, 2)], [unit])
    with pytest.raises(UnitsMismatchError):
        check_units(1, [(3, 1), (4, 1)], [unit, other])  # the right count of the wrong product
