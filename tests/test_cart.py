"""Quantities and the cart end to end: the real Dispatcher polls the fake Bot API (SQLite and
PostgreSQL); a cart is reserved all or nothing, paid with one invoice and delivered once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from aiogram.types import User as TelegramUser
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.models import CartLine, ItemKind, ItemStatus, Order, OrderLine, OrderStatus, StockItem
from app.db.uow import transaction
from app.i18n import translator
from app.services import cart, orders, reservations
from tests.harness import RunningBot
from tests.shop_helpers import (
    Customer,
    SessionFactory,
    UpdateTracker,
    add_stock,
    answer_of,
    buttons,
    eventually,
    invoice_amount,
    items_of,
    orders_of,
    seed_product,
)

en = translator("en")
BUYER = 7001


@pytest.fixture
def tracker(shop: RunningBot) -> UpdateTracker:
    return shop.tracker


@pytest.fixture
def customer(shop: RunningBot, tracker: UpdateTracker) -> Callable[..., Customer]:
    def make(user_id: int = BUYER) -> Customer:
        return Customer(shop.api, tracker, user_id)

    return make


async def open_card(buyer: Customer, title: str) -> None:
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    if not any(title in b["text"] for b in buttons(buyer.screen())):
        await buyer.press(en("buyer.catalog.other"))
    await buyer.press(title)


async def choose(buyer: Customer, quantity: int) -> None:
    """Press plus until the card shows ``quantity`` (or as far as it goes)."""
    for _ in range(quantity - 1):
        await buyer.press("➕")


async def add_to_cart(buyer: Customer, title: str, quantity: int) -> None:
    await open_card(buyer, title)
    await choose(buyer, quantity)
    answer = await buyer.press(en("buyer.catalog.add_to_cart"))
    assert answer is not None and answer.get("text") == en("buyer.cart.added", n=quantity)


async def _sold_keys(factory: SessionFactory, order_id: int) -> list[str]:
    async with factory() as session:
        query = select(StockItem.content).where(StockItem.order_id == order_id)
        return sorted(await session.scalars(query.where(StockItem.status == ItemStatus.SOLD)))


async def _cart(factory: SessionFactory, user_id: int) -> list[tuple[int, int]]:
    async with factory() as session:
        query = select(CartLine.product_id, CartLine.quantity).where(CartLine.user_id == user_id)
        return [(p, q) for p, q in await session.execute(query.order_by(CartLine.id))]


async def test_a_cart_of_three_lines_is_one_invoice_and_every_item_is_delivered_once(
    shop: RunningBot, customer: Callable[..., Customer], tracker: UpdateTracker
) -> None:
    factory = shop.session_factory
    keys = {title: [f"{title.upper()}-KEY-{n}" for n in range(4)] for title in ("Alpha", "Beta")}
    keys["Gamma"] = [f"GAMMA-KEY-{n}" for n in range(4)]
    alpha = await seed_product(factory, "Alpha", 10, keys["Alpha"])
    beta = await seed_product(factory, "Beta", 20, keys["Beta"])
    gamma = await seed_product(factory, "Gamma", 5, keys["Gamma"])
    buyer = customer()
    for title, quantity in (("Alpha", 1), ("Beta", 2), ("Gamma", 3)):
        await add_to_cart(buyer, title, quantity)
    assert await _cart(factory, BUYER) == [(alpha, 1), (beta, 2), (gamma, 3)]

    await buyer.press(en("buyer.menu.cart"))
    screen = buyer.screen()["text"]
    for title, quantity, amount in (("Alpha", 1, 10), ("Beta", 2, 40), ("Gamma", 3, 15)):
        assert en("buyer.cart.line", title=title, n=quantity, amount=amount) in screen
    assert "Total: 65 ⭐" in screen
    answer = await buyer.press(en("buyer.cart.pay", price=65))
    assert answer is not None and "Reserved for you" in answer["text"]

    [invoice] = buyer.invoices()
    assert len(invoice["prices"]) == 1 and invoice_amount(invoice) == 65
    assert invoice["description"] == "Alpha ×1, Beta ×2, Gamma ×3"
    assert len(invoice["title"]) <= 32 and "Alpha" in invoice["title"]
    [order] = await orders_of(factory, BUYER)
    assert (order.status, order.amount) == (OrderStatus.PENDING, 65)
    held = [i for p in (alpha, beta, gamma) for i in await items_of(factory, p) if i.order_id]
    assert len(held) == 6 and all(item.status == ItemStatus.RESERVED for item in held)
    assert (await buyer.pre_checkout(invoice["payload"], 65))["ok"] is True

    copies = [buyer.payment_update(invoice["payload"], 65, "charge-cart") for _ in range(2)]
    for copy in copies:  # both at once: the copies race each other
        shop.api.push_update(copy)
    await tracker.wait(*(copy["update_id"] for copy in copies))
    await buyer.pay(invoice["payload"], 65, "charge-cart")  # and once more, later

    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    bought = await _sold_keys(factory, order.id)
    assert bought == sorted([*keys["Alpha"][:1], *keys["Beta"][:2], *keys["Gamma"][:3]])
    delivered = "\n".join(buyer.texts())
    assert all(delivered.count(key) == 1 for key in bought)  # every key once, in one message
    assert sum(any(key in text for key in bought) for text in buyer.texts()) == 1
    assert await _cart(factory, BUYER) == []  # what was bought left the cart
    async with factory() as session:
        lines = (await session.scalars(select(OrderLine).order_by(OrderLine.id))).all()
    assert [(line.product_id, line.quantity, line.unit_price) for line in lines] == [
        (alpha, 1, 10),
        (beta, 2, 20),
        (gamma, 3, 5),
    ]

    await buyer.send("/purchases")
    assert "Alpha ×1, Beta ×2, Gamma ×3" in buyer.screen()["text"]


async def test_a_cart_with_a_short_line_holds_nothing_and_says_what_is_short(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    plenty = await seed_product(factory, "Plenty", 10, [f"P-{n}" for n in range(5)])
    scarce = await seed_product(factory, "Scarce", 10, ["S-1", "S-2", "S-3"])
    buyer, rival = customer(), customer(BUYER + 1)
    await add_to_cart(buyer, "Plenty", 2)
    await add_to_cart(buyer, "Scarce", 3)
    await open_card(rival, "Scarce")  # one of the three goes to someone else meanwhile
    await rival.press("Buy for 10 ⭐")

    await buyer.press(en("buyer.menu.cart"))
    answer = await buyer.press(en("buyer.cart.pay", price=50))
    assert answer is not None and answer.get("text") == en("buyer.cart.not_reserved")
    screen = buyer.screen()["text"]
    assert en("buyer.checkout.short", title="Scarce", n=2) in screen
    assert buyer.invoices() == []
    assert await orders_of(factory, BUYER) == []
    assert all(i.status == ItemStatus.AVAILABLE for i in await items_of(factory, plenty))
    [rivals] = await orders_of(factory, BUYER + 1)
    assert [i.order_id for i in await items_of(factory, scarce)] == [rivals.id, None, None]

    await buyer.press("➖")  # the first line's minus: Plenty 2 → 1
    [_, scarce_minus] = [b for b in buttons(buyer.screen()) if b["text"] == "➖"]
    await buyer.press_data(scarce_minus["callback_data"], message_id=buyer.screen()["message_id"])
    assert await _cart(factory, BUYER) == [(plenty, 1), (scarce, 2)]
    answer = await buyer.press(en("buyer.cart.pay", price=30))
    assert answer is not None and "Reserved for you" in answer["text"]
    [invoice] = buyer.invoices()
    assert invoice_amount(invoice) == 30


@pytest.mark.settings(max_quantity=3, max_reserved_units=4)
async def test_quantities_stop_at_the_setting_and_the_stock_and_the_cap_counts_units(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Many", 7, [f"M-{n}" for n in range(9)])
    await seed_product(factory, "Two", 5, ["T-1", "T-2"])
    buyer = customer()
    await open_card(buyer, "Many")
    await choose(buyer, 6)  # five presses of plus: the setting stops it at 3
    labels = [b["text"] for b in buttons(buyer.screen())]
    assert en("buyer.catalog.quantity", n=3) in labels
    assert en("buyer.catalog.buy_n", n=3, price=21) in labels
    answer = await buyer.press(en("buyer.catalog.buy_n", n=3, price=21))
    assert answer is not None and "Reserved for you" in answer["text"]
    [invoice] = buyer.invoices()
    assert invoice_amount(invoice) == 21 and invoice["description"] == "Many ×3"

    await buyer.press("‹ Back")
    await buyer.press("Two")
    await choose(buyer, 3)  # only two are left
    assert en("buyer.catalog.quantity", n=2) in [b["text"] for b in buttons(buyer.screen())]
    answer = await buyer.press(en("buyer.catalog.buy_n", n=2, price=10))
    assert answer is not None and answer.get("show_alert")  # 3 + 2 units > the cap of 4
    assert answer["text"] == en("buyer.checkout.limit", n=4, minutes=15)
    assert len(buyer.invoices()) == 1
    answer = await buyer.press(en("buyer.catalog.add_to_cart"))
    assert answer is not None and answer["text"] == en("buyer.cart.added", n=2)
    answer = await buyer.press(en("buyer.catalog.add_to_cart"))  # never more than are left
    assert answer is not None and answer["text"] == en("buyer.cart.added", n=2)

    forged = shop.api.callback_query(BUYER, "b-buyn:1:9")  # beyond MAX_QUANTITY
    await shop.tracker.wait(forged["update_id"])
    answer = answer_of(shop.api, forged)
    assert answer is not None and answer["text"] == en("buyer.checkout.too_many", n=3)
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.PENDING and len(buyer.invoices()) == 1


async def test_a_late_cart_payment_that_cannot_be_filled_is_refunded_in_full(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    one = await seed_product(factory, "One", 10, ["ONE-1", "ONE-2"])
    last = await seed_product(factory, "Last", 15, ["LAST-1"])
    buyer, rival = customer(), customer(BUYER + 1)
    await add_to_cart(buyer, "One", 2)
    await add_to_cart(buyer, "Last", 1)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=35))
    [invoice] = buyer.invoices()
    [order] = await orders_of(factory, BUYER)
    past = utcnow() - timedelta(minutes=1)
    async with factory() as session:  # the reservation runs out ...
        await session.execute(update(Order).values(expires_at=past))
        await session.execute(
            update(StockItem).where(StockItem.order_id == order.id).values(reserved_until=past)
        )
        await session.commit()
    await open_card(rival, "Last")  # ... and the last unit of one line goes to another buyer
    await rival.press("Buy for 15 ⭐")

    charge = await buyer.pay(invoice["payload"], 35, "charge-late")
    assert shop.api.stars_refunds == [{"user_id": BUYER, "telegram_payment_charge_id": charge}]
    [order] = await orders_of(factory, BUYER)
    assert (order.status, order.stock_item_id) == (OrderStatus.REFUNDED, None)
    ones = await items_of(factory, one)
    assert all(i.status == ItemStatus.AVAILABLE and i.order_id is None for i in ones)
    [unit] = await items_of(factory, last)
    assert unit.status == ItemStatus.RESERVED and unit.order_id != order.id
    assert not any("ONE-" in text or "LAST-" in text for text in buyer.texts())
    notice = en("buyer.payment.refunded_sold_out", title="One ×2, Last", amount=35)
    notice = notice.replace("<b>", "").replace("</b>", "")
    assert notice in buyer.texts()  # the notice names the whole cart, not its first line


async def test_a_late_cart_payment_is_honoured_while_stock_remains(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    wide = await seed_product(factory, "Wide", 10, [f"WIDE-{n}" for n in range(5)])
    buyer, rival = customer(), customer(BUYER + 1)
    await add_to_cart(buyer, "Wide", 2)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=20))
    [invoice] = buyer.invoices()
    [order] = await orders_of(factory, BUYER)
    past = utcnow() - timedelta(minutes=1)
    async with factory() as session:
        await session.execute(update(Order).values(expires_at=past))
        await session.execute(update(StockItem).values(reserved_until=past))
        await session.commit()
    await open_card(rival, "Wide")
    await choose(rival, 4)  # the three available and one of the buyer's lapsed units
    await rival.press(en("buyer.catalog.buy_n", n=4, price=40))
    [taken] = [
        i
        for i in await items_of(factory, wide)
        if i.content in ("WIDE-0", "WIDE-1") and i.order_id != order.id
    ]
    await add_stock(factory, wide, ["WIDE-NEW"])  # the owner adds one: enough again
    await buyer.pay(invoice["payload"], 20, "charge-late-ok")
    assert shop.api.stars_refunds == []
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    bought = await _sold_keys(factory, order.id)
    assert len(bought) == 2 and "WIDE-NEW" in bought and taken.content not in bought


async def test_ten_carts_race_for_the_last_five_units(
    shop: RunningBot, tracker: UpdateTracker
) -> None:
    """Demand 19 units of a product with 5 left, all at once: each buyer holds every unit of
    their cart or none, no unit is held or sold twice, and every payer gets all they paid for."""
    factory, api = shop.session_factory, shop.api
    hot_keys = [f"HOT-{n}" for n in range(5)]
    hot = await seed_product(factory, "Hot", 10, hot_keys)
    side = await seed_product(factory, "Side", 3, [f"SIDE-{n}" for n in range(20)])
    buyers = [BUYER + 100 + n for n in range(10)]
    wanted = {user: 1 + n % 3 for n, user in enumerate(buyers)}  # 1, 2, 3, 1, … = 19 units
    for user in buyers:
        async with transaction(factory) as session:
            person = TelegramUser(id=user, is_bot=False, first_name=f"B{user}")
            await cart.add(session, person, hot, wanted[user], 10)
            await cart.add(session, person, side, 1, 10)
        api.start_bot(user)

    presses = [api.callback_query(user, "b-cart:pay") for user in buyers]  # all at once
    await tracker.wait(*(press["update_id"] for press in presses))

    invoices = {invoice["chat_id"]: invoice for invoice in api.calls_of("sendInvoice")}
    assert invoices and len(invoices) < len(buyers)
    held: dict[int, list[StockItem]] = {}
    for user in buyers:
        placed = await orders_of(factory, user)
        if user not in invoices:
            assert placed == []  # none of it: no order, nothing held
            continue
        [order] = placed
        units = [
            i for p in (hot, side) for i in await items_of(factory, p) if i.order_id == order.id
        ]
        held[user] = units
        assert sorted(i.product_id for i in units) == sorted([hot] * wanted[user] + [side])
        assert invoice_amount(invoices[user]) == order.amount == 10 * wanted[user] + 3
    hot_held = [i.id for units in held.values() for i in units if i.product_id == hot]
    assert len(hot_held) == len(set(hot_held)) <= 5
    assert all(
        i.order_id is None
        for i in await items_of(factory, side)
        if i.id not in {u.id for units in held.values() for u in units}
    )

    for user, invoice in invoices.items():
        check = api.pre_checkout_query(user, invoice["payload"], invoice_amount(invoice))
        await tracker.wait(check["update_id"])
        assert api.pre_checkout_answers[check["pre_checkout_query"]["id"]]["ok"] is True
    payments = [
        api.successful_payment(user, i["payload"], invoice_amount(i), f"race-{user}")
        for user, i in invoices.items()
    ]
    await tracker.wait(*(payment["update_id"] for payment in payments))
    sold: list[str] = []
    for user in invoices:
        [order] = await orders_of(factory, user)
        assert order.status == OrderStatus.DELIVERED
        keys = await _sold_keys(factory, order.id)
        assert keys == sorted(i.content for i in held[user])  # the units held, all of them
        texts = "\n".join(m.get("text", "") for m in api.sent_to(user))
        assert all(texts.count(key) == 1 for key in keys)
        sold += [key for key in keys if key.startswith("HOT-")]
    assert len(sold) == len(set(sold)) <= 5 and set(sold) <= set(hot_keys)
    assert api.stars_refunds == []


async def test_an_order_of_many_keys_comes_in_as_few_messages_as_fit_and_files_as_documents(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    keys = [f"{n}" * 1500 for n in range(3)]  # two fit in one message, never three
    await seed_product(factory, "Long", 10, keys)
    document = shop.api.add_file(b"manual", "manual.pdf", "application/pdf")
    await seed_product(factory, "Manual", 15, [document["file_id"]], kind=ItemKind.FILE)
    buyer = customer()
    await add_to_cart(buyer, "Long", 3)
    await add_to_cart(buyer, "Manual", 1)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=45))
    [invoice] = buyer.invoices()
    await buyer.pay(invoice["payload"], 45)

    messages = [m for m in shop.api.sent_to(BUYER) if any(k in m.get("text", "") for k in keys)]
    assert len(messages) == 2
    assert all(len(m["text"]) <= 4096 for m in messages)
    assert sorted(sum(m["text"].count(k) for m in messages) for k in keys) == [1, 1, 1]
    [sent] = shop.api.calls_of("sendDocument")
    assert sent["document"] == document["file_id"] and sent["chat_id"] == BUYER

    await buyer.send("/purchases")  # sent again on request: every item of the order
    await buyer.press(en("buyer.purchases.resend", title="Long", order=1)[:6])
    again = [m for m in shop.api.sent_to(BUYER) if any(k in m.get("text", "") for k in keys)]
    assert len(again) == 4 and len(shop.api.calls_of("sendDocument")) == 2


@pytest.mark.settings(max_quantity=1)
async def test_a_long_cart_invoice_lists_what_fits_and_counts_the_rest(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    titles = [f"Product number {n:02} with a long title" for n in range(10)]
    for n, title in enumerate(titles):
        await seed_product(factory, title, 1 + n, [f"K-{n}"])
    buyer = customer(BUYER + 50)
    async with transaction(factory) as session:
        person = TelegramUser(id=buyer.user_id, is_bot=False, first_name="Long")
        for product in range(1, 11):
            await cart.add(session, person, product, 1, 1)
    shop.api.start_bot(buyer.user_id)
    await buyer.press_data("b-cart:pay")
    [invoice] = buyer.invoices()
    assert invoice_amount(invoice) == sum(range(1, 11)) and len(invoice["prices"]) == 1
    title, description = invoice["title"], invoice["description"]
    assert len(title) <= 32 and len(description) <= 255
    shown = [t for t in titles if f"{t} ×1" in description]
    assert 0 < len(shown) < 10 and description.startswith(f"{titles[0]} ×1")
    assert description.endswith(en("buyer.checkout.invoice_more", n=10 - len(shown)))
    assert title.endswith(en("buyer.checkout.invoice_more", n=9)) or title.endswith("…")


@pytest.mark.settings(retry_interval=0.2, reconcile_interval=0.5)
async def test_a_cart_payment_whose_update_was_lost_is_found_and_delivered_once(
    shop: RunningBot,
) -> None:
    """No successful_payment update at all (a crash, an outage): the reconciliation finds the
    payment in Telegram's ledger and the money worker delivers every unit, once."""
    factory = shop.session_factory
    first = await seed_product(factory, "First", 4, ["F-1", "F-2"])
    second = await seed_product(factory, "Second", 6, ["S-1", "S-2", "S-3"])
    person = TelegramUser(id=BUYER, is_bot=False, first_name="Lost", language_code="en")
    async with transaction(factory) as session:
        reservation = await reservations.reserve_lines(
            session, buyer=person, wanted=[(first, 2), (second, 3)], minutes=15
        )
    assert reservation.invoice is not None and reservation.invoice.amount == 26
    shop.api.start_bot(BUYER)
    shop.api.lost_payment(BUYER, reservation.invoice.payload, 26, "ch-lost-cart")

    async def delivered() -> bool:
        return [o.status for o in await orders_of(factory, BUYER)] == [OrderStatus.DELIVERED]

    await eventually(delivered, "the worker settles and delivers the lost cart payment")
    [order] = await orders_of(factory, BUYER)
    keys = ["F-1", "F-2", "S-1", "S-2", "S-3"]
    assert await _sold_keys(factory, order.id) == keys
    texts = "\n".join(m.get("text", "") for m in shop.api.sent_to(BUYER))
    assert all(texts.count(key) == 1 for key in keys)


