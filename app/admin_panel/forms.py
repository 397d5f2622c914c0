"""Forms of the panel, validated by the same parsers as the bot's owner commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup
from wtforms import BooleanField, Form, StringField, TextAreaField
from wtforms.validators import InputRequired, ValidationError

from app.admin_panel.texts import input_error
from app.services import categories, products
from app.services.products import ShopInputError


def parsed_by(parse: Callable[[Any], Any]) -> Callable[[Form, Any], None]:
    """A validator that runs one of the services' parsers and shows its error."""

    def validate(form: Form, field: Any) -> None:
        if field.data is None:
            return
        try:
            parse(field.data)
        except ShopInputError as exc:
            raise ValidationError(Markup.striptags(input_error(exc))) from None

    return validate


def _optional_category(raw: str) -> None:
    if raw.strip() not in {"", "-"}:
        products.parse_category_title(raw)


class CategoryForm(Form):
    title = StringField("Title", [InputRequired(), parsed_by(products.parse_category_title)])
    position = StringField(
        "Position in the catalog", [parsed_by(categories.parse_position)], default="0"
    )
    take_off_sale = BooleanField("Take all its products off sale", default=False)


class ProductForm(Form):
    slug = StringField(
        "Slug",
        [InputRequired(), parsed_by(products.parse_slug)],
        description="a-z, 0-9 and dashes, e.g. game-key-20; fixed once the product exists",
    )
    title = StringField("Title", [InputRequired(), parsed_by(products.parse_title)])
    description = TextAreaField("Description", [parsed_by(products.parse_description)])
    price = StringField("Price (Stars)", [InputRequired(), parsed_by(products.parse_price)])
    category = StringField(
        "Category", [parsed_by(_optional_category)], description="created when new; empty: none"
    )
    is_active = BooleanField("On sale", default=True)
