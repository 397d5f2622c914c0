"""A revision that fails stops the start: one clear line, non-zero exit, nothing half-applied.

The failing revision is added to a private copy of the app, never to the real migrations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN
from tests.processes import bot_env, copy_project, start_bot
from tests.schema import head, heads_of, table_exists

FAILING_REVISION = '''"""a broken revision"""
import sqlalchemy as sa
from alembic import op

revision = "badc0ffee000"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade() -> None:
    op.drop_table("half_done")
'''


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "project")
    versions = project / "app" / "db" / "migrations" / "versions"
    (versions / "9999_broken.py").write_text(FAILING_REVISION.format(down=head()))
    return project


async def _start_broken(url: URL, project: Path) -> list[dict[str, object]]:
    async with FakeBotAPI(BOT_TOKEN) as api:
        bot = await start_bot(bot_env(url, api.url), cwd=project)
        code = await bot.wait(within=120)
        assert not api.calls_of("getUpdates") and not api.calls_of("getMe")  # never polled
    assert code == 1, bot.output
    assert "Traceback" not in bot.output
    [error] = [r for r in bot.records() if r["level"] == "error"]
    assert error["event"] == "migration failed; not starting"
    assert error["revision"] == "badc0ffee000"
    assert "no_such_table" in str(error["error"])
    return bot.records()


async def test_fresh_database_upgrade_rolls_back_as_a_whole(db_url: URL, broken_copy: Path) -> None:
    """One transaction for the whole run (transactional DDL; SQLite too, through our engine)."""
    await _start_broken(db_url, broken_copy)
    assert await heads_of(db_url) == ()
    assert not await table_exists(db_url, "users")
    assert not await table_exists(db_url, "half_done")


async def test_deployed_database_stays_at_its_revision(
    db_url: URL, broken_copy: Path, tmp_path: Path
) -> None:
    """The usual case: a release adds a broken revision to a live database."""
    async with FakeBotAPI(BOT_TOKEN) as api:  # the previous release, with the real code
        bot = await start_bot(bot_env(db_url, api.url), cwd=tmp_path)
        await api.wait_for("getUpdates", timeout=60)
        assert await bot.stop() == 0
    await _start_broken(db_url, broken_copy)
    assert await heads_of(db_url) == (head(),)
    assert not await table_exists(db_url, "half_done")
