"""change capture: every committed change to the data tables, as the customers and products it
touched, for the read replica to apply in place

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from queries.capture import postgresql_capture, sqlite_capture, sqlite_capture_drop

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_TABLES = ("customers", "products", "purchases", "installations")


def upgrade() -> None:
    op.add_column(
        "data_version", sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_table(
        "data_changes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_data_changes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in DATA_TABLES:  # 0003's triggers renewed the version on every statement
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS basebot_bump_data_version()")
        for statement in postgresql_capture():
            op.execute(statement)
    else:
        for statement in sqlite_capture():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in postgresql_capture(drop=True):
            op.execute(statement)
    else:
        for statement in sqlite_capture_drop():
            op.execute(statement)
    op.drop_table("data_changes")
    op.drop_column("data_version", "seq")
