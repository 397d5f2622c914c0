"""How a view writes: one session, one transaction that the view commits, services inside."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.admin_panel.context import panel
from app.admin_panel.texts import PanelInputError
from app.services.products import ShopInputError
from app.services.tx import begin_write


@contextlib.asynccontextmanager
async def write(request: Request) -> AsyncIterator[AsyncSession]:
    """A write transaction; committed when the block ends, rolled back if it raises.

    A service's :class:`ShopInputError` becomes :class:`PanelInputError`, whose message (the
    bot's wording) the form shows.
    """
    async with panel(request).session_factory() as session:
        await begin_write(session)
        try:
            yield session
        except ShopInputError as exc:
            await session.rollback()
            raise PanelInputError(exc) from None
        await session.commit()
