"""orders: indexes for the fulfilment worker and the reservation cap; the new status check validated

Revision ID: 91e260d7e439
Revises: 63b620941ab6
Create Date: 2026-12-01 23:31:16.000162+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import (
    create_index_concurrently,
    drop_index_concurrently,
    validate_constraint,
)

revision: str = "91e260d7e439"
down_revision: str | Sequence[str] | None = "63b620941ab6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Zero-downtime declarations, read by the migrating start and `python -m app migrations lint`
# (README, "Authoring a revision"):
# - phase: "expand" if the previous release's code still runs on the schema this revision
#   leaves (it only adds: a table, a nullable column, an index); "contract" if it does not
#   (it drops, renames or tightens something that code uses).
# - lint_acknowledged: {"squawk-rule": "why it is safe here"} for each rule this revision
#   breaks on purpose; the start logs the reason when it applies the revision.
# - concurrent: True if upgrade() builds an index concurrently (app.db.online_ddl).
phase: str = "expand"  # indexes only
lint_acknowledged: dict[str, str] = {
    "prefer-robust-stmts": (
        "VALIDATE CONSTRAINT runs outside a transaction on purpose and is safe to run again:"
        " validating a valid constraint does nothing"
    ),
}
concurrent: bool = True


PAID = sa.text("status = 'paid'")


def upgrade() -> None:
    # The fulfilment worker's queue: paid orders not yet delivered, by their next attempt.
    create_index_concurrently(
        "ix_orders_undelivered",
        "orders",
        ["next_delivery_at"],
        postgresql_where=PAID,
        sqlite_where=PAID,
    )
    # The reservation cap counts a buyer's pending orders.
    create_index_concurrently("ix_orders_user_id_status", "orders", ["user_id", "status"])
    # Added NOT VALID by the previous revision; validated here, outside a transaction.
    validate_constraint("ck_orders_status_known", "orders")


def downgrade() -> None:
    drop_index_concurrently("ix_orders_user_id_status", "orders")
    drop_index_concurrently("ix_orders_undelivered", "orders")
