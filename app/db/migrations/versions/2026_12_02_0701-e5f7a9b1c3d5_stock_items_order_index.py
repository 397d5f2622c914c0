"""the index of the units an order holds, and the validation of their key

Revision ID: e5f7a9b1c3d5
Revises: d4e6f8a0b2c4
Create Date: 2026-12-02 07:01:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import (
    create_index_concurrently,
    drop_index_concurrently,
    validate_constraint,
)

revision: str = "e5f7a9b1c3d5"
down_revision: str | Sequence[str] | None = "d4e6f8a0b2c4"
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
phase: str = "expand"  # an index, and the validation of a key every row already meets
lint_acknowledged: dict[str, str] = {
    "prefer-robust-stmts": "VALIDATE CONSTRAINT runs outside a transaction on purpose and is "
    "safe to run again: validating a valid constraint does nothing",
}
concurrent: bool = True

HELD = sa.text("order_id IS NOT NULL")


def upgrade() -> None:
    # Only the items an order holds or bought: the available stock is not in it.
    create_index_concurrently(
        "ix_stock_items_order_id",
        "stock_items",
        ["order_id"],
        postgresql_where=HELD,
        sqlite_where=HELD,
    )
    validate_constraint("fk_stock_items_order_id_orders", "stock_items")


def downgrade() -> None:
    drop_index_concurrently("ix_stock_items_order_id", "stock_items")
