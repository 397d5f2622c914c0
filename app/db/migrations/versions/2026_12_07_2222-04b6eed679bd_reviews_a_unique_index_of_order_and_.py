"""reviews: a unique index of order and product, built concurrently

Revision ID: 04b6eed679bd
Revises: 5c1dfb8c5496
Create Date: 2026-12-07 22:22:08.609899+00:00

"""

from collections.abc import Sequence

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "04b6eed679bd"
down_revision: str | Sequence[str] | None = "5c1dfb8c5496"
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
phase: str = "expand"  # an index; every row meets it (one review per order so far)
lint_acknowledged: dict[str, str] = {}
concurrent: bool = True


def upgrade() -> None:
    # A review per order and product: a cart's products are rated each on its own. The index
    # that says so first, without blocking writes; the next revision drops the per-order rule.
    create_index_concurrently(
        "uq_reviews_order_id_product_id", "reviews", ["order_id", "product_id"], unique=True
    )


def downgrade() -> None:
    drop_index_concurrently("uq_reviews_order_id_product_id", "reviews")
