"""The zero-downtime lint (squawk over each revision's PostgreSQL SQL): the project's own
revisions pass, and each rule the lint exists for is flagged on a small revision of its own,
through the real ``python -m app migrations lint`` of a private copy of the project."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from app.config import DatabaseSettings
from app.db.compat import declaration
from app.db.lint import lint_revisions, revision_sql
from app.db.migrate import alembic_config
from tests.processes import clean_env
from tests.revision_files import release_with, revision_source
from tests.schema import head

# (rule, the operation that breaks it on the existing schema)
RULES = [
    ("ban-drop-column", 'op.drop_column("users", "username")'),
    ("renaming-column", 'op.alter_column("users", "username", new_column_name="handle")'),
    ("ban-drop-table", 'op.drop_table("broadcasts")'),
    ("renaming-table", 'op.rename_table("broadcasts", "announcements")'),
    ("adding-required-field",
     'op.add_column("users", sa.Column("email", sa.Text(), nullable=False))'),
    ("adding-not-nullable-field", 'op.alter_column("users", "username", nullable=False)'),
    ("changing-column-type", 'op.alter_column("users", "username", type_=sa.Text())'),
    ("require-concurrent-index-creation",
     'op.create_index("ix_users_username", "users", ["username"])'),
    ("adding-foreign-key-constraint",
     'op.create_foreign_key("fk_b_users", "broadcasts", "users", ["created_by"], ["id"])'),
    ("constraint-missing-not-valid",
     'op.create_check_constraint("ck_users_short", "users", "length(first_name) < 200")'),
]  # fmt: skip
ADD_NULLABLE = 'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))'
CONCURRENT_INDEX = 'create_index_concurrently("ix_users_language_code", "users", ["language_code"])'
UNDECLARED_CONCURRENT = """with op.get_context().autocommit_block():
    op.create_index("ix_users_seen", "users", ["last_seen_at"], postgresql_concurrently=True)"""


def _rev(number: int) -> str:
    return f"{number:012x}"


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env["LOG_FORMAT"] = "json"
    return subprocess.run(
        [sys.executable, "-m", "app", "migrations", "lint"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _report(stdout: str) -> dict[str, list[str]]:
    """revision -> [its status line, then the lines under it]."""
    report: dict[str, list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("    "):
            current.append(line.strip())
        elif not line.startswith("{") and "linted" not in line:
            current = report[line.split()[0]] = [line]
    return report


def test_the_projects_revisions_pass_and_declare_their_phase() -> None:
    settings = DatabaseSettings()
    script = ScriptDirectory.from_config(alembic_config(settings))
    revisions = list(script.walk_revisions())
    for revision in revisions:
        assert not declaration(revision).problems, (revision.revision, revision.path)
    results = asyncio.run(lint_revisions(revisions, settings))
    assert [result.revision for result in results if not result.ok] == []
    sql = revision_sql(script.get_revision(head()), settings)  # what is linted: what runs
    assert "SET lock_timeout = '10000ms'" in sql and "UPDATE alembic_version" in sql


def test_each_rule_is_flagged_and_declarations_are_checked(tmp_path: Path) -> None:
    sources = []
    down = head()
    for number, (_rule, operation) in enumerate(RULES, start=1):
        sources.append(revision_source(_rev(number), down, operation))
        down = _rev(number)
    extra = {
        "no phase": dict(upgrade=ADD_NULLABLE, phase=None),
        "acknowledged": dict(
            upgrade='op.drop_column("users", "first_name")',
            phase="contract",
            acknowledged={"ban-drop-column": "no release since 0.1 reads first_name"},
        ),
        "stale acknowledgement": dict(
            upgrade=ADD_NULLABLE.replace("nickname", "nick2"),
            acknowledged={"ban-drop-column": "left over from an earlier draft"},
        ),
        "concurrent": dict(upgrade=CONCURRENT_INDEX, concurrent=True),
        "undeclared concurrent": dict(upgrade=UNDECLARED_CONCURRENT),
        "clean expand": dict(upgrade=ADD_NULLABLE.replace("nickname", "nick3")),
    }
    numbers = {}
    for number, (case, kwargs) in enumerate(extra.items(), start=len(RULES) + 1):
        sources.append(revision_source(_rev(number), down, **kwargs))  # type: ignore[arg-type]
        numbers[case] = _rev(number)
        down = _rev(number)
    project = release_with(tmp_path / "project", *sources)

    result = _lint(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = _report(result.stdout)
    assert report[head()][0].split()[1:3] == ["expand", "ok"]
    for number, (rule, _operation) in enumerate(RULES, start=1):
        lines = report[_rev(number)]
        assert lines[0].split()[2] == "FAILED", lines
        assert any(line.startswith(f"{rule} (line ") for line in lines[1:]), (rule, lines)

    assert report[numbers["no phase"]][0].split()[1:3] == ["contract", "FAILED"]
    assert any("declares no phase" in line for line in report[numbers["no phase"]])
    acknowledged = report[numbers["acknowledged"]]
    assert acknowledged[0].split()[1:3] == ["contract", "ok"]
    assert any(
        line.startswith("acknowledged ban-drop-column (line ")
        and line.endswith(": no release since 0.1 reads first_name")
        for line in acknowledged
    )
    assert report[numbers["stale acknowledgement"]][1:] == [
        "acknowledges ban-drop-column, which squawk does not report here"
    ]
    assert report[numbers["concurrent"]][0].split()[2] == "ok"
    undeclared = report[numbers["undeclared concurrent"]]
    assert "builds an index CONCURRENTLY without declaring concurrent = True" in undeclared
    assert any(line.startswith("prefer-robust-stmts") for line in undeclared)  # no IF NOT EXISTS
    assert report[numbers["clean expand"]][0].split()[2] == "ok"
    failing = len(RULES) + 3
    total = len(report)
    assert result.stdout.rstrip().endswith(
        f"{total} revision(s) linted: {total - failing} ok, {failing} failed"
    )


def test_lint_of_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrations", "lint", "deadbeef0000"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == "error: no such revision: deadbeef0000"
