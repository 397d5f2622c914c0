"""Typed settings, read from the environment and an optional ``.env`` file.

Two layers: :class:`DatabaseSettings` is all that Alembic and the management CLI need, so
``alembic upgrade head`` works without a bot token; :class:`Settings` adds what the bot needs.
The rules of each way of running (the webhook's, the release step's, the panel's) are the
classes of :mod:`app.mode_settings`; :func:`load_settings` reads any of them, a bad value
stopping it with one message (:class:`ConfigError`). Nothing here is instantiated at import
time.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Literal, TypeVar
from urllib.parse import quote_plus, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///market.db"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
# Query keys whose values are secrets (``?password=…`` and ``?sslpassword=…``, which the
# drivers accept, and any key, token or credential a proxy or pooler may take).
_SECRET_KEY_RE = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
MASK = "***"

REDIS_SCHEMES = ("redis", "rediss", "unix")
# MAX_QUANTITY's default, also the bound of a reservation whose caller passes none.
DEFAULT_MAX_QUANTITY = 10


def is_secret_key(name: str) -> bool:
    """Whether a URL query key (or a setting's name) carries a secret."""
    return bool(_SECRET_KEY_RE.search(name))


def _query_values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def mask_database_url(url: URL) -> str:
    """The URL as it may appear in logs: its password and every secret query value masked."""
    query = {key: MASK if is_secret_key(key) else value for key, value in url.query.items()}
    rendered = url.set(query=query).render_as_string(hide_password=True)
    return rendered.replace("%2A%2A%2A", MASK)


def database_url_secrets(url: URL) -> list[str]:
    """The secrets in a database URL (password, secret query values), for the log redaction."""
    found = [url.password] if url.password else []
    for key, value in url.query.items():
        if is_secret_key(key):
            found.extend(v for v in _query_values(value) if v)
    quoted = [quote_plus(str(secret)) for secret in found]
    return sorted({str(secret) for secret in [*found, *quoted]})


def normalize_database_url(raw: str) -> URL:
    """Parse a database URL and pick the asyncio driver; accepts Heroku-style ``postgres://``."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError("is not a database URL (expected postgresql://… or sqlite:///…)") from None
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        supported = "postgres://, postgresql://, postgresql+asyncpg://, sqlite:///"
        raise ValueError(f"uses the unsupported scheme {url.drivername!r}; use one of {supported}")
    return url.set(drivername=driver)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: Annotated[URL, NoDecode] = Field(
        default_factory=lambda: normalize_database_url(DEFAULT_DATABASE_URL)
    )
    db_connect_timeout: float = Field(default=30.0, ge=0)
    # Connections a process keeps open, and how many more it may open for a burst (closed
    # again as they come back). SQLAlchemy's own 5 + 10 closes and reopens connections all the
    # time under a few dozen buyers at once; every reopen costs a connect and a fresh statement
    # cache. The sum, times the processes (replicas, the panel), must stay under PostgreSQL's
    # max_connections (100 by default).
    database_pool_size: int = Field(default=15, ge=1, le=1000)
    database_max_overflow: int = Field(default=0, ge=0, le=1000)
    schema_wait_timeout: float = Field(default=60.0, ge=0)
    migration_lock_timeout: float = Field(default=10.0, gt=0)
    migration_lock_retries: int = Field(default=4, ge=0, le=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    @field_validator("database_url", mode="before")
    @classmethod
    def _parse_url(cls, value: object) -> URL:
        if isinstance(value, URL):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must not be empty")
        return normalize_database_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def pool_options(self) -> dict[str, int]:
        """The engine's pool, as :func:`app.db.engine.create_engine` takes it."""
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}

    @property
    def safe_database_url(self) -> str:
        """The URL as it may appear in logs: the password and secret query values are masked."""
        return mask_database_url(self.database_url)

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return not sys.stdout.isatty()
        return self.log_format == "json"


class Settings(DatabaseSettings):
    bot_token: SecretStr
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    # The shop.
    reservation_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # A buyer holds at most this many unpaid units (reserved items) across the whole shop.
    # MAX_RESERVATIONS_PER_USER, its former name (it counted orders), is read as an alias.
    max_reserved_units: int = Field(
        default=20,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("max_reserved_units", "max_reservations_per_user"),
    )
    # The most units of one product a buyer chooses on its card or keeps in the cart.
    max_quantity: int = Field(default=DEFAULT_MAX_QUANTITY, ge=1, le=100)
    # Paid but nothing left to sell: refund at once (True) or alert the owners (False).
    auto_refund: bool = True
    reconcile_interval: float = Field(default=60.0, gt=0, le=24 * 3600)  # s, getStarTransactions
    retry_interval: float = Field(default=10.0, gt=0, le=3600)  # s, the money worker's round
    # h after its payment: an order whose goods Telegram still refuses goes to the refund path.
    delivery_refund_after: float = Field(default=72.0, gt=0, le=24 * 365)
    support_contact: str | None = None  # shown by /paysupport, e.g. "@shop_support"
    broadcast_rate: float = Field(default=25.0, gt=0, le=30)  # messages/s, under Telegram's 30
    # Referrals: a referee's first paid order, not refunded for this many days, earns the
    # referrer a one-use code of this percent; at most this many rewards per referrer a UTC day.
    referral_hold_days: float = Field(default=7.0, ge=0, le=365)
    referral_reward_percent: int = Field(default=10, ge=1, le=100)
    referral_daily_cap: int = Field(default=5, ge=1, le=1000)
    # s between two looks for broadcasts to send that another process wrote (the admin panel,
    # a restock by `python -m app stock import`) or left (a replica that died).
    broadcast_poll_interval: float = Field(default=10.0, gt=0, le=3600)

    # Webhook mode (replicas behind a load balancer).
    webhook_url: str | None = None
    webhook_path: str = "/webhook"
    webhook_secret: SecretStr | None = None
    host: str = "0.0.0.0"  # noqa: S104 (a webhook server must listen beyond loopback)
    port: int = Field(default=8080, ge=1, le=65535)
    redis_url: SecretStr | None = None
    shutdown_timeout: float = Field(default=20.0, gt=0)

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.fullmatch(value.get_secret_value().strip()):
            raise ValueError("is not a bot token (expected '<digits>:<secret>' from @BotFather)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
            if not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError("must be Telegram user ids separated by commas")
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s):// URL")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Refuse a URL redis-py would reject later (never echoing the value)."""
        if value is None:
            return None
        try:
            scheme = urlsplit(value.get_secret_value().strip()).scheme
        except ValueError:
            scheme = ""
        if scheme not in REDIS_SCHEMES:
            raise ValueError(
                "must be a redis://, rediss:// or unix:// URL (e.g. redis://:password@host:6379/0)"
            )
        return value


_S = TypeVar("_S", bound=DatabaseSettings)


_MISSING = {
    "ADMIN_PANEL_PASSWORD_HASH": "is required: the panel has no default password; make a hash "
    "with `python -m app admin hash-password` and set it",
}


class ConfigError(Exception):
    """Bad configuration, described in one message fit for an operator."""


def load_settings(cls: type[_S]) -> _S:
    """Instantiate ``cls`` from the environment, turning validation errors into one clear message.

    The message names each bad variable and why, but never echoes the value (it may be a secret).
    """
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            name = "_".join(str(part) for part in error["loc"]).upper()
            reason = (
                _MISSING.get(name, "is required") if error["type"] == "missing" else error["msg"]
            )
            reason = reason.removeprefix("Value error, ")
            # A rule across variables (a model validator) names them itself.
            problems.append(f"{name} {reason}" if name else reason)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
