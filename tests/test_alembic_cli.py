"""env.py is an ordinary Alembic env: the plain ``alembic`` CLI authors, applies, checks and
rolls back revisions with it. The URL comes from DATABASE_URL, never from alembic.ini."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import URL

from app.db.migration_lock import MIGRATION_LOCK_KEY
from tests.processes import copy_project, run_alembic
from tests.schema import all_revisions, head, heads_of, table_exists
from tests.test_failing_migration import FAILING_REVISION


def _ok(*args: str, url: URL | str, cwd: Path | None = None) -> str:
    result = run_alembic(*args, database_url=url, **({"cwd": cwd} if cwd else {}))
    assert result.returncode == 0, f"alembic {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_upgrade_check_current_history_downgrade(db_url: URL) -> None:
    _ok("upgrade", "head", url=db_url)
    assert asyncio.run(heads_of(db_url)) == (head(),)
    assert f"{head()} (head)" in _ok("current", url=db_url)
    assert "No new upgrade operations detected" in _ok("check", url=db_url)
    history = _ok("history", url=db_url)
    assert all(rev in history for rev in all_revisions())
    _ok("downgrade", "base", url=db_url)
    assert asyncio.run(heads_of(db_url)) == ()
    assert not asyncio.run(table_exists(db_url, "users"))
    _ok("upgrade", "head", url=db_url)  # and back up: every downgrade() really works
    assert asyncio.run(heads_of(db_url)) == (head(),)


def test_offline_sql_needs_no_database() -> None:
    unreachable = "postgresql://shop:pw@127.0.0.1:1/shop"
    sql = _ok("upgrade", "head", "--sql", url=unreachable)
    assert "CREATE TABLE users" in sql and "CREATE TABLE stock_items" in sql
    assert not sql.startswith("{") and "Generating static SQL" not in sql  # SQL only, no logs
    statements = [part.strip() for part in sql.split(";") if part.strip()]
    # Reviewed SQL takes the same lock as the bot, outside the transaction, and sets the same
    # lock_timeout; the version row and the compatibility floor commit together.
    assert statements[:3] == [
        f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})",
        "SET lock_timeout = '10000ms'",
        "BEGIN",
    ]
    assert f"UPDATE alembic_version SET version_num='{head()}'" in sql
    assert statements[-5:-3] == [
        "DELETE FROM schema_compatibility",
        "INSERT INTO schema_compatibility (head, floor, floor_doc) "
        f"VALUES ('{head()}', '{all_revisions()[-1]}', 'initial market schema')",
    ]
    assert statements[-3:] == [
        "COMMIT",
        "RESET lock_timeout",
        f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})",
    ]


def test_bad_database_url_is_one_clear_failure() -> None:
    result = run_alembic("current", database_url="mysql://root@localhost/shop")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "FAILED: invalid configuration: DATABASE_URL uses the unsupported scheme 'mysql'" in output
    )
    assert "Traceback" not in output


def test_failing_revision_is_reported_and_rolled_back(pg_url: URL, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    versions = project / "app" / "db" / "migrations" / "versions"
    (versions / "9999_broken.py").write_text(FAILING_REVISION.format(down=head()))
    _ok("upgrade", head(), url=pg_url, cwd=project)
    result = run_alembic("upgrade", "head", database_url=pg_url, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "FAILED: migration badc0ffee000 failed and was rolled back" in output
    assert "no_such_table" in output
    assert "Traceback" not in output
    assert asyncio.run(heads_of(pg_url)) == (head(),)
    assert not asyncio.run(table_exists(pg_url, "half_done"))


def test_authoring_a_revision_with_autogenerate(pg_url: URL, tmp_path: Path) -> None:
    """The workflow of the README: change a model, check, autogenerate, upgrade, downgrade."""
    project = copy_project(tmp_path)
    models = project / "app" / "db" / "models" / "catalog.py"
    source = models.read_text()
    anchor = '    position: Mapped[int] = mapped_column(default=0, server_default="0")\n'
    assert anchor in source
    models.write_text(
        source.replace(
            anchor, anchor + "    emoji: Mapped[str | None] = mapped_column(String(8))\n"
        )
    )
    _ok("upgrade", "head", url=pg_url, cwd=project)
    drift = run_alembic("check", database_url=pg_url, cwd=project)
    assert drift.returncode != 0 and "add_column" in drift.stdout + drift.stderr

    _ok("revision", "--autogenerate", "-m", "category emoji", url=pg_url, cwd=project)
    [revision] = (project / "app" / "db" / "migrations" / "versions").glob("*category_emoji.py")
    text = revision.read_text()
    assert 'op.add_column("categories", sa.Column("emoji"' in text.replace("'", '"')
    assert 'op.drop_column("categories", "emoji")' in text.replace("'", '"')
    assert revision.name.startswith("20")  # dated, ordered file names
    # The template carries the zero-downtime declarations; the phase waits for the author.
    assert 'phase: str = ""' in text and "lint_acknowledged: dict[str, str] = {}" in text

    _ok("upgrade", "head", url=pg_url, cwd=project)
    assert "No new upgrade operations detected" in _ok("check", url=pg_url, cwd=project)
    _ok("downgrade", "-1", url=pg_url, cwd=project)
    assert asyncio.run(heads_of(pg_url)) == (head(),)
