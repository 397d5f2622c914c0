"""The refund reason ``undeliverable``, migrated with refunds in the table (SQLite and
PostgreSQL): up, the refunds of orders that were sent (stored as ``sold_out`` before there was
a reason for them) become ``undeliverable`` and the others keep theirs; the check knows the new
reason, and still refuses an unknown one; down again, they are ``sold_out`` once more and the
old check is back."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from app.config import DatabaseSettings
from app.db.migrate import alembic_config
from tests.processes import run_alembic
from tests.schema import execute, head, heads_of, scalar

REVISION = "30749c680bba"  # the check that knows 'undeliverable', and the data step
BUYER = 7601
# Per charge: the order's status and delivery attempts (None: no order), the stored reason.
REFUNDS = {
    "sent": ("refund_due", 3, "sold_out"),  # Telegram refused the goods: undeliverable
    "sold-out": ("refund_due", 0, "sold_out"),  # nothing was left to sell: stays sold out
    "owner": ("delivered", 1, "owner"),  # an owner's /refund of a delivered order
    "unmatched": (None, None, "unmatched"),
}


def _before() -> str:
    script = ScriptDirectory.from_config(alembic_config(DatabaseSettings()))
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


async def _alembic(url: URL, *args: str) -> None:
    done = await asyncio.to_thread(run_alembic, *args, database_url=url)
    assert done.returncode == 0, done.stdout + done.stderr


def _seed() -> list[str]:
    statements = [
        f"INSERT INTO users (id) VALUES ({BUYER})",
        "INSERT INTO products (id, slug, title, price) VALUES (1, 'key', 'Key', 10)",
    ]
    for n, (charge, (status, attempts, reason)) in enumerate(REFUNDS.items(), start=1):
        statements.append(
            "INSERT INTO payments (charge_id, user_id, payload, currency, amount, paid_at, source)"
            f" VALUES ('{charge}', {BUYER}, 'p-{n}', 'XTR', 10, CURRENT_TIMESTAMP, 'update')"
        )
        order = "NULL"
        if status is not None:
            statements.append(
                "INSERT INTO orders (id, user_id, product_id, payload, amount, status, expires_at,"
                " telegram_payment_charge_id, paid_at, delivery_attempts) VALUES"
                f" ({n}, {BUYER}, 1, 'p-{n}', 10, '{status}', CURRENT_TIMESTAMP, '{charge}',"
                f" CURRENT_TIMESTAMP, {attempts})"
            )
            order = str(n)
        statements.append(
            "INSERT INTO refunds (charge_id, order_id, user_id, amount, reason, status) VALUES"
            f" ('{charge}', {order}, {BUYER}, 10, '{reason}', 'due')"
        )
    return statements


async def _reasons(url: URL) -> dict[str, object]:
    return {charge: await _reason(url, charge) for charge in REFUNDS}


async def _reason(url: URL, charge: str) -> object:
    return await scalar(url, f"SELECT reason FROM refunds WHERE charge_id = '{charge}'")


async def _refused(url: URL, reason: str) -> None:
    with pytest.raises(IntegrityError, match=r"ck_refunds_reason_known|CHECK constraint"):
        await execute(url, f"UPDATE refunds SET reason = '{reason}' WHERE charge_id = 'owner'")


async def test_sent_orders_refunds_become_undeliverable_and_back(db_url: URL) -> None:
    await _alembic(db_url, "upgrade", _before())
    await execute(db_url, *_seed())

    await _alembic(db_url, "upgrade", "head")
    assert await _reasons(db_url) == {
        "sent": "undeliverable",
        "sold-out": "sold_out",
        "owner": "owner",
        "unmatched": "unmatched",
    }
    await _refused(db_url, "lost")
    if db_url.get_backend_name() == "postgresql":  # validated by the next revision
        valid = "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_refunds_reason_known'"
        assert await scalar(db_url, valid) is True

    await _alembic(db_url, "downgrade", _before())
    assert await _reasons(db_url) == {
        "sent": "sold_out",
        "sold-out": "sold_out",
        "owner": "owner",
        "unmatched": "unmatched",
    }
    await _refused(db_url, "undeliverable")

    await _alembic(db_url, "upgrade", "head")
    assert await _reason(db_url, "sent") == "undeliverable"
    assert await heads_of(db_url) == (head(),)
