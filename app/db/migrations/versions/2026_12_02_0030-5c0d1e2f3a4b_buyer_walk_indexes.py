"""partial indexes for the buyer's stock walks and open reservations

Revision ID: 5c0d1e2f3a4b
Revises: 6995b1083f13
Create Date: 2026-12-02 00:30:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "5c0d1e2f3a4b"
down_revision: str | Sequence[str] | None = "6995b1083f13"
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
lint_acknowledged: dict[str, str] = {}
concurrent: bool = True

AVAILABLE = sa.text("status = 'available'")
RESERVED = sa.text("status = 'reserved'")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Claims and "in stock" counts walk these from their start and stop early
    # (app/services/availability.py): sold items are in neither.
    create_index_concurrently(
        "ix_stock_items_available",
        "stock_items",
        ["product_id", "id"],
        postgresql_where=AVAILABLE,
        sqlite_where=AVAILABLE,
    )
    create_index_concurrently(
        "ix_stock_items_reserved",
        "stock_items",
        ["product_id", "reserved_until"],
        postgresql_where=RESERVED,
        sqlite_where=RESERVED,
    )
    # A buyer's open reservations: the product card and Buy look one up.
    create_index_concurrently(
        "ix_orders_pending",
        "orders",
        ["user_id", "product_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    drop_index_concurrently("ix_orders_pending", "orders")
    drop_index_concurrently("ix_stock_items_reserved", "stock_items")
    drop_index_concurrently("ix_stock_items_available", "stock_items")
