"""data version for the read replica

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:05:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_TABLES = ("customers", "products", "purchases", "installations")


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.execute(
        sa.text("INSERT INTO data_version (id, version) VALUES (1, :v)").bindparams(
            v=uuid.uuid4().hex
        )
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # Statement-level: one cheap UPDATE per statement, whoever writes (psql, an ETL job).
    op.execute(
        "CREATE OR REPLACE FUNCTION basebot_bump_data_version() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN UPDATE data_version"
        " SET version = md5(random()::text || clock_timestamp()::text) WHERE id = 1;"
        " RETURN NULL; END $$"
    )
    for table in DATA_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION basebot_bump_data_version()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in DATA_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS basebot_bump_data_version()")
    op.drop_table("data_version")