async def _old_replica_takes_over(factory: SessionFactory, item: StockItem, user_id: int) -> int:
    """What a replica of the release before order lines did to a lapsed unit: its own order
    (no lines, the unit in ``stock_item_id``) and the unit reserved again, ``order_id`` kept."""
    until = utcnow() + timedelta(minutes=10)
    async with factory() as session:
        await session.execute(
            update(Order)
            .where(Order.stock_item_id == item.id, Order.status == OrderStatus.PENDING)
            .values(status=OrderStatus.EXPIRED.value)
        )
        taker = Order(
            user_id=user_id,
            product_id=item.product_id,
            stock_item_id=item.id,
            payload=orders.new_payload(),
            amount=10,
            currency=orders.CURRENCY,
            status=OrderStatus.PENDING.value,
            expires_at=until,
        )
        session.add(taker)
        await session.execute(
            update(StockItem)
            .where(StockItem.id == item.id)
            .values(status=ItemStatus.RESERVED.value, reserved_until=until)
        )
        await session.commit()
        return taker.id


@pytest.mark.parametrize("restocked", [True, False], ids=["refilled", "refunded"])
async def test_a_unit_an_older_replica_took_over_is_not_the_late_cart_payments(
    shop: RunningBot, customer: Callable[..., Customer], restocked: bool
) -> None:
    factory = shop.session_factory
    one = await seed_product(factory, "One", 10, ["ONE-1"])
    two = await seed_product(factory, "Two", 15, ["TWO-1"])
    buyer, rival = customer(), customer(BUYER + 1)
    await rival.send("/start")  # the old replica's buyer has a user row
    await add_to_cart(buyer, "One", 1)
    await add_to_cart(buyer, "Two", 1)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=25))
    [invoice] = buyer.invoices()
    [order] = await orders_of(factory, BUYER)
    past = utcnow() - timedelta(minutes=1)
    async with factory() as session:  # the reservation runs out ...
        await session.execute(update(Order).values(expires_at=past))
        await session.execute(
            update(StockItem).where(StockItem.order_id == order.id).values(reserved_until=past)
        )
        await session.commit()
    [lapsed] = await items_of(factory, two)  # ... and an older replica takes Two's unit over
    taker = await _old_replica_takes_over(factory, lapsed, BUYER + 1)
    if restocked:
        await add_stock(factory, two, ["TWO-NEW"])

    charge = await buyer.pay(invoice["payload"], 25, "charge-after-takeover")
    [order] = await orders_of(factory, BUYER)
    [unit] = [item for item in await items_of(factory, two) if item.id == lapsed.id]
    assert (unit.status, unit.order_id) == (ItemStatus.RESERVED, None)  # still the taker's
    async with factory() as session:
        assert (await session.get(Order, taker)).status == OrderStatus.PENDING  # type: ignore[union-attr]
    assert not any("TWO-1" in text for text in buyer.texts())
    if restocked:
        assert shop.api.stars_refunds == []
        assert order.status == OrderStatus.DELIVERED
        assert await _sold_keys(factory, order.id) == ["ONE-1", "TWO-NEW"]
    else:
        assert shop.api.stars_refunds == [{"user_id": BUYER, "telegram_payment_charge_id": charge}]
        assert order.status == OrderStatus.REFUNDED
        assert await _sold_keys(factory, order.id) == []
        [first] = await items_of(factory, one)
        assert (first.status, first.order_id) == (ItemStatus.AVAILABLE, None)


async def test_the_card_of_every_product_of_a_cart_order_says_it_is_reserved_for_the_buyer(
    shop: RunningBot, customer: Callable[..., Customer]
) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Alpha", 10, ["ALPHA-1"])
    await seed_product(factory, "Beta", 20, ["BETA-1"])
    buyer, other = customer(), customer(BUYER + 1)
    await add_to_cart(buyer, "Alpha", 1)
    await add_to_cart(buyer, "Beta", 1)
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.cart.pay", price=30))
    for title in ("Alpha", "Beta"):  # Beta is not the order's first line
        await open_card(buyer, title)
        text = buyer.screen()["text"]
        assert en("buyer.catalog.card_reserved") in text
        assert "Sold out" not in text
        await open_card(other, title)
        assert "Sold out" in other.screen()["text"]
