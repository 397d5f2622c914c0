"""What the admin panel adds to the services, on SQLite and PostgreSQL: the dashboard's
figures, category edits, masked and revealed stock items; and the sign-in limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.admin_panel.throttle import SignInThrottle
from app.db.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentSource,
    Refund,
    RefundReason,
    RefundStatus,
    User,
)
from app.services import categories, products
from app.services.products import ShopInputError
from app.services.sales import CHART_DAYS, dashboard
from app.services.stock_items import mask, reveal_item
from tests.shop_helpers import SessionFactory, add_stock, seed_category, seed_product

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


async def _orders(
    factory: SessionFactory, product_id: int, rows: list[tuple[str, int, int]]
) -> None:
    """Orders of user 1 for the product: (status, amount, paid hours before NOW)."""
    async with factory() as session:
        session.add(User(id=1, first_name="Buyer"))
        await session.flush()
        for number, (status, amount, hours) in enumerate(rows):
            paid = NOW - timedelta(hours=hours)
            order = Order(
                user_id=1,
                product_id=product_id,
                payload=f"payload-{number}",
                amount=amount,
                status=status,
                expires_at=paid,
                created_at=paid - timedelta(minutes=5),
                paid_at=None if status == OrderStatus.PENDING else paid,
                delivered_at=paid if status == OrderStatus.DELIVERED else None,
                telegram_payment_charge_id=f"charge-{number}",
            )
            session.add(order)
            await session.flush()
            if status == OrderStatus.PENDING:
                continue
            session.add(  # every paid order is in the ledger
                Payment(
                    charge_id=f"charge-{number}",
                    user_id=1,
                    payload=order.payload,
                    currency="XTR",
                    amount=amount,
                    paid_at=paid,
                    source=PaymentSource.UPDATE.value,
                )
            )
            await session.flush()
            if status in (OrderStatus.REFUNDED, OrderStatus.REFUND_DUE):
                refunded = status == OrderStatus.REFUNDED
                session.add(
                    Refund(
                        charge_id=f"charge-{number}",
                        order_id=order.id,
                        user_id=1,
                        amount=amount,
                        reason=RefundReason.SOLD_OUT.value,
                        status=(RefundStatus.REFUNDED if refunded else RefundStatus.DUE).value,
                    )
                )
        await session.commit()


async def test_dashboard_figures(session_factory: SessionFactory) -> None:
    low = await seed_product(session_factory, "Low", 5, ["a", "b"], low_stock_threshold=3)
    await seed_product(session_factory, "Plenty", 5, ["c", "d", "e", "f"], low_stock_threshold=3)
    await seed_product(session_factory, "Hidden", 5, [], low_stock_threshold=3, is_active=False)
    delivered, refunded = OrderStatus.DELIVERED.value, OrderStatus.REFUNDED.value
    await _orders(
        session_factory,
        low,
        [
            (delivered, 10, 1),  # today
            (OrderStatus.PAID.value, 7, 2),  # today, paid; the goods are not sent yet
            (delivered, 20, 16),  # yesterday (UTC)
            (delivered, 30, 24 * 6),  # within 7 days
            (delivered, 40, 24 * 20),  # within 30 days
            (delivered, 50, 24 * 31),  # older
            (refunded, 60, 1),  # refunds are no revenue
            (OrderStatus.REFUND_DUE.value, 70, 3),
            (OrderStatus.PENDING.value, 80, 1),
        ],
    )
    async with session_factory() as session:
        figures = await dashboard(session, NOW)
    assert (figures.today.sales, figures.today.revenue) == (2, 17)
    assert (figures.week.sales, figures.week.revenue) == (4, 67)
    assert (figures.month.sales, figures.month.revenue) == (5, 107)
    assert len(figures.days) == CHART_DAYS
    assert figures.days[-1].day == NOW.date() and figures.days[-1].revenue == 17
    assert figures.days[-2].revenue == 20
    assert sum(day.revenue for day in figures.days) == 107
    assert figures.undelivered == 1
    assert figures.refund_due_count == 1 and figures.refund_due[0].amount == 70
    assert [row.title for row in figures.low_stock] == ["Low"]


async def test_dashboard_of_an_empty_shop(session_factory: SessionFactory) -> None:
    async with session_factory() as session:
        figures = await dashboard(session)
    assert figures.month.revenue == 0 and len(figures.days) == CHART_DAYS
    assert (figures.undelivered, figures.refund_due_count, figures.low_stock) == (0, 0, [])


async def test_category_edits(session_factory: SessionFactory) -> None:
    games = await seed_category(session_factory, "Games")
    await seed_category(session_factory, "Books")
    await seed_product(session_factory, "One", 3, category_id=games)
    await seed_product(session_factory, "Two", 3, category_id=games, is_active=False)
    await seed_product(session_factory, "Elsewhere", 3)
    async with session_factory() as session:
        category = await products.find_category(session, "games")
        assert category is not None
        with pytest.raises(ShopInputError) as taken:
            await categories.rename_category(session, category, "  BOOKS ")
        assert taken.value.code == "category_exists"
        await categories.rename_category(session, category, "Video   games")
        for bad in ("", "1.5", "x", str(categories.MAX_POSITION + 1)):
            with pytest.raises(ShopInputError) as position:
                await categories.set_category_position(session, category, bad)
            assert position.value.code == "bad_position"
        await categories.set_category_position(session, category, " -2 ")
        assert await categories.take_products_off_sale(session, games) == 1
        await session.commit()
    async with session_factory() as session:
        renamed = await products.find_category(session, "video games")
        assert renamed is not None and (renamed.title, renamed.position) == ("Video games", -2)
        rows = {row.title: row.is_active for row in await products.product_rows(session)}
    assert rows == {"One": False, "Two": False, "Elsewhere": True}


@pytest.mark.parametrize(
    ("content", "masked"),
    [
        ("ABCD-EFGH-1289", "ABCD…89"),
        ("ABCDEFGHIJ", "ABCD…IJ"),
        ("ABCDEFGHI", "AB…I"),
        ("ABCDEF", "AB…F"),
        ("ABCDE", "…"),
        ("", "…"),
    ],
)
def test_mask(content: str, masked: str) -> None:
    assert mask(content) == masked


async def test_reveal_one_item(session_factory: SessionFactory) -> None:
    product = await seed_product(session_factory, "Key", 3, slug="key")
    [item] = await add_stock(session_factory, product, ["SECRET-KEY-0001"])
    async with session_factory() as session:
        revealed = await reveal_item(session, item)
        missing = await reveal_item(session, item + 100)
    assert revealed is not None and missing is None
    assert (revealed.content, revealed.product_slug, revealed.status) == (
        "SECRET-KEY-0001",
        "key",
        "available",
    )


def test_sign_in_throttle() -> None:
    now = [1000.0]
    throttle = SignInThrottle(limit=5, window=600, max_addresses=3, clock=lambda: now[0])
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
        now[0] += 10
    wait = throttle.retry_after("10.0.0.1")
    assert wait is not None and 540 <= wait <= 560
    assert throttle.retry_after("10.0.0.2") is None  # per address
    now[0] += 551  # the oldest failure is ten minutes old: one more try
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is not None
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None
    for address in ("a", "b", "c", "d"):  # bounded memory: the stalest address is forgotten
        for _ in range(5):
            throttle.failed(address)
    assert throttle.retry_after("a") is None and throttle.retry_after("d") is not None
