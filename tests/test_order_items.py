"""What an order bought, as notices and exports name it: every line, in the order added, and
an order of the release before order lines as its one unit."""

from __future__ import annotations

from datetime import timedelta

from app.db.base import utcnow
from app.db.models import Order, OrderLine, User
from app.db.uow import transaction
from app.services import order_items
from app.services.order_items import LABEL_LIMIT
from tests.shop_helpers import SessionFactory, seed_product

BUYER = 7301


def test_a_label_names_each_line_and_counts_only_several() -> None:
    assert order_items.label([("Key", 1)]) == "Key"
    assert order_items.label([("Key", 2), ("Other  game", 1)]) == "Key ×2, Other game"
    long = order_items.label([("A" * 150, 3), ("B" * 150, 1)])
    assert len(long) == LABEL_LIMIT and long.startswith("A" * 150 + " ×3, B") and long[-1] == "…"


async def test_items_of_reads_lines_and_the_release_before_them(
    session_factory: SessionFactory,
) -> None:
    key = await seed_product(session_factory, "Key", 5)
    game = await seed_product(session_factory, "Game", 9)
    later = utcnow() + timedelta(minutes=15)
    async with transaction(session_factory) as session:
        session.add(User(id=BUYER, first_name="Buyer"))
        await session.flush()
        cart = Order(user_id=BUYER, product_id=game, payload="cart", amount=19, expires_at=later)
        legacy = Order(user_id=BUYER, product_id=key, payload="old", amount=5, expires_at=later)
        session.add_all([cart, legacy])
        await session.flush()
        session.add_all(
            [
                OrderLine(order_id=cart.id, product_id=game, quantity=1, unit_price=9),
                OrderLine(order_id=cart.id, product_id=key, quantity=2, unit_price=5),
            ]
        )
        ids = (cart.id, legacy.id)
    async with session_factory() as session:
        found = await order_items.items_of(session, [*ids, 999_999])
        label = await order_items.label_of(session, ids[0])
    assert found == {ids[0]: [("Game", 1), ("Key", 2)], ids[1]: [("Key", 1)], 999_999: []}
    assert label == "Game, Key ×2"
