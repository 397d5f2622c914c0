"""Helpers for the promo-code tests: codes written through the service, a buyer who applies
one through the bot, and the redemptions as the database has them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from app.db.models import PromoCode, PromoRedemption
from app.i18n import translator
from app.services import promo
from tests.fake_api.entities import parse_html
from tests.shop_helpers import Customer, SessionFactory, buttons, invoice_amount

en = translator("en")
JSON = dict[str, object]


def shown(text: str) -> str:
    """A text as the user reads it: the HTML parsed, as Telegram does."""
    return parse_html(text)[0]


async def add_code(factory: SessionFactory, spec: str, *, owner_user_id: int | None = None) -> str:
    """``spec`` as the owner writes it after ``/promo add``; returns the stored code."""
    parsed = promo.parse_spec(promo.split_args(spec), datetime.now(UTC).date())
    async with factory() as session:
        created = await promo.create(session, parsed, owner_user_id=owner_user_id)
        await session.commit()
        return created.code


async def set_code(factory: SessionFactory, code: str, **values: object) -> None:
    async with factory() as session:
        await session.execute(update(PromoCode).where(PromoCode.code == code).values(**values))
        await session.commit()


async def redemptions_of(factory: SessionFactory, code: str) -> list[PromoRedemption]:
    async with factory() as session:
        query = (
            select(PromoRedemption)
            .join(PromoCode, PromoCode.id == PromoRedemption.promo_id)
            .where(PromoCode.code == code)
            .order_by(PromoRedemption.id)
        )
        return list(await session.scalars(query))


async def open_card(buyer: Customer, title: str, category: str | None = None) -> None:
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    if category is not None:
        await buyer.press(category)
    elif not any(title in b["text"] for b in buttons(buyer.screen())):
        await buyer.press(en("buyer.catalog.other"))
    await buyer.press(title)


async def apply_code(
    buyer: Customer, title: str, code: str, category: str | None = None
) -> JSON | None:
    """From /start through 🎟 Promo code to the code typed; the new invoice, if one came."""
    await open_card(buyer, title, category)
    before = len(buyer.invoices())
    await buyer.press(en("buyer.promo.button"))
    assert buyer.texts()[-1] == shown(en("buyer.promo.ask"))
    await buyer.send(code)
    invoices = buyer.invoices()
    return invoices[-1] if len(invoices) > before else None


async def pay(buyer: Customer, invoice: JSON) -> str:
    """Pre-checkout (which must say ok), then the payment; the charge id."""
    payload, amount = str(invoice["payload"]), invoice_amount(invoice)
    verdict = await buyer.pre_checkout(payload, amount)
    assert verdict["ok"] is True, verdict
    return await buyer.pay(payload, amount)
