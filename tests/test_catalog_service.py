"""The catalog's read queries against real databases: counts, order, paging at the edges."""

from __future__ import annotations

from aiogram.types import User as TelegramUser
from sqlalchemy import update

from app.db.models import Product
from app.services import catalog, orders
from app.services.catalog import OTHER, PAGE_SIZE
from tests.shop_helpers import SessionFactory, seed_category, seed_product


async def test_categories_in_order_with_other_last(session_factory: SessionFactory) -> None:
    games = await seed_category(session_factory, "Games", position=2)
    books = await seed_category(session_factory, "Books", position=1)
    await seed_category(session_factory, "Empty", position=0)
    await seed_product(session_factory, "Loose", 4, ["L1"])
    await seed_product(session_factory, "Chess", 5, [], category_id=games)
    await seed_product(session_factory, "Tome", 3, ["T"], category_id=books)
    await seed_product(session_factory, "Hidden", 3, ["H"], category_id=books, is_active=False)
    async with session_factory() as session:
        rows = await catalog.categories(session)
    assert [(row.id, row.title, row.products) for row in rows] == [
        (books, "Books", 1),
        (games, "Games", 1),
        (OTHER, None, 1),
    ]


async def test_products_page_counts_and_clamps(session_factory: SessionFactory) -> None:
    for number in range(PAGE_SIZE + 2):
        await seed_product(
            session_factory, f"Key {number:02}", 2, [f"K{number}-{n}" for n in range(number % 3)]
        )
    async with session_factory() as session:
        first = await catalog.products_page(session, OTHER, 0)
        second = await catalog.products_page(session, OTHER, 1)
        beyond = await catalog.products_page(session, OTHER, 7)  # a stale button
        below = await catalog.products_page(session, OTHER, -3)
    assert (first.page, first.pages, len(first.items)) == (0, 2, PAGE_SIZE)
    assert [item.left for item in first.items[:3]] == [0, 1, 2]
    assert [item.title for item in second.items] == ["Key 08", "Key 09"]
    assert (beyond.page, beyond.items) == (1, second.items)
    assert (below.page, below.items) == (0, first.items)


async def test_products_page_of_an_emptied_category(session_factory: SessionFactory) -> None:
    books = await seed_category(session_factory, "Books")
    await seed_product(session_factory, "Tome", 3, ["T"], category_id=books)
    async with session_factory() as session:
        await session.execute(update(Product).values(is_active=False))
        await session.commit()
        page = await catalog.products_page(session, books, 2)
    assert (page.items, page.page, page.pages) == ([], 0, 1)


async def test_product_card_tells_the_viewer_of_their_reservation(
    session_factory: SessionFactory,
) -> None:
    product = await seed_product(session_factory, "Key", 7, ["A", "B"], description="Fine")
    async with session_factory() as session:
        card = await catalog.product_card(session, product, viewer_id=42)
        anonymous = await catalog.product_card(session, product)
        missing = await catalog.product_card(session, product + 100, viewer_id=42)
    assert card is not None and anonymous is not None and missing is None
    assert (card.title, card.price, card.left, card.category_id) == ("Key", 7, 2, OTHER)
    assert card.held_by_viewer is False and anonymous.held_by_viewer is False
    async with session_factory() as session:
        buyer = TelegramUser(id=42, is_bot=False, first_name="Buyer")
        await orders.reserve(session, buyer=buyer, product_id=product, minutes=15)
    async with session_factory() as session:
        held = await catalog.product_card(session, product, viewer_id=42)
        other = await catalog.product_card(session, product, viewer_id=43)
    assert held is not None and held.held_by_viewer is True and held.left == 1
    assert other is not None and other.held_by_viewer is False
