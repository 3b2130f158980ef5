"""`basebot import <folder>` (SPEC §6): load the four CSV files, all or nothing.

Every file is parsed and checked row by row in Python and streamed into a temporary staging
table (COPY on PostgreSQL, executemany on SQLite). Checks that span rows or files (duplicate
keys, unknown references, coverage on the wrong kind of product) are SQL over the staging
tables. Only when nothing is wrong are the real tables upserted with one
`INSERT ... SELECT ... ON CONFLICT DO UPDATE` per file, inside a SAVEPOINT.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from psycopg import sql
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause
from sqlalchemy.types import TypeEngine

from queries.freshness import bump_data_version
from queries.models import Base, Customer, Installation, Money, Product, Purchase

KINDS = ("core", "accessory", "consumable", "service", "subscription")
COVERED_KINDS = ("service", "subscription")

_BATCH = 10_000
_INT_MAX = 2**31 - 1
_SQLITE_CACHE_KIB = 64 * 1024


@dataclass(frozen=True)
class Problem:
    """One reason the import was refused; `line` 1 is the header, 0 means the whole file."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join(part for part in (where, self.column, self.reason) if part)


class ImportFailed(Exception):
    """The folder was refused whole; `problems` lists every problem, by file then line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' * (count != 1)}; nothing was imported")

    def __str__(self) -> str:
        return "\n".join([str(self.args[0]), *map(str, self.problems)])


@dataclass(frozen=True)
class TableCounts:
    """What one file did to its table."""

    table: str
    file: str
    read: int
    inserted: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.read} read, {self.inserted} inserted, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class ImportReport:
    """Per-table counts in load order (only the files present) and CSV files left alone."""

    tables: tuple[TableCounts, ...]
    ignored: tuple[str, ...] = ()

    def __getitem__(self, table: str) -> TableCounts:
        for counts in self.tables:
            if counts.table == table:
                return counts
        raise KeyError(table)

    @property
    def changed(self) -> int:
        """Rows inserted or updated, all tables together."""
        return sum(c.inserted + c.updated for c in self.tables)

    def __str__(self) -> str:
        lines = [str(c) for c in self.tables]
        if self.ignored:
            lines.append("ignored (not an import file): " + ", ".join(self.ignored))
        return "\n".join(lines)


def import_folder(session: Session, folder: Path) -> ImportReport:
    """Upsert the CSV files of `folder` by natural key; raise ImportFailed if anything is wrong.

    The work runs in a SAVEPOINT, so a refused import leaves the database and the caller's
    own pending work as they were. The session is neither committed nor closed.
    """
    paths, ignored = _find_files(folder)
    with session.begin_nested():
        connection = session.connection()
        with _roomy_sqlite_cache(connection):
            tables = _Import(connection).run(paths)
        bump_data_version(session)
    # Core wrote behind the ORM's back: objects the caller already loaded may be stale.
    session.expire_all()
    return ImportReport(tables=tables, ignored=ignored)


@contextmanager
def _roomy_sqlite_cache(conn: Connection) -> Iterator[None]:
    """Raise SQLite's page cache for the import, then put the connection's setting back.

    With the default 2 MiB cache, keeping five indexes of 500,000 purchase lines up to
    date takes about twice as long.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
    previous_kib = -previous if previous < 0 else previous * page_size // 1024
    if previous_kib >= _SQLITE_CACHE_KIB:
        yield
        return
    conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {previous}")


# --- value parsers: take a trimmed, non-empty cell, return the staged value or raise ---


class _Invalid(ValueError):
    pass


Parser = Callable[[str], object]

_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _whole(raw: str) -> int:
    if not _WHOLE.fullmatch(raw):
        raise _Invalid("not a whole number")
    value = int(raw)
    if abs(value) > _INT_MAX:
        raise _Invalid("out of range")
    return value


def _quantity(raw: str) -> int:
    value = _whole(raw)
    if value == 0:
        raise _Invalid("must not be 0")
    return value


def _positive(raw: str) -> int:
    value = _whole(raw)
    if value <= 0:
        raise _Invalid("must be a positive whole number")
    return value


