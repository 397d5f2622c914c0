"""restock watches: an index of each product's watches by id, for the import's enqueue

Revision ID: b3c5d7e9f1a4
Revises: a2b4c6d8e0f3
Create Date: 2026-12-02 07:45:00.000000+00:00

"""

from collections.abc import Sequence

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "b3c5d7e9f1a4"
down_revision: str | Sequence[str] | None = "a2b4c6d8e0f3"
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
phase: str = "expand"  # an index only
lint_acknowledged: dict[str, str] = {}
concurrent: bool = True


def upgrade() -> None:
    # A stock import finds the product's newest watch, and the watches past the running alerts'
    # audience, without reading its whole watch list (app.services.restock.enqueue).
    create_index_concurrently(
        "ix_restock_watches_product_id_id", "restock_watches", ["product_id", "id"]
    )


def downgrade() -> None:
    drop_index_concurrently("ix_restock_watches_product_id_id", "restock_watches")
