"""A payment whose settlement always fails is moved back in the money worker's queue with
backoff (and the owners hear of it once), so a full batch of them never starves a newer
payment. The failure is the database's own (a trigger), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.engine import create_engine
from app.db.models import OrderStatus, PaymentSource, PendingPayment
from app.db.uow import transaction
from app.services import ledger
from app.services.ledger import ReportedPayment
from app.workers.money import BATCH
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import (
    SessionFactory,
    eventually,
    orders_of,
    reserve_for,
    seed_product,
)

BUYER = 7301
FAST = {"retry_interval": 0.2}
POISON = "poison-"

_PG_POISON = (
    "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    f" IF OLD.charge_id LIKE '{POISON}%' THEN RAISE EXCEPTION 'poisoned by the test'; END IF;"
    " RETURN OLD; END $$",
    "CREATE TRIGGER poison BEFORE DELETE ON pending_payments"
    " FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
)
_SQLITE_POISON = (
    "CREATE TRIGGER poison BEFORE DELETE ON pending_payments"
    f" WHEN OLD.charge_id LIKE '{POISON}%'"
    " BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END",
)


async def _poison(url: URL) -> None:
    """Settling a payment whose charge id starts with POISON fails, as a database bug would."""
    engine = create_engine(url)
    statements = _PG_POISON if url.get_backend_name() == "postgresql" else _SQLITE_POISON
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _recorded(factory: SessionFactory, payments: list[tuple[ReportedPayment, int]]) -> None:
    """In the ledger, unsettled, as if each update's handler died: due ``seconds`` ago."""
    now = utcnow()
    async with transaction(factory) as session:
        for payment, seconds in payments:
            due = now - timedelta(seconds=seconds)
            await ledger.record(session, payment, PaymentSource.UPDATE, settle_after=due)


async def _markers(factory: SessionFactory) -> list[PendingPayment]:
    async with factory() as session:
        return list(await session.scalars(select(PendingPayment)))


@pytest.mark.settings(**FAST)
async def test_payments_that_never_settle_do_not_starve_a_newer_one(shop: RunningBot) -> None:
    factory = shop.session_factory
    shop.api.start_bot(ADMIN_ID, BUYER)
    product = await seed_product(factory, "Key", 10, ["KEY-FRESH"])
    payload = await reserve_for(factory, BUYER, product)
    await _poison(shop.settings.database_url)
    now = utcnow()
    poisoned = [
        (ReportedPayment(f"{POISON}{n}", 9000 + n, f"lost-{n}", "XTR", 5, now), 3600 - n)
        for n in range(BATCH)  # a whole batch of them, older than the good one
    ]
    fresh = ReportedPayment("ch-fresh", BUYER, payload, "XTR", 10, now)
    await _recorded(factory, [*poisoned, (fresh, 0)])

    async def delivered() -> bool:
        return [o.status for o in await orders_of(factory, BUYER)] == [OrderStatus.DELIVERED]

    await eventually(delivered, "the newer payment is settled past the failing ones")
    assert sum("KEY-FRESH" in m["text"] for m in shop.api.sent_to(BUYER)) == 1

    async def kept_failing() -> bool:
        markers = await _markers(factory)
        return len(markers) == BATCH and all(m.attempts >= 4 for m in markers)

    await eventually(kept_failing, "the poisoned payments are tried again, less often")
    markers = await _markers(factory)
    assert {m.charge_id for m in markers} == {p.charge_id for p, _ in poisoned}  # still owed
    assert all(m.next_attempt_at > now for m in markers)
    alerts = [m["text"] for m in shop.api.sent_to(ADMIN_ID) if "Payment not settled" in m["text"]]
    for payment, _ in poisoned:  # each one alerted once, however often it failed
        assert sum(alert.endswith(f" {payment.charge_id}") for alert in alerts) == 1
