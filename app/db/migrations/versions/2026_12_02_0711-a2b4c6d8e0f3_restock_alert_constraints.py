"""restock alerts: validate the broadcasts' new checks and foreign key

Revision ID: a2b4c6d8e0f3
Revises: f1a3c5e7b9d2
Create Date: 2026-12-02 07:11:00.000000+00:00

"""

from collections.abc import Sequence

from app.db.online_ddl import validate_constraint

revision: str = "a2b4c6d8e0f3"
down_revision: str | Sequence[str] | None = "f1a3c5e7b9d2"
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
phase: str = "expand"  # validates what the previous revision added; every row already holds
lint_acknowledged: dict[str, str] = {
    "prefer-robust-stmts": (
        "VALIDATE CONSTRAINT runs outside a transaction on purpose and is safe to run again:"
        " validating a valid constraint does nothing"
    ),
}
concurrent: bool = True


def upgrade() -> None:
    # Added NOT VALID by the previous revision; validated here, outside a transaction.
    validate_constraint("ck_broadcasts_kind_known", "broadcasts")
    validate_constraint("ck_broadcasts_restock_audience", "broadcasts")
    validate_constraint("fk_broadcasts_product_id_products", "broadcasts")


def downgrade() -> None:
    pass  # a valid constraint stays valid; the previous revision's downgrade drops them
