"""The buyer side end to end: the real Dispatcher polls the fake Bot API (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.models import ItemKind, ItemStatus, Order, OrderStatus, Product, StockItem
from app.i18n import translator
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot, make_settings, running_bot
from tests.shop_helpers import (
    Customer,
    UpdateTracker,
    add_stock,
    answer_of,
    buttons,
    invoice_amount,
    items_of,
    orders_of,
    seed_category,
    seed_product,
)
from tests.shop_helpers import (
    buy as _buy,
)

en = translator("en")
ru = translator("ru")
BUYER = 2001


@pytest.fixture
def tracker(shop: RunningBot) -> UpdateTracker:
    return shop.tracker


@pytest.fixture
def customer(shop: RunningBot, tracker: UpdateTracker) -> Callable[..., Customer]:
    def make(user_id: int = BUYER, language_code: str = "en") -> Customer:
        return Customer(shop.api, tracker, user_id, language_code)

    return make


async def _expire(shop: RunningBot, order_id: int) -> None:
    """Move a reservation into the past, as if its minutes ran out."""
    past = utcnow() - timedelta(minutes=1)
    async with shop.session_factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.expires_at = past
        await session.execute(
            update(StockItem).where(StockItem.id == order.stock_item_id).values(reserved_until=past)
        )
        await session.commit()


async def test_scripted_purchase_delivers_the_key(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    games = await seed_category(shop.session_factory, "Games")
    product_id = await seed_product(
        shop.session_factory,
        "Space Game",
        50,
        ["KEY-SPACE-0001"],
        category_id=games,
        description="A <great> game & more",
    )
    buyer = customer()
    await buyer.send("/start")
    menu = buyer.screen()
    assert "Welcome to the shop" in menu["text"]
    assert [b["text"] for b in buttons(menu)] == [
        en("buyer.menu.catalog"),
        en("buyer.menu.search"),
        en("buyer.menu.cart"),
        en("buyer.menu.purchases"),
        en("buyer.menu.referrals"),
        en("buyer.menu.alerts"),
        en("buyer.menu.help"),
    ]
    await buyer.press(en("buyer.menu.catalog"))
    assert "Choose a category" in buyer.screen()["text"]
    assert buyer.screen()["message_id"] == menu["message_id"]  # edited in place
    await buyer.press("Games (1)")
    await buyer.press("Space Game · 50 ⭐")
    card = buyer.screen()["text"]
    assert "A <great> game & more" in card and "50 ⭐" in card and "In stock: 1 item" in card
    answer = await buyer.press("Buy for 50 ⭐")
    assert answer is not None and "Reserved for you for 15 min" in answer["text"]

    [invoice] = buyer.invoices()
    assert invoice["currency"] == "XTR" and not invoice.get("provider_token")
    assert invoice["title"] == "Space Game" and len(invoice["prices"]) == 1
    assert invoice_amount(invoice) == 50
    [order] = await orders_of(shop.session_factory, BUYER)
    assert (order.status, order.payload, order.amount) == ("pending", invoice["payload"], 50)
    [item] = await items_of(shop.session_factory, product_id)
    assert item.status == ItemStatus.RESERVED and item.id == order.stock_item_id

    verdict = await buyer.pre_checkout(invoice["payload"], 50)
    assert verdict["ok"] is True
    charge = await buyer.pay(invoice["payload"], 50, "charge-space-1")
    delivered = buyer.screen()
    assert "KEY-SPACE-0001" in delivered["text"] and "Space Game" in delivered["text"]

    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.DELIVERED and order.telegram_payment_charge_id == charge
    assert order.paid_at is not None and order.delivered_at is not None
    [item] = await items_of(shop.session_factory, product_id)
    assert item.status == ItemStatus.SOLD and item.sold_at is not None
    assert shop.api.calls_of("editMessageText"), "navigation edits the message"
    assert not shop.api.store.open_callback_queries, "every button press was answered"


async def test_same_payment_twice_delivers_once(
    shop: RunningBot, customer: Callable[..., Customer], tracker: UpdateTracker
) -> None:
    await seed_product(shop.session_factory, "Code", 10, ["CODE-1", "CODE-2"])
    buyer = customer()
    payload, amount = await _buy(buyer, "Code")
    assert (await buyer.pre_checkout(payload, amount))["ok"]
    copies = [buyer.payment_update(payload, amount, "charge-dup") for _ in range(2)]
    for copy in copies:  # both at once: the two copies race each other
        shop.api.push_update(copy)
    await tracker.wait(*(copy["update_id"] for copy in copies))
    await buyer.pay(payload, amount, "charge-dup")  # and once more, later
    deliveries = [text for text in buyer.texts() if "CODE-" in text]
    assert len(deliveries) == 1
    orders = await orders_of(shop.session_factory)
    assert len(orders) == 1 and orders[0].telegram_payment_charge_id == "charge-dup"
    sold = [i for i in await items_of(shop.session_factory, orders[0].product_id) if i.sold_at]
    assert len(sold) == 1


async def test_expired_reservation_is_refused_then_a_late_payment_is_honoured(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    await seed_product(shop.session_factory, "Key", 7, ["KEY-ONLY"])
    buyer = customer()
    payload, amount = await _buy(buyer, "Key")
    [order] = await orders_of(shop.session_factory, BUYER)
    await _expire(shop, order.id)
    verdict = await buyer.pre_checkout(payload, amount)
    assert verdict == {"ok": False, "error_message": en("buyer.pre_checkout.expired")}
    await buyer.pay(payload, amount, "charge-late")  # Telegram charged anyway: honour it
    assert "KEY-ONLY" in buyer.screen()["text"]
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.DELIVERED and order.delivered_at is not None


async def test_late_payment_takes_another_item_when_its_own_was_taken(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    product_id = await seed_product(shop.session_factory, "Key", 7, ["KEY-A"])
    late, quick = customer(2001), customer(2002)
    late_payload, amount = await _buy(late, "Key")
    [late_order] = await orders_of(shop.session_factory, late.user_id)
    await _expire(shop, late_order.id)
    quick_payload, _ = await _buy(quick, "Key")  # nothing else left: takes over KEY-A
    [quick_order] = await orders_of(shop.session_factory, quick.user_id)
    assert quick_order.stock_item_id == late_order.stock_item_id
    [late_order] = await orders_of(shop.session_factory, late.user_id)
    assert late_order.status == OrderStatus.EXPIRED
    await add_stock(shop.session_factory, product_id, ["KEY-B"])  # restocked meanwhile
    assert (await quick.pre_checkout(quick_payload, amount))["ok"]
    await quick.pay(quick_payload, amount)
    await late.pay(late_payload, amount)
    assert "KEY-A" in quick.screen()["text"] and "KEY-B" in late.screen()["text"]
    items = await items_of(shop.session_factory, product_id)
    assert [i.status for i in items] == [ItemStatus.SOLD, ItemStatus.SOLD]


async def _sold_out_before_payment(
    shop: RunningBot, customer: Callable[..., Customer]
) -> tuple[Customer, str, int]:
    """A buyer whose reservation expired and whose item another buyer bought meanwhile."""
    shop.api.start_bot(ADMIN_ID)  # the owner, who gets the alerts
    await seed_product(shop.session_factory, "Last Key", 9, ["KEY-LAST"])
    late, quick = customer(2001), customer(2002)
    late_payload, amount = await _buy(late, "Last Key")
    [late_order] = await orders_of(shop.session_factory, late.user_id)
    await _expire(shop, late_order.id)
    quick_payload, _ = await _buy(quick, "Last Key")
    await quick.pay(quick_payload, amount)
    assert "KEY-LAST" in quick.screen()["text"]
    return late, late_payload, amount


@pytest.mark.settings(auto_refund=False)
async def test_late_payment_with_no_stock_left_is_refund_due(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    late, late_payload, amount = await _sold_out_before_payment(shop, customer)
    charge = await late.pay(late_payload, amount, "charge-too-late")
    notice = late.screen()["text"]
    assert "will refund" in notice and charge in notice and "KEY-LAST" not in notice
    [late_order] = await orders_of(shop.session_factory, late.user_id)
    assert late_order.status == OrderStatus.REFUND_DUE
    assert late_order.telegram_payment_charge_id == charge and late_order.stock_item_id is None
    alerts = [m["text"] for m in shop.api.sent_to(ADMIN_ID)]
    assert sum(f"/refund {charge}" in text and "Last Key" in text for text in alerts) == 1
    assert shop.api.stars_refunds == []
    await late.send("/purchases")
    assert "refund pending" in late.screen()["text"]


async def test_late_payment_with_no_stock_left_is_refunded_automatically(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    late, late_payload, amount = await _sold_out_before_payment(shop, customer)
    charge = await late.pay(late_payload, amount, "charge-too-late")
    notice = late.screen()["text"]
    assert "sold out" in notice and "refunded" in notice and "KEY-LAST" not in notice
    assert shop.api.stars_refunds == [
        {"user_id": late.user_id, "telegram_payment_charge_id": charge}
    ]
    [late_order] = await orders_of(shop.session_factory, late.user_id)
    assert late_order.status == OrderStatus.REFUNDED and late_order.refunded_at is not None
    await late.send("/purchases")
    assert "refunded" in late.screen()["text"]


async def test_pre_checkout_refuses_a_wrong_amount_and_a_changed_price(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    product_id = await seed_product(shop.session_factory, "Key", 20, ["K1", "K2"])
    buyer = customer()
    payload, amount = await _buy(buyer, "Key")
    verdict = await buyer.pre_checkout(payload, amount - 1)
    assert verdict == {"ok": False, "error_message": en("buyer.pre_checkout.amount_mismatch")}
    verdict = await buyer.pre_checkout(payload, amount, currency="USD")
    assert verdict["ok"] is False

    async with shop.session_factory() as session:
        await session.execute(update(Product).where(Product.id == product_id).values(price=25))
        await session.commit()
    verdict = await buyer.pre_checkout(payload, amount)
    assert verdict == {"ok": False, "error_message": en("buyer.pre_checkout.price_changed")}

    await buyer.press("Buy")  # the card still says 20, but the new invoice has the new price
    new_invoice = buyer.invoices()[-1]
    assert new_invoice["payload"] != payload and invoice_amount(new_invoice) == 25
    assert (await buyer.pre_checkout(new_invoice["payload"], 25))["ok"]
    orders = await orders_of(shop.session_factory, BUYER)
    assert [o.status for o in orders] == [OrderStatus.EXPIRED, OrderStatus.PENDING]
    reserved = [i for i in await items_of(shop.session_factory, product_id) if i.reserved_until]
    assert len(reserved) == 1


async def test_buying_twice_reuses_the_reservation(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    product_id = await seed_product(shop.session_factory, "Key", 5, ["K1"])
    buyer = customer()
    payload, _ = await _buy(buyer, "Key")
    await buyer.press(en("buyer.menu.back"))
    await buyer.press("Key")  # the last key is reserved: sold out for others, not for the holder
    assert en("buyer.catalog.card_reserved") in buyer.screen()["text"]
    assert "Sold out" not in buyer.screen()["text"]
    answer = await buyer.press("Buy")
    assert answer is not None and answer["text"] == en("buyer.checkout.reused")
    assert [i["payload"] for i in buyer.invoices()] == [payload, payload]
    items = await items_of(shop.session_factory, product_id)
    assert [i.status for i in items].count(ItemStatus.RESERVED) == 1


async def test_out_of_stock_and_inactive_products(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    empty = await seed_product(shop.session_factory, "Empty", 5, [])
    hidden = await seed_product(shop.session_factory, "Hidden", 5, ["H1"], is_active=False)
    await seed_product(shop.session_factory, "Full", 5, ["F1"])
    buyer = customer()
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))  # no categories: one flat list
    labels = [b["text"] for b in buttons(buyer.screen())]
    assert "Empty · sold out" in labels and "Full · 5 ⭐" in labels
    assert not any("Hidden" in label for label in labels)
    await buyer.press("Empty")
    assert "Sold out" in buyer.screen()["text"]
    assert not any("Buy" in b["text"] for b in buttons(buyer.screen()))
    answer = await buyer.press_data(f"b-buy:{empty}")  # a stale Buy button
    assert answer is not None and answer["text"] == en("buyer.checkout.sold_out")
    assert answer["show_alert"] is True
    answer = await buyer.press_data(f"b-buy:{hidden}")
    assert answer is not None and answer["text"] == en("buyer.checkout.unavailable")
    assert buyer.invoices() == [] and await orders_of(shop.session_factory) == []
    await buyer.send("/catalog")
    assert "Full · 5 ⭐" in [b["text"] for b in buttons(buyer.screen())]


async def test_categories_other_bucket_and_paging(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    books = await seed_category(shop.session_factory, "Books")
    for number in range(10):
        await seed_product(
            shop.session_factory, f"Book {number:02}", 3, [f"B{number}"], category_id=books
        )
    await seed_product(shop.session_factory, "Loose", 4, ["L1"])
    buyer = customer()
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    labels = [b["text"] for b in buttons(buyer.screen())]
    assert labels[:2] == ["Books (10)", "Other (1)"]
    await buyer.press("Books")
    first = [b["text"] for b in buttons(buyer.screen()) if b["text"].startswith("Book ")]
    assert len(first) == 8 and "Page 1 of 2" in buyer.screen()["text"]
    await buyer.press(en("buyer.pager.next"))
    second = [b["text"] for b in buttons(buyer.screen()) if b["text"].startswith("Book ")]
    assert second == ["Book 08 · 3 ⭐", "Book 09 · 3 ⭐"]
    await buyer.press("Book 09")
    await buyer.press(en("buyer.menu.back"))  # back to page 2 of the list
    assert "Page 2 of 2" in buyer.screen()["text"]
    await buyer.press(en("buyer.pager.prev"))
    await buyer.press(en("buyer.menu.back"))
    await buyer.press("Other")
    assert any("Loose" in b["text"] for b in buttons(buyer.screen()))


async def test_russian_texts(shop: RunningBot, customer: Callable[..., Customer]) -> None:
    await seed_product(shop.session_factory, "Ключ", 5, ["RU-KEY"])
    buyer = customer(language_code="ru")
    await buyer.send("/start")
    assert "Добро пожаловать" in buyer.screen()["text"]
    await buyer.press(ru("buyer.menu.catalog"))
    await buyer.press("Ключ")
    assert "В наличии: 1 штука" in buyer.screen()["text"]
    answer = await buyer.press("Купить за 5 ⭐")
    assert answer is not None and "забронирован" in answer["text"]
    payload = buyer.invoices()[-1]["payload"]
    verdict = await buyer.pre_checkout(payload, 4)
    assert verdict["error_message"] == ru("buyer.pre_checkout.amount_mismatch")
    await buyer.send("/nonsense")
    assert buyer.screen()["text"] == ru("unknown_command")


async def test_help_terms_paysupport_and_unknown(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)  # the owner, who gets the alerts
    buyer = customer()
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.help"))
    assert "How it works" in buyer.screen()["text"]
    await buyer.press(en("buyer.menu.back_to_menu"))
    assert "Main menu" in buyer.screen()["text"]
    await buyer.send("/help")
    assert "How it works" in buyer.screen()["text"]
    await buyer.send("/terms")
    assert "Terms of sale" in buyer.screen()["text"]
    await buyer.send("/paysupport")
    assert "Payment support" in buyer.screen()["text"]
    assert "refund" in buyer.screen()["text"].lower()
    assert any(str(BUYER) in m["text"] for m in shop.api.sent_to(ADMIN_ID))
    for text in ("/whatever", "hello there", "/refund charge-1", "/addproduct x 1 y"):
        await buyer.send(text)
        assert buyer.screen()["text"] == en("unknown_command"), text
    answer = await buyer.press_data("something-old:1")
    assert answer is not None and answer["text"] == en("buyer.fallback.stale_button")


async def test_paysupport_names_the_support_contact(fake_api: FakeBotAPI, db_url: URL) -> None:
    settings = make_settings(db_url, fake_api.url, support_contact="@shop_help")
    async with running_bot(fake_api, settings) as running:
        buyer = Customer(fake_api, running.tracker, BUYER)
        await buyer.send("/paysupport")
        assert "@shop_help" in buyer.screen()["text"]
        assert fake_api.sent_to(ADMIN_ID) == []


async def test_redelivery_from_my_purchases(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    await seed_product(shop.session_factory, "Code", 10, ["CODE-XYZ"])
    buyer = customer()
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.purchases"))
    assert buyer.screen()["text"] == en("buyer.purchases.empty")
    payload, amount = await _buy(buyer, "Code")
    await buyer.pay(payload, amount)
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.purchases"))
    listing = buyer.screen()["text"]
    assert "Code" in listing and "10 ⭐" in listing and "delivered" in listing
    answer = await buyer.press("🔑 Code")
    assert answer is not None and answer["text"] == en("buyer.delivery.resent")
    assert sum("CODE-XYZ" in text for text in buyer.texts()) == 2
    intruder = customer(2999)
    [order] = await orders_of(shop.session_factory, BUYER)
    answer = await intruder.press_data(f"b-resend:{order.id}:0")
    assert answer is not None and answer["text"] == en("buyer.delivery.not_found")
    assert not any("CODE-XYZ" in text for text in intruder.texts())


async def test_failed_delivery_can_be_fetched_later(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)  # the owner, who gets the alerts
    await seed_product(shop.session_factory, "Code", 10, ["CODE-LATER"])
    buyer = customer()
    payload, amount = await _buy(buyer, "Code")
    shop.api.fail_next("sendMessage", 500, "Internal Server Error", chat_id=BUYER)
    await buyer.pay(payload, amount)
    assert not any("CODE-LATER" in text for text in buyer.texts())
    assert buyer.screen()["text"] == en("buyer.payment.delivery_failed")
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.PAID and order.delivered_at is None
    assert any("could not be sent" in m["text"] for m in shop.api.sent_to(ADMIN_ID))
    await buyer.send("/purchases")
    assert "paid, on its way" in buyer.screen()["text"]
    await buyer.press("🔑 Code")
    assert any("CODE-LATER" in text for text in buyer.texts())
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status == OrderStatus.DELIVERED and order.delivered_at is not None


async def test_file_goods_are_sent_by_file_id(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    document = shop.api.add_file(b"secret manual", "manual.pdf", "application/pdf")
    await seed_product(
        shop.session_factory, "Manual", 15, [document["file_id"]], kind=ItemKind.FILE
    )
    buyer = customer()
    payload, amount = await _buy(buyer, "Manual")
    await buyer.pay(payload, amount)
    [sent] = shop.api.calls_of("sendDocument")
    assert sent["document"] == document["file_id"] and sent["chat_id"] == BUYER


async def test_low_stock_alert_once_when_crossing(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    shop.api.start_bot(ADMIN_ID)  # the owner, who gets the alerts
    await seed_product(
        shop.session_factory, "Gem", 2, ["G1", "G2", "G3", "G4"], low_stock_threshold=3
    )
    for number in range(4):
        buyer = customer(3000 + number)
        payload, amount = await _buy(buyer, "Gem")
        await buyer.pay(payload, amount)
    alerts = [m["text"] for m in shop.api.sent_to(ADMIN_ID) if "Gem" in m["text"]]
    assert len(alerts) == 1 and "has 2 items left" in alerts[0]


async def test_a_press_is_answered_once_and_a_failed_one_with_the_error_alert(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    buyer = customer()
    await buyer.send("/start")
    answer = await buyer.press(en("buyer.menu.help"))  # nothing to say: the spinner just stops
    assert answer is not None and not answer.get("text") and not answer.get("show_alert")
    shop.api.fail_next("editMessageText", 500, "Internal Server Error", chat_id=BUYER)
    message, button = buyer.find_button(en("buyer.menu.back_to_menu"))
    update = shop.api.callback_query(
        BUYER, button["callback_data"], message_id=message["message_id"]
    )
    await shop.tracker.wait(update["update_id"], failing=True)  # the handler fails
    answer = answer_of(shop.api, update)
    assert answer is not None and answer["text"] == en("error") and answer["show_alert"]
    assert len(shop.api.calls_of("answerCallbackQuery")) == 2  # one per press
