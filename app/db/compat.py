"""Expand and contract: what each revision declares, and the compatibility floor it implies.

Every revision file declares, as module-level names (the template carries them)::

    phase = "expand"        # the previous release's code still runs on the resulting schema
    phase = "contract"      # it does not: something that code uses is dropped, renamed, tightened
    lint_acknowledged = {"squawk-rule": "why breaking it is safe here"}
    concurrent = True       # upgrade() builds an index CONCURRENTLY (see app.db.online_ddl)

The **floor** of a revision is the oldest revision whose code can still run on the schema it
produces: walking down from the revision, every expand step keeps the floor where it was, and a
contract revision (or the first one) sets it to itself. Each migration step writes the floor of
the new head into ``schema_compatibility``, in the same transaction as the version row, so that
code which does not know the database's head can still tell whether it may run on it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

PHASES = ("expand", "contract")
FLOOR_TABLE = "schema_compatibility"


def revision_label(revisions: Iterable[str]) -> str:
    """Revisions as logs and messages name them: sorted, comma-separated, or ``base`` if none."""
    return ",".join(sorted(revisions)) or "base"


floor_table = sa.Table(
    FLOOR_TABLE,
    sa.MetaData(),
    sa.Column("head", sa.Text, primary_key=True),
    sa.Column("floor", sa.Text, nullable=False),
    sa.Column("floor_doc", sa.Text, nullable=False),
)
CREATE_FLOOR_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
    "(head TEXT PRIMARY KEY, floor TEXT NOT NULL, floor_doc TEXT NOT NULL)"
)


class SchemaError(Exception):
    """The schema is in a state this code must not start on; the message says why."""


@dataclass(frozen=True)
class Declaration:
    """What a revision file says about itself; ``problems`` lists what it got wrong."""

    revision: str
    phase: str  # "contract" when missing or invalid: never assume compatibility
    acknowledged: dict[str, str]
    concurrent: bool
    problems: list[str] = field(default_factory=list)


def declaration(script: Script) -> Declaration:
    module = script.module
    problems = []
    phase = getattr(module, "phase", None)
    if phase not in PHASES:
        problems.append(
            f'declares no phase (phase = "expand" or "contract"; found {phase!r})'
            if phase is not None
            else 'declares no phase: add phase = "expand" or phase = "contract"'
        )
    acknowledged: Any = getattr(module, "lint_acknowledged", {})
    if not isinstance(acknowledged, dict) or not all(
        isinstance(rule, str) and isinstance(reason, str) and reason.strip()
        for rule, reason in acknowledged.items()
    ):
        problems.append("lint_acknowledged must map each squawk rule to a non-empty reason")
        acknowledged = {}
    concurrent = getattr(module, "concurrent", False)
    if not isinstance(concurrent, bool):
        problems.append("concurrent must be True or False")
        concurrent = False
    return Declaration(
        revision=script.revision,
        phase=phase if phase in PHASES else "contract",
        acknowledged=dict(acknowledged),
        concurrent=concurrent,
        problems=problems,
    )


def floor_of(scripts: ScriptDirectory, revision: str) -> Script:
    """The oldest revision whose code still runs on the schema ``revision`` produces."""
    current = scripts.get_revision(revision)
    assert current is not None
    while declaration(current).phase == "expand" and isinstance(current.down_revision, str):
        below = scripts.get_revision(current.down_revision)
        assert below is not None
        current = below
    return current


def record_floor(ctx: MigrationContext, scripts: ScriptDirectory, heads: set[str]) -> None:
    """After a migration step, in its transaction: the floor of the new head (online or --sql)."""
    ctx.execute(CREATE_FLOOR_TABLE)
    ctx.execute(floor_table.delete())
    if len(heads) == 1:
        [head] = heads
        floor = floor_of(scripts, head)
        ctx.execute(
            floor_table.insert().values(head=head, floor=floor.revision, floor_doc=floor.doc or "")
        )


@dataclass(frozen=True)
class Floor:
    head: str
    floor: str
    floor_doc: str


@dataclass(frozen=True)
class SchemaState:
    """What the database says: its heads, and its floor when this code does not know them."""

    heads: tuple[str, ...]
    floor: Floor | None = None


def read_state(connection: Connection, scripts: ScriptDirectory) -> SchemaState:
    """Read-only. The floor is read only for an unknown head (never on a warm start)."""
    heads = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    if all(knows(scripts, head) for head in heads):
        return SchemaState(heads)
    if not connection.dialect.has_table(connection, FLOOR_TABLE):
        return SchemaState(heads)
    row = connection.execute(sa.select(floor_table)).first()
    return SchemaState(heads, Floor(row.head, row.floor, row.floor_doc) if row else None)


def knows(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


class Verdict(enum.Enum):
    AT_HEAD = "at head"
    BEHIND = "behind"
    AHEAD_COMPATIBLE = "ahead but compatible"


def assess(state: SchemaState, scripts: ScriptDirectory, head: str) -> Verdict:
    """Where the database stands for this code; raises SchemaError where it must not start."""
    heads = state.heads
    unknown = [rev for rev in heads if not knows(scripts, rev)]
    if unknown:
        floor = state.floor
        if len(heads) == 1 and floor is not None and floor.head == heads[0]:
            if knows(scripts, floor.floor) and _at_or_past(scripts, head, floor.floor):
                return Verdict.AHEAD_COMPATIBLE
            doc = f" ({floor.floor_doc.strip().splitlines()[0]})" if floor.floor_doc.strip() else ""
            raise SchemaError(
                f"the database is at revision {heads[0]}, which this code (at {head}) does not "
                f"know, and a contract revision since then needs the release that has revision "
                f"{floor.floor}{doc} or a newer one; refusing to start. Deploy that release"
            )
        raise SchemaError(
            f"the database is at revision {', '.join(unknown)}, which this code does not know "
            "(was a newer release deployed, then rolled back?); refusing to start. "
            "Deploy the code that has this revision, or downgrade the database with it first"
        )
    if len(heads) > 1:
        raise SchemaError(f"the database has several heads ({', '.join(heads)}); refusing to start")
    return Verdict.AT_HEAD if heads == (head,) else Verdict.BEHIND


def _at_or_past(scripts: ScriptDirectory, head: str, floor: str) -> bool:
    return any(rev.revision == floor for rev in scripts.iterate_revisions(head, "base"))
