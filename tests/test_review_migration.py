"""The revisions that make a review one per order and product, with reviews in the table (SQLite
and PostgreSQL): down again, each order keeps its first review and the products' counters
are counted anew (the one-per-order rule cannot hold more); up again, both rules are back."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.engine import create_session_factory
from app.db.migrate import alembic_config
from app.db.models import Order, OrderLine, OrderStatus, Product, Review
from app.services.reviews import add_review
from tests.processes import run_alembic
from tests.schema import head, heads_of
from tests.shop_helpers import SessionFactory, seed_product
from tests.test_owner_tools import seed_order

INDEX_REVISION = "04b6eed679bd"  # the unique index of order and product; the next drops the rule
BUYER = 7501


def _before_index() -> str:
    script = ScriptDirectory.from_config(alembic_config(DatabaseSettings()))
    down = script.get_revision(INDEX_REVISION).down_revision
    assert isinstance(down, str)
    return down


async def _counters(factory: SessionFactory) -> list[tuple[str, int, int]]:
    async with factory() as session:
        query = select(Product.title, Product.rating_count, Product.rating_sum)
        return [tuple(row) for row in await session.execute(query.order_by(Product.id))]


async def _alembic(url: URL, *args: str) -> None:
    done = await asyncio.to_thread(run_alembic, *args, database_url=url)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_down_keeps_each_orders_first_review_and_up_again(
    engine: AsyncEngine, migrated_db_url: URL
) -> None:
    factory = create_session_factory(engine)
    alpha = await seed_product(factory, "Alpha", 10)
    beta = await seed_product(factory, "Beta", 20)
    order_id = await seed_order(factory, alpha, 30, OrderStatus.DELIVERED, user_id=BUYER)
    async with factory() as session:  # a cart's order: two lines
        session.add_all(
            OrderLine(order_id=order_id, product_id=pid, quantity=1, unit_price=price)
            for pid, price in ((alpha, 10), (beta, 20))
        )
        await session.commit()
        await add_review(session, BUYER, order_id, 2, "alpha", product_id=alpha)
        await add_review(session, BUYER, order_id, 5, "beta", product_id=beta)
        await session.commit()
    assert await _counters(factory) == [("Alpha", 1, 2), ("Beta", 1, 5)]
    await engine.dispose()

    await _alembic(migrated_db_url, "downgrade", _before_index())
    async with factory() as session:
        kept = [(r.product_id, r.text) for r in await session.scalars(select(Review))]
        assert await session.get(Order, order_id) is not None
    assert kept == [(alpha, "alpha")]
    assert await _counters(factory) == [("Alpha", 1, 2), ("Beta", 0, 0)]
    await engine.dispose()

    await _alembic(migrated_db_url, "upgrade", "head")
    async with factory() as session:
        await add_review(session, BUYER, order_id, 4, "beta again", product_id=beta)
        await session.commit()
    assert await _counters(factory) == [("Alpha", 1, 2), ("Beta", 1, 4)]
    assert await heads_of(migrated_db_url) == (head(),)
