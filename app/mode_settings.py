"""The settings class of each way of running, whose validators hold that mode's rules.

:class:`WebhookSettings` (``--webhook``: serves and registers the webhook),
:class:`ReplicaSettings` (``--webhook --no-migrate``: serves only),
:class:`RegistrationSettings` (``migrate`` with WEBHOOK_URL: registers only) and
:class:`AdminSettings` (the web panel) add their rules to :class:`~app.config.Settings`;
:class:`ReleaseSettings` tells which ``migrate`` needs. Each is read by
:func:`app.config.load_settings`. Nothing here is instantiated at import time.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from app.config import DatabaseSettings, Settings

HEALTH_PATH = "/healthz"  # the webhook server's health check
# What Telegram accepts for secret_token (1-256 of these characters) and for the port of a
# webhook URL. The shop asks for 32 characters at least: whoever knows the secret can send
# updates as any user, an owner included.
_SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")
SECRET_MIN_LENGTH = 32
SECRET_MAX_LENGTH = 256
_MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 (a command)
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})


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
