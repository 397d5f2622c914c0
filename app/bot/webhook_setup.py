"""Telling Telegram where updates go: ``setWebhook`` by one process, ``deleteWebhook`` for polling.

Exactly one process registers the webhook: the one that migrates (``python -m app --webhook``
without ``--no-migrate``, after its schema is at head, or the release step ``python -m app
migrate`` when ``WEBHOOK_URL`` is set). Replicas never call setWebhook or deleteWebhook, on
start or on stop: a stopping replica must not switch the others off.

Polling (``python -m app``) removes any webhook first, keeping pending updates: Telegram answers
getUpdates with 409 Conflict while a webhook is set, and aiogram's ``start_polling`` does not
remove it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest

from app.config import ConfigError, Settings

log = structlog.get_logger(__name__)

HEALTH_PATH = "/healthz"
# What Telegram accepts for secret_token (1-256 of these characters) and for the port of a
# webhook URL. The shop asks for 32 characters at least: whoever knows the secret can send
# updates as any user, an owner included.
_SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]*$")
SECRET_MIN_LENGTH = 32
SECRET_MAX_LENGTH = 256
_MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 (a command)
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})


class WebhookRegistrationError(Exception):
    """Telegram refused setWebhook; the message says why (and is fit for an operator)."""


class WebhookServerError(Exception):
    """The webhook's HTTP server could not start (e.g. the port is taken); fit for an operator."""


def _invalid(*problems: str) -> ConfigError:
    return ConfigError("invalid configuration: " + "; ".join(problems))


def check_webhook_settings(settings: Settings, *, registers: bool, serves: bool) -> None:
    """Refuse a webhook configuration Telegram or the replicas would reject, naming the variable.

    ``serves``: this process answers webhook requests (needs WEBHOOK_SECRET to check them).
    ``registers``: this process calls setWebhook (needs WEBHOOK_URL and WEBHOOK_SECRET).
    """
    problems = []
    secret = settings.webhook_secret
    if secret is None:
        if serves or registers:
            why = "webhook mode" if serves else "registering the webhook (WEBHOOK_URL is set)"
            problems.append(
                f"WEBHOOK_SECRET is required for {why}: Telegram sends it in every request's "
                "X-Telegram-Bot-Api-Secret-Token header, and requests without it are refused"
            )
    else:
        problems.extend(_secret_problems(secret.get_secret_value()))
    url = settings.webhook_url
    if url is None:
        if registers:
            problems.append(
                "WEBHOOK_URL is required for the process that registers the webhook "
                "(`python -m app --webhook` without --no-migrate); "
                "replicas started with --no-migrate do not need it"
            )
    else:
        parts = urlsplit(url)
        try:
            port = parts.port or 443
        except ValueError:
            port = -1
        if parts.scheme != "https":
            problems.append("WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS)")
        elif port not in WEBHOOK_PORTS:
            problems.append("WEBHOOK_URL must use port 443, 80, 88 or 8443 (Telegram's rule)")
        elif parts.query or parts.fragment:
            problems.append("WEBHOOK_URL must not have a query or a fragment; use WEBHOOK_PATH")
    if serves and settings.webhook_path == HEALTH_PATH:
        problems.append(f"WEBHOOK_PATH must not be {HEALTH_PATH} (the health check lives there)")
    if problems:
        raise _invalid(*problems)


def _secret_problems(secret: str) -> list[str]:
    """Why Telegram or the shop would refuse this secret (never quoting it)."""
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


def webhook_address(settings: Settings) -> str:
    assert settings.webhook_url is not None
    return settings.webhook_url + settings.webhook_path


async def register_webhook(bot: Bot, routers: Router, settings: Settings) -> None:
    """setWebhook to WEBHOOK_URL + WEBHOOK_PATH with the secret and the update types that
    ``routers`` (the root router, or a Dispatcher) handle.

    Pending updates are kept: they are delivered to the new address.
    """
    assert settings.webhook_secret is not None
    url = webhook_address(settings)
    allowed = routers.resolve_used_update_types()
    try:
        await bot.set_webhook(
            url=url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=allowed,
            drop_pending_updates=False,
        )
    except TelegramBadRequest as exc:
        raise WebhookRegistrationError(
            f"Telegram refused the webhook {url}: {exc.message}"
        ) from None
    log.info("webhook registered", url=url, allowed_updates=allowed)


async def delete_webhook_before_polling(bot: Bot) -> None:
    """Startup hook of polling mode (after the schema is ready): getUpdates needs no webhook."""
    await bot.delete_webhook(drop_pending_updates=False)
    log.info("webhook removed (if any) for long polling; pending updates kept")
