"""The reward pass's statements in PostgreSQL's plans, in the plan for the values and in the
generic plan:

- with 20,000 referrals and 19,900 rewards made, a referrer's rewards of today (the daily
  cap's count) are read through ix_referral_rewards_referrer_id_created_at, a few entries per
  referee waiting, never the referrer's whole history;
- with 50,000 referrals of which 40,000 never paid and 9,000 are settled (rewarded or
  forfeited), the candidates and the finished referrals are read through ix_referrals_waiting:
  the referrals waiting for their reward only, never a scan of all of them."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.uow import read
from app.services import referral_rewards
from tests.harness import make_settings
from tests.query_plans import (
    JSON,
    PLAN_MODES,
    Statement,
    StatementRecorder,
    describe,
    explain,
    nodes,
    rows_read,
    seq_scanned,
)

REFERRERS, REFEREES, REWARDED, TODAY = 200, 20_000, 19_900, 100
CAP = 5
HOLD = timedelta(days=7)


def _referrals(referees: int, referrers: int) -> list[str]:
    return [
        f"INSERT INTO users (id) SELECT g FROM generate_series(1, {referrers}) AS g",
        f"INSERT INTO users (id) SELECT 100000 + g FROM generate_series(1, {referees}) AS g",
        "INSERT INTO referrals (referee_id, referrer_id) "
        f"SELECT 100000 + g, 1 + g % {referrers} FROM generate_series(1, {referees}) AS g",
        "INSERT INTO products (slug, title, price) VALUES ('key', 'Key', 5)",
    ]


def _paid(first: int, last: int, status: str, days_ago: int) -> str:
    """Referees ``first``..``last`` paid one order ``days_ago`` days ago, recorded as their
    first (as the settlement records it)."""
    return (
        "WITH paid AS (INSERT INTO orders (user_id, product_id, payload, amount, status,"
        " expires_at, telegram_payment_charge_id, paid_at) "
        f"SELECT 100000 + g, (SELECT id FROM products), 'p-' || g, 5, '{status}', now(),"
        f" 'c-' || g, now() - interval '{days_ago} days' + g * interval '1 second'"
        f" FROM generate_series({first}, {last}) AS g RETURNING id, user_id, paid_at) "
        "UPDATE referrals SET first_order_id = paid.id, first_paid_at = paid.paid_at"
        " FROM paid WHERE referrals.referee_id = paid.user_id"
    )


def _rewards(last: int, referrers: int, today: int) -> list[str]:
    """Rewards for referees 1..``last``, made on earlier days but the last ``today``; settled."""
    return [
        "INSERT INTO promo_codes (code, kind, value, scope, owner_user_id) "
        f"SELECT 'REF' || g, 'percent', 10, 'shop', 1 + g % {referrers} "
        f"FROM generate_series(1, {last}) AS g",
        "INSERT INTO referral_rewards (referee_id, referrer_id, order_id, promo_id, created_at) "
        f"SELECT 100000 + g, 1 + g % {referrers}, o.id, c.id, CASE WHEN g > {last - today} "
        "THEN now() ELSE now() - interval '20 days' END "
        f"FROM generate_series(1, {last}) AS g "
        "JOIN orders o ON o.payload = 'p-' || g JOIN promo_codes c ON c.code = 'REF' || g",
        "UPDATE referrals SET settled_at = r.created_at FROM referral_rewards r"
        " WHERE r.referee_id = referrals.referee_id",
    ]


SEED = [
    *_referrals(REFEREES, REFERRERS),
    _paid(1, REFEREES, "delivered", 30),
    *_rewards(REWARDED, REFERRERS, TODAY),
]
TODAYS = "referral_rewards_1"  # the alias of the count of today's rewards


async def _pass_statements(url: URL, seed: list[str]) -> tuple[list[Statement], int]:
    """The statements of the pass's read (finished, then candidates) on the seeded database,
    and the number of candidates found."""
    engine = create_engine(url)
    try:
        await migrate(engine, make_settings(url))
        async with engine.connect() as conn:
            for statement in seed:
                await conn.execute(text(statement))
            await conn.commit()
        driver = await _driver(url)
        try:  # as autovacuum leaves a shop that has run for a while
            await driver.execute("VACUUM ANALYZE")
        finally:
            await driver.close()
        recorder = StatementRecorder(engine)
        try:
            recorder.step("pass")
            async with create_session_factory(engine)() as session, read(session):
                await referral_rewards.finished(session, utcnow(), HOLD, 50)
                found = await referral_rewards.candidates(session, utcnow(), HOLD, 50, CAP)
            recorder.step(None)
        finally:
            recorder.close()
    finally:
        await engine.dispose()
    return recorder.statements, len(found)


async def _driver(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))


async def test_todays_rewards_are_counted_through_the_index(pg_url: URL) -> None:
    [_, statement], found = await _pass_statements(pg_url, SEED)
    assert found == 50  # the oldest of the 100 waiting, each referrer under the cap
    waiting = REFEREES - REWARDED
    driver = await _driver(pg_url)
    try:
        for mode in PLAN_MODES:
            plan = await explain(driver, statement, mode)
            todays = [node for node in nodes(plan) if node.get("Alias") == TODAYS]
            assert todays, describe(plan)
            for node in todays:  # a bitmap heap scan reads what its index scan found
                used = {child.get("Index Name") for child in nodes(node)}
                assert "ix_referral_rewards_referrer_id_created_at" in used, describe(plan)
            read_today = sum(rows_read(node) for node in todays)
            assert read_today <= waiting * CAP, f"{mode}: {read_today} rows\n{describe(plan)}"
            assert "Seq Scan" not in {node["Node Type"] for node in todays}, describe(plan)
    finally:
        await driver.close()


# 50,000 referrals: 40,000 referees never paid, 9,000 settled (8,000 rewarded, 1,000 whose
# first order was refunded), 1,000 waiting (half of them still in their hold); and the shop's
# other 100,000 orders, of buyers nobody referred.
BIG_REFERRERS, NEVER_PAID, SETTLED, WAITING = 500, 40_000, 9_000, 1_000
BIG_REWARDED, OTHER_ORDERS = 8_000, 100_000
BIG_SEED = [
    *_referrals(NEVER_PAID + SETTLED + WAITING, BIG_REFERRERS),
    _paid(1, BIG_REWARDED, "delivered", 90),
    _paid(BIG_REWARDED + 1, SETTLED, "refunded", 60),
    _paid(SETTLED + 1, SETTLED + WAITING // 2, "delivered", 30),  # past the hold
    _paid(SETTLED + WAITING // 2 + 1, SETTLED + WAITING, "paid", 1),  # still in it
    *_rewards(BIG_REWARDED, BIG_REFERRERS, 0),
    "UPDATE referrals SET settled_at = now() - interval '50 days' FROM orders o"
    " WHERE o.id = referrals.first_order_id AND o.status = 'refunded'",
    "INSERT INTO orders (user_id, product_id, payload, amount, status, expires_at, paid_at,"
    f" telegram_payment_charge_id) SELECT 1 + g % {BIG_REFERRERS}, (SELECT id FROM products),"
    "'x-' || g, 5, 'delivered', now(), now() - g * interval '1 minute', 'xc-' || g"
    f" FROM generate_series(1, {OTHER_ORDERS}) AS g",
    # Refunds of the refunded first orders, and of a tenth of the others.
    "INSERT INTO payments (charge_id, user_id, payload, currency, amount, paid_at, source)"
    " SELECT telegram_payment_charge_id, user_id, payload, 'XTR', 5, paid_at, 'update'"
    " FROM orders WHERE status = 'refunded' OR (payload LIKE 'x-%' AND id % 10 = 0)",
    "INSERT INTO refunds (charge_id, order_id, user_id, amount, reason, status)"
    " SELECT charge_id, o.id, p.user_id, 5, 'owner', 'refunded' FROM payments p"
    " JOIN orders o ON o.telegram_payment_charge_id = p.charge_id",
]


def _own_rows(node: JSON) -> int:
    """Rows one scan returned or filtered out (not its index's, nor its subplans')."""
    per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    return round(per_loop * node.get("Actual Loops", 1))


async def test_the_pass_reads_only_the_referrals_waiting_for_their_reward(pg_url: URL) -> None:
    statements, found = await _pass_statements(pg_url, BIG_SEED)
    assert found == 50  # the batch, of the 500 past their hold
    driver = await _driver(pg_url)
    try:
        for statement in statements:  # finished, then the candidates
            for mode in PLAN_MODES:
                plan = await explain(driver, statement, mode)
                shown = f"{mode}\n{describe(plan)}"
                scans = [n for n in nodes(plan) if n.get("Relation Name") == "referrals"]
                assert scans, shown
                for node in scans:
                    used = {child.get("Index Name") for child in nodes(node)}
                    assert "ix_referrals_waiting" in used, shown
                assert sum(_own_rows(node) for node in scans) <= WAITING, shown
                assert not seq_scanned(plan), shown  # the others by their keys
                assert rows_read(plan) <= WAITING * 6, shown  # a few reads per one waiting
    finally:
        await driver.close()
