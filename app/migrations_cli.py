"""``python -m app migrations lint [REVISION …]``: the zero-downtime lint, for sellers who write
their own revisions (CI runs it too). It needs no database: it renders each revision's
PostgreSQL SQL offline and checks it with squawk (see :mod:`app.db.lint`).

Prints one line per revision (and one per finding, acknowledgement or problem under it), then
a summary; exits 1 if any revision fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alembic.script import ScriptDirectory

from app.config import DatabaseSettings

EXIT_OK = 0
EXIT_FAILED = 1


def register(commands: Any) -> argparse.ArgumentParser:
    migrations: argparse.ArgumentParser = commands.add_parser(
        "migrations", help="check the database migrations"
    )
    actions = migrations.add_subparsers(dest="action", metavar="ACTION", required=True)
    lint = actions.add_parser(
        "lint",
        help="lint each revision's PostgreSQL SQL for changes that would break running "
        "replicas (squawk); needs no database",
    )
    lint.add_argument("revisions", nargs="*", metavar="REVISION", help="default: every revision")
    lint.set_defaults(standalone=lint_command)
    return migrations


async def lint_command(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from app.db.lint import lint_revisions  # noqa: PLC0415 (this command only)
    from app.db.migrate import alembic_config  # noqa: PLC0415

    script = ScriptDirectory.from_config(alembic_config(settings))
    every = list(reversed(list(script.walk_revisions())))
    chosen = [rev for rev in every if not args.revisions or rev.revision in args.revisions]
    missing = sorted(set(args.revisions) - {rev.revision for rev in chosen})
    if missing:
        print(f"error: no such revision: {', '.join(missing)}", file=sys.stderr)
        return EXIT_FAILED
    results = await lint_revisions(chosen, settings)
    lines = []
    for result in results:
        lines.append(f"{result.revision}  {result.phase:<8}  {'ok' if result.ok else 'FAILED'}  "
                     f"{result.file}")  # fmt: skip
        lines += [f"    {finding}" for finding in result.findings]
        lines += [f"    {problem}" for problem in result.problems]
        lines += [
            f"    acknowledged {finding.rule} (line {finding.line}): {reason}"
            for finding, reason in result.acknowledged
        ]
    failed = [result for result in results if not result.ok]
    lines.append(
        f"{len(results)} revision(s) linted: {len(results) - len(failed)} ok, {len(failed)} failed"
    )
    print("\n".join(lines))
    return EXIT_FAILED if failed else EXIT_OK
