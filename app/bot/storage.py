"""Where aiogram keeps FSM state: Redis when ``REDIS_URL`` is set, else the process's memory.

Webhook replicas behind a load balancer each receive some of a user's updates, so a dialog
that starts on one replica must be able to continue on another: only Redis makes that true.
Keys are ``fsm:<bot id>:<chat>:<user>:…``, so bots sharing a Redis database never collide.

``REDIS_URL`` may carry a password: it is only ever logged through :func:`mask_redis_url`.
redis-py is imported only when ``REDIS_URL`` is set, so a single bot starts without it.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import structlog
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from app.bot.isolation import ProcessIsolation, ReplicaIsolation
from app.config import Settings, is_secret_key
from app.retry import GaveUpError, retry

log = structlog.get_logger(__name__)

KEY_PREFIX = "fsm"
MEMORY_WARNING = "FSM state in memory: not shared between replicas"
PING_TIMEOUT = 5.0
# How long a replica may hold a user's event lock: longer than any update takes (a 5 MB stock
# import included), so the lock never expires under a live handler; a dead replica's lock is
# gone after it.
ISOLATION_LOCK_SECONDS = 300


class StorageUnavailableError(Exception):
    """Redis did not answer in time; the message is fit for an operator (no password)."""


def mask_redis_url(url: str) -> str:
    """The URL as it may appear in logs: user, password and any ``password=`` query masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = urlencode(
            [
                (key, "***" if is_secret_key(key) or "user" in key.lower() else value)
                for key, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "***"


def redis_secrets(url: str) -> list[str]:
    """The password in a Redis URL, raw and percent-decoded, for the log redaction."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password or "", parts.username or ""]
    found += [
        value for key, value in parse_qsl(parts.query, keep_blank_values=True) if is_secret_key(key)
    ]
    found += [unquote(value) for value in found]
    return sorted({value for value in found if value})


def create_storage(settings: Settings, *, replicas: bool = False) -> BaseStorage:
    """RedisStorage when ``REDIS_URL`` is set, else MemoryStorage (and a log line that says so).

    Creating a RedisStorage opens no connection; :func:`ping_storage` checks that it answers.
    """
    if settings.redis_url is None:
        if replicas:
            log.warning(MEMORY_WARNING, hint="set REDIS_URL to share dialogs between replicas")
        else:
            log.info(MEMORY_WARNING)
        return MemoryStorage()
    from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415

    url = settings.redis_url.get_secret_value().strip()
    storage = RedisStorage.from_url(
        url,
        connection_kwargs={
            "socket_connect_timeout": PING_TIMEOUT,
            "health_check_interval": 30,
        },
        key_builder=DefaultKeyBuilder(prefix=KEY_PREFIX, with_bot_id=True),
    )
    log.info("FSM state in Redis: shared between replicas", redis=mask_redis_url(url))
    return storage


def create_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update at a time per user and chat, in arrival order (see :mod:`app.bot.isolation`):
    in this process, and with Redis across the replicas too (a lock per key,
    ``fsm:<bot>:<chat>:<user>:lock``)."""
    if isinstance(storage, MemoryStorage):
        return ProcessIsolation()
    from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415 (only with REDIS_URL)

    if isinstance(storage, RedisStorage):
        shared = storage.create_isolation(lock_kwargs={"timeout": ISOLATION_LOCK_SECONDS})
        return ReplicaIsolation(shared)
    return ProcessIsolation()  # another storage (the tests'): isolate in this process


async def ping_storage(storage: BaseStorage, within: float) -> None:
    """Wait (up to ``within`` s, with backoff) until Redis answers PING; no-op for memory."""
    if isinstance(storage, MemoryStorage):
        return
    from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415

    if not isinstance(storage, RedisStorage):
        return

    async def ping() -> None:
        async with asyncio.timeout(PING_TIMEOUT):
            await storage.redis.ping()

    def on_retry(attempt: int, error: BaseException, sleep: float) -> None:
        wait = round(sleep, 2)
        log.warning("Redis not reachable yet", attempt=attempt, error=_reason(error), retry_in=wait)

    try:
        await retry(
            ping,
            retry_on=lambda exc: isinstance(exc, RedisError | OSError | TimeoutError),
            on_retry=on_retry,
            within=within,
        )
    except GaveUpError as exc:
        raise StorageUnavailableError(
            f"cannot reach Redis (REDIS_URL) after {exc.attempts} attempt(s): {_reason(exc.last)}"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
