"""Terse fixture rows for hand-worked tests: refs and skus instead of ids, dates as strings."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase

_serials = itertools.count(1)
_orders = itertools.count(1)


def d(text: str) -> date:
    return date.fromisoformat(text)


class Fixture:
    """Adds rows to a session; every method flushes so ids exist at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def customer(
        self,
        ref: str,
        name: str | None = None,
        *,
        segment: str | None = "business",
        channel: str | None = "direct",
        industry: str | None = "retail",
        country: str | None = "US",
        region: str | None = "AMER",
        email: str | None = None,
        created_on: str | None = None,
        owner: str | None = None,
    ) -> Customer:
        row = Customer(
            customer_ref=ref,
            name=name or ref,
            segment=segment,
            channel=channel,
            industry=industry,
            country=country,
            region=region,
            email=email,
            created_on=d(created_on) if created_on else None,
            owner=owner,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def product(
        self,
        sku: str,
        category: str,
        kind: str = "core",
        *,
        name: str | None = None,
        for_category: str | None = None,
        installable: bool | None = None,
        list_price: float = 100.0,
    ) -> Product:
        row = Product(
            sku=sku,
            name=name or sku,
            category=category,
            kind=kind,
            for_category=for_category,
            installable=(kind == "core") if installable is None else installable,
            list_price=list_price,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def _ids(self, ref: str, sku: str) -> tuple[int, int]:
        cid = self.session.scalar(select(Customer.id).where(Customer.customer_ref == ref))
        pid = self.session.scalar(select(Product.id).where(Product.sku == sku))
        assert cid is not None and pid is not None, (ref, sku)
        return cid, pid

    def buy(
        self,
        ref: str,
        sku: str,
        on: str,
        quantity: int = 1,
        price: float = 100.0,
        *,
        coverage: tuple[str, str] | None = None,
        order_ref: str | None = None,
        line_no: int = 1,
    ) -> Purchase:
        cid, pid = self._ids(ref, sku)
        row = Purchase(
            order_ref=order_ref or f"O{next(_orders)}",
            line_no=line_no,
            customer_id=cid,
            product_id=pid,
            quantity=quantity,
            unit_price=price,
            purchased_on=d(on),
            coverage_start=d(coverage[0]) if coverage else None,
            coverage_end=d(coverage[1]) if coverage else None,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def install(
        self,
        ref: str,
        sku: str,
        on: str,
        removed: str | None = None,
        *,
        serial: str | None = None,
        site: str | None = None,
    ) -> Installation:
        cid, pid = self._ids(ref, sku)
        row = Installation(
            serial=serial or f"SN{next(_serials):06d}",
            customer_id=cid,
            product_id=pid,
            installed_on=d(on),
            removed_on=d(removed) if removed else None,
            site=site,
        )
        self.session.add(row)
        self.session.flush()
        return row
