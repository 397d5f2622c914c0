"""referral terms set by the owners

Revision ID: 3fdbbc570d7d
Revises: 4bea9078128f
Create Date: 2026-12-07 22:08:53.166544+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3fdbbc570d7d"
down_revision: str | Sequence[str] | None = "4bea9078128f"
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
phase: str = "expand"  # a new table; until an owner writes its row, the environment decides
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False


def upgrade() -> None:
    op.create_table(
        "referral_terms",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "hold_days",
            sa.Double(),
            nullable=True,
            comment="days a referee's first paid order must stay unrefunded",
        ),
        sa.Column(
            "reward_percent", sa.Integer(), nullable=True, comment="the reward code's percent off"
        ),
        sa.Column(
            "daily_cap", sa.Integer(), nullable=True, comment="rewards per referrer per UTC day"
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True, comment="the owner; NULL: the CLI"),
        sa.CheckConstraint(
            "daily_cap BETWEEN 1 AND 1000", name=op.f("ck_referral_terms_daily_cap_range")
        ),
        sa.CheckConstraint(
            "hold_days BETWEEN 0 AND 365", name=op.f("ck_referral_terms_hold_days_range")
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_referral_terms_one_row")),
        sa.CheckConstraint(
            "reward_percent BETWEEN 1 AND 100", name=op.f("ck_referral_terms_reward_percent_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_terms")),
    )


def downgrade() -> None:
    op.drop_table("referral_terms")
