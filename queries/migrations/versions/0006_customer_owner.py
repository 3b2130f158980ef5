"""the account owner of a customer

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An email or a Slack user id (SPEC §9); empty: nobody owns the account.
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("owner", sa.Text(), nullable=True))
        batch.create_index("ix_customers_owner", ["owner"], unique=False)
    # `mine` and `in owner:…` compare case-insensitively.
    op.create_index("ix_customers_owner_lower", "customers", [sa.text("lower(owner)")])


def downgrade() -> None:
    op.drop_index("ix_customers_owner_lower", table_name="customers")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_owner")
        batch.drop_column("owner")
