"""Twenty buyers race for five keys through the fake Bot API and the real polling Dispatcher."""

from __future__ import annotations

import pytest

from app.db.models import ItemStatus, OrderStatus
from app.i18n import translator
from tests.harness import RunningBot
from tests.shop_helpers import UpdateTracker, answer_of, items_of, orders_of, seed_product

en = translator("en")
BUYERS = [4000 + n for n in range(20)]
KEYS = [f"RACE-KEY-{n}" for n in range(5)]


@pytest.fixture
def tracker(shop: RunningBot) -> UpdateTracker:
    return shop.tracker


async def test_twenty_buyers_five_keys(shop: RunningBot, tracker: UpdateTracker) -> None:
    api = shop.api
    product_id = await seed_product(shop.session_factory, "Hot Key", 30, KEYS)

    presses = [api.callback_query(user, f"b-buy:{product_id}") for user in BUYERS]  # all at once
    await tracker.wait(*(press["update_id"] for press in presses))

    invoices = api.calls_of("sendInvoice")
    answers = [answer_of(api, press) for press in presses]
    sold_out = [a for a in answers if a and a.get("text") == en("buyer.checkout.sold_out")]
    assert len(invoices) == 5 and len(sold_out) == 15
    assert len({invoice["chat_id"] for invoice in invoices}) == 5
    assert len({invoice["payload"] for invoice in invoices}) == 5

    checks = [api.pre_checkout_query(i["chat_id"], i["payload"], 30) for i in invoices]
    await tracker.wait(*(check["update_id"] for check in checks))
    verdicts = [api.pre_checkout_answers[c["pre_checkout_query"]["id"]] for c in checks]
    assert all(verdict["ok"] for verdict in verdicts)

    payments = [
        api.successful_payment(i["chat_id"], i["payload"], 30, f"race-charge-{n}")
        for n, i in enumerate(invoices)
    ]
    await tracker.wait(*(payment["update_id"] for payment in payments))

    delivered = {}
    for invoice in invoices:
        texts = [m.get("text", "") for m in api.sent_to(invoice["chat_id"])]
        keys = [text for text in texts if "RACE-KEY-" in text]
        assert len(keys) == 1
        delivered[invoice["chat_id"]] = next(k for k in KEYS if k in keys[0])
    assert sorted(delivered.values()) == KEYS  # every key sold once, none twice

    items = await items_of(shop.session_factory, product_id)
    assert all(item.status == ItemStatus.SOLD for item in items)
    orders = await orders_of(shop.session_factory)
    assert len(orders) == 5 and all(o.status == OrderStatus.DELIVERED for o in orders)
    assert len({o.stock_item_id for o in orders}) == 5
    assert {o.user_id for o in orders} == set(delivered)
