"""Webhook mode (``python -m app --webhook``): one of several replicas behind a load balancer.

The order of a replica's life, and why:

1. Listen on HOST:PORT first. ``GET /healthz`` answers 503 and the webhook route 503 (Telegram
   retries) until the startup below has finished, so the load balancer keeps a replica that
   waits for the schema out of rotation instead of seeing a dead port.
2. Run the Dispatcher's startup (migrate, or with ``--no-migrate`` wait for head), check Redis;
   the migrating process then calls setWebhook. Only then are updates handed to the Dispatcher.
3. On SIGTERM/SIGINT: stop listening, refuse new requests on open connections (503), wait for
   the updates in flight (at most SHUTDOWN_TIMEOUT s), cancel what is left (its request gets no
   200, so Telegram delivers it again), then the Dispatcher's shutdown (closes the FSM
   storage), the engine and the bot session. Never deleteWebhook: other replicas serve on.

Each request goes through the strict handler of :mod:`app.bot.webhook_handler` (secret,
readiness, the body's shape), which answers 200 only after the Dispatcher has finished it.

aiogram's ``setup_application`` is not used: it hooks the Dispatcher's startup into
``AppRunner.setup()``, which runs before the site listens, and its shutdown into
``on_shutdown``, which aiohttp runs before it waits for the requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import structlog
from aiogram import Bot
from aiogram.fsm.storage.base import BaseStorage
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bot.factory import create_bot, create_dispatcher
from app.bot.health import HealthCheck, Phase, Readiness
from app.bot.storage import create_storage, ping_storage
from app.bot.webhook_handler import MAX_BODY, InFlight, WebhookHandler
from app.bot.webhook_setup import WebhookServerError, register_webhook
from app.config import Settings
from app.db.engine import create_engine
from app.mode_settings import HEALTH_PATH

log = structlog.get_logger("app.webhook")

RESPONSE_WRITE_TIMEOUT = 5.0  # after the drain: time left for answers to reach the client


class WebhookServer:
    """One webhook replica: the aiohttp server, the Dispatcher, and their shared lifecycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool,
        engine: AsyncEngine | None = None,
        bot: Bot | None = None,
        storage: BaseStorage | None = None,
    ) -> None:
        assert settings.webhook_secret is not None
        self.settings = settings
        self.migrate = migrate
        self.engine = engine or create_engine(settings.database_url, **settings.pool_options)
        self.bot = bot or create_bot(settings)
        self.storage = storage or create_storage(settings, replicas=True)
        self.dispatcher = create_dispatcher(
            settings, self.engine, migrate=migrate, storage=self.storage, webhook=True
        )
        # Right after the schema hook, before the routers' own hooks (e.g. broadcasts).
        self.dispatcher.startup.register(self._check_storage)
        self.readiness = Readiness()
        self.in_flight = InFlight()
        self.health = HealthCheck(self.engine, settings, self.readiness)
        self.app = web.Application(client_max_size=MAX_BODY)
        self.workflow: dict[str, Any] = {
            "dispatcher": self.dispatcher,
            "bots": (self.bot,),
            "app": self.app,
            **self.dispatcher.workflow_data,
        }
        self.handler = WebhookHandler(
            self.dispatcher,
            self.bot,
            secret_token=settings.webhook_secret.get_secret_value(),
            readiness=self.readiness,
            in_flight=self.in_flight,
            **{k: v for k, v in self.workflow.items() if k != "dispatcher"},
        )
        # Not handler.register(): its on_shutdown hook would close the bot session while
        # aiohttp still waits for requests in flight; stop() closes it after the drain.
        self.app.router.add_post(settings.webhook_path, self.handler.handle)
        self.app.router.add_get(HEALTH_PATH, self.health.handle)
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=RESPONSE_WRITE_TIMEOUT
        )
        self.port: int | None = None  # the bound port, once listening (PORT may be 0)
        self.listening = asyncio.Event()
        self._stop = asyncio.Event()
        self._dispatcher_started = False

    # --- the whole life -----------------------------------------------------------------

    async def run(self, *, handle_signals: bool = True) -> None:
        """Listen, start, serve until SIGTERM/SIGINT (or :meth:`request_stop`), stop."""
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.listen()
            if await self.start():
                await self._stop.wait()
        finally:
            try:
                await self.stop()
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received; stopping", signal=sig.name, in_flight=len(self.in_flight))
        self.request_stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def listen(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            raise WebhookServerError(f"cannot listen on {where}: {exc.strerror or exc}") from None
        self.port = site.port
        self.listening.set()
        log.info(
            "webhook server listening",
            host=self.settings.host,
            port=self.port,
            path=self.settings.webhook_path,
            health=HEALTH_PATH,
            role="migrate" if self.migrate else "no-migrate",
        )

    async def start(self) -> bool:
        """The Dispatcher's startup, unless a stop is requested first; True once ready."""
        startup = asyncio.create_task(self._startup())
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not startup.done():
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await startup
                log.info("stopped before startup finished")
        if startup.cancelled():
            return False
        startup.result()  # a failed startup propagates (one log line and exit 1 in the CLI)
        self.readiness.phase = Phase.READY
        log.info("webhook replica ready", role="migrate" if self.migrate else "no-migrate")
        return True

    async def _check_storage(self) -> None:
        await ping_storage(self.storage, self.settings.db_connect_timeout)

    async def _startup(self) -> None:
        await self.dispatcher.emit_startup(bot=self.bot, **self.workflow)
        self._dispatcher_started = True  # as in aiogram: no shutdown without a startup
        if self.migrate:
            await register_webhook(self.bot, self.dispatcher, self.settings)

    async def stop(self) -> None:
        """Stop listening, drain, shut the Dispatcher down. Safe after a failed start."""
        self.readiness.phase = Phase.STOPPING
        for site in list(self.runner.sites):
            await site.stop()  # no new connections
        if self.runner.server is not None:
            self.runner.server.pre_shutdown()  # idle keep-alive connections close now
        timeout = self.settings.shutdown_timeout
        if len(self.in_flight):
            log.info("waiting for updates in flight", in_flight=len(self.in_flight))
        left = await self.in_flight.drain(timeout)
        if left:
            log.warning(
                "updates still in flight after SHUTDOWN_TIMEOUT; cancelling them "
                "(rolled back, not answered 200: Telegram delivers them again)",
                cancelled=left,
                shutdown_timeout=timeout,
            )
            await self.in_flight.cancel()
        await self.runner.cleanup()  # answers reach their clients; connections close
        self.handler.refusals.flush()
        try:
            if self._dispatcher_started:
                # The routers' hooks (e.g. releasing a broadcast lease) still use the engine;
                # aiogram's own hook closes the storage.
                await self.dispatcher.emit_shutdown(bot=self.bot, **self.workflow)
            else:
                await self.storage.close()
        finally:
            await self.engine.dispose()  # last: every shutdown hook has run
            await self.bot.session.close()


async def run_webhook(settings: Settings, *, migrate: bool) -> None:
    """``python -m app --webhook [--no-migrate]`` until SIGTERM/SIGINT."""
    await WebhookServer(settings, migrate=migrate).run()
