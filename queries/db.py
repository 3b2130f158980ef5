"""Engines and sessions. Callers own session lifetimes; queries only receive a session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Opens a session to answer from (the primary's sessionmaker, or ReadPath.session).
Reader = Callable[[], AbstractContextManager[Session]]


def normalize_url(url: str) -> str:
    """Accept the `postgres://` / `postgresql://` forms hosting platforms hand out.

    Both are mapped to the bundled psycopg 3 driver.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str,
    *,
    statement_timeout_ms: int | None = None,
    connect_timeout_s: int | None = None,
    **kwargs: Any,
) -> Engine:
    """The timeouts apply to PostgreSQL: a slow or unreachable server fails a request in
    bounded time instead of holding a listener thread."""
    url = normalize_url(url)
    # Error messages (and so the log) must not carry bound values: emails, names, refs.
    kwargs.setdefault("hide_parameters", True)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    if statement_timeout_ms:
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c statement_timeout={statement_timeout_ms}".strip()
    if connect_timeout_s:
        connect_args.setdefault("connect_timeout", connect_timeout_s)
    if connect_args:
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def unreachable(exc: BaseException | None) -> bool:
    """Whether an error (or what caused it) means the database could not be reached at all,
    rather than that a statement failed."""
    while exc is not None:
        if isinstance(exc, DBAPIError) and (
            exc.connection_invalidated
            # psycopg: a server error carries its SQLSTATE; a failed connection has none
            or (isinstance(exc, OperationalError) and getattr(exc.orig, "sqlstate", "") is None)
        ):
            return True
        exc = exc.__cause__
    return False
