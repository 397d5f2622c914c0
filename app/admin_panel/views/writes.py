"""How a view writes: one session, one write block (:func:`app.db.uow.write`), services inside."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.admin_panel.context import panel
from app.admin_panel.texts import PanelInputError
from app.db import uow
from app.services.products import ShopInputError


@contextlib.asynccontextmanager
async def write(request: Request) -> AsyncIterator[AsyncSession]:
    """A write transaction; committed when the block ends, rolled back if it raises.

    A service's :class:`ShopInputError` becomes :class:`PanelInputError`, whose message (the
    bot's wording) the form shows.
    """
    async with panel(request).session_factory() as session:
        try:
            async with uow.write(session):
                yield session
        except ShopInputError as exc:  # the block rolled back what the view wrote
            raise PanelInputError(exc) from None
