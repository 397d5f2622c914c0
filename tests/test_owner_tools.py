"""Owner tools through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL:
who may use them, catalog editing, /stats and /refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.models import (
    Broadcast,
    Category,
    ItemStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentSource,
    Product,
    Refund,
    RefundReason,
    RefundStatus,
    StockItem,
    User,
)
from app.i18n import translator
from app.keyboards.admin import AdminMenu, ProductEdit
from app.services.stats import shop_stats
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, SessionFactory, seed_product

en = translator("en")
BUYER = 2001
STRANGER = 2002


async def seed_user(session_factory: SessionFactory, user_id: int, language: str = "en") -> None:
    async with session_factory() as session:
        if await session.get(User, user_id) is None:
            session.add(User(id=user_id, first_name=f"User{user_id}", language_code=language))
            await session.commit()


async def seed_order(
    session_factory: SessionFactory,
    product_id: int,
    amount: int,
    status: OrderStatus,
    *,
    user_id: int = BUYER,
    charge_id: str | None = None,
    paid_at: datetime | None = None,
) -> int:
    await seed_user(session_factory, user_id)
    async with session_factory() as session:
        count = await session.scalar(select(func.count(Order.id)))
        paid = paid_at or utcnow()
        order = Order(
            user_id=user_id,
            product_id=product_id,
            payload=f"order-{(count or 0) + 1}",
            amount=amount,
            status=status.value,
            expires_at=paid + timedelta(minutes=15),
            telegram_payment_charge_id=charge_id,
            paid_at=paid,
            delivered_at=paid if status == OrderStatus.DELIVERED else None,
        )
        session.add(order)
        await session.flush()
        if charge_id is not None:  # paid: in the ledger, with its refund if it has one
            session.add(
                Payment(
                    charge_id=charge_id,
                    user_id=user_id,
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
                        charge_id=charge_id,
                        order_id=order.id,
                        user_id=user_id,
                        amount=amount,
                        reason=(RefundReason.OWNER if refunded else RefundReason.SOLD_OUT).value,
                        status=(RefundStatus.REFUNDED if refunded else RefundStatus.DUE).value,
                        refunded_at=paid if refunded else None,
                    )
                )
        await session.commit()
        return order.id


async def seed_cart_order(
    session_factory: SessionFactory,
    lines: list[tuple[int, int, int]],
    status: OrderStatus,
    *,
    amount: int | None = None,
    paid_at: datetime | None = None,
) -> int:
    """An order of several lines (product, quantity, unit price), as a cart's; ``amount`` is
    what was charged (the lines' sum unless a discount was taken off)."""
    total = sum(quantity * price for _, quantity, price in lines)
    order_id = await seed_order(
        session_factory, lines[0][0], amount or total, status, paid_at=paid_at
    )
    async with session_factory() as session:
        session.add_all(
            OrderLine(order_id=order_id, product_id=product, quantity=quantity, unit_price=price)
            for product, quantity, price in lines
        )
        await session.commit()
    return order_id


async def count(session_factory: SessionFactory, model: type) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def users(shop: RunningBot) -> tuple[Customer, Customer]:
    tracker = shop.tracker
    return Customer(shop.api, tracker, ADMIN_ID), Customer(shop.api, tracker, STRANGER)


async def test_non_admin_gets_the_unknown_command_reply_and_changes_nothing(
    shop: RunningBot,
) -> None:
    admin, stranger = users(shop)
    factory = shop.session_factory
    product_id = await seed_product(factory, "Game key", 100, ["K1"], slug="game-key")
    order_id = await seed_order(factory, product_id, 100, OrderStatus.DELIVERED, charge_id="ch-1")
    shop.api.lost_payment(BUYER, "order:1", 100, "ch-1")
    unknown = en("unknown_command")
    commands = [
        "/admin", "/addcategory Games", "/addproduct", "new-slug", "/products",
        "/editproduct game-key", "/editproduct game-key price 1", "/stock game-key",
        "/stock game-key\nNEW-KEY", "/stats", "/refund ch-1", "/broadcast Hello everyone",
        "/broadcast", "/stopbroadcast", "/cancel", f"/ban {BUYER}", f"/unban {BUYER}",
        "/export orders", "/export stock game-key", "/export", "/hidereview 1",
        "/showreview 1", "/stockfiles game-key", "/promo add SALE 10", "/promo list",
        "/promo disable SALE", "/promo",
    ]  # fmt: skip
    for command in commands:
        before = len(stranger.texts())
        await stranger.send(command)
        assert stranger.texts()[before:] == [unknown], command
    document = shop.api.add_file(b"FILE-KEY\n", "keys.txt")
    update = shop.api.message(STRANGER, "/stock game-key", document=document)
    await stranger.tracker.wait(update["update_id"])
    assert stranger.texts()[-1] == unknown
    # The owner's buttons do nothing for anyone else (the fallback calls them stale).
    for data in (
        AdminMenu(action="add_category").pack(),
        ProductEdit(product_id=product_id, field="active").pack(),
    ):
        answer = await stranger.press_data(data)
        assert answer is not None
        assert answer.get("text") == en("buyer.fallback.stale_button")
    await stranger.send("Games")
    assert stranger.texts()[-1] == unknown

    async with factory() as session:
        product = await session.get(Product, product_id)
        order = await session.get(Order, order_id)
        assert product is not None and order is not None
        assert (product.price, product.is_active) == (100, True)
        assert order.status == OrderStatus.DELIVERED
    assert await count(factory, Category) == 0
    assert await count(factory, Product) == 1
    assert await count(factory, StockItem) == 1
    assert await count(factory, Broadcast) == 0
    assert shop.api.calls_of("refundStarPayment") == []
    assert shop.api.calls_of("getFile") == []
    assert admin.texts() == []
    assert {p["chat_id"] for p in shop.api.calls_of("sendMessage")} == {STRANGER}


async def test_admin_adds_a_category_and_a_product_then_edits_it(shop: RunningBot) -> None:
    admin, _ = users(shop)
    factory = shop.session_factory
    await admin.send("/admin")
    assert "Shop admin" in admin.texts()[-1]
    assert len(admin.screen()["reply_markup"]["inline_keyboard"]) == 3

    await admin.send("/addcategory Games")
    assert admin.texts()[-1] == "Category Games created."
    await admin.send("/addcategory games")
    assert admin.texts()[-1] == en("owner.error.category_exists", title="games")

    await admin.send("/addproduct")
    steps = [
        ("Bad Slug!", "is not a valid slug"),
        ("game-key", "Title"),
        ("A" * 40, "The title must be 1 to 32"),
        ("Game key", "Price in Stars"),
        ("0", "is not a valid price"),
        ("12.5", "is not a valid price"),
        ("150", "Category: send its name"),
        ("games", "Description"),
        ("A key for the game", "Product Game key (game-key) created at 150 ⭐"),
    ]
    for text, expected in steps:
        await admin.send(text)
        assert expected in admin.texts()[-1], (text, admin.texts()[-1])
    async with factory() as session:
        product = (await session.scalars(select(Product))).one()
        category = (await session.scalars(select(Category))).one()
        assert (product.slug, product.title, product.price) == ("game-key", "Game key", 150)
        assert product.category_id == category.id
        assert product.description == "A key for the game"

    await admin.send("/addproduct")
    await admin.send("game-key")
    assert admin.texts()[-1] == en("owner.error.slug_taken", slug="game-key")
    await admin.send("/cancel")
    assert admin.texts()[-1] == "Cancelled."

    await admin.send("/editproduct game-key price 200")
    assert admin.texts()[-2:][0] == "Saved."
    assert "Price: 200 ⭐" in admin.texts()[-1]
    await admin.send("/editproduct game-key price -5")
    assert "is not a valid price" in admin.texts()[-1]
    await admin.send("/editproduct nope")
    assert admin.texts()[-1] == en("owner.error.unknown_product", slug="nope")

    # The card's buttons: change the price, then hide the product from the shop.
    await admin.send("/editproduct game-key")
    await admin.press("Price")
    assert "Price in Stars" in admin.texts()[-1]
    await admin.send("250")
    assert "Price: 250 ⭐" in admin.texts()[-1]
    await admin.press("Hide from the shop")
    assert "In the shop: no" in admin.screen()["text"]
    await admin.send("/editproduct game-key category -")
    assert "Category: no category" in admin.texts()[-1]
    async with factory() as session:
        product = (await session.scalars(select(Product))).one()
        assert (product.price, product.is_active, product.category_id) == (250, False, None)

    await admin.send("/products")
    assert "game-key — Game key, 250 ⭐, no category: 0 / 0 / 0" in admin.texts()[-1]


async def test_stats_count_delivered_sales_and_revenue_per_period(shop: RunningBot) -> None:
    factory = shop.session_factory
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    key = await seed_product(factory, "Key", 100, ["A", "B"], slug="key", low_stock_threshold=3)
    box = await seed_product(factory, "Box", 40, [f"b{i}" for i in range(5)], slug="box")
    sold = [
        (key, 100, now - timedelta(hours=1)),  # today
        (box, 40, now.replace(hour=0, minute=0)),  # today, at midnight
        (key, 100, now - timedelta(days=3)),  # this week
        (box, 40, now - timedelta(days=30)),  # earlier
    ]
    for product_id, amount, paid_at in sold:
        await seed_order(factory, product_id, amount, OrderStatus.DELIVERED, paid_at=paid_at)
    await seed_order(factory, key, 100, OrderStatus.REFUNDED, paid_at=now, charge_id="r-1")
    await seed_order(factory, box, 40, OrderStatus.REFUND_DUE, paid_at=now, charge_id="due-1")
    await seed_order(factory, box, 40, OrderStatus.PENDING, paid_at=now)
    async with factory() as session:
        stats = await shop_stats(session, now)
    assert (stats.today.sales, stats.today.revenue) == (2, 140)
    assert (stats.week.sales, stats.week.revenue) == (3, 240)
    assert (stats.all_time.sales, stats.all_time.revenue) == (4, 280)
    assert stats.refunded == 1
    assert stats.refund_due_count == 1
    assert stats.refund_due[0].charge_id == "due-1"
    left = {row.slug: (row.available, row.low_stock) for row in stats.products}
    assert left == {"key": (2, True), "box": (5, False)}

    # Through the bot: orders paid just now count as today.
    await seed_order(factory, key, 100, OrderStatus.DELIVERED)
    admin, _ = users(shop)
    await admin.send("/stats")
    assert "photo" in admin.screen()  # the chart comes last (tests/test_owner_charts.py)
    text = admin.texts()[-2]
    assert "Today: 1 sale, 100 ⭐" in text
    assert "All time: 5 sales, 380 ⭐" in text
    assert "Refunds made: 1" in text
    assert "Paid, goods not delivered yet: 0" in text
    assert "⚠️ key: 2 (0) — running low" in text
    assert "box: 5 (0)" in text
    assert "Refunds due: 1" in text
    assert "Box, 40 ⭐ (sold out): /refund due-1" in text.replace("box,", "Box,")


async def test_refund_marks_the_order_only_when_telegram_agrees(shop: RunningBot) -> None:
    admin, _ = users(shop)
    api, factory = shop.api, shop.session_factory
    product_id = await seed_product(factory, "Game key", 150, slug="game-key")
    ok = await seed_order(factory, product_id, 150, OrderStatus.REFUND_DUE, charge_id="ch-ok")
    api.lost_payment(BUYER, "order:1", 150, "ch-ok")
    # A charge Telegram does not know (it answers 400 CHARGE_ID_INVALID).
    bogus = await seed_order(factory, product_id, 150, OrderStatus.DELIVERED, charge_id="ch-bad")
    # A charge refunded at Telegram while the database still says delivered.
    elsewhere = await seed_order(factory, product_id, 150, OrderStatus.DELIVERED, charge_id="ch-x")
    api.lost_payment(BUYER, "order:3", 150, "ch-x")
    api.refund_elsewhere(BUYER, "ch-x")

    await admin.send("/refund ch-ok")
    assert admin.texts()[-1] == f"Refunded 150 ⭐ to user {BUYER} (ch-ok)."
    assert api.stars_refunds == [{"user_id": BUYER, "telegram_payment_charge_id": "ch-ok"}]
    assert "have been refunded" in api.sent_to(BUYER)[-1]["text"]  # it was refund due: sold out
    await admin.send("/refund ch-ok")
    assert admin.texts()[-1] == "The payment ch-ok is already refunded."
    assert len(api.calls_of("refundStarPayment")) == 1

    await admin.send("/refund nope")
    assert admin.texts()[-1] == "No payment with the charge id nope. Check it and try again."
    await admin.send("/refund")
    assert admin.texts()[-1].startswith("Usage: /refund")

    await admin.send("/refund ch-bad")
    assert admin.texts()[-1] == (
        "Telegram refused the refund of ch-bad: "
        "Bad Request: CHARGE_ID_INVALID. Nothing was changed."
    )
    await admin.send("/refund ch-x")
    assert admin.texts()[-1] == "The payment ch-x is already refunded."
    assert len(api.calls_of("refundStarPayment")) == 3

    async with factory() as session:
        orders = {o.id: o for o in await session.scalars(select(Order))}
    assert orders[ok].status == OrderStatus.REFUNDED
    assert orders[ok].refunded_at is not None
    assert orders[bogus].status == OrderStatus.DELIVERED
    assert orders[bogus].refunded_at is None
    assert orders[elsewhere].status == OrderStatus.REFUNDED
    async with factory() as session:
        items = list(await session.scalars(select(StockItem.status)))
    assert ItemStatus.AVAILABLE not in items  # nothing went back on sale


async def test_the_admin_menu_buttons(shop: RunningBot) -> None:
    admin, _ = users(shop)
    await seed_product(shop.session_factory, "Game key", 10, ["A"], slug="game-key")
    await admin.send("/admin")
    await admin.press("Category")
    await admin.send("Books")
    assert admin.texts()[-1] == "Category Books created."
    await admin.send("/admin")
    await admin.press("Products")
    assert "game-key — Game key, 10 ⭐, no category: 1 / 0 / 0" in admin.texts()[-1]
    await admin.press("game-key")
    assert admin.texts()[-1].startswith("Game key (game-key)\nPrice: 10 ⭐")
    assert "Stock: 1 available, 0 reserved, 0 sold" in admin.texts()[-1]
    await admin.press("Upload stock")
    await admin.send("B\nA")
    assert admin.texts()[-1].startswith("Game key: added 1, duplicates rejected 1")
    await admin.send("/admin")
    await admin.press("Stats")
    assert admin.texts()[-2].startswith("Sales (paid orders; times in UTC)")  # then the chart
    await admin.press_data(AdminMenu(action="broadcast").pack())
    assert admin.texts()[-1].startswith("Send the message to broadcast")
    await admin.send("/cancel")
    assert admin.texts()[-1] == "Cancelled."
    assert await count(shop.session_factory, Broadcast) == 0


async def test_russian_texts(shop: RunningBot) -> None:
    tracker = shop.tracker
    admin = Customer(shop.api, tracker, ADMIN_ID, language_code="ru")
    await admin.send("/stock")
    assert admin.texts()[-1].startswith("Использование: /stock <slug>")
