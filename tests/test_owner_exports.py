"""/export orders and /export stock <slug> through the real Dispatcher and the fake Bot API, on
SQLite and PostgreSQL: the orders' CSV carries no delivered content, the stock file carries the
unsold items (and nothing sold), and the stock request is logged without the content."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from app.db.models import ItemStatus, Order, OrderStatus, StockItem, User
from app.handlers.admin import exports as export_handlers
from app.i18n import translator
from app.services.exports import ORDER_COLUMNS
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, SessionFactory, items_of, seed_product
from tests.test_owner_tools import BUYER, seed_cart_order, seed_order

en = translator("en")


def last_document(owner: Customer) -> tuple[str, bytes, str]:
    message = owner.screen()
    document = message["document"]
    content = owner.api.file_content(document["file_id"])
    return document["file_name"], content, message.get("caption", "")


async def _sell(factory: SessionFactory, product_id: int, item_id: int, user_id: int) -> int:
    order_id = await seed_order(factory, product_id, 7, OrderStatus.DELIVERED, user_id=user_id)
    async with factory() as session:
        await session.execute(
            update(StockItem).where(StockItem.id == item_id).values(status=ItemStatus.SOLD.value)
        )
        await session.execute(
            update(Order).where(Order.id == order_id).values(stock_item_id=item_id)
        )
        await session.commit()
    return order_id


async def test_orders_export_has_no_key_content(shop: RunningBot) -> None:
    factory = shop.session_factory
    keys = ["SECRET-KEY-AAA", "SECRET-KEY-BBB", "=HYPERLINK(1)"]
    product_id = await seed_product(factory, "Game", 7, keys, slug="game")
    items = await items_of(factory, product_id)
    for item in items[:2]:
        await _sell(factory, product_id, item.id, BUYER)
    async with factory() as session:
        user = await session.get(User, BUYER)
        assert user is not None
        user.username = "=cmd|evil"
        await session.commit()
    await seed_order(factory, product_id, 7, OrderStatus.REFUNDED, user_id=BUYER)
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/export orders")
    name, content, caption = last_document(owner)
    assert name.startswith("orders-") and name.endswith(".csv")
    assert caption == en("owner.export.orders", n=3)
    text = content.decode("utf-8-sig")
    for key in keys:
        assert key not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == ORDER_COLUMNS
    body = [dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [row["status"] for row in body] == ["delivered", "delivered", "refunded"]
    assert {(row["items"], row["units"]) for row in body} == {("Game ×1", "1")}
    assert {row["username"] for row in body} == {"'=cmd|evil"}, "no formula for a spreadsheet"


async def test_orders_export_lists_every_line_of_a_cart_order(shop: RunningBot) -> None:
    factory = shop.session_factory
    game = await seed_product(factory, "Game", 7, [], slug="game")
    tool = await seed_product(factory, "=Tool", 5, [], slug="tool")
    await seed_cart_order(factory, [(game, 2, 7), (tool, 1, 5)], OrderStatus.DELIVERED)
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/export orders")
    _, content, caption = last_document(owner)
    assert caption == en("owner.export.orders", n=1)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    [row] = [dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert (row["items"], row["units"], row["amount"]) == ("Game ×2; =Tool ×1", "3", "19")


async def test_stock_export_sends_the_unsold_items_and_logs_without_them(
    shop: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    factory = shop.session_factory
    keys = [f"KEY-{i:04d}" for i in range(5)]
    product_id = await seed_product(factory, "Game", 7, keys, slug="game")
    items = await items_of(factory, product_id)
    await _sell(factory, product_id, items[0].id, BUYER)
    async with factory() as session:
        await session.execute(
            update(StockItem)
            .where(StockItem.id == items[1].id)
            .values(status=ItemStatus.RESERVED.value)
        )
        await session.commit()
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    caplog.clear()
    await owner.send("/export stock game")
    name, content, caption = last_document(owner)
    assert name == "game-stock.txt"
    assert content.decode().splitlines() == keys[1:], "reserved and available, never the sold"
    assert "game: 4 unsold items" in caption
    logged = [r for r in caplog.records if "stock exported" in r.getMessage()]
    assert len(logged) == 1
    assert str(ADMIN_ID) in logged[0].getMessage() and "game" in logged[0].getMessage()
    assert not any(key in caplog.text for key in keys)

    await owner.send("/export stock nothing-here")
    assert owner.texts()[-1] == en("owner.error.unknown_product", slug="nothing-here")
    await seed_product(factory, "Empty", 3, [], slug="empty")
    await owner.send("/export stock empty")
    assert owner.texts()[-1] == "empty has no unsold items to export."
    for command in ("/export", "/export stuff", "/export stock", "/export orders now"):
        await owner.send(command)
        assert "Usage: /export orders" in owner.texts()[-1], command


async def test_a_large_orders_export_comes_in_parts_under_the_upload_limit(
    shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the limit lowered to 4 KB: several parts, each a whole CSV with its header, each
    under the limit, and together every order once."""
    monkeypatch.setattr(export_handlers, "UPLOAD_LIMIT", 4096)
    factory = shop.session_factory
    game = await seed_product(factory, "Game «Deluxe», edition", 7, [], slug="game")
    made = [await seed_order(factory, game, 7, OrderStatus.DELIVERED) for _ in range(60)]
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/export orders")
    documents = [m for m in shop.api.sent_to(ADMIN_ID) if "document" in m]
    assert len(documents) > 2
    seen: list[int] = []
    for number, message in enumerate(documents, 1):
        name, caption = message["document"]["file_name"], message["caption"]
        assert name.startswith("orders-") and name.endswith(f"-{number}.csv")
        assert caption == en("owner.export.orders", n=60) + " " + en(
            "owner.export.part", part=number, parts=len(documents)
        )
        content = shop.api.file_content(message["document"]["file_id"])
        assert len(content) <= 4096
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert tuple(rows[0]) == ORDER_COLUMNS and len(rows) > 1
        seen += [int(row[0]) for row in rows[1:]]
    assert seen == made, "every order once, oldest first"


