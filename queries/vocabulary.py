"""The words a command may use that come from the data: categories, products, dimension values."""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from queries.models import Customer, Product
from queries.request import CUSTOMER_DIMENSIONS, GENERATION


@dataclass(frozen=True)
class ProductWord:
    sku: str
    name: str
    category: str


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    categories: tuple[str, ...] = ()
    products: tuple[ProductWord, ...] = ()
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)


# An engine on a read replica says so in this execution option. Its data changes only when the
# replica applies changes (a new generation), so its vocabulary is read once per generation
# instead of in every command.
FROZEN = "basebot_frozen"
_frozen: WeakKeyDictionary[Engine, tuple[int, Vocabulary]] = WeakKeyDictionary()


def frozen(session: Session) -> bool:
    """Whether this session reads a read replica."""
    bind = session.get_bind()
    return isinstance(bind, Engine) and bool(bind.get_execution_options().get(FROZEN))


def load_vocabulary(session: Session) -> Vocabulary:
    """Distinct categories, products and customer-dimension values (small: a few hundred)."""
    if not frozen(session):
        return _read(session)
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    generation = session.info.get(GENERATION, 0)
    cached = _frozen.get(bind)
    if cached is None or cached[0] != generation:
        cached = _frozen[bind] = (generation, _read(session))
    return cached[1]


def _read(session: Session) -> Vocabulary:
    products = tuple(
        ProductWord(sku, name, category)
        for sku, name, category in session.execute(
            select(Product.sku, Product.name, Product.category).order_by(Product.sku)
        )
    )
    values: dict[str, tuple[str, ...]] = {}
    for dim in CUSTOMER_DIMENSIONS:
        col = getattr(Customer, dim)
        values[dim] = tuple(
            str(v)
            for v in session.scalars(select(col).where(col.is_not(None), col != "").distinct())
        )
    return Vocabulary(
        categories=tuple(sorted({p.category for p in products})),
        products=products,
        values=values,
    )
