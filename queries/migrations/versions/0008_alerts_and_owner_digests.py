"""alerts and owners' digests: a subscription's kind and rule, and each owner's daily DM

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Subscriptions made before alerts are digests; only alerts have a rule.
    with op.batch_alter_table("digest_subscriptions") as batch:
        batch.add_column(sa.Column("kind", sa.Text(), nullable=False, server_default="digest"))
        batch.add_column(sa.Column("rule", sa.Text(), nullable=False, server_default=""))
        batch.drop_constraint("uq_digest_subscriptions_channel_id_scope", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_digest_subscriptions_kind_channel_id_rule_scope"),
            ["kind", "channel_id", "rule", "scope"],
        )
    op.create_table(
        "owner_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["digest_subscriptions.id"],
            name=op.f("fk_owner_deliveries_subscription_id_digest_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_deliveries")),
        # One DM per owner a day: the unique key decides which scheduler process sends it.
        sa.UniqueConstraint(
            "subscription_id",
            "day",
            "owner",
            name=op.f("uq_owner_deliveries_subscription_id_day_owner"),
        ),
    )


def downgrade() -> None:
    op.drop_table("owner_deliveries")
    with op.batch_alter_table("digest_subscriptions") as batch:
        batch.drop_constraint("uq_digest_subscriptions_kind_channel_id_rule_scope", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_digest_subscriptions_channel_id_scope"), ["channel_id", "scope"]
        )
        batch.drop_column("rule")
        batch.drop_column("kind")