async def test_orders_export_of_some_days(shop: RunningBot) -> None:
    factory = shop.session_factory
    game = await seed_product(factory, "Game", 7, [], slug="game")
    days = {}
    for day in (1, 2, 3, 4):
        order_id = await seed_order(factory, game, 7, OrderStatus.DELIVERED)
        async with factory() as session:
            created = datetime(2026, 3, day, 23, 59, tzinfo=UTC)
            await session.execute(
                update(Order).where(Order.id == order_id).values(created_at=created)
            )
            await session.commit()
        days[day] = order_id
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    for command, expected in (
        ("/export orders since=2026-03-02 until=2026-03-03", [days[2], days[3]]),
        ("/export orders since=2026-03-04", [days[4]]),
        ("/export orders until=2026-03-01", [days[1]]),
        ("/export orders until=2026-02-28", []),
    ):
        await owner.send(command)
        name, content, caption = last_document(owner)
        assert name.endswith(".csv") and "part" not in name
        assert caption == en("owner.export.orders", n=len(expected)), command
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert [int(row[0]) for row in rows[1:]] == expected, command
    usage = en("owner.export.usage")
    for command, error in (
        ("since=yesterday", en("owner.error.export_bad_date", option="since", value="yesterday")),
        ("until=2026-13-01", en("owner.error.export_bad_date", option="until", value="2026-13-01")),
        ("since=2026-03-04 until=2026-03-01", en("owner.error.export_bad_span")),
        ("from=2026-03-01", en("owner.error.export_bad_option", option="from=2026-03-01")),
        (
            "until=2026-03-01 until=2026-03-02",
            en("owner.error.export_bad_option", option="until=2026-03-02"),
        ),
    ):
        await owner.send(f"/export orders {command}")
        assert owner.texts()[-1] == html.unescape(error + "\n" + usage), command
