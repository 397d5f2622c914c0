"""Typed settings, read from the environment and an optional ``.env`` file.

Two layers: :class:`DatabaseSettings` is all that Alembic and the management CLI need, so
``alembic upgrade head`` works without a bot token; :class:`Settings` adds what the bot needs.
Each way of running has its class, whose validators hold that mode's rules:
:class:`WebhookSettings` (``--webhook``: serves and registers the webhook),
:class:`ReplicaSettings` (``--webhook --no-migrate``: serves only),
:class:`RegistrationSettings` (``migrate`` with WEBHOOK_URL: registers only) and
:class:`AdminSettings` (the web panel); :class:`ReleaseSettings` tells which ``migrate`` needs.
Nothing here is instantiated at import time.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, ClassVar, Literal, Self, TypeVar
from urllib.parse import quote_plus, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
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
HEALTH_PATH = "/healthz"  # the webhook server's health check
# What Telegram accepts for secret_token (1-256 of these characters) and for the port of a
# webhook URL. The shop asks for 32 characters at least: whoever knows the secret can send
# updates as any user, an owner included.
_SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")
SECRET_MIN_LENGTH = 32
SECRET_MAX_LENGTH = 256
_MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 (a command)
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
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


class ReleaseSettings(DatabaseSettings):
    """What decides the shape of the release step: with WEBHOOK_URL it needs the bot's settings."""

    webhook_url: str | None = None

    @property
    def registers_webhook(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.strip())


class WebhookSettings(Settings):
    """``python -m app --webhook``: serves webhook requests and registers the webhook.

    ``serves``: the process answers webhook requests (needs WEBHOOK_SECRET to check them).
    ``registers``: the process calls setWebhook (needs WEBHOOK_URL and WEBHOOK_SECRET).
    Bad values are refused in one message naming each variable, never quoting the secret.
    """

    serves: ClassVar[bool] = True
    registers: ClassVar[bool] = True

    @model_validator(mode="after")
    def _check_webhook(self) -> Self:
        problems = [*self._secret_problems(), *self._url_problems()]
        if self.serves and self.webhook_path == HEALTH_PATH:
            problems.append(
                f"WEBHOOK_PATH must not be {HEALTH_PATH} (the health check lives there)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _secret_problems(self) -> list[str]:
        if self.webhook_secret is None:
            why = "webhook mode" if self.serves else "registering the webhook (WEBHOOK_URL is set)"
            return [
                f"WEBHOOK_SECRET is required for {why}: Telegram sends it in every request's "
                "X-Telegram-Bot-Api-Secret-Token header, and requests without it are refused"
            ]
        secret = self.webhook_secret.get_secret_value()
        problems = []
        if not _SECRET_CHARS.fullmatch(secret):
            problems.append(
                "WEBHOOK_SECRET may only contain A-Z, a-z, 0-9, _ and - (Telegram's rule for "
                "secret_token)"
            )
        if len(secret) < SECRET_MIN_LENGTH:
            problems.append(
                f"WEBHOOK_SECRET must be at least {SECRET_MIN_LENGTH} characters long (it has "
                f"{len(secret)}): anyone who guesses it can send updates as any user, an owner "
                f"included; generate one with {_MAKE_SECRET}"
            )
        elif len(secret) > SECRET_MAX_LENGTH:
            problems.append(
                f"WEBHOOK_SECRET must be at most {SECRET_MAX_LENGTH} characters long "
                f"(Telegram's limit; it has {len(secret)})"
            )
        return problems

    def _url_problems(self) -> list[str]:
        if self.webhook_url is None:
            if not self.registers:
                return []
            return [
                "WEBHOOK_URL is required for the process that registers the webhook "
                "(`python -m app --webhook` without --no-migrate); "
                "replicas started with --no-migrate do not need it"
            ]
        parts = urlsplit(self.webhook_url)
        try:
            port = parts.port or 443
        except ValueError:
            port = -1
        if parts.scheme != "https":
            return ["WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS)"]
        if port not in WEBHOOK_PORTS:
            return ["WEBHOOK_URL must use port 443, 80, 88 or 8443 (Telegram's rule)"]
        if parts.query or parts.fragment:
            return ["WEBHOOK_URL must not have a query or a fragment; use WEBHOOK_PATH"]
        return []


class ReplicaSettings(WebhookSettings):
    """``python -m app --webhook --no-migrate``: serves webhook requests, never registers."""

    registers: ClassVar[bool] = False


class RegistrationSettings(WebhookSettings):
    """``python -m app migrate`` with WEBHOOK_URL: registers the webhook, serves nothing."""

    serves: ClassVar[bool] = False


# The PHC string argon2-cffi writes: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
_ARGON2_HASH_RE = re.compile(
    r"^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)


class AdminSettings(Settings):
    """The web admin panel (``python -m app admin``): the bot's settings and where to listen.

    There is no default password and no way in without ``ADMIN_PANEL_PASSWORD_HASH``.
    """

    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=8081, ge=1, le=65535)
    admin_panel_password_hash: SecretStr
    # Proxies whose X-Forwarded-For/-Proto are believed (the client's address for the sign-in
    # limit, and HTTPS for the Secure cookie); comma-separated addresses, or "*".
    admin_forwarded_allow_ips: str = "127.0.0.1"

    @field_validator("admin_panel_password_hash")
    @classmethod
    def _check_hash(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if not raw:
            raise ValueError(
                "is empty; make a hash with `python -m app admin hash-password` and set it"
            )
        if not _ARGON2_HASH_RE.fullmatch(raw):
            raise ValueError(
                "is not an argon2 hash (it must not be the password itself); make one with "
                "`python -m app admin hash-password`"
            )
        return SecretStr(raw)


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
