"""A kind of ``python -m app`` run, carried by the CLI's parsers as ``set_defaults(mode=...)``.

The bot, the release step, the web panel and the shop's commands each load their own settings,
mask their own secrets, explain their own failures and run in their own way; a mode imports its
heavy packages (aiogram, the panel's web stack) only when it runs, so a shop command never
loads them.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod

from app.config import DatabaseSettings


class Mode(ABC):
    @abstractmethod
    def load(self, args: argparse.Namespace) -> DatabaseSettings:
        """The settings this run needs, checked by their class; raises ConfigError."""

    def secrets(self, settings: DatabaseSettings) -> list[str]:
        """Values besides the database URL's that must never appear in a log line."""
        return []

    def usage_error(self, args: argparse.Namespace) -> str | None:
        """Why the options given do not go with this run (the parser reports it), or None.

        Only the bot itself serves a webhook.
        """
        if getattr(args, "webhook", False):
            return "--webhook runs the bot; it cannot be combined with a command"
        return None

    def describe_failure(self, exc: BaseException, settings: DatabaseSettings) -> str | None:
        """One line for an operator, or None for an error that is a bug (it keeps its traceback)."""
        return None

    @abstractmethod
    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        """Run; the exit code."""
