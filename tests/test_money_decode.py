"""A delivery whose answer aiogram cannot decode (its ClientDecodeError quotes the whole
response, which echoes the key) is a failed attempt like any other: backed off and retried,
and the key never reaches a log line. Through the real Dispatcher, on both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from app.db.base import utcnow
from app.db.models import Order, OrderStatus
from app.i18n import translator
from app.logs import configure_logging
from tests.harness import RunningBot
from tests.shop_helpers import Customer, buy, orders_of, seed_product

en = translator("en")
BUYER = 7601
KEY = "KEY-ECHOED-BY-A-BROKEN-ANSWER"


async def test_an_undecodable_answer_to_a_delivery_is_retried_without_logging_the_key(
    shop: RunningBot, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    factory = shop.session_factory
    await seed_product(factory, "Key", 10, [KEY])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Key")
    configure_logging("INFO", json=True)
    capsys.readouterr()
    broken = {"ok": True, "result": {"message_id": 1, "text": KEY}}  # no chat, no date
    shop.api.fail_next("sendMessage", 200, "", chat_id=BUYER, page=json.dumps(broken))

    await buyer.pay(payload, amount)  # the update's handler does not fail

    [order] = await orders_of(factory, BUYER)
    assert (order.status, order.delivery_attempts) == (OrderStatus.PAID, 1)
    assert buyer.texts()[-1] == en("buyer.payment.delivery_failed")
    output = capsys.readouterr()
    logged = output.out + output.err + caplog.text
    assert '"error": "ClientDecodeError"' in logged  # recorded as a failed attempt …
    assert "delivery failed; will retry" in logged
    assert KEY not in logged  # … by its type alone

    async with factory() as session:  # its retry is due
        await session.execute(update(Order).values(next_delivery_at=utcnow()))
        await session.commit()
    await shop.dispatcher["money_worker"].retry_round()
    [order] = await orders_of(factory, BUYER)
    assert order.status == OrderStatus.DELIVERED
    assert sum(KEY in text for text in buyer.texts()) == 1
