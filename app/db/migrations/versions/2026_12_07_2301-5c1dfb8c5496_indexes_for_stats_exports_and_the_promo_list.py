"""indexes for /stats, /export orders and /promo list

Revision ID: 5c1dfb8c5496
Revises: e8c765334ff6
Create Date: 2026-12-07 23:01:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "5c1dfb8c5496"
down_revision: str | Sequence[str] | None = "e8c765334ff6"
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

SOLD = sa.text("status IN ('paid', 'delivered')")  # app.services.stats.is_sold(), verbatim
SHOP_CODE = sa.text("owner_user_id IS NULL")


def upgrade() -> None:
    # /stats' periods and its 30-day chart (and the panel's dashboard) read the sales of their
    # days only; the amount rides along on PostgreSQL, so a period's sums read the index alone.
    create_index_concurrently(
        "ix_orders_sold_at",
        "orders",
        ["paid_at"],
        postgresql_where=SOLD,
        sqlite_where=SOLD,
        postgresql_include=["amount"],
    )
    # /export orders reads the orders a page at a time by (created_at, id), from the first day
    # asked for (app.services.exports.orders_page).
    create_index_concurrently("ix_orders_created_at_id", "orders", ["created_at", "id"])
    # /promo list pages through the owners' codes without walking past the referral rewards
    # (app.services.promo_list).
    create_index_concurrently(
        "ix_promo_codes_shop",
        "promo_codes",
        ["id"],
        postgresql_where=SHOP_CODE,
        sqlite_where=SHOP_CODE,
    )


def downgrade() -> None:
    drop_index_concurrently("ix_promo_codes_shop", "promo_codes")
    drop_index_concurrently("ix_orders_created_at_id", "orders")
    drop_index_concurrently("ix_orders_sold_at", "orders")
