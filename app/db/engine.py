"""One async engine per process, and a session factory for one session per update."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.db.uow import TrackedSession
from app.logs import scrub_exception
from app.retry import GaveUpError, retry

log = structlog.get_logger(__name__)

SQLITE_BUSY_TIMEOUT = 30.0
# Errors that a database which is still booting, restarting or unreachable answers with.
_TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError)
# asyncpg errors that waiting will not cure: wrong credentials or a database that does not exist.
_PERMANENT_NAMES = {
    "InvalidPasswordError",
    "InvalidAuthorizationSpecificationError",
    "InvalidCatalogNameError",
}


class DatabaseUnavailableError(Exception):
    """The database could not be reached in time; the message is fit for an operator."""


def create_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    """Create the process's engine. SQLite gets real transactions and a writer lock on demand.

    pysqlite (and so aiosqlite) does not emit BEGIN before DDL, which would make migrations
    non-transactional; SQLAlchemy's documented recipe hands BEGIN to us instead. A connection
    whose execution option ``sqlite_begin`` is ``"IMMEDIATE"`` takes SQLite's write lock at
    BEGIN, which is how migrations and stock claims serialise across processes.

    Every engine hides the bound parameters from its errors and logs: they are the license
    keys of a stock import, the buyers' data, and anything else a statement writes. For the
    same reason its errors leave it without the values PostgreSQL quotes in their details.
    """
    kwargs["hide_parameters"] = True
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **kwargs)
        _make_sqlite_transactional(engine)
    else:
        engine = create_async_engine(url, **kwargs)
        _drop_closed_connections(engine)
    event.listen(engine.sync_engine, "handle_error", _scrub_error)
    return engine


def _scrub_error(context: ExceptionContext) -> None:
    """A unique or check violation quotes the row or the key in its DETAIL ("Key (content)=
    (KEY-123) already exists."): the goods themselves, which no log or traceback may show.
    They are taken out of the driver's exception (and what wraps it) before it is raised."""
    scrub_exception(context.original_exception)
    if context.sqlalchemy_exception is not None:
        scrub_exception(context.sqlalchemy_exception)


def _drop_closed_connections(engine: AsyncEngine) -> None:
    """Never hand out a pooled connection that the server has closed, at no cost per checkout.

    Instead of ``pool_pre_ping`` (three round trips on every checkout with asyncpg: BEGIN, a
    ping, ROLLBACK), the checkout asks asyncpg whether the connection's socket is still open,
    a local check. A server that restarts, or an administrator's ``pg_terminate_backend``,
    closes the sockets; asyncpg sees that on the event loop, and the pool then replaces the
    connection (``DisconnectionError`` makes it connect again). A connection that dies
    silently mid-use still fails its statement, and SQLAlchemy then invalidates the pool.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def _make_sqlite_transactional(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("sqlite_foreign_keys") is False:  # a migration: see migration_support
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', '')}".strip())


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TrackedSession)


def _is_permanent(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _PERMANENT_NAMES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def describe_error(exc: BaseException) -> str:
    """The database's own words for an error, on one line, without SQLAlchemy's boilerplate."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"{type(orig).__name__}: {message}"


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) and not _is_permanent(exc)


async def wait_for_database(engine: AsyncEngine, within: float) -> None:
    """Retry ``SELECT 1`` with exponential backoff until it answers or ``within`` s ran out."""

    async def select_one() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def on_retry(attempt: int, error: BaseException, sleep: float) -> None:
        log.warning(
            "database not reachable yet",
            attempt=attempt,
            error=describe_error(error),
            retry_in=round(sleep, 2),
        )

    try:
        await retry(select_one, retry_on=_worth_retrying, on_retry=on_retry, within=within)
    except GaveUpError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database after {exc.attempts} attempt(s): "
            f"{describe_error(exc.last)}"
        ) from None
    except _TRANSIENT as exc:  # wrong credentials or no such database: waiting will not help
        raise DatabaseUnavailableError(
            f"cannot connect to the database: {describe_error(exc)}"
        ) from None
