"""Feature routers, one module each, collected in one place."""

from __future__ import annotations

from aiogram import Router

from app.handlers import start


def build_root_router() -> Router:
    root = Router(name="root")
    root.include_routers(start.router)
    return root
