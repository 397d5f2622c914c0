"""Reviews through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL: a
delivered order is rated from My purchases; a text with a link or an @mention is refused and one
without accepted; one review per order; the card shows the average and the count, its button
the reviews, paged; an owner hides one and the card follows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db.models import OrderStatus, Product, Review
from app.i18n import translator
from app.services.products import ShopInputError
from app.services.reviews import MAX_TEXT, add_review, check_text, set_hidden
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, SessionFactory, buy, orders_of, seed_product
from tests.test_cart import add_to_cart, open_card
from tests.test_owner_tools import seed_order

en = translator("en")
BUYER = 7401


async def delivered(buyer: Customer, factory: SessionFactory, title: str) -> int:
    payload, amount = await buy(buyer, title)
    await buyer.pre_checkout(payload, amount)
    await buyer.pay(payload, amount)
    [order] = [o for o in await orders_of(factory, buyer.user_id) if o.payload == payload]
    assert order.status == OrderStatus.DELIVERED
    return order.id


async def test_a_review_is_refused_with_a_link_and_accepted_without(shop: RunningBot) -> None:
    factory = shop.session_factory
    product_id = await seed_product(factory, "Space Game", 50, ["KEY-1", "KEY-2"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    order_id = await delivered(buyer, factory, "Space Game")

    await buyer.send("/purchases")
    await buyer.press(f"Rate #{order_id}")
    assert buyer.screen()["text"] == en("buyer.reviews.ask_rating", order=order_id)
    await buyer.press("⭐⭐⭐⭐")
    assert buyer.screen()["text"].startswith("⭐⭐⭐⭐ — add a few words")
    refused = en("buyer.reviews.review_link").replace("&lt;", "<")
    for spam in ("great, see https://evil.example", "buy at cheap-keys.shop now", "ask @seller_x"):
        await buyer.send(spam)
        assert buyer.texts()[-1] == refused, spam
    await buyer.send("x" * (MAX_TEXT + 1))
    assert buyer.texts()[-1] == en("buyer.reviews.review_too_long", limit=MAX_TEXT)
    await buyer.send("Works great, thanks!")
    assert buyer.texts()[-1] == en("buyer.reviews.thanks")

    await buyer.send("/purchases")
    answer = await buyer.press(f"Rate #{order_id}")
    assert answer is not None and answer["text"] == en("buyer.reviews.review_exists")

    await buyer.send("/catalog")
    await buyer.press("Space Game")
    card = buyer.screen()
    assert "Rating: ⭐ 4.0 (1 rating)" in card["text"]
    await buyer.press("Reviews (1)")
    listing = buyer.screen()["text"]
    assert "⭐⭐⭐⭐ ·" in listing and "Works great, thanks!" in listing
    async with factory() as session:
        [review] = (await session.scalars(select(Review))).all()
    review_id = review.id
    assert f"#{review_id}" in listing

    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send(f"/hidereview {review_id}")
    assert owner.texts()[-1] == en("owner.review.hide_done", id=review_id)
    await owner.send(f"/hidereview {review_id}")
    assert owner.texts()[-1] == en("owner.review.hide_already", id=review_id)
    await owner.send("/hidereview 999")
    assert owner.texts()[-1] == en("owner.error.unknown_review", review_id=999)
    await buyer.send("/catalog")
    await buyer.press("Space Game")
    assert "Rating:" not in buyer.screen()["text"]
    await owner.send(f"/showreview {review_id}")
    assert owner.texts()[-1] == en("owner.review.show_done", id=review_id)
    async with factory() as session:
        product = await session.get(Product, product_id)
        assert product is not None and (product.rating_count, product.rating_sum) == (1, 4)


async def test_rating_only_and_the_paged_list(shop: RunningBot) -> None:
    factory = shop.session_factory
    product_id = await seed_product(factory, "Key", 5, [])
    for n in range(7):
        order_id = await seed_order(factory, product_id, 5, OrderStatus.DELIVERED, user_id=8000 + n)
        async with factory() as session:
            await add_review(session, 8000 + n, order_id, 1 + n % 5, f"review {n}")
            await session.commit()
    other = await seed_order(factory, product_id, 5, OrderStatus.REFUNDED, user_id=BUYER)
    async with factory() as session:
        with pytest.raises(ShopInputError):
            await add_review(session, BUYER, other, 5)  # not delivered
        with pytest.raises(ShopInputError):
            await add_review(session, 8001, other, 5)  # not theirs
        product = await session.get(Product, product_id)
        assert product is not None and product.rating_count == 7
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/catalog")
    await buyer.press("Key")
    assert "(7 ratings)" in buyer.screen()["text"]
    await buyer.press("Reviews (7)")
    first = buyer.screen()["text"]
    assert "review 6" in first and "review 2" in first and "review 1" not in first
    assert "Page 1 of 2" in first
    await buyer.press("Next")
    assert "review 0" in buyer.screen()["text"]


def test_check_text() -> None:
    assert check_text("  fine key, works  ") == "fine key, works"
    for bad in ("http://a.b", "www.site", "t.me/channel", "mail me at x.ru", "@someone hi"):
        with pytest.raises(ShopInputError):
            check_text(bad)
    assert check_text("5/5 would buy again. v1.2 works") == "5/5 would buy again. v1.2 works"
    assert check_text("e-mail: none") == "e-mail: none"


async def test_hiding_keeps_the_counters(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 5, [])
    order_id = await seed_order(session_factory, product_id, 5, OrderStatus.DELIVERED)
    async with session_factory() as session:
        review = await add_review(session, 2001, order_id, 3)
        await session.commit()
        assert await set_hidden(session, review.id, True) is True
        await session.commit()
        product = await session.get(Product, product_id)
        assert product is not None
        await session.refresh(product)
        assert (product.rating_count, product.rating_sum) == (0, 0)


async def test_each_product_of_a_cart_order_is_rated_on_its_own_card(shop: RunningBot) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Alpha", 10, ["A-1"])
    beta = await seed_product(factory, "Beta", 20, ["B-1"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await add_to_cart(buyer, "Alpha", 1)
    await add_to_cart(buyer, "Beta", 1)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=30))
    payload = buyer.invoices()[-1]["payload"]
    await buyer.pre_checkout(payload, 30)
    await buyer.pay(payload, 30)
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED

    await buyer.send("/purchases")
    await buyer.press(f"Rate #{order.id}")  # two products: which one first
    assert buyer.screen()["text"] == en("buyer.reviews.choose", order=order.id)
    await buyer.press(en("buyer.reviews.product", title="Beta"))
    assert buyer.screen()["text"] == en(
        "buyer.reviews.ask_rating_product", order=order.id, title="Beta"
    )
    await buyer.press("⭐⭐⭐⭐⭐")
    await buyer.send("Beta was great")
    assert buyer.texts()[-1] == en("buyer.reviews.thanks")
    await buyer.send("/purchases")
    await buyer.press(f"Rate #{order.id}")
    await buyer.press(en("buyer.reviews.product", title="Alpha"))
    await buyer.press("⭐⭐")
    answer = await buyer.press(en("buyer.reviews.skip"))
    assert answer is not None and answer["text"] == en("buyer.reviews.thanks")

    await buyer.send("/purchases")  # a second review of a line is refused
    await buyer.press(f"Rate #{order.id}")
    answer = await buyer.press(en("buyer.reviews.product_rated", title="Beta"))
    assert answer is not None and answer["text"] == en("buyer.reviews.review_exists")
    async with factory() as session:
        with pytest.raises(ShopInputError, match="review_exists"):
            await add_review(session, BUYER, order.id, 1, product_id=beta)
        with pytest.raises(ShopInputError, match="review_choose"):
            await add_review(session, BUYER, order.id, 1)
    for title, rating in (("Alpha", "⭐ 2.0 (1 rating)"), ("Beta", "⭐ 5.0 (1 rating)")):
        await open_card(buyer, title)
        assert f"Rating: {rating}" in buyer.screen()["text"], title
        await buyer.press("Reviews (1)")
        assert ("Beta was great" in buyer.screen()["text"]) == (title == "Beta")
