"""The reward pass's candidate query in PostgreSQL's plans, with 20,000 referrals and 19,900
rewards made: a referrer's rewards of today (the daily cap's count) are read through
ix_referral_rewards_referrer_id_created_at, a few entries per referee waiting, never the
referrer's whole history; in the plan for the values and in the generic plan."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.db.base import utcnow
from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.uow import read
from app.services import referrals
from tests.harness import make_settings
from tests.query_plans import PLAN_MODES, StatementRecorder, describe, explain, nodes, rows_read

REFERRERS, REFEREES, REWARDED, TODAY = 200, 20_000, 19_900, 100
CAP = 5
SEED = [
    f"INSERT INTO users (id) SELECT g FROM generate_series(1, {REFERRERS}) AS g",
    f"INSERT INTO users (id) SELECT 100000 + g FROM generate_series(1, {REFEREES}) AS g",
    "INSERT INTO referrals (referee_id, referrer_id) "
    f"SELECT 100000 + g, 1 + g % {REFERRERS} FROM generate_series(1, {REFEREES}) AS g",
    "INSERT INTO products (slug, title, price) VALUES ('key', 'Key', 5)",
    "INSERT INTO orders (user_id, product_id, payload, amount, status, expires_at, paid_at) "
    "SELECT 100000 + g, (SELECT id FROM products), 'p-' || g, 5, 'delivered', now(), "
    f"now() - interval '30 days' + g * interval '1 second' FROM generate_series(1, {REFEREES}) g",
    "INSERT INTO promo_codes (code, kind, value, scope, owner_user_id) "
    f"SELECT 'REF' || g, 'percent', 10, 'shop', 1 + g % {REFERRERS} "
    f"FROM generate_series(1, {REWARDED}) AS g",
    # Rewards made on earlier days, and the last TODAY of them today.
    "INSERT INTO referral_rewards (referee_id, referrer_id, order_id, promo_id, created_at) "
    f"SELECT 100000 + g, 1 + g % {REFERRERS}, o.id, c.id, CASE WHEN g > {REWARDED - TODAY} "
    "THEN now() ELSE now() - interval '20 days' END "
    f"FROM generate_series(1, {REWARDED}) AS g "
    "JOIN orders o ON o.payload = 'p-' || g JOIN promo_codes c ON c.code = 'REF' || g",
]
TODAYS = "referral_rewards_1"  # the alias of the count of today's rewards


async def test_todays_rewards_are_counted_through_the_index(pg_url: URL) -> None:
    engine = create_engine(pg_url)
    try:
        await migrate(engine, make_settings(pg_url))
        async with engine.connect() as conn:
            for statement in SEED:
                await conn.execute(text(statement))
            await conn.commit()
            for table in ("users", "referrals", "orders", "referral_rewards"):
                await conn.execute(text(f"ANALYZE {table}"))
        recorder = StatementRecorder(engine)
        try:
            recorder.step("candidates")
            async with create_session_factory(engine)() as session, read(session):
                found = await referrals.candidates(session, utcnow(), timedelta(days=7), 50, CAP)
            recorder.step(None)
        finally:
            recorder.close()
    finally:
        await engine.dispose()
    assert len(found) == 50  # the oldest of the 100 waiting, each referrer under the cap
    [statement] = recorder.statements
    waiting = REFEREES - REWARDED
    driver = await asyncpg.connect(pg_url.set(drivername="postgresql").render_as_string(False))
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
