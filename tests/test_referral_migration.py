"""The referrals' first paid order and settlement, migrated with referrals in the table (SQLite
and PostgreSQL): each referee's first paid order (by paid_at, then id) is recorded, whatever
became of it; a referral already rewarded is settled at its reward's time, one whose first
paid order was refunded is settled (forfeited); a referee who never paid, or whose first order
still waits for its refund or its hold, is not. The pass then finds the waiting one only; down
and up again, the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import URL

from app.config import DatabaseSettings
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import alembic_config
from app.db.models import Order, Referral
from app.db.uow import read
from app.services import referral_rewards
from tests.processes import run_alembic
from tests.schema import execute, head, heads_of

REVISION = "c756106f2558"  # the columns; the next revision fills them in
REFERRER = 9001
NEVER, TWICE, REWARDED, REFUNDED, REFUND_DUE = 9101, 9102, 9103, 9104, 9105
REWARD_TIME = datetime(2020, 3, 1, 12, tzinfo=UTC)
# Per order: (id, buyer, status, paid_at or None). TWICE's order 2 was paid before order 1.
ORDERS = [
    (1, TWICE, "delivered", "2020-02-02 10:00:00"),
    (2, TWICE, "delivered", "2020-02-01 10:00:00"),
    (3, REWARDED, "delivered", "2020-02-03 10:00:00"),
    (4, REFUNDED, "refunded", "2020-02-04 10:00:00"),
    (5, REFUNDED, "delivered", "2020-02-05 10:00:00"),  # later: does not count
    (6, REFUND_DUE, "refund_due", "2020-02-06 10:00:00"),  # sold out, not refunded yet
    (7, NEVER, "expired", None),
]


def _before() -> str:
    script = ScriptDirectory.from_config(alembic_config(DatabaseSettings()))
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


async def _alembic(url: URL, *args: str) -> None:
    done = await asyncio.to_thread(run_alembic, *args, database_url=url)
    assert done.returncode == 0, done.stdout + done.stderr


def _seed() -> list[str]:
    referees = (NEVER, TWICE, REWARDED, REFUNDED, REFUND_DUE)
    statements = [
        f"INSERT INTO users (id) VALUES ({REFERRER}), " + ", ".join(f"({u})" for u in referees),
        "INSERT INTO referrals (referee_id, referrer_id) VALUES "
        + ", ".join(f"({u}, {REFERRER})" for u in referees),
        "INSERT INTO products (id, slug, title, price) VALUES (1, 'key', 'Key', 10)",
    ]
    for order_id, buyer, status, paid_at in ORDERS:
        paid = f"'{paid_at}'" if paid_at else "NULL"
        statements.append(
            "INSERT INTO orders (id, user_id, product_id, payload, amount, status, expires_at,"
            f" paid_at) VALUES ({order_id}, {buyer}, 1, 'p-{order_id}', 10, '{status}',"
            f" '2020-01-01 00:00:00', {paid})"
        )
    statements += [
        "INSERT INTO promo_codes (id, code, kind, value, scope, owner_user_id)"
        f" VALUES (1, 'REFAAA', 'percent', 10, 'shop', {REFERRER})",
        "INSERT INTO referral_rewards (referee_id, referrer_id, order_id, promo_id, created_at)"
        f" VALUES ({REWARDED}, {REFERRER}, 3, 1, '2020-03-01 12:00:00')",
    ]
    return statements


async def _state(url: URL) -> dict[int, tuple[int | None, bool, datetime | None]]:
    """Per referee: the first order recorded, whether its paid_at came with it (None with
    None), and settled_at."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            paid = {id_: at for id_, at in await session.execute(select(Order.id, Order.paid_at))}
            return {
                r.referee_id: (
                    r.first_order_id,
                    r.first_paid_at == paid.get(r.first_order_id),
                    r.settled_at,
                )
                for r in await session.scalars(select(Referral))
            }
    finally:
        await engine.dispose()


async def _pass_finds(url: URL) -> tuple[list[int], list[int]]:
    """What the reward pass reads now: the candidates' referees, and the finished ones."""
    engine = create_engine(url)
    now, hold = datetime.now(UTC), timedelta(days=7)
    try:
        async with create_session_factory(engine)() as session, read(session):
            found = await referral_rewards.candidates(session, now, hold, 50, 5)
            done = await referral_rewards.finished(session, now, hold, 50)
            return [c.referee_id for c in found], done
    finally:
        await engine.dispose()


async def test_existing_referrals_are_backfilled_and_settled(db_url: URL) -> None:
    await _alembic(db_url, "upgrade", _before())
    await execute(db_url, *_seed())

    await _alembic(db_url, "upgrade", "head")
    state = await _state(db_url)
    assert {referee: (first, same) for referee, (first, same, _) in state.items()} == {
        NEVER: (None, True),  # no order, no paid_at
        TWICE: (2, True),
        REWARDED: (3, True),
        REFUNDED: (4, True),
        REFUND_DUE: (6, True),
    }
    settled = {referee for referee, (_, _, at) in state.items() if at is not None}
    assert settled == {REWARDED, REFUNDED}
    assert state[REWARDED][2] == REWARD_TIME
    assert await _pass_finds(db_url) == ([TWICE], [])

    await _alembic(db_url, "downgrade", _before())
    await _alembic(db_url, "upgrade", "head")
    again = await _state(db_url)
    assert {k: v[:2] for k, v in again.items()} == {k: v[:2] for k, v in state.items()}
    assert {referee for referee, (_, _, at) in again.items() if at is not None} == settled
    assert await heads_of(db_url) == (head(),)
