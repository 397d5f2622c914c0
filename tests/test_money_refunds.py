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


@pytest.mark.settings(retry_interval=0.2, reconcile_interval=0.3)
async def test_the_reconciliation_records_the_bots_own_refund_and_tells_the_buyer_once(
    shop: RunningBot,
) -> None:
    """The bot asked, Telegram refunded, the answer was lost, and every retry's answer is lost
    too (a crash after each, in effect): the reconciliation finds the refund in Telegram's
    ledger, records it and, the refund being the bot's own, tells the buyer (once: the flow
    tells only when it records a refund itself)."""
    lost = "ch-lost-then-reconciled"

    def refunded_then_lost(params: dict[str, object]) -> None:
        if str(params["telegram_payment_charge_id"]) == lost:
            if lost not in shop.api.ledger.refunded:
                shop.api.refund_elsewhere(BUYER, lost)
            shop.api.fail_next("refundStarPayment", 502, "Bad Gateway")

    shop.api.on_call("refundStarPayment", refunded_then_lost)
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.pay("no-such-order", 30, lost)
    notice = en("buyer.payment.refunded_unmatched", amount=30)

    async def told() -> bool:
        return notice in buyer.texts()

    await eventually(told, "the reconciliation tells the buyer of the bot's own refund")
    refund = await _refund(shop.session_factory, lost)
    assert (refund.status, refund.reason) == ("refunded", "unmatched")
    passes = len(shop.api.calls_of("getStarTransactions"))

    async def two_more_passes() -> bool:  # later passes change nothing
        return len(shop.api.calls_of("getStarTransactions")) >= passes + 2

    await eventually(two_more_passes, "two more reconciliation passes")
    assert buyer.texts().count(notice) == 1
    assert shop.api.calls_of("refundStarPayment")  # the bot's own request, never answered
