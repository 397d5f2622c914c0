"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# Zero-downtime declarations, read by the migrating start and `python -m app migrations lint`
# (README, "Authoring a revision"):
# - phase: "expand" if the previous release's code still runs on the schema this revision
#   leaves (it only adds: a table, a nullable column, an index); "contract" if it does not
#   (it drops, renames or tightens something that code uses).
# - lint_acknowledged: {"squawk-rule": "why it is safe here"} for each rule this revision
#   breaks on purpose; the start logs the reason when it applies the revision.
# - concurrent: True if upgrade() builds an index concurrently (app.db.online_ddl).
phase: str = ""  # required: "expand" or "contract"; the lint fails until set
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
