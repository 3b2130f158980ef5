import warnings

from sqlalchemy import Engine, inspect, text

from queries.models import Base

# SQLAlchemy does not reflect indexes on expressions (lower(owner)): looked up by name instead.
EXPRESSION = "Skipped unsupported reflection of expression-based index"


def _index_names(engine: Engine) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    )
    with engine.connect() as conn:
        return set(conn.scalars(text(query)))


def test_migrations_build_every_table_and_column_of_the_models(engine: Engine) -> None:
    insp = inspect(engine)
    every = _index_names(engine)
    for table in Base.metadata.sorted_tables:
        cols = {c["name"] for c in insp.get_columns(table.name)}
        assert cols == {c.name for c in table.columns}, table.name
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", EXPRESSION)
            indexes = {i["name"] for i in insp.get_indexes(table.name)}
        assert {i.name for i in table.indexes if i.name} <= indexes | every, table.name
