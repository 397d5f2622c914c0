"""The bot's logging survives an in-process migration, and secrets never reach the logs."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import structlog
from sqlalchemy.engine import URL

from app.logs import configure_logging
from tests.harness import migrated


def _records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_loggers_created_before_the_migration_still_log(
    db_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    before = logging.getLogger("app.created_before_migration")
    asyncio.run(migrated(db_url))
    assert not before.disabled  # env.py never calls logging.config.fileConfig
    before.info("still here")
    structlog.get_logger("app.after").info("structlog too", answer=42)
    records = _records(capsys)
    events = [r["event"] for r in records]
    assert "still here" in events
    assert {"event": "structlog too", "answer": 42}.items() <= next(
        r for r in records if r["event"] == "structlog too"
    ).items()
    # Alembic's own stdlib records went through the same JSON pipeline.
    assert any(r["logger"] == "alembic.runtime.migration" for r in records)
    steps = [r for r in records if r["event"] == "migration step applied"]
    assert steps and {"from_revision", "to_revision", "duration_ms"} <= set(steps[0])


def test_secrets_are_masked_wherever_they_appear(capsys: pytest.CaptureFixture[str]) -> None:
    token = "123456:AAE-very-secret-token-value"
    configure_logging("INFO", json=True, secrets=[token, "db-pass-w0rd"])
    logging.getLogger("aiohttp.client").error("GET https://api.telegram.org/bot%s/getMe", token)
    structlog.get_logger("app").info("dsn", url="postgresql://shop:db-pass-w0rd@db/shop")
    output = capsys.readouterr().out
    assert token not in output and "db-pass-w0rd" not in output
    assert output.count("***") == 2
