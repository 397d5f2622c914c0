"""The catalog's read queries against real databases: counts, order, paging at the edges,
the capped stock count and the order in which claims take items."""

from __future__ import annotations

from datetime import timedelta

from aiogram.types import User as TelegramUser
from sqlalchemy import update
from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.models import ItemStatus, OrderStatus, Product, StockItem
from app.db.uow import transaction
from app.handlers.catalog import card_text
from app.i18n import translator
from app.services import catalog, reservations
from app.services.availability import LEFT_CAP
from app.services.catalog import OTHER, PAGE_SIZE
from tests.big_shop import BigShop
from tests.shop_helpers import (
    SessionFactory,
    items_of,
    orders_of,
    seed_category,
    seed_product,
)

en = translator("en")


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
    assert [item.in_stock for item in first.items[:3]] == [False, True, True]
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
    async with transaction(session_factory) as session:
        buyer = TelegramUser(id=42, is_bot=False, first_name="Buyer")
        await reservations.reserve(session, buyer=buyer, product_id=product, minutes=15)
    async with session_factory() as session:
        held = await catalog.product_card(session, product, viewer_id=42)
        other = await catalog.product_card(session, product, viewer_id=43)
    assert held is not None and held.held_by_viewer is True and held.left == 1
    assert other is not None and other.held_by_viewer is False


async def test_stock_is_counted_exactly_up_to_the_cap(
    session_factory: SessionFactory, migrated_db_url: URL
) -> None:
    """Below LEFT_CAP the card's count is exact (expired reservations included); at the cap
    it stops, and the card reads "999+"."""
    exact = await seed_product(session_factory, "Exact", 5, ["E1", "E2", "E3"])
    plenty = await seed_product(session_factory, "Plenty", 5)
    await BigShop(migrated_db_url).add_keys(plenty, LEFT_CAP + 5, "PLENTY")
    async with transaction(session_factory) as session:
        buyer = TelegramUser(id=42, is_bot=False, first_name="Buyer")
        reservation = await reservations.reserve(session, buyer=buyer, product_id=exact, minutes=15)
    assert reservation.invoice is not None
    async with session_factory() as session:
        held = await catalog.product_card(session, exact)
        await session.execute(  # the reservation runs out: its item can be claimed again
            update(StockItem)
            .where(StockItem.status == ItemStatus.RESERVED)
            .values(reserved_until=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
        expired = await catalog.product_card(session, exact)
        big = await catalog.product_card(session, plenty)
        listing = await catalog.products_page(session, OTHER, 0)
    assert held is not None and expired is not None and big is not None
    assert (held.left, expired.left, big.left) == (2, 3, LEFT_CAP)
    assert [row.in_stock for row in listing.items] == [True, True]
    assert "In stock: <b>999+ items</b>" in card_text(en, big)
    assert "In stock: <b>3 items</b>" in card_text(en, expired)


async def test_a_claim_takes_available_items_before_expired_reservations(
    session_factory: SessionFactory,
) -> None:
    product = await seed_product(session_factory, "Key", 5, ["OLD", "NEW"])
    first = TelegramUser(id=42, is_bot=False, first_name="First")
    second = TelegramUser(id=43, is_bot=False, first_name="Second")
    third = TelegramUser(id=44, is_bot=False, first_name="Third")
    async with transaction(session_factory) as session:
        one = await reservations.reserve(session, buyer=first, product_id=product, minutes=15)
    async with transaction(session_factory) as session:
        await session.execute(
            update(StockItem)
            .where(StockItem.status == ItemStatus.RESERVED)
            .values(reserved_until=utcnow() - timedelta(minutes=1))
        )
    async with transaction(session_factory) as session:
        two = await reservations.reserve(session, buyer=second, product_id=product, minutes=15)
    async with transaction(session_factory) as session:
        three = await reservations.reserve(session, buyer=third, product_id=product, minutes=15)
    assert one.invoice and two.invoice and three.invoice
    items = {item.id: item for item in await items_of(session_factory, product)}
    placed = {order.id: order for order in await orders_of(session_factory)}
    taken = [placed[r.invoice.order_id].stock_item_id for r in (one, two, three) if r.invoice]
    assert taken[1] != taken[0]  # the available item went first
    assert taken[2] == taken[0]  # then the expired reservation was taken over
    assert placed[one.invoice.order_id].status == OrderStatus.EXPIRED
    assert all(items[item_id].status == ItemStatus.RESERVED for item_id in taken)
