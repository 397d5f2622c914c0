"""A refund Telegram made whose answer the bot never got (a crash, a lost response): the next
attempt hears CHARGE_ALREADY_REFUNDED, records it, and tells the buyer as a normal refund would
(only when the earlier request was the bot's own). Real Dispatcher, fake Bot API, both
databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db.models import Refund
from app.i18n import translator
from tests.harness import RunningBot
from tests.shop_helpers import Customer, SessionFactory, eventually

en = translator("en")
BUYER, OTHER = 7701, 7702


async def _refund(factory: SessionFactory, charge_id: str) -> Refund:
    async with factory() as session:
        refund = await session.scalar(select(Refund).where(Refund.charge_id == charge_id))
        assert refund is not None
        return refund


@pytest.mark.settings(retry_interval=0.2)  # reconciliation (60 s) stays out of the way
async def test_a_refund_whose_answer_was_lost_is_recorded_and_the_buyer_told(
    shop: RunningBot,
) -> None:
    lost, elsewhere = "ch-answer-lost", "ch-elsewhere"
    calls: list[str] = []

    def refunded_then_lost(params: dict[str, object]) -> None:
        charge = str(params["telegram_payment_charge_id"])
        calls.append(charge)
        if calls.count(lost) == 1 and charge == lost:  # refunded; the bot sees only a 502
            shop.api.refund_elsewhere(BUYER, lost)
            shop.api.fail_next("refundStarPayment", 502, "Bad Gateway")

    shop.api.on_call("refundStarPayment", refunded_then_lost)
    buyer, other = Customer(shop.api, shop.tracker, BUYER), Customer(shop.api, shop.tracker, OTHER)
    await buyer.pay("no-such-order", 25, lost)

    async def refunded() -> bool:
        return (await _refund(shop.session_factory, lost)).status == "refunded"

    await eventually(refunded, "the retry hears CHARGE_ALREADY_REFUNDED and records it")
    assert calls == [lost, lost]
    notice = en("buyer.payment.refunded_unmatched", amount=25)
    assert buyer.texts().count(notice) == 1  # told once, as a refund that went through is

    shop.api.lost_payment(OTHER, "no-such-order", 25, elsewhere)
    shop.api.refund_elsewhere(OTHER, elsewhere)  # refunded by someone else before the bot asked
    await other.pay("no-such-order", 25, elsewhere)
    assert (await _refund(shop.session_factory, elsewhere)).status == "refunded"
    assert calls == [lost, lost, elsewhere]
    assert notice not in other.texts()  # not the bot's refund to announce
