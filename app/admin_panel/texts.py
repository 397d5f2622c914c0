"""The bot's own wordings (English catalog) for what the panel shares with it: input errors,
the stock report, refund outcomes. They are HTML with escaped arguments, safe to render."""

from __future__ import annotations

from markupsafe import Markup

from app.i18n import translator
from app.services.products import ShopInputError


def text(key: str, **params: object) -> Markup:
    return Markup(translator("en")(key, **params))  # noqa: S704 (catalog HTML, arguments escaped)


def input_error(exc: ShopInputError) -> Markup:
    return text(f"owner.error.{exc.code}", **exc.params)


class PanelInputError(ValueError):
    """Input the owner can correct; its message is the text to show on the form."""

    def __init__(self, exc: ShopInputError) -> None:
        super().__init__(str(input_error(exc)))
