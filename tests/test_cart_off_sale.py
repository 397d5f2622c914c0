"""A cart line whose product was taken off sale, through the real Dispatcher and the fake Bot
API (SQLite and PostgreSQL): the total leaves it out, Pay reserves the rest and names it, and it
stays in the cart; a cart with nothing on sale says so and sends no invoice."""

from __future__ import annotations

from sqlalchemy import update

from app.db.models import OrderStatus, Product
from app.i18n import translator
from app.keyboards.buyer import CartCb
from tests.harness import RunningBot
from tests.shop_helpers import Customer, SessionFactory, buttons, invoice_amount, orders_of
from tests.shop_helpers import seed_product as seed
from tests.test_cart import _cart, add_to_cart

en = translator("en")
BUYER = 7051


async def off_sale(factory: SessionFactory, product_id: int) -> None:
    async with factory() as session:  # as the owner's /editproduct … active no does
        await session.execute(
            update(Product).where(Product.id == product_id).values(is_active=False)
        )
        await session.commit()


async def test_a_line_off_sale_is_named_and_left_out_of_the_carts_invoice(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    await seed(factory, "Alpha", 10, ["A-1", "A-2"])
    beta = await seed(factory, "Beta", 20, ["B-1"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await add_to_cart(buyer, "Alpha", 1)
    await add_to_cart(buyer, "Beta", 1)
    await off_sale(factory, beta)

    await buyer.send("/cart")
    screen = buyer.screen()["text"]
    line = en("buyer.cart.line", title="Beta", n=1, amount=20)
    assert f"{line} — {en('buyer.cart.off_sale')}" in screen
    assert "Total: 10 ⭐" in screen
    answer = await buyer.press(en("buyer.cart.pay", price=10))
    assert answer is not None and answer.get("show_alert") is True
    assert answer["text"].startswith("Reserved for you")
    assert answer["text"].endswith(en("buyer.cart.left_out", titles="Beta"))
    [invoice] = buyer.invoices()
    assert (invoice["title"], invoice_amount(invoice)) == ("Alpha", 10)
    assert (await buyer.pre_checkout(invoice["payload"], 10))["ok"] is True
    await buyer.pay(invoice["payload"], 10)
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    assert await _cart(factory, BUYER) == [(beta, 1)]  # Beta stays, marked

    await buyer.send("/cart")
    labels = [button["text"] for button in buttons(buyer.screen())]
    assert not any("Pay" in label or "Promo" in label for label in labels), labels
    stale = CartCb(action="pay").pack()  # Pay pressed on an older screen of the cart
    answer = await buyer.press_data(stale, message_id=buyer.screen()["message_id"])
    assert answer is not None and answer.get("show_alert") is True
    assert answer["text"] == en("buyer.cart.all_off_sale", titles="Beta")
    assert len(buyer.invoices()) == 1
    assert len(await orders_of(factory, BUYER)) == 1
