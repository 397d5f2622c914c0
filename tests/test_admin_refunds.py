"""Refunds from the admin panel over HTTP: two confirmations at once reach Telegram once, an
unpaid order cannot be refunded, and the page says what Telegram answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.engine import create_engine, create_session_factory
from app.db.models import Order, OrderStatus, Payment, PaymentSource, User
from tests.admin_helpers import panel_client, running_panel
from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN, migrated
from tests.schema import scalar
from tests.shop_helpers import seed_product

BUYER = 9001


async def _orders(url: URL) -> tuple[int, int]:
    """A paid, delivered order (charge "charge-paid", in the payments ledger) and a pending
    one; their ids."""
    engine = create_engine(url)
    factory = create_session_factory(engine)
    try:
        product = await seed_product(factory, "Key", 40, ["K-1"], slug="key")
        now = utcnow()
        async with factory() as session:
            session.add(User(id=BUYER))
            await session.flush()
            paid = Order(
                user_id=BUYER, product_id=product, payload="p-paid", amount=40,
                status=OrderStatus.DELIVERED.value, expires_at=now,
                telegram_payment_charge_id="charge-paid",
                paid_at=now, delivered_at=now,
            )  # fmt: skip
            pending = Order(
                user_id=BUYER, product_id=product, payload="p-pending", amount=40,
                status=OrderStatus.PENDING.value, expires_at=now,
            )  # fmt: skip
            ledger = Payment(
                charge_id="charge-paid", user_id=BUYER, payload="p-paid", currency="XTR",
                amount=40, paid_at=now, source=PaymentSource.UPDATE.value,
            )  # fmt: skip
            session.add_all([ledger, paid, pending])
            await session.commit()
            return paid.id, pending.id
    finally:
        await engine.dispose()


async def test_two_confirmations_at_once_refund_once(pg_url: URL, tmp_path: Path) -> None:
    url = await migrated(pg_url)
    paid, pending = await _orders(url)
    async with (
        FakeBotAPI(BOT_TOKEN) as api,
        running_panel(url, api.url, tmp_path) as (base, _),
        panel_client(base) as client,
    ):
        api.start_bot(BUYER)
        api.lost_payment(BUYER, "p-paid", 40, "charge-paid")  # in Telegram's ledger
        assert await client.sign_in() == 302
        page = (await client.page(f"/admin/order/refund/{paid}"))[1]
        assert 'id="confirm-refund"' in page
        token = await client.token(f"/admin/order/refund/{paid}")

        async def confirm() -> str:
            async with client.http.post(
                f"{base}/admin/order/refund/{paid}", data={"csrf_token": token}
            ) as response:
                assert response.status == 200
                return await response.text()

        first, second = await asyncio.gather(confirm(), confirm())
        reports = sorted(
            "refunded" if "Refunded 40" in body else "already" for body in (first, second)
        )
        assert reports == ["already", "refunded"]
        assert len(api.calls_of("refundStarPayment")) == 1
        assert await scalar(url, f"SELECT status FROM orders WHERE id = {paid}") == "refunded"

        # An order never paid: no button, and a forged confirmation is refused.
        page = (await client.page(f"/admin/order/refund/{pending}"))[1]
        assert 'id="confirm-refund"' not in page and 'id="not-refundable"' in page
        refused = await client.post(f"/admin/order/refund/{pending}", {"csrf_token": token})
        assert refused.status == 400
        assert len(api.calls_of("refundStarPayment")) == 1


async def test_a_payment_of_the_ledger_refunded_from_its_page(pg_url: URL, tmp_path: Path) -> None:
    url = await migrated(pg_url)
    await _orders(url)
    payment_id = int(str(await scalar(url, "SELECT id FROM payments")))
    async with (
        FakeBotAPI(BOT_TOKEN) as api,
        running_panel(url, api.url, tmp_path) as (base, _),
        panel_client(base) as client,
    ):
        api.start_bot(BUYER)
        api.lost_payment(BUYER, "p-paid", 40, "charge-paid")
        assert await client.sign_in() == 302
        listing = (await client.page("/admin/payment/list?search=charge-paid"))[1]
        assert "charge-paid" in listing
        path = f"/admin/payment/refund/{payment_id}"
        token = await client.token(path)
        async with client.http.post(base + path, data={"csrf_token": token}) as response:
            assert response.status == 200 and "Refunded 40" in await response.text()
        async with client.http.post(base + path, data={"csrf_token": token}) as response:
            assert "already refunded" in await response.text()
        assert len(api.calls_of("refundStarPayment")) == 1
        assert (await client.page("/admin/refund/list"))[0] == 200