def _number(raw: str) -> str:
    if not _NUMBER.fullmatch(raw):
        raise _Invalid("not a number")
    whole, _, fraction = raw.lstrip("+-").partition(".")
    # The money columns are NUMERIC(18, 4): refuse what PostgreSQL would round or reject.
    if len(fraction.rstrip("0")) > 4:
        raise _Invalid("more than 4 decimal places")
    if len(whole.lstrip("0")) > 14:
        raise _Invalid("too large")
    return raw  # SQLite and PostgreSQL both read +5, .5 and 5. as numbers


def _price(raw: str) -> str:
    value = _number(raw)
    if value.startswith("-") and value.strip("-0."):
        raise _Invalid("must not be negative")
    return value


@lru_cache(maxsize=16_384)
def _date(raw: str) -> str:
    # fromisoformat alone also takes 20240131 and week dates; the contract is YYYY-MM-DD.
    if _DATE.fullmatch(raw):
        try:
            date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            return raw
    raise _Invalid("not a date (YYYY-MM-DD)")


def _boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise _Invalid("not a boolean (true/false, yes/no, 1/0)") from None


def _country(raw: str) -> str:
    if len(raw) == 2 and raw.isascii() and raw.isalpha():
        return raw.upper()
    raise _Invalid("not a 2-letter country code")


def _kind(raw: str) -> str:
    if raw in KINDS:
        return raw
    raise _Invalid("not one of " + ", ".join(KINDS))


# --- the four files ---


@dataclass(frozen=True)
class _Column:
    name: str
    type: TypeEngine[Any]
    required: bool = False
    parse: Parser | None = None  # None: free text, kept as trimmed


@dataclass(frozen=True)
class _Ref:
    """A CSV column naming a row of another table (customer_ref, sku)."""

    column: str
    table: Table
    key: str
    fk: str
    file: str
    noun: str


@dataclass(frozen=True)
class _DatePair:
    """`end` may not be before `start`; with `both`, one without the other is refused."""

    start: str
    end: str
    both: bool


