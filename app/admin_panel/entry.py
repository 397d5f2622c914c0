"""Running the panel: ``python -m app admin``.

Like a ``--no-migrate`` replica it never changes the schema: it waits until the bot (or the
release step) has brought it to head, then serves on ADMIN_HOST:ADMIN_PORT with uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import structlog
import uvicorn

from app.admin_panel.app import create_panel
from app.bot.factory import create_bot
from app.config import load_settings
from app.db.engine import create_engine, wait_for_database
from app.db.migrate import wait_for_head
from app.mode_settings import AdminSettings

log = structlog.get_logger("app.admin_panel")


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGTERM/SIGINT with exit code 0 like the bot's roles.

    (uvicorn's own handling raises the signal again once it has stopped, so the process would
    end killed by it.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        stops = (signal.SIGINT, signal.SIGTERM)
        for stop in stops:
            loop.add_signal_handler(stop, self.handle_exit, stop, None)
        try:
            yield
        finally:
            for stop in stops:
                loop.remove_signal_handler(stop)


def load() -> AdminSettings:
    """The bot's settings plus the panel's; raises ConfigError (no hash: no panel)."""
    return load_settings(AdminSettings)


def secrets(settings: AdminSettings) -> list[str]:
    from app.bot.entry import secrets as bot_secrets  # noqa: PLC0415

    return [*bot_secrets(settings), settings.admin_panel_password_hash.get_secret_value()]


async def run(settings: AdminSettings) -> None:
    engine = create_engine(settings.database_url, **settings.pool_options)
    bot = create_bot(settings)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        report = await wait_for_head(engine, settings)
        report.log_ready("admin", settings)
        config = uvicorn.Config(
            create_panel(settings, engine, bot),
            host=settings.admin_host,
            port=settings.admin_port,
            log_config=None,  # uvicorn's records go through the app's structlog pipeline
            proxy_headers=True,
            forwarded_allow_ips=settings.admin_forwarded_allow_ips,
            server_header=False,
            lifespan="off",
        )
        log.info(
            "admin panel serving",
            url=f"http://{settings.admin_host}:{settings.admin_port}/admin/",
        )
        await _Server(config).serve()
    finally:
        await bot.session.close()
        await engine.dispose()
