"""The schema of SPEC §2 as SQLAlchemy 2 typed models.

Table and column names are part of the contract; extra indexes serve the predefined queries.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(18, 4, asdecimal=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_ref: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    segment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    created_on: Mapped[date | None] = mapped_column(Date)
    # The account owner (SPEC §9): an email or a Slack user id.
    owner: Mapped[str | None] = mapped_column(Text, index=True)


# `mine` and `in owner:…` compare owners case-insensitively.
Index("ix_customers_owner_lower", func.lower(Customer.owner))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(Text)
    for_category: Mapped[str | None] = mapped_column(Text)
    installable: Mapped[bool] = mapped_column(Boolean, default=False)
    list_price: Mapped[float | None] = mapped_column(Money)


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("order_ref", "line_no"),
        # Covering indexes: per-product windows and per-customer histories.
        Index(
            "ix_purchases_product_date",
            "product_id",
            "purchased_on",
            "customer_id",
            "quantity",
            "unit_price",
        ),
        Index("ix_purchases_customer_date", "customer_id", "purchased_on"),
        Index("ix_purchases_date", "purchased_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_ref: Mapped[str] = mapped_column(Text)
    line_no: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[float] = mapped_column(Money)
    purchased_on: Mapped[date] = mapped_column(Date)
    coverage_start: Mapped[date | None] = mapped_column(Date)
    coverage_end: Mapped[date | None] = mapped_column(Date)


class Installation(Base):
    __tablename__ = "installations"
    __table_args__ = (
        Index(
            "ix_installations_product_dates",
            "product_id",
            "installed_on",
            "removed_on",
            "customer_id",
        ),
        Index("ix_installations_customer", "customer_id", "installed_on"),
        Index("ix_installations_removed", "removed_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(Text, unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    order_ref: Mapped[str | None] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(Text)
    installed_on: Mapped[date] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)


class Claim(Base):
    """A rep's hold on an upsell candidate (SPEC §9): claimed, contacted or dismissed, until."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("customer_id", "category", "rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(Text)
    acted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DigestSubscription(Base):
    """Something posted once a day at a local time, optionally for a slice: a channel's
    digest, an alert on one upsell rule's new candidates (a channel or a user's DM), or
    every owner's own digest in their DM (SPEC §5, §10)."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (UniqueConstraint("kind", "channel_id", "rule", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, default="digest")  # digest, alert, owners
    rule: Mapped[str] = mapped_column(Text, default="")  # an alert's upsell rule
    team_id: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str] = mapped_column(Text)
    channel_name: Mapped[str | None] = mapped_column(Text)
    local_time: Mapped[str] = mapped_column(String(5), default="08:00")  # HH:MM
    tz: Mapped[str] = mapped_column(Text, default="UTC")
    scope: Mapped[str] = mapped_column(Text, default="")  # e.g. "printers in EMEA"
    lang: Mapped[str | None] = mapped_column(String(8))  # None: BASEBOT_LANGUAGE
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DigestDelivery(Base):
    """One subscription's digest for one local day; the unique key makes posting once-only."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("digest_subscriptions.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text)  # claimed, posted, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_ts: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class OwnerDelivery(Base):
    """One owner's DM of an owners' digest for one local day (SPEC §10): the unique key makes
    it once-only across scheduler processes and restarts."""

    __tablename__ = "owner_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "day", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("digest_subscriptions.id", ondelete="CASCADE")
    )
    day: Mapped[date] = mapped_column(Date)
    # Their Slack user id; for an owner with no Slack account, the owner as written.
    owner: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # claimed, posted, failed, unreachable
    claimed_by: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_ts: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Every request — answered, refused or failed (SPEC §8). Never row data or secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_user", "user_id", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="slack")  # slack, cli, scheduler
    verb: Mapped[str | None] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text, default="")  # normalised command text
    rows: Mapped[int | None] = mapped_column(Integer)
    ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(Text)  # answered, refused, bad_input, failed
    rule: Mapped[str | None] = mapped_column(Text)  # the access rule that refused
    incident_id: Mapped[str | None] = mapped_column(Text)


class DataVersion(Base):
    """Which state of the four data tables the database holds (queries/capture.py).

    `version` is a random token naming a lineage of states: renewed only when a change is too
    large to describe in `data_changes` (a bulk load, TRUNCATE), so a database dropped and
    built again never repeats an earlier one. `seq` numbers the changes logged since.
    """

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")


class DataChange(Base):
    """One customer (or product) that the committed change number `seq` touched, and when:
    `at` tells a change from another of the same number after a backup was restored."""

    __tablename__ = "data_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
