"""The zero-downtime lint: each revision's PostgreSQL SQL, checked by squawk.

The SQL linted is what the migrating start runs for that revision: Alembic's offline mode
(``alembic upgrade <down>:<rev> --sql``) over the project's env.py, with the lock, the session's
``lock_timeout``, the revision itself, the version row and the compatibility floor. squawk (the
``squawk-cli`` package ships its binary) reads it with ``app/db/migrations/squawk.toml``.

A finding passes only if the revision acknowledges its rule, with a reason, in
``lint_acknowledged``; an acknowledgement squawk no longer reports is a problem too, and so is
a revision without its ``phase`` declaration (see :mod:`app.db.compat`).

Imported only on the cold path: by the migrating start when revisions are pending on
PostgreSQL, and by ``python -m app migrations lint``.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.script import Script
from sqlalchemy.engine import make_url

from app.config import DatabaseSettings
from app.db.compat import SchemaError, declaration
from app.db.migrate import MIGRATIONS_DIR, alembic_config

SQUAWK_CONFIG = MIGRATIONS_DIR / "squawk.toml"
# Offline mode needs a dialect, never a server: nothing connects to this URL.
_RENDER_URL = make_url("postgresql+asyncpg://lint@localhost/lint")


class LintError(SchemaError):
    """The lint itself could not run (no squawk binary, unreadable output)."""


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    line: int  # 1-based, in the revision's SQL

    def __str__(self) -> str:
        return f"{self.rule} (line {self.line} of its SQL): {self.message}"


@dataclass
class RevisionLint:
    revision: str
    file: str
    phase: str
    findings: list[Finding] = field(default_factory=list)  # not acknowledged
    acknowledged: list[tuple[Finding, str]] = field(default_factory=list)  # with the reason
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.problems


def squawk_binary() -> str:
    """The squawk executable next to this interpreter (where pip put it), else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "squawk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise LintError(
            "cannot lint the pending revisions: the squawk binary is missing "
            "(it comes with the squawk-cli package; reinstall the bot)"
        )
    return found


def revision_sql(script: Script, settings: DatabaseSettings) -> str:
    """The PostgreSQL SQL the migrating start runs to apply ``script`` alone."""
    config = alembic_config(settings.model_copy(update={"database_url": _RENDER_URL}))
    buffer = io.StringIO()
    config.output_buffer = buffer
    down = script.down_revision
    start = down if isinstance(down, str) else (down[0] if down else None)
    target = f"{start}:{script.revision}" if start else script.revision
    command.upgrade(config, target, sql=True)  # env.py keeps Alembic's INFO lines out
    return buffer.getvalue()


async def run_squawk(sql: str, name: str, pg_version: str | None = None) -> list[Finding]:
    args = [squawk_binary(), "--reporter", "json", "-c", str(SQUAWK_CONFIG)]
    args += ["--stdin-filepath", name]
    if pg_version:
        args += ["--pg-version", pg_version]
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(sql.encode())
    try:
        reports = json.loads(out) if process.returncode in (0, 1) else None
    except json.JSONDecodeError:
        reports = None
    if not isinstance(reports, list):
        reason = err.decode(errors="replace").strip().splitlines()
        raise LintError(
            f"squawk failed on {name} (exit {process.returncode}): "
            f"{reason[0] if reason else 'no output'}"
        )
    return [Finding(r["rule_name"], r["message"], int(r["line"]) + 1) for r in reports]


async def lint_revision(
    script: Script, settings: DatabaseSettings, pg_version: str | None = None
) -> RevisionLint:
    declared = declaration(script)
    result = RevisionLint(
        script.revision, Path(script.path).name, declared.phase, problems=list(declared.problems)
    )
    try:
        sql = revision_sql(script, settings)
    except Exception as exc:  # a revision that reads data cannot render offline
        result.problems.append(
            f"its SQL cannot be rendered offline ({type(exc).__name__}: {exc}); guard data "
            "reads with `if not op.get_context().as_sql:`"
        )
        return result
    for finding in await run_squawk(sql, result.file, pg_version):
        reason = declared.acknowledged.get(finding.rule)
        if reason is None:
            result.findings.append(finding)
        else:
            result.acknowledged.append((finding, reason))
    reported = {finding.rule for finding, _ in result.acknowledged}
    for rule in sorted(set(declared.acknowledged) - reported):
        result.problems.append(f"acknowledges {rule}, which squawk does not report here")
    if "CONCURRENTLY" in sql.upper() and not declared.concurrent:
        result.problems.append("builds an index CONCURRENTLY without declaring concurrent = True")
    return result


async def lint_revisions(
    scripts: Sequence[Script], settings: DatabaseSettings, pg_version: str | None = None
) -> list[RevisionLint]:
    return [await lint_revision(script, settings, pg_version) for script in scripts]
