"""Owner listings of a large shop: /stats and /products split into messages under Telegram's
4096 characters (the fake refuses longer ones as Telegram does), nothing lost at the end."""

from __future__ import annotations

from app.db.models import OrderStatus, Product
from app.handlers.admin.common import split_messages
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, SessionFactory
from tests.test_owner_tools import seed_order

PRODUCTS = 150


async def _many_products(factory: SessionFactory) -> tuple[list[str], int]:
    """The slugs, and the first product's id."""
    slugs = [f"product-with-a-long-descriptive-slug-number-{n:04d}" for n in range(PRODUCTS)]
    products = [Product(slug=slug, title=f"Title {slug[-4:]}", price=5) for slug in slugs]
    async with factory() as session:
        session.add_all(products)
        await session.commit()
    return slugs, products[0].id


async def test_stats_of_a_large_shop_arrive_whole(shop: RunningBot) -> None:
    slugs, first = await _many_products(shop.session_factory)
    await seed_order(shop.session_factory, first, 5, OrderStatus.REFUND_DUE, charge_id="due-last")
    admin = Customer(shop.api, shop.tracker, ADMIN_ID)

    await admin.send("/stats")
    assert "photo" in admin.screen()  # the chart, after the figures
    texts = admin.texts()[:-1]
    assert len(texts) > 1  # one message could not hold it
    assert all(len(text) <= 4096 for text in texts)
    assert texts[0].startswith("Sales (paid orders")
    assert "/refund due-last" in texts[-1]  # the refunds due, last, are not lost
    whole = "\n".join(texts)
    assert all(slug in whole for slug in slugs)

    before = len(admin.texts())
    await admin.send("/products")
    listing = admin.texts()[before:]
    assert len(listing) > 1 and all(len(text) <= 4096 for text in listing)
    assert all(slug in "\n".join(listing) for slug in slugs)


def test_split_messages_keeps_lines_whole_and_drops_empty_messages() -> None:
    lines = ["header", "", *[f"line {n:03d}" for n in range(30)], ""]
    chunks = split_messages(lines, limit=50)
    assert all(len(chunk) <= 50 for chunk in chunks)
    assert all(chunk.strip() and chunk == chunk.strip("\n") for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n") if line] == [
        line for line in lines if line
    ]
