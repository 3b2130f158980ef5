"""The words a command may use that come from the data: categories, products, dimension values."""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from queries.models import Customer, Product
from queries.request import CUSTOMER_DIMENSIONS


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


# An engine on data that never changes (a read replica file) says so in this execution option;
# its vocabulary is read once instead of in every command.
FROZEN = "basebot_frozen"
_frozen: WeakKeyDictionary[Engine, Vocabulary] = WeakKeyDictionary()


def frozen(session: Session) -> bool:
    """Whether this session reads data that never changes (a read replica file)."""
    bind = session.get_bind()
    return isinstance(bind, Engine) and bool(bind.get_execution_options().get(FROZEN))


def load_vocabulary(session: Session) -> Vocabulary:
    """Distinct categories, products and customer-dimension values (small: a few hundred)."""
    if not frozen(session):
        return _read(session)
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    if bind not in _frozen:
        _frozen[bind] = _read(session)
    return _frozen[bind]


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
