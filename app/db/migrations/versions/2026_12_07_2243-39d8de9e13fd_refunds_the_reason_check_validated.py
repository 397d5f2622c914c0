"""refunds: the reason check validated

Revision ID: 39d8de9e13fd
Revises: 30749c680bba
Create Date: 2026-12-07 22:43:33.226262+00:00

"""

from collections.abc import Sequence

from app.db.online_ddl import validate_constraint

revision: str = "39d8de9e13fd"
down_revision: str | Sequence[str] | None = "30749c680bba"
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
    validate_constraint("ck_refunds_reason_known", "refunds")


def downgrade() -> None:
    pass  # a valid constraint stays valid; the previous revision's downgrade swaps it back
