"""reviews: one per order and product, the one-per-order rule dropped

Revision ID: b4198255cfa4
Revises: 04b6eed679bd
Create Date: 2026-12-07 22:22:22.366670+00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "b4198255cfa4"
down_revision: str | Sequence[str] | None = "04b6eed679bd"
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
phase: str = "expand"  # loosens a rule: the previous release still reads and writes reviews
lint_acknowledged: dict[str, str] = {
    "ban-drop-constraint": "uq_reviews_order_id_product_id (the previous revision) keeps a "
    "review unique per order and product; the previous release looks for an order's review "
    "before it writes one, so it never writes a second",
}
concurrent: bool = False

# The previous revision's index keeps a review unique per order and product; the rule of one
# review per order goes. The previous release still runs: it checks for an order's review
# before writing one (so it never writes a second), and the new index settles its races.

# Downgrade keeps each order's first review only (the one-per-order rule cannot hold more)
# and counts the products' visible reviews again.
_KEEP_FIRST = "DELETE FROM reviews WHERE id NOT IN (SELECT min(id) FROM reviews GROUP BY order_id)"
_RECOUNT = (
    "UPDATE products SET "
    "rating_count = (SELECT count(*) FROM reviews r "
    "WHERE r.product_id = products.id AND r.hidden_at IS NULL), "
    "rating_sum = (SELECT coalesce(sum(r.rating), 0) FROM reviews r "
    "WHERE r.product_id = products.id AND r.hidden_at IS NULL)"
)


# SQLite copies the table: only its own definition is read (resolve_fks=False), never the
# tables it refers to (their expression indexes cannot be reflected there).
_ALONE = {"resolve_fks": False}


def upgrade() -> None:
    with op.batch_alter_table("reviews", reflect_kwargs=_ALONE) as batch:
        batch.drop_constraint(op.f("uq_reviews_order_id"), type_="unique")


def downgrade() -> None:
    op.execute(_KEEP_FIRST)
    op.execute(_RECOUNT)
    with op.batch_alter_table("reviews", reflect_kwargs=_ALONE) as batch:
        batch.create_unique_constraint(op.f("uq_reviews_order_id"), ["order_id"])
