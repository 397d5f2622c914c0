"""Revision files for tests that play "the next release": written into a private copy of the
project (:func:`tests.processes.copy_project`), never into the real migrations."""

from __future__ import annotations

from pathlib import Path

from tests.processes import copy_project

TEMPLATE = '''"""{message}"""
import sqlalchemy as sa
from alembic import op

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
{declarations}


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def revision_source(
    revision: str,
    down: str,
    upgrade: str,
    downgrade: str = "pass",
    *,
    phase: str | None = "expand",
    acknowledged: dict[str, str] | None = None,
    concurrent: bool = False,
    message: str | None = None,
) -> str:
    declarations = []
    if phase is not None:
        declarations.append(f"phase = {phase!r}")
    if acknowledged:
        declarations.append(f"lint_acknowledged = {acknowledged!r}")
    if concurrent:
        declarations.append("concurrent = True")

    def body(code: str) -> str:
        return "\n".join(f"    {line}" for line in code.strip().splitlines())

    return TEMPLATE.format(
        message=message or f"test revision {revision}",
        revision=revision,
        down=down,
        declarations="\n".join(declarations),
        upgrade=body(upgrade),
        downgrade=body(downgrade),
    )


def release_with(destination: Path, *sources: str) -> Path:
    """A copy of the project whose migrations end with ``sources`` (in order)."""
    project = copy_project(destination)
    versions = project / "app" / "db" / "migrations" / "versions"
    for number, source in enumerate(sources):
        (versions / f"9999_{number:02d}_next_release.py").write_text(source)
    return project
