"""The order services against real databases, with concurrent sessions where it matters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import User as TelegramUser
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderStatus, PaymentSource, Refund, StockItem, User
from app.db.uow import transaction
from app.flows.delivery import Sent, deliver, send
from app.i18n import translator
from app.services import delivery, fulfilment, ledger, pre_checkout, reservations
from app.services.fulfilment import Settled, Settlement
from app.services.ledger import ReportedPayment
from app.services.pre_checkout import Verdict
from app.services.reservations import ReserveStatus
from tests.fake_api import FakeBotAPI
from tests.shop_helpers import SessionFactory, items_of, orders_of, seed_product

en = translator("en")


def buyer(user_id: int, language_code: str = "en") -> TelegramUser:
    return TelegramUser(
        id=user_id, is_bot=False, first_name=f"Buyer{user_id}", language_code=language_code
    )


async def reserve(
    session_factory: SessionFactory, user_id: int, product_id: int
) -> reservations.Reservation:
    async with transaction(session_factory) as session:
        return await reservations.reserve(
            session, buyer=buyer(user_id), product_id=product_id, minutes=15
        )


async def settle(
    session_factory: SessionFactory, user_id: int, payload: str, amount: int, charge: str
) -> Settlement:
    """Record the payment in the ledger, then settle it, each in its own transaction."""
    payment = ReportedPayment(charge, user_id, payload, "XTR", amount, utcnow())
    async with transaction(session_factory) as session:
        await ledger.record(session, payment, PaymentSource.UPDATE)
    async with transaction(session_factory) as session:
        return await fulfilment.settle(session, charge, auto_refund=False)


async def pay(
    session_factory: SessionFactory, user_id: int, payload: str, amount: int, charge: str
) -> Settled:
    return (await settle(session_factory, user_id, payload, amount, charge)).kind


async def expire(session_factory: SessionFactory, order_id: int) -> None:
    past = utcnow() - timedelta(seconds=1)
    async with session_factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.expires_at = past
        await session.execute(
            update(StockItem).where(StockItem.id == order.stock_item_id).values(reserved_until=past)
        )
        await session.commit()


@pytest.fixture
async def bot(fake_api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake_api.url))
    bot = Bot(
        fake_api.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    yield bot
    await bot.session.close()


async def test_concurrent_reservations_never_share_an_item(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["A", "B", "C", "D"])
    results = await asyncio.gather(
        *(reserve(session_factory, 5000 + n, product_id) for n in range(12))
    )
    statuses = [r.status for r in results]
    assert statuses.count(ReserveStatus.RESERVED) == 4
    assert statuses.count(ReserveStatus.SOLD_OUT) == 8
    placed = await orders_of(session_factory)
    assert len(placed) == 4 and len({o.stock_item_id for o in placed}) == 4
    items = await items_of(session_factory, product_id)
    assert all(item.status == ItemStatus.RESERVED for item in items)
    async with session_factory() as session:
        users = set(await session.scalars(select(User.id)))
    assert users == {5000 + n for n in range(12)}  # every buyer was registered on the way


async def test_same_buyer_double_click_gets_one_reservation(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["A", "B", "C"])
    first, second = await asyncio.gather(
        *(reserve(session_factory, 5000, product_id) for _ in "12")
    )
    assert first.invoice is not None and second.invoice is not None
    assert first.invoice.payload == second.invoice.payload
    assert {first.invoice.reused, second.invoice.reused} == {True, False}
    reserved = [i for i in await items_of(session_factory, product_id) if i.status == "reserved"]
    assert len(reserved) == 1


async def test_expired_reservation_is_taken_over(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["ONLY"])
    first = await reserve(session_factory, 5000, product_id)
    assert (await reserve(session_factory, 5001, product_id)).status is ReserveStatus.SOLD_OUT
    assert first.invoice is not None
    await expire(session_factory, first.invoice.order_id)
    second = await reserve(session_factory, 5001, product_id)
    assert second.status is ReserveStatus.RESERVED
    old, new = await orders_of(session_factory)
    assert (old.status, new.status) == (OrderStatus.EXPIRED, OrderStatus.PENDING)
    assert old.stock_item_id == new.stock_item_id
    async with transaction(session_factory) as session:
        verdict = await pre_checkout.check_pre_checkout(
            session, user_id=5000, payload=old.payload, currency="XTR", total_amount=10
        )
    assert verdict is Verdict.EXPIRED


async def test_pre_checkout_ok_extends_a_reservation_about_to_expire(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["ONLY"])
    reservation = await reserve(session_factory, 5000, product_id)
    assert reservation.invoice is not None
    soon = utcnow() + timedelta(seconds=5)
    async with session_factory() as session:
        await session.execute(
            update(Order).where(Order.id == reservation.invoice.order_id).values(expires_at=soon)
        )
        await session.execute(update(StockItem).values(reserved_until=soon))  # held together
        await session.commit()
    async with transaction(session_factory) as session:
        verdict = await pre_checkout.check_pre_checkout(
            session,
            user_id=5000,
            payload=reservation.invoice.payload,
            currency="XTR",
            total_amount=10,
        )
        assert verdict is Verdict.OK
    [order] = await orders_of(session_factory)
    [item] = await items_of(session_factory, product_id)
    assert order.expires_at >= soon + timedelta(seconds=60)
    assert item.reserved_until == order.expires_at


async def test_pre_checkout_refuses_another_users_invoice(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["ONLY"])
    reservation = await reserve(session_factory, 5000, product_id)
    assert reservation.invoice is not None
    async with transaction(session_factory) as session:
        verdict = await pre_checkout.check_pre_checkout(
            session,
            user_id=5999,
            payload=reservation.invoice.payload,
            currency="XTR",
            total_amount=10,
        )
        unknown = await pre_checkout.check_pre_checkout(
            session, user_id=5000, payload="no-such-payload", currency="XTR", total_amount=10
        )
    assert (verdict, unknown) == (Verdict.FOREIGN, Verdict.UNKNOWN)


async def test_concurrent_copies_of_a_payment_record_once(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["A", "B"])
    reservation = await reserve(session_factory, 5000, product_id)
    assert reservation.invoice is not None
    payload = reservation.invoice.payload
    kinds = await asyncio.gather(
        *(pay(session_factory, 5000, payload, 10, "ch-1") for _ in range(4))
    )
    assert sorted(kinds) == [Settled.ALREADY] * 3 + [Settled.SOLD]
    placed = await orders_of(session_factory)
    assert len(placed) == 1 and placed[0].telegram_payment_charge_id == "ch-1"
    sold = [i for i in await items_of(session_factory, product_id) if i.status == ItemStatus.SOLD]
    assert len(sold) == 1


async def test_invoice_paid_twice_is_a_second_purchase(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["A", "B"])
    reservation = await reserve(session_factory, 5000, product_id)
    assert reservation.invoice is not None
    payload = reservation.invoice.payload
    assert await pay(session_factory, 5000, payload, 10, "ch-1") is Settled.SOLD
    assert await pay(session_factory, 5000, payload, 10, "ch-2") is Settled.SOLD
    assert await pay(session_factory, 5000, payload, 10, "ch-3") is Settled.REFUND_DUE
    placed = await orders_of(session_factory)
    assert [o.telegram_payment_charge_id for o in placed] == ["ch-1", "ch-2", "ch-3"]
    assert [o.status for o in placed] == ["paid", "paid", "refund_due"]
    assert len({o.stock_item_id for o in placed[:2]}) == 2 and placed[2].stock_item_id is None


async def test_unknown_payload_is_kept_and_owed_back(session_factory: SessionFactory) -> None:
    settled = await settle(session_factory, 5000, "forged", 10, "ch-x")
    assert (settled.kind, settled.reason) == (Settled.REFUND_DUE, "unmatched")
    assert await orders_of(session_factory) == []
    async with session_factory() as session:
        [refund] = (await session.scalars(select(Refund))).all()
        assert await ledger.by_charge(session, "ch-x") is not None
    assert (refund.charge_id, refund.user_id, refund.amount, refund.status) == (
        "ch-x",
        5000,
        10,
        "due",
    )


async def test_low_stock_crossing_is_reported_once_under_concurrency(
    session_factory: SessionFactory,
) -> None:
    keys = [f"K{n}" for n in range(6)]
    product_id = await seed_product(session_factory, "Key", 10, keys, low_stock_threshold=4)
    reservations = [await reserve(session_factory, 5000 + n, product_id) for n in range(6)]

    async def pay_and_report(n: int) -> int | None:
        invoice = reservations[n].invoice
        assert invoice is not None
        outcome = await settle(session_factory, 5000 + n, invoice.payload, 10, f"ch-{n}")
        return outcome.low_stock[0].left if outcome.low_stock else None

    reports = await asyncio.gather(*(pay_and_report(n) for n in range(6)))
    assert sorted(r for r in reports if r is not None) == [3]


async def test_delivery_happens_once_and_a_failed_send_can_be_retried(
    session_factory: SessionFactory, fake_api: FakeBotAPI, bot: Bot
) -> None:
    fake_api.start_bot(5000)  # the buyer, who has a chat with the bot
    product_id = await seed_product(session_factory, "Key", 10, ["<SECRET&KEY>"])
    reservation = await reserve(session_factory, 5000, product_id)
    assert reservation.invoice is not None
    settled = await settle(session_factory, 5000, reservation.invoice.payload, 10, "ch-1")
    [order] = await orders_of(session_factory)
    # The settlement leased the first send to its caller: nobody else may send meanwhile.
    assert settled.goods is not None and settled.goods.order_id == order.id
    assert (await deliver(bot, session_factory, order.id, retry_base=timedelta(0))).result == (
        Sent.NOT_DUE
    )
    fake_api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    failed = await send(bot, session_factory, settled.goods, retry_base=timedelta(0))
    assert (failed.result, failed.attempts) == (Sent.FAILED, 1)
    [order] = await orders_of(session_factory)
    assert (order.status, order.delivered_at) == ("paid", None)

    async def deliver_once() -> Sent:
        return (await deliver(bot, session_factory, order.id, retry_base=timedelta(0))).result

    results = await asyncio.gather(*(deliver_once() for _ in range(3)))
    assert sorted(results) == ["not_due", "not_due", "sent"]
    sent = [m["text"] for m in fake_api.sent_to(5000)]
    assert len(sent) == 1 and "<SECRET&KEY>" in sent[0]  # escaped for HTML, shown verbatim
    [order] = await orders_of(session_factory)
    assert (order.status, order.delivery_attempts) == ("delivered", 2)  # settled's, and a retry
    assert order.delivered_at is not None


async def test_purchases_are_newest_first_and_paged(session_factory: SessionFactory) -> None:
    product_id = await seed_product(session_factory, "Key", 10, [f"K{n}" for n in range(8)])
    for n in range(7):
        reservation = await reserve(session_factory, 5000, product_id)
        assert reservation.invoice is not None
        await pay(session_factory, 5000, reservation.invoice.payload, 10, f"ch-{n}")
    await reserve(session_factory, 5000, product_id)  # pending: not a purchase yet
    async with session_factory() as session:
        first = await delivery.purchases_page(session, 5000, 0)
        second = await delivery.purchases_page(session, 5000, 1)
        other = await delivery.purchases_page(session, 5001, 0)
    ids = [p.order_id for p in first.items + second.items]
    assert ids == sorted(ids, reverse=True) and len(ids) == 7
    assert (first.pages, len(first.items), len(second.items)) == (2, 5, 2)
    assert other.items == []


async def test_the_unit_cap_is_exact_under_concurrent_presses(
    session_factory: SessionFactory,
) -> None:
    """One buyer presses Buy on five products at once, two units each, under a cap of 5 units:
    the user row, locked first, lets exactly two of them through (4 units), never three."""
    products = [
        await seed_product(session_factory, f"P{n}", 3, [f"P{n}-1", f"P{n}-2"]) for n in range(5)
    ]

    async def press(product_id: int) -> reservations.Reservation:
        async with transaction(session_factory) as session:
            return await reservations.reserve(
                session,
                buyer=buyer(5000),
                product_id=product_id,
                minutes=15,
                quantity=2,
                max_units=5,
            )

    results = await asyncio.gather(*(press(product) for product in products))
    statuses = sorted(result.status for result in results)
    assert statuses.count(ReserveStatus.RESERVED) == 2
    assert statuses.count(ReserveStatus.LIMIT) == 3
    held = [i for p in products for i in await items_of(session_factory, p) if i.order_id]
    assert len(held) == 4 and all(item.status == "reserved" for item in held)


async def test_a_settlements_goods_are_what_the_delivery_reads(
    session_factory: SessionFactory,
) -> None:
    """The settlement hands its caller the goods from the units and products it holds; they
    are exactly what delivery.goods_of reads of the order: a cart of two lines, a reservation
    paid after it expired, and that invoice paid a second time (its unit claimed anew)."""
    first = await seed_product(session_factory, "Key", 10, ["K1", "K2", "K3", "K4", "K5"])
    second = await seed_product(session_factory, "Code", 5, ["C1", "C2", "C3"])
    async with transaction(session_factory) as session:
        cart = await reservations.reserve_lines(
            session, buyer=buyer(5000, "ru"), wanted=[(second, 2), (first, 1)], minutes=15
        )
    assert cart.invoice is not None
    late = await reserve(session_factory, 5001, first)
    assert late.invoice is not None
    await expire(session_factory, (await orders_of(session_factory, 5001))[0].id)
    settlements = [
        await settle(session_factory, 5000, cart.invoice.payload, 20, "ch-cart"),
        await settle(session_factory, 5001, late.invoice.payload, 10, "ch-late"),
        await settle(session_factory, 5001, late.invoice.payload, 10, "ch-again"),
    ]
    assert not settlements[1].late and settlements[2].late
    for settlement in settlements:
        assert settlement.kind is Settled.SOLD and settlement.goods is not None
        assert settlement.order_id is not None
        async with session_factory() as session:
            assert settlement.goods == await delivery.goods_of(session, settlement.order_id)
    cart_goods = settlements[0].goods
    assert cart_goods is not None and cart_goods.language == "ru"
    assert [(u.title, u.content) for u in cart_goods.units] == [
        ("Key", "K1"),
        ("Code", "C1"),
        ("Code", "C2"),
    ]
