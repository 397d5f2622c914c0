"""Bad input ends in one clear log line and a non-zero exit: no traceback, no secret, no change.

These run the real CLI entry point (``app.cli.main``) in this process; ``python -m app`` is
``sys.exit(main())``. The bot never reaches Telegram here: every case fails in the startup
hook, before the first API call.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.engine import URL

from app.cli import EXIT_CONFIG, EXIT_FAILURE, main
from tests.harness import migrated
from tests.processes import APP_VARIABLES, url_env
from tests.schema import all_revisions, execute, head, scalar, table_exists

DEAD_API = "http://127.0.0.1:9"
TOKEN = "123456:TEST-token-for-the-fake-bot-api"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> pytest.MonkeyPatch:
    for name in APP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", DEAD_API)
    monkeypatch.setenv("LOG_FORMAT", "json")
    return monkeypatch


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    records = [json.loads(line) for line in out.out.splitlines() if line.strip()]
    return code, records


def _errors(records: list[dict[str, object]]) -> list[str]:
    return [str(r["event"]) for r in records if r["level"] == "error"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "BOT_TOKEN is required"),
        ("12345", "BOT_TOKEN is not a bot token"),
        ("abc:defghijklmnopqrstuvwxyz0123", "BOT_TOKEN is not a bot token"),
    ],
)
def test_missing_or_malformed_token(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str | None, reason: str
) -> None:
    if value is None:
        env.delenv("BOT_TOKEN")
    else:
        env.setenv("BOT_TOKEN", value)
    code, records = _run(capsys)
    assert code == EXIT_CONFIG
    [error] = _errors(records)
    assert reason in error
    assert value is None or value not in error  # the value itself is never echoed


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DATABASE_URL", "mysql://root@localhost/shop", "DATABASE_URL uses the unsupported"),
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a database URL"),
        ("ADMIN_IDS", "12,bob", "ADMIN_IDS must be Telegram user ids"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("DB_CONNECT_TIMEOUT", "soon", "DB_CONNECT_TIMEOUT"),
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE"),
        ("DATABASE_MAX_OVERFLOW", "-1", "DATABASE_MAX_OVERFLOW"),
        ("TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL must be an http(s):// URL"),
    ],
)
def test_bad_settings_name_the_variable(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    reason: str,
) -> None:
    env.setenv(variable, value)
    code, records = _run(capsys)
    assert code == EXIT_CONFIG
    assert reason in _errors(records)[0]


def test_unreachable_database_retries_then_exits(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", "postgres://shop:s3cret-pw@127.0.0.1:1/shop")
    env.setenv("DB_CONNECT_TIMEOUT", "1.5")
    code, records = _run(capsys)
    assert code == EXIT_FAILURE
    retries = [r for r in records if r["event"] == "database not reachable yet"]
    assert len(retries) >= 2  # it retried with backoff before giving up
    [error] = _errors(records)
    assert "cannot connect to the database" in error
    assert "s3cret-pw" not in json.dumps(records)


async def _at_unknown_revision(url: URL) -> None:
    await migrated(url)
    await execute(url, "UPDATE alembic_version SET version_num = 'f00dfeedbeef'")


@pytest.mark.parametrize("args", [[], ["--no-migrate"]], ids=["migrate", "no-migrate"])
def test_schema_ahead_of_the_code_refuses_to_start(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: URL, args: list[str]
) -> None:
    asyncio.run(_at_unknown_revision(db_url))
    env.setenv("DATABASE_URL", url_env(db_url))
    code, records = _run(capsys, *args)
    assert code == EXIT_FAILURE
    [error] = _errors(records)
    assert "f00dfeedbeef" in error and "does not know" in error
    assert asyncio.run(scalar(db_url, "SELECT version_num FROM alembic_version")) == "f00dfeedbeef"


@pytest.mark.parametrize("args", [[], ["--no-migrate"]], ids=["migrate", "no-migrate"])
def test_database_with_several_heads_refuses_to_start(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: URL, args: list[str]
) -> None:
    asyncio.run(_at_unknown_revision(db_url))
    first, second = all_revisions()[-1], head()
    asyncio.run(
        execute(
            db_url,
            f"UPDATE alembic_version SET version_num = '{first}'",
            f"INSERT INTO alembic_version (version_num) VALUES ('{second}')",
        )
    )
    env.setenv("DATABASE_URL", url_env(db_url))
    code, records = _run(capsys, *args)
    assert code == EXIT_FAILURE
    assert "several heads" in _errors(records)[0]
    assert asyncio.run(scalar(db_url, "SELECT count(*) FROM alembic_version")) == 2


def test_no_migrate_times_out_naming_both_revisions_and_runs_no_ddl(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: URL
) -> None:
    env.setenv("DATABASE_URL", url_env(db_url))
    env.setenv("SCHEMA_WAIT_TIMEOUT", "1.5")
    code, records = _run(capsys, "--no-migrate")
    assert code == EXIT_FAILURE
    waits = [r for r in records if r["event"] == "waiting for the schema to reach head"]
    assert waits and waits[0]["head"] == head()
    [error] = _errors(records)
    assert "base" in error and head() in error and "SCHEMA_WAIT_TIMEOUT" in error
    # It never ran DDL: not even alembic_version was created.
    assert not asyncio.run(table_exists(db_url, "alembic_version"))
