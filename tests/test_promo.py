"""Promo codes through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL: the
discounted invoice, the last use raced for, the 1-Star floor, the scope, minimum, expiry and
per-buyer limits, the pre-checkout's second look, and a refund giving the use back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.db.models import Order, OrderStatus, RedemptionStatus, StockItem
from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.promo_helpers import (
    add_code,
    apply_code,
    open_card,
    pay,
    redemptions_of,
    set_code,
    shown,
)
from tests.shop_helpers import (
    Customer,
    buy,
    eventually,
    invoice_amount,
    orders_of,
    seed_category,
    seed_product,
)

en = translator("en")
BUYER = 5101
RACERS = [5200 + n for n in range(5)]


def customer(shop: RunningBot, user_id: int = BUYER) -> Customer:
    return Customer(shop.api, shop.tracker, user_id)


async def refused(
    buyer: Customer, title: str, code: str, category: str | None = None, *, price: int
) -> str:
    """A code refused on a card: the units stay reserved and their invoice comes at the full
    price, after the text that says why; that text."""
    invoice = await apply_code(buyer, title, code, category)
    assert invoice is not None and invoice_amount(invoice) == price
    [line] = invoice["prices"]
    assert line["label"] == title  # no code on it
    return buyer.texts()[-2]


def why(reason: str, amount: int) -> str:
    return shown(reason + "\n" + en("buyer.promo.full_price", amount=amount))


async def test_a_code_discounts_the_invoice_and_is_used_by_the_payment(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Game Key", 40, ["KEY-1"])
    code = await add_code(shop.session_factory, "save25 25%")
    buyer = customer(shop)
    invoice = await apply_code(buyer, "Game Key", "Save25")  # any case
    assert invoice is not None and invoice_amount(invoice) == 30
    [price] = invoice["prices"]
    assert price["label"] == "Game Key (SAVE25)"
    assert str(invoice["description"]).startswith("Code SAVE25: −10 ⭐ (40 → 30 ⭐).")
    assert buyer.texts()[-2] == shown(  # then the invoice
        en("buyer.promo.applied", code=code, saving=10, total=40, amount=30)
    )
    [held] = await redemptions_of(shop.session_factory, code)
    assert (held.status, held.discount) == (RedemptionStatus.HELD, 10)

    await pay(buyer, invoice)
    assert any("KEY-1" in text for text in buyer.texts())
    [order] = await orders_of(shop.session_factory, BUYER)
    assert (order.status, order.amount, order.discount) == (OrderStatus.DELIVERED, 30, 10)
    [used] = await redemptions_of(shop.session_factory, code)
    assert used.status == RedemptionStatus.USED


async def test_five_buyers_race_for_the_last_use(shop: RunningBot) -> None:
    """One use left, five buyers apply it at once: exactly one pays the discounted price."""
    await seed_product(shop.session_factory, "Hot Key", 30, [f"HOT-{n}" for n in range(5)])
    code = await add_code(shop.session_factory, "LAST1 50% uses=1")
    buyers = [customer(shop, user) for user in RACERS]
    for buyer in buyers:
        await open_card(buyer, "Hot Key")
        await buyer.press(en("buyer.promo.button"))
    typed = [shop.api.message(buyer.user_id, code) for buyer in buyers]  # all at once
    await shop.tracker.wait(*(update["update_id"] for update in typed))

    invoices = shop.api.calls_of("sendInvoice")
    assert sorted(invoice_amount(invoice) for invoice in invoices) == [15, 30, 30, 30, 30]
    used_up = why(en("buyer.promo.used_up", code=code), 30)
    others = [b for b in buyers if b.texts()[-2] == used_up]
    assert len(others) == 4
    [winner] = [b for b in buyers if b not in others]
    await pay(winner, winner.invoices()[-1])
    # The others got their invoice at the full price; Buy gives the same one back.
    for buyer in others:
        payload, amount = await buy(buyer, "Hot Key")
        assert (payload, amount) == (buyer.invoices()[0]["payload"], 30)
        await pay(buyer, buyer.invoices()[-1])
    paid = sorted(order.amount for order in await orders_of(shop.session_factory))
    assert paid == [15, 30, 30, 30, 30]
    assert [r.status for r in await redemptions_of(shop.session_factory, code)] == ["used"]


@pytest.mark.parametrize("spec", ["ALL100 100%", "BIG500 500"])
async def test_a_discount_never_takes_the_total_below_one_star(shop: RunningBot, spec: str) -> None:
    await seed_product(shop.session_factory, "Cheap Key", 30, ["CHEAP-1"])
    code = await add_code(shop.session_factory, spec)
    buyer = customer(shop)
    invoice = await apply_code(buyer, "Cheap Key", code)
    assert invoice is not None and invoice_amount(invoice) == 1
    await pay(buyer, invoice)
    [order] = await orders_of(shop.session_factory, BUYER)
    assert (order.status, order.amount, order.discount) == (OrderStatus.DELIVERED, 1, 29)


async def test_scope_minimum_and_per_buyer_limits(shop: RunningBot) -> None:
    games = await seed_category(shop.session_factory, "Games")
    await seed_product(shop.session_factory, "Chess", 40, ["G-1", "G-2"], category_id=games)
    await seed_product(shop.session_factory, "Music", 40, ["M-1"], slug="music")
    game_code = await add_code(shop.session_factory, "GAMES10 10 scope=category:Games")
    music_code = await add_code(shop.session_factory, "MUSIC5 5 scope=product:music")
    big_code = await add_code(shop.session_factory, "BIG 10% min=50")
    once = await add_code(shop.session_factory, "ONCE 5 per_user=1")
    buyer = customer(shop)

    assert await refused(buyer, "Chess", music_code, "Games", price=40) == why(
        en("buyer.promo.not_applicable", code=music_code), 40
    )
    assert await refused(buyer, "Chess", big_code, "Games", price=40) == why(
        en("buyer.promo.min_total", code=big_code, min=50), 40
    )
    assert await refused(buyer, "Chess", "NO-SUCH", "Games", price=40) == why(
        en("buyer.promo.unknown", code="NO-SUCH"), 40
    )
    assert await refused(buyer, "Music", game_code, price=40) == why(
        en("buyer.promo.not_applicable", code=game_code), 40
    )

    music = await apply_code(buyer, "Music", music_code)
    assert music is not None and invoice_amount(music) == 35
    # /code on the latest open reservation: the same order, another code, a new invoice.
    await buyer.send(f"/code {once}")
    assert buyer.invoices()[-1]["payload"] == music["payload"]
    assert invoice_amount(buyer.invoices()[-1]) == 35
    await pay(buyer, buyer.invoices()[-1])
    assert await redemptions_of(shop.session_factory, music_code) == []  # replaced by ONCE
    assert [r.status for r in await redemptions_of(shop.session_factory, once)] == ["used"]
    assert await refused(buyer, "Chess", once, "Games", price=40) == why(
        en("buyer.promo.per_user", code=once), 40
    )
    game = await apply_code(buyer, "Chess", game_code, "Games")
    assert game is not None and invoice_amount(game) == 30


async def test_an_expired_code_is_refused(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 40, ["K-1"])
    code = await add_code(shop.session_factory, "OLD 10%")
    await set_code(shop.session_factory, code, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    buyer = customer(shop)
    assert await refused(buyer, "Key", code, price=40) == why(
        en("buyer.promo.expired", code=code), 40
    )
    await buyer.send("/code")
    assert buyer.texts()[-1] == shown(en("buyer.promo.code_usage"))


@pytest.mark.parametrize("change", ["expired", "disabled"])
async def test_pre_checkout_refuses_a_code_that_expired_or_was_disabled(
    shop: RunningBot, change: str
) -> None:
    await seed_product(shop.session_factory, "Key", 40, ["K-1"])
    code = await add_code(shop.session_factory, "SOON 10%")
    buyer, owner = customer(shop), customer(shop, ADMIN_ID)
    invoice = await apply_code(buyer, "Key", code)
    assert invoice is not None and invoice_amount(invoice) == 36
    if change == "expired":
        past = datetime.now(UTC) - timedelta(seconds=1)
        await set_code(shop.session_factory, code, expires_at=past)
    else:
        await owner.send(f"/promo disable {code}")
        assert owner.texts()[-1] == shown(en("owner.promo.disabled", code=code))
    verdict = await buyer.pre_checkout(str(invoice["payload"]), 36)
    assert verdict["ok"] is False
    assert verdict["error_message"] == en(f"buyer.pre_checkout.promo_{change}")
    # The code is off the reservation: Buy gives the invoice at the full price.
    payload, amount = await buy(buyer, "Key")
    assert (payload, amount) == (invoice["payload"], 40)
    await pay(buyer, buyer.invoices()[-1])
    [released] = await redemptions_of(shop.session_factory, code)
    assert released.status == RedemptionStatus.RELEASED


async def test_an_owner_refund_gives_the_use_back(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 40, ["K-1", "K-2"])
    code = await add_code(shop.session_factory, "ONE 10 uses=1")
    first, second, owner = customer(shop), customer(shop, BUYER + 1), customer(shop, ADMIN_ID)
    invoice = await apply_code(first, "Key", code)
    assert invoice is not None
    charge = await pay(first, invoice)
    assert await refused(second, "Key", code, price=40) == why(
        en("buyer.promo.used_up", code=code), 40
    )

    await owner.send(f"/refund {charge}")
    assert [r.status for r in await redemptions_of(shop.session_factory, code)] == ["released"]
    again = await apply_code(second, "Key", code)
    assert again is not None and invoice_amount(again) == 30


@pytest.mark.settings(retry_interval=0.2)
async def test_an_automatic_refund_gives_the_use_back(shop: RunningBot) -> None:
    """A late payment (its reservation taken over, nothing left) is refunded; the use too."""
    await seed_product(shop.session_factory, "Last Key", 40, ["LAST-1"])
    code = await add_code(shop.session_factory, "LATE 10% uses=1")
    late, other = customer(shop), customer(shop, BUYER + 1)
    invoice = await apply_code(late, "Last Key", code)
    assert invoice is not None
    async with shop.session_factory() as session:  # the reservation ran out
        past = datetime.now(UTC) - timedelta(minutes=1)
        await session.execute(update(Order).values(expires_at=past))
        await session.execute(update(StockItem).values(reserved_until=past))
        await session.commit()
    await buy(other, "Last Key")  # takes the item over
    await late.pay(str(invoice["payload"]), invoice_amount(invoice))

    async def given_back() -> bool:
        found = await redemptions_of(shop.session_factory, code)
        return [r.status for r in found] == [RedemptionStatus.RELEASED]

    await eventually(given_back, "the refunded payment's use given back")
    assert shop.api.stars_refunds[0]["user_id"] == BUYER
    again = await apply_code(other, "Last Key", code)
    assert again is not None and invoice_amount(again) == 36


async def test_a_category_code_on_a_cart_discounts_the_lines_in_scope_only(
    shop: RunningBot,
) -> None:
    games = await seed_category(shop.session_factory, "Games")
    await seed_product(shop.session_factory, "Chess", 40, ["C-1", "C-2"], category_id=games)
    await seed_product(shop.session_factory, "Music", 30, ["M-1"])
    code = await add_code(shop.session_factory, "HALF 50% scope=category:Games min=80")
    buyer = customer(shop)
    await open_card(buyer, "Chess", "Games")
    await buyer.press("➕")
    await buyer.press(en("buyer.catalog.add_to_cart"))
    await open_card(buyer, "Music")
    await buyer.press(en("buyer.catalog.add_to_cart"))
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.promo.button"))
    await buyer.send(code.lower())
    [invoice] = buyer.invoices()
    assert invoice_amount(invoice) == 70  # half of 2 * 40, plus 30
    assert str(invoice["description"]).startswith("Code HALF: −40 ⭐ (110 → 70 ⭐).")
    await pay(buyer, invoice)
    delivered = "\n".join(buyer.texts())
    assert all(key in delivered for key in ("C-1", "C-2", "M-1"))
    [order] = await orders_of(shop.session_factory, BUYER)
    assert (order.status, order.amount, order.discount) == (OrderStatus.DELIVERED, 70, 40)
    await buyer.send("/cart")  # the cart's order, discounted, empties the cart all the same
    assert buyer.texts()[-1] == shown(en("buyer.cart.empty"))


async def test_a_code_refused_on_the_cart_sends_the_carts_invoice_at_the_full_price(
    shop: RunningBot,
) -> None:
    await seed_product(shop.session_factory, "Chess", 40, ["C-1"])
    await seed_product(shop.session_factory, "Music", 30, ["M-1"])
    buyer = customer(shop)
    for title in ("Chess", "Music"):
        await open_card(buyer, title)
        await buyer.press(en("buyer.catalog.add_to_cart"))
    await buyer.press(en("buyer.menu.cart"))
    await buyer.press(en("buyer.promo.button"))
    await buyer.send("nope")
    [invoice] = buyer.invoices()
    assert invoice_amount(invoice) == 70 and invoice["description"] == "Chess ×1, Music ×1"
    assert buyer.texts()[-2] == why(en("buyer.promo.unknown", code="nope"), 70)
    await pay(buyer, invoice)
    delivered = "\n".join(buyer.texts())
    assert "C-1" in delivered and "M-1" in delivered
    [order] = await orders_of(shop.session_factory, BUYER)
    assert (order.status, order.amount, order.discount) == (OrderStatus.DELIVERED, 70, 0)
    await buyer.send("/cart")
    assert buyer.texts()[-1] == shown(en("buyer.cart.empty"))
