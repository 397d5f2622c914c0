"""What the panel's views share: settings, the database, the Bot API client. One per process."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from app.mode_settings import AdminSettings


@dataclass(frozen=True)
class PanelContext:
    settings: AdminSettings
    session_factory: async_sessionmaker[AsyncSession]
    bot: Bot


def panel(request: Request) -> PanelContext:
    context: PanelContext = request.app.state.panel
    return context
