"""The words a command may use that come from the data: categories, products, dimension values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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


# An engine on a read replica says so in this execution option.
FROZEN = "basebot_frozen"
# A replica keeps its vocabulary current as it applies changes (queries/overlay.py) and hands
# it to every session it opens: read once per change, not in every command.
VOCABULARY = "basebot_vocabulary"


def frozen(session: Session) -> bool:
    """Whether this session reads a read replica."""
    bind = session.get_bind()
    return isinstance(bind, Engine) and bool(bind.get_execution_options().get(FROZEN))


def load_vocabulary(session: Session) -> Vocabulary:
    """Distinct categories, products and customer-dimension values (small: a few hundred)."""
    known = session.info.get(VOCABULARY)
    return known if isinstance(known, Vocabulary) else read_vocabulary(session)


def vocabulary_of(products: Iterable[ProductWord], values: dict[str, Iterable[str]]) -> Vocabulary:
    words = tuple(sorted(products, key=lambda p: p.sku))
    return Vocabulary(
        categories=tuple(sorted({p.category for p in words})),
        products=words,
        values={dim: tuple(sorted(v)) for dim, v in values.items()},
    )


def read_vocabulary(session: Session) -> Vocabulary:
    products = [
        ProductWord(sku, name, category)
        for sku, name, category in session.execute(
            select(Product.sku, Product.name, Product.category)
        )
    ]
    values: dict[str, Iterable[str]] = {}
    for dim in CUSTOMER_DIMENSIONS:
        col = getattr(Customer, dim)
        values[dim] = [
            str(v)
            for v in session.scalars(select(col).where(col.is_not(None), col != "").distinct())
        ]
    return vocabulary_of(products, values)
