"""Start the real bot (``python -m app``) and the real ``alembic`` CLI as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

REPO_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC = str(Path(sys.executable).with_name("alembic"))


def url_env(url: URL) -> str:
    return url.render_as_string(hide_password=False)


APP_VARIABLES = {
    "BOT_TOKEN",
    "DATABASE_URL",
    "TELEGRAM_API_URL",
    "ADMIN_IDS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "DB_CONNECT_TIMEOUT",
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "SCHEMA_WAIT_TIMEOUT",
    "MIGRATION_LOCK_TIMEOUT",
    "MIGRATION_LOCK_RETRIES",
    "REDIS_URL",
    "WEBHOOK_URL",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
    "HOST",
    "PORT",
    "ADMIN_HOST",
    "ADMIN_PORT",
    "ADMIN_PANEL_PASSWORD_HASH",
    "ADMIN_FORWARDED_ALLOW_IPS",
    "AUTO_REFUND",
    "RECONCILE_INTERVAL",
    "RETRY_INTERVAL",
    "MAX_RESERVATIONS_PER_USER",
    "MAX_RESERVED_UNITS",
    "MAX_QUANTITY",
    "RESERVATION_MINUTES",
}


def clean_env() -> dict[str, str]:
    """The test runner's environment without any of the bot's own variables."""
    return {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}


def bot_env(database_url: URL | None, api_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for a bot process: nothing inherited that could change its config."""
    env = clean_env()
    env.update(
        BOT_TOKEN="123456:TEST-token-for-the-fake-bot-api",
        TELEGRAM_API_URL=api_url,
        LOG_FORMAT="json",
        SCHEMA_WAIT_TIMEOUT="20",
        DB_CONNECT_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    if database_url is not None:
        env["DATABASE_URL"] = url_env(database_url)
    env.update(extra)
    return env


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, object]]:
        """The JSON log records (every stdout line must be one)."""
        return [json.loads(line) for line in self.lines if line.strip()]

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    async def wait(self, within: float = 60) -> int:
        code = await asyncio.wait_for(self.process.wait(), within)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, within)
        return code

    async def stop(self, within: float = 30) -> int:
        if self.process.returncode is None:
            self.process.terminate()
        return await self.wait(within)


async def start_bot(env: dict[str, str], *args: str, cwd: Path) -> BotProcess:
    """``python -m app ARGS`` in ``cwd`` (a scratch directory: a developer's .env stays out)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    bot = BotProcess(process)
    bot._reader = asyncio.create_task(bot._read())
    return bot


def run_alembic(
    *args: str, database_url: URL | str, cwd: Path = REPO_ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The plain ``alembic`` CLI, run where alembic.ini lives."""
    env = clean_env()
    env["DATABASE_URL"] = database_url if isinstance(database_url, str) else url_env(database_url)
    env["LOG_FORMAT"] = "console"
    return subprocess.run(
        [ALEMBIC, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_project(destination: Path) -> Path:
    """A private copy of the app package and alembic.ini, to add revisions without touching ours."""
    shutil.copytree(
        REPO_ROOT / "app",
        destination / "app",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO_ROOT / "alembic.ini", destination / "alembic.ini")
    return destination
