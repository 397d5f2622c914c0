"""Telling Telegram where updates go: ``setWebhook`` by one process, ``deleteWebhook`` for polling.

Exactly one process registers the webhook: the one that migrates (``python -m app --webhook``
without ``--no-migrate``, after its schema is at head, or the release step ``python -m app
migrate`` when ``WEBHOOK_URL`` is set). Replicas never call setWebhook or deleteWebhook, on
start or on stop: a stopping replica must not switch the others off.

Polling (``python -m app``) removes any webhook first, keeping pending updates: Telegram answers
getUpdates with 409 Conflict while a webhook is set, and aiogram's ``start_polling`` does not
remove it. What a webhook configuration must be is checked where it is read: the webhook
settings classes of :mod:`app.mode_settings`.
"""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest

from app.config import Settings

log = structlog.get_logger(__name__)


class WebhookRegistrationError(Exception):
    """Telegram refused setWebhook; the message says why (and is fit for an operator)."""


class WebhookServerError(Exception):
    """The webhook's HTTP server could not start (e.g. the port is taken); fit for an operator."""


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
