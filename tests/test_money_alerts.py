"""Owner alerts about money are sent at least once: a refund is marked alerted only after the
alert went out, so one Telegram refused (or a crash before it) is sent again later. Through
the real Dispatcher and the fake Bot API, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.models import Refund
from app.services.refunds import ALERT_GRACE
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, SessionFactory, eventually

BUYER = 7401
BAD_GATEWAY = (502, "Bad Gateway")


async def _refund(factory: SessionFactory) -> Refund:
    async with factory() as session:
        [refund] = (await session.scalars(select(Refund))).all()
        return refund


def _alerts(shop: RunningBot, words: str) -> list[str]:
    return [m["text"] for m in shop.api.sent_to(ADMIN_ID) if words in m["text"]]


@pytest.mark.settings(auto_refund=False)
async def test_a_refund_alert_telegram_refused_is_sent_again_by_the_worker(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    shop.api.start_bot(ADMIN_ID)
    shop.api.fail_next("sendMessage", *BAD_GATEWAY, chat_id=ADMIN_ID)
    charge = await Customer(shop.api, shop.tracker, BUYER).pay("no-such-order", 25, "ch-alert")
    assert _alerts(shop, f"/refund {charge}") == []  # the owners' alert did not go out
    assert (await _refund(factory)).alerted_at is None
    async with factory() as session:  # older than the grace the worker leaves the handler
        past = utcnow() - ALERT_GRACE - timedelta(seconds=1)
        await session.execute(update(Refund).values(created_at=past))
        await session.commit()
    worker = shop.dispatcher["money_worker"]
    await worker.retry_round()
    await worker.retry_round()  # marked now: no second alert
    assert len(_alerts(shop, f"/refund {charge}")) == 1
    assert (await _refund(factory)).alerted_at is not None
    assert shop.api.stars_refunds == []  # still the owners' to refund


@pytest.mark.settings(retry_interval=0.2)
async def test_a_failing_refund_alert_telegram_refused_is_sent_on_the_next_failure(
    shop: RunningBot,
) -> None:
    factory = shop.session_factory
    shop.api.start_bot(ADMIN_ID)
    shop.api.fail_next("refundStarPayment", *BAD_GATEWAY, times=4)
    shop.api.fail_next("sendMessage", *BAD_GATEWAY, chat_id=ADMIN_ID)  # the first alert
    charge = await Customer(shop.api, shop.tracker, BUYER).pay("no-such-order", 25, "ch-flaky")

    async def refunded() -> bool:
        return (await _refund(factory)).status == "refunded"

    await eventually(refunded, "the automatic refund goes through on its fifth attempt")
    assert len(shop.api.calls_of("refundStarPayment")) == 5
    alerts = _alerts(shop, "Automatic refund failing")
    assert len(alerts) == 1 and charge in alerts[0]
    assert (await _refund(factory)).alerted_at is not None
