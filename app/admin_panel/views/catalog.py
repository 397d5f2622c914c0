"""Categories and products: list, create, edit and take off sale, through the bot's services.

Nothing is ever deleted from here: products have orders and stock that point at them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from sqladmin import ModelView
from sqlalchemy import select
from starlette.requests import Request

from app.admin_panel.forms import CategoryForm, ProductForm
from app.admin_panel.views.writes import write
from app.db.models import Category, Product
from app.services import categories, products
from app.services.products import ShopInputError

log = structlog.get_logger(__name__)


class CategoryView(ModelView, model=Category):
    name = "Category"
    name_plural = "Categories"
    icon = "fa-solid fa-folder"
    category = "Catalog"
    can_delete = False
    can_export = False
    form = CategoryForm
    column_list: ClassVar[Any] = [Category.id, Category.title, Category.position]
    column_searchable_list: ClassVar[Any] = [Category.title]
    column_sortable_list: ClassVar[Any] = [Category.id, Category.title, Category.position]
    column_default_sort: ClassVar[Any] = [(Category.position, False), (Category.title, False)]
    column_details_list: ClassVar[Any] = [
        Category.id,
        Category.title,
        Category.position,
        Category.created_at,
    ]

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"title": obj.title, "position": str(obj.position), "take_off_sale": False}

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        async with write(request) as session:
            category = await products.create_category(session, data["title"])
            await categories.set_category_position(session, category, data["position"] or 0)
        log.info("category created", category_id=category.id)
        return category

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        async with write(request) as session:
            category = await session.get(Category, int(pk))
            if category is None:
                raise ShopInputError("unknown_category")
            await categories.rename_category(session, category, data["title"])
            await categories.set_category_position(session, category, data["position"] or 0)
            hidden = 0
            if data.get("take_off_sale"):
                hidden = await categories.take_products_off_sale(session, category.id)
        log.info("category edited", category_id=category.id, products_taken_off_sale=hidden)
        return category


def _category_title(model: Any, _attribute: Any) -> str:
    return model.category.title if model.category is not None else "—"


class ProductView(ModelView, model=Product):
    name = "Product"
    name_plural = "Products"
    icon = "fa-solid fa-box"
    category = "Catalog"
    can_delete = False
    can_export = False
    form = ProductForm
    column_list: ClassVar[Any] = [
        Product.id,
        Product.slug,
        Product.title,
        Product.price,
        Product.category,
        Product.is_active,
    ]
    column_labels: ClassVar[Any] = {Product.is_active: "On sale", Product.price: "Price (Stars)"}
    column_formatters: ClassVar[Any] = {Product.category: _category_title}
    column_formatters_detail: ClassVar[Any] = {Product.category: _category_title}
    column_searchable_list: ClassVar[Any] = [Product.slug, Product.title]
    column_sortable_list: ClassVar[Any] = [Product.id, Product.slug, Product.title, Product.price]
    column_default_sort: ClassVar[Any] = [(Product.slug, False)]
    column_details_list: ClassVar[Any] = [
        Product.id,
        Product.slug,
        Product.title,
        Product.description,
        Product.price,
        Product.category,
        Product.is_active,
        Product.low_stock_threshold,
        Product.created_at,
    ]

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        async with self.session_maker() as session:
            title = await session.scalar(
                select(Category.title).where(Category.id == obj.category_id)
            )
        return {
            "slug": obj.slug,
            "title": obj.title,
            "description": obj.description,
            "price": str(obj.price),
            "category": title or "",
            "is_active": obj.is_active,
        }

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        async with write(request) as session:
            product = await products.create_product(
                session,
                slug=data["slug"],
                title=data["title"],
                price=data["price"],
                category=data.get("category") or None,
                description=data.get("description") or "",
            )
            if not data.get("is_active", True):
                await products.update_product(session, product, "active", "no")
        log.info("product created", product_id=product.id, slug=product.slug)
        return product

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        async with write(request) as session:
            product = await session.get(Product, int(pk))
            if product is None:
                raise ShopInputError("unknown_product", slug=str(data.get("slug", ""))[:64])
            if data["slug"].strip() != product.slug:
                raise ShopInputError("slug_fixed", slug=product.slug)
            fields = {
                "title": data["title"],
                "description": data.get("description") or "-",
                "price": data["price"],
                "category": data.get("category") or "-",
                "active": "yes" if data.get("is_active") else "no",
            }
            for field, raw in fields.items():
                await products.update_product(session, product, field, raw)
        log.info("product edited", product_id=product.id, slug=product.slug)
        return product
