"""What no order may be, whichever path it takes: more units of a product than MAX_QUANTITY
(a forged promo callback) or a total one Stars invoice cannot carry. Refused before anything
is held, through the real Dispatcher on both databases."""

from __future__ import annotations

import pytest

from app.i18n import translator
from app.keyboards.buyer import PromoCb
from app.services.products import STARS_INVOICE_MAX, ShopInputError, parse_price
from tests.fake_api.payments import STARS_MAX
from tests.harness import RunningBot
from tests.shop_helpers import Customer, items_of, orders_of, seed_product

en = translator("en")
BUYER = 7201


def test_the_shop_and_the_fake_agree_on_the_stars_maximum() -> None:
    assert STARS_INVOICE_MAX == STARS_MAX


def test_a_price_nobody_could_pay_is_refused() -> None:
    assert parse_price(str(STARS_INVOICE_MAX)) == STARS_INVOICE_MAX
    with pytest.raises(ShopInputError) as refused:
        parse_price(str(STARS_INVOICE_MAX + 1))
    assert (refused.value.code, refused.value.params["max"]) == ("bad_price", STARS_INVOICE_MAX)


async def test_a_forged_promo_callback_cannot_reserve_more_than_max_quantity(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    product = await seed_product(factory, "Key", 10, [f"KEY-{n}" for n in range(60)])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/start")
    forged = shop.api.callback_query(BUYER, PromoCb(product=product, qty=50).pack())
    await shop.tracker.wait(forged["update_id"])
    await buyer.send("ANYCODE")
    assert buyer.texts()[-1] == en("buyer.checkout.too_many", n=10)
    assert await orders_of(factory, BUYER) == []
    assert all(item.order_id is None for item in await items_of(factory, product))
    assert buyer.invoices() == []


@pytest.mark.settings(max_quantity=20)
async def test_the_promo_path_keeps_the_shops_own_max_quantity(shop: RunningBot) -> None:
    factory = shop.session_factory
    product = await seed_product(factory, "Key", 10, [f"KEY-{n}" for n in range(60)])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/start")
    asked = shop.api.callback_query(BUYER, PromoCb(product=product, qty=15).pack())
    await shop.tracker.wait(asked["update_id"])
    await buyer.send("NOSUCHCODE")  # refused: the 15 units are held at the full price
    assert [invoice["prices"][0]["amount"] for invoice in buyer.invoices()] == [150]
    forged = shop.api.callback_query(BUYER, PromoCb(product=product, qty=21).pack())
    await shop.tracker.wait(forged["update_id"])
    await buyer.send("NOSUCHCODE")
    assert buyer.texts()[-1] == en("buyer.checkout.too_many", n=20)


async def test_a_total_over_the_stars_maximum_is_refused_before_anything_is_held(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    product = await seed_product(factory, "Gold", 6_000, ["GOLD-1", "GOLD-2"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    await buyer.press("Gold")
    await buyer.press("➕")
    answer = await buyer.press(en("buyer.catalog.buy_n", n=2, price=12_000))
    assert answer is not None and answer.get("show_alert")
    assert answer["text"] == en("buyer.checkout.over_stars_max", max=STARS_INVOICE_MAX)
    assert "10000 ⭐" in answer["text"]
    assert await orders_of(factory, BUYER) == []
    assert all(item.order_id is None for item in await items_of(factory, product))
    assert shop.api.calls_of("sendInvoice") == []