@dataclass(frozen=True)
class _Spec:
    file: str
    target: Table
    columns: tuple[_Column, ...]
    key: tuple[str, ...]
    refs: tuple[_Ref, ...] = ()
    pairs: tuple[_DatePair, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def target_column(self, name: str) -> str:
        return next((r.fk for r in self.refs if r.column == name), name)


def _text(name: str, *, required: bool = False) -> _Column:
    return _Column(name, Text(), required)


def _date_column(name: str, *, required: bool = False) -> _Column:
    return _Column(name, Date(), required, _date)


_CUSTOMERS = Base.metadata.tables[Customer.__tablename__]
_PRODUCTS = Base.metadata.tables[Product.__tablename__]
_PURCHASES = Base.metadata.tables[Purchase.__tablename__]
_INSTALLATIONS = Base.metadata.tables[Installation.__tablename__]
_CUSTOMER_REF = _Ref(
    "customer_ref", _CUSTOMERS, "customer_ref", "customer_id", "customers.csv", "customer"
)
_SKU = _Ref("sku", _PRODUCTS, "sku", "product_id", "products.csv", "product")

# Load order: purchases and installations reference customers and products.
_SPECS = (
    _Spec(
        "customers.csv",
        _CUSTOMERS,
        (
            _text("customer_ref", required=True),
            _text("name", required=True),
            _text("segment"),
            _text("channel"),
            _text("industry"),
            _Column("country", Text(), parse=_country),
            _text("region"),
            _text("email"),
            _date_column("created_on"),
        ),
        key=("customer_ref",),
    ),
    _Spec(
        "products.csv",
        _PRODUCTS,
        (
            _text("sku", required=True),
            _text("name", required=True),
            _text("category", required=True),
            _Column("kind", Text(), True, _kind),
            _text("for_category"),
            _Column("installable", Boolean(), True, _boolean),
            _Column("list_price", Money, parse=_price),
        ),
        key=("sku",),
    ),
    _Spec(
        "purchases.csv",
        _PURCHASES,
        (
            _text("order_ref", required=True),
            _Column("line_no", Integer(), True, _positive),
            _text("customer_ref", required=True),
            _text("sku", required=True),
            _Column("quantity", Integer(), True, _quantity),
            _Column("unit_price", Money, True, _number),
            _date_column("purchased_on", required=True),
            _date_column("coverage_start"),
            _date_column("coverage_end"),
        ),
        key=("order_ref", "line_no"),
        refs=(_CUSTOMER_REF, _SKU),
        pairs=(_DatePair("coverage_start", "coverage_end", both=True),),
    ),
    _Spec(
        "installations.csv",
        _INSTALLATIONS,
        (
            _text("serial", required=True),
            _text("customer_ref", required=True),
            _text("sku", required=True),
            _text("order_ref"),
            _text("site"),
            _date_column("installed_on", required=True),
            _date_column("removed_on"),
        ),
        key=("serial",),
        refs=(_CUSTOMER_REF, _SKU),
        pairs=(_DatePair("installed_on", "removed_on", both=False),),
    ),
)
FILES = tuple(spec.file for spec in _SPECS)


def _find_files(folder: Path) -> tuple[dict[str, Path], tuple[str, ...]]:
    if not folder.is_dir():
        raise ImportFailed([Problem(str(folder), 0, "", "not a folder")])
    paths = {name: folder / name for name in FILES if (folder / name).is_file()}
    if not paths:
        raise ImportFailed([Problem(str(folder), 0, "", "none of " + ", ".join(FILES) + " found")])
    ignored = sorted(
        p.name for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.name not in paths
    )
    return paths, tuple(ignored)


# --- reading: physical line numbers, UTF-8 with optional BOM ---


def _decoded(handle: BinaryIO, file: str, problems: list[Problem]) -> Iterator[str]:
    # Decoding line by line keeps exact line numbers for bad bytes and goes on past them.
    for number, raw in enumerate(handle, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 (byte {raw[exc.start]:#04x} at position {exc.start + 1})"
            problems.append(Problem(file, number, "", reason))
            line = raw.decode("utf-8", errors="replace")
        if "\x00" in line:
            # PostgreSQL text cannot hold NUL, and csv only refuses it before Python 3.13.
            problems.append(Problem(file, number, "", "contains a NUL character"))
            line = line.replace("\x00", "")
        yield line


def _records(
    handle: BinaryIO, file: str, problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of every CSV record."""
    reader = csv.reader(_decoded(handle, file, problems))
    before = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(Problem(file, before + 1, "", f"unreadable CSV: {exc}"))
        else:
            yield before + 1, cells
        before = reader.line_num


def _header_problems(spec: _Spec, header: list[str]) -> tuple[dict[str, int], list[Problem]]:
    """Position of every known column, and what is wrong with the header line."""
    positions: dict[str, int] = {}
    problems: list[Problem] = []
    for index, cell in enumerate(header):
        name = cell.strip()
        if not name:
            problems.append(Problem(spec.file, 1, f"column {index + 1}", "blank column name"))
        elif name in positions:
            problems.append(Problem(spec.file, 1, name, "duplicate column"))
        elif name not in spec.names:
            hint = "; the file must be comma-separated" if ";" in name or "\t" in name else ""
            problems.append(Problem(spec.file, 1, name, "unknown column" + hint))
        else:
            positions[name] = index
    for column in spec.columns:
        if column.required and column.name not in positions:
            problems.append(Problem(spec.file, 1, column.name, "missing column"))
    for pair in spec.pairs:
        if pair.both and (pair.start in positions) != (pair.end in positions):
            lone, other = (
                (pair.start, pair.end) if pair.start in positions else (pair.end, pair.start)
            )
            problems.append(Problem(spec.file, 1, other, f"missing column (needed with {lone})"))
    return positions, problems


def _rows(
    spec: _Spec,
    records: Iterator[tuple[int, list[str]]],
    positions: dict[str, int],
    problems: list[Problem],
) -> Iterator[tuple[object, ...]]:
    """Staging rows (line, *present columns); bad cells are reported and staged as NULL."""
    file = spec.file
    present = [c for c in spec.columns if c.name in positions]
    plan = [(positions[c.name], c.name, c.required, c.parse) for c in present]
    width = len(positions)
    slots = {c.name: i + 1 for i, c in enumerate(present)}
    pairs = [
        (p, slots[p.start], slots[p.end], positions[p.start], positions[p.end])
        for p in spec.pairs
        if p.start in slots and p.end in slots
    ]
    for line, cells in records:
        if not "".join(cells).strip():
            continue  # a blank line, or an empty row from a spreadsheet (",,,,")
        if len(cells) != width:
            reason = f"{len(cells)} values, but the header has {width} columns"
            problems.append(Problem(file, line, "", reason))
            continue
        row: list[object] = [line]
        for index, name, required, parse in plan:
            raw = cells[index].strip()
            if not raw:
                if required:
                    problems.append(Problem(file, line, name, "required value missing"))
                row.append(None)
            elif parse is None:
                row.append(raw)
            else:
                try:
                    row.append(parse(raw))
                except _Invalid as exc:
                    problems.append(Problem(file, line, name, f"{exc}: {raw!r}"))
                    row.append(None)
        for pair, start_slot, end_slot, start_index, end_index in pairs:
            has_start, has_end = bool(cells[start_index].strip()), bool(cells[end_index].strip())
            if pair.both and has_start != has_end:
                given, blank = (pair.start, pair.end) if has_start else (pair.end, pair.start)
                problems.append(Problem(file, line, blank, f"required when {given} is given"))
                continue
            start, end = row[start_slot], row[end_slot]
            if isinstance(start, str) and isinstance(end, str) and end < start:
                reason = f"{end!r} is before {pair.start} {start!r}"
                problems.append(Problem(file, line, pair.end, reason))
        yield tuple(row)


# --- staging and checks ---


@dataclass(frozen=True)
class _Staged:
    spec: _Spec
    table: Table
    columns: tuple[str, ...]  # CSV columns present in the header, in spec order
    rows: int


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    while batch := list(islice(rows, _BATCH)):
        yield batch


class _Import:
    def __init__(self, conn: Connection) -> None:
        if conn.dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"import does not support {conn.dialect.name}")
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.problems: list[Problem] = []
        self.metadata = MetaData()

    def run(self, paths: dict[str, Path]) -> tuple[TableCounts, ...]:
        staged: dict[str, _Staged] = {}
        unreadable: set[str] = set()
        for spec in _SPECS:
            if spec.file in paths:
                result = self._stage(spec, paths[spec.file])
                if result is None:
                    unreadable.add(spec.file)
                else:
                    staged[spec.file] = result
        for stage in staged.values():
            self._check_duplicates(stage)
            for ref in stage.spec.refs:
                if ref.file not in unreadable and ref.column in stage.columns:
                    self._check_refs(stage, ref, staged.get(ref.file))
        purchases = staged.get("purchases.csv")
        if purchases and "products.csv" not in unreadable and "coverage_start" in purchases.columns:
            self._check_coverage(purchases, staged.get("products.csv"))
        if self.problems:
            raise ImportFailed(self.problems)
        counts = tuple(self._upsert(stage) for stage in staged.values())
        for stage in staged.values():
            stage.table.drop(self.conn)
        return counts

    def _stage(self, spec: _Spec, path: Path) -> _Staged | None:
        """Parse and stage one file; None when its header is unusable."""
        with path.open("rb") as handle:
            records = _records(handle, spec.file, self.problems)
            header = next(records, None)
            if header is None:
                self.problems.append(
                    Problem(spec.file, 1, "", "empty file, expected a header line")
                )
                return None
            positions, header_problems = _header_problems(spec, header[1])
            if header_problems:
                self.problems.extend(header_problems)
                return None
            columns = tuple(name for name in spec.names if name in positions)
            table = Table(
                f"import_stage_{spec.target.name}",
                self.metadata,
                Column("line", Integer, nullable=False),
                *(Column(c.name, c.type) for c in spec.columns),
                prefixes=["TEMPORARY"],
            )
            table.create(self.conn)
            rows = _rows(spec, records, positions, self.problems)
            count = self._copy(table, ("line", *columns), rows)
        Index(f"{table.name}_key", *(table.c[k] for k in spec.key)).create(self.conn)
        if self.postgres:
            # Temporary tables are never auto-analyzed; the checks' join plans need row counts.
            self.conn.execute(
                text(f"ANALYZE {self.conn.dialect.identifier_preparer.quote(table.name)}")
            )
        return _Staged(spec, table, columns, count)

    def _copy(
        self, table: Table, columns: tuple[str, ...], rows: Iterator[tuple[object, ...]]
    ) -> int:
        count = 0
        if self.postgres:
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            driver = self.conn.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor, cursor.copy(query) as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        statement = table.insert().compile(dialect=self.conn.dialect, column_keys=list(columns))
        assert tuple(statement.positiontup or ()) == columns
        for batch in _batches(rows):
            self.conn.exec_driver_sql(str(statement), batch)
            count += len(batch)
        return count

    def _check_duplicates(self, stage: _Staged) -> None:
        table, key = stage.table, [stage.table.c[k] for k in stage.spec.key]
        first = (
            select(*key, func.min(table.c.line).label("first"))
            .group_by(*key)
            .having(func.count() > 1)
            .subquery()
        )
        query = (
            select(table.c.line, first.c.first, *key)
            .join(first, and_(*(first.c[k.name] == k for k in key)))
            .where(table.c.line > first.c.first)
            .order_by(table.c.line)
        )
        column = "+".join(stage.spec.key)
        for line, first_line, *values in self.conn.execute(query):
            shown = ", ".join(map(repr, values))
            self.problems.append(
                Problem(stage.spec.file, line, column, f"duplicate of line {first_line}: {shown}")
            )

    def _check_refs(self, stage: _Staged, ref: _Ref, target_stage: _Staged | None) -> None:
        """Refs neither in the database nor in this import's customers.csv / products.csv."""
        column = stage.table.c[ref.column]
        conditions = [column.is_not(None), ~exists().where(ref.table.c[ref.key] == column)]
        if target_stage is not None:
            conditions.append(~exists().where(target_stage.table.c[ref.key] == column))
        query = select(stage.table.c.line, column).where(*conditions).order_by(stage.table.c.line)
        for line, value in self.conn.execute(query):
            self.problems.append(
                Problem(stage.spec.file, line, ref.column, f"unknown {ref.noun}: {value!r}")
            )

    def _check_coverage(self, stage: _Staged, products: _Staged | None) -> None:
        """Coverage dates only on service and subscription lines (kind as after this import)."""
        lines = stage.table
        kind: ColumnElement[Any] = (
            select(_PRODUCTS.c.kind).where(_PRODUCTS.c.sku == lines.c.sku).scalar_subquery()
        )
        if products is not None:
            staged = products.table
            new_kind = select(func.max(staged.c.kind)).where(staged.c.sku == lines.c.sku)
            kind = func.coalesce(new_kind.scalar_subquery(), kind)
        query = (
            select(lines.c.line, lines.c.sku, lines.c.coverage_start, kind.label("kind"))
            .where(or_(lines.c.coverage_start.is_not(None), lines.c.coverage_end.is_not(None)))
            .where(kind.not_in(COVERED_KINDS))
            .order_by(lines.c.line)
        )
        for line, sku, start, product_kind in self.conn.execute(query):
            column = "coverage_start" if start is not None else "coverage_end"
            reason = (
                f"{sku!r} is a {product_kind} product;"
                " only service and subscription lines have coverage"
            )
            self.problems.append(Problem(stage.spec.file, line, column, reason))

    def _upsert(self, stage: _Staged) -> TableCounts:
        spec, table, target = stage.spec, stage.table, stage.spec.target
        source: FromClause = table
        selected: list[ColumnElement[Any]] = []
        for name in stage.columns:
            ref = next((r for r in spec.refs if r.column == name), None)
            if ref is None:
                selected.append(table.c[name])
            else:
                source = source.join(ref.table, ref.table.c[ref.key] == table.c[name])
                selected.append(ref.table.c.id)
        targets = [spec.target_column(name) for name in stage.columns]
        matched = and_(*(target.c[k] == table.c[k] for k in spec.key))
        existing = self.conn.scalar(select(func.count()).select_from(table.join(target, matched)))

        insert = (postgresql.insert if self.postgres else sqlite.insert)(target)
        # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT (parse ambiguity).
        insert = insert.from_select(targets, select(*selected).select_from(source).where(true()))
        updated = [name for name in targets if name not in spec.key]
        upsert = insert.on_conflict_do_update(
            index_elements=[target.c[k] for k in spec.key],
            set_={name: insert.excluded[name] for name in updated},
            where=or_(*(target.c[n].is_distinct_from(insert.excluded[n]) for n in updated)),
        )
        # Rows the WHERE skips are not counted, on both SQLite and PostgreSQL.
        written = self.conn.execute(upsert.execution_options(preserve_rowcount=True)).rowcount
        inserted = stage.rows - (existing or 0)
        changed = written - inserted
        return TableCounts(
            table=target.name,
            file=spec.file,
            read=stage.rows,
            inserted=inserted,
            updated=changed,
            unchanged=stage.rows - inserted - changed,
        )
