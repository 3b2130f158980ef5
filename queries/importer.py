"""`basebot import <folder>` (SPEC §6): load the four CSV files, all or nothing.

Every file is checked and streamed into a temporary staging table. On PostgreSQL, chunks of
lines that need no cleaning up (the usual case) go to COPY as they are, once a regular
expression has vouched that PostgreSQL reads them exactly as the row-by-row path would; every
other chunk is parsed and checked row by row in Python (COPY on PostgreSQL, executemany on
SQLite), which also words the problems. Checks that span rows or files (duplicate keys,
unknown references, coverage on the wrong kind of product, and the date pairs of the lines
COPY read) are SQL over the staging tables. Only when nothing is wrong are the real tables
written, inside a SAVEPOINT: one `INSERT ... SELECT ... ON CONFLICT DO UPDATE` per file, or
for a table that is empty, a plain INSERT with its indexes (and on PostgreSQL its foreign
keys) dropped meanwhile and rebuilt after.

On PostgreSQL, when every table the folder fills is empty, the files first go straight into
the real tables instead (`_Import._load_direct`): the same chunks, with ids in place of refs,
checked over the real tables. At the first problem that load is rolled back and the staging
path above runs, to word every problem.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from psycopg import sql
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause, Select
from sqlalchemy.types import TypeEngine

from queries.capture import bulk_load
from queries.models import Base, Customer, Installation, Money, Product, Purchase
from queries.progress import SILENT, Progress, Step
from queries.request import SLACK_USER_ID

KINDS = ("core", "accessory", "consumable", "service", "subscription")
COVERED_KINDS = ("service", "subscription")

_BATCH = 10_000
_CHUNK = 1 << 18  # bytes per fast-path chunk, read on to the end of its last line
_INT_MAX = 2**31 - 1
_SQLITE_CACHE_KIB = 64 * 1024
_POSTGRES_MEMORY = {"work_mem": "256MB", "maintenance_work_mem": "512MB"}
# The direct load keeps every key of a referenced table in memory, about 140 MB a million.
_DIRECT_MAX_REFS = 2_000_000


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


# Files larger than this in all are loaded as a bulk change: the read replicas are rebuilt
# instead of applying millions of logged changes one customer at a time (queries/capture.py).
BULK_BYTES = 4_000_000


def import_folder(session: Session, folder: Path, *, progress: Progress = SILENT) -> ImportReport:
    """Upsert the CSV files of `folder` by natural key; raise ImportFailed if anything is wrong.

    The work runs in a SAVEPOINT, so a refused import leaves the database and the caller's
    own pending work as they were. The session is neither committed nor closed.
    """
    paths, ignored = _find_files(folder)
    bulk = sum(path.stat().st_size for path in paths.values()) > BULK_BYTES
    with session.begin_nested():
        connection = session.connection()
        with (
            bulk_load(session) if bulk else nullcontext(),
            _roomy_sqlite_cache(connection),
            _roomy_postgres_memory(connection),
        ):
            tables = _Import(connection, progress).run(paths)
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


@contextmanager
def _roomy_postgres_memory(conn: Connection) -> Iterator[None]:
    """Raise PostgreSQL's sort and hash memory for the import's transaction, then lower it.

    Settings made inside the import's savepoint go with it when the import fails, so only a
    finished import puts them back. The defaults (4 MB, 64 MB) make the joins of a large
    import spill to disk and its index builds merge many runs.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    previous = {}
    for name, size in _POSTGRES_MEMORY.items():
        current = conn.scalar(text("SELECT current_setting(:n)"), {"n": name})
        raised = conn.scalar(
            text("SELECT pg_size_bytes(current_setting(:n)) < pg_size_bytes(:size)"),
            {"n": name, "size": size},
        )
        if raised:
            previous[name] = current
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": size})
    yield
    for name, value in previous.items():
        conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


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


# An account owner (SPEC §9): an email address (RFC 5322's dot-atom form, a domain of
# letter-digit-hyphen labels with a letter-led top level) or a Slack user id. Neither form
# can hold a comma, a quote or whitespace, so the fast path may use the same pattern.
_EMAIL = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
)
_OWNER = re.compile(f"{_EMAIL}|{SLACK_USER_ID.pattern}")


def is_owner(value: str) -> bool:
    """Whether `value` names an account owner: an email address or a Slack user id."""
    return _OWNER.fullmatch(value) is not None


def _owner(raw: str) -> str:
    if is_owner(raw):
        return raw
    raise _Invalid("not an email address or a Slack user id (e.g. ann@acme.example or U0123ABCD)")


# --- the fast path: lines that need no cleaning up go to PostgreSQL's COPY as they are ---
#
# Each pattern accepts only cells that the parser above would accept and stage unchanged, so
# PostgreSQL reading the raw CSV stages exactly what the row-by-row path would. Anything else
# (stray spaces, lower-case country codes, blank lines, values spanning lines, bad values)
# fails the pattern and is left to the row-by-row path, which also words the problems.

# Neither end may be whitespace (str.strip and the regex \s agree on what that is), nor may
# a quoted value be empty: "" is NULL for the row-by-row path but '' for COPY.
_FAST_TEXT = (
    r'(?:[^\s,"\x00](?:[^,"\r\n\x00]*[^\s,"\x00])?'
    r'|"(?:[^\s"\x00]|"")(?:(?:[^"\r\n\x00]|"")*(?:[^\s"\x00]|""))?")'
)
_FAST_LEAP_DAY = (
    r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29"
)
_FAST_DATE = (
    r"(?:(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_FAST_LEAP_DAY})"
)
_FAST_UNSIGNED = r"(?:0*[0-9]{1,14}(?:\.[0-9]{0,4}0*)?|\.[0-9]{1,4}0*)"
_FAST_PATTERNS: dict[Parser | None, str] = {
    None: _FAST_TEXT,
    _positive: r"\+?0*[1-9][0-9]{0,8}",
    _quantity: r"[+-]?0*[1-9][0-9]{0,8}",
    _number: rf"[+-]?{_FAST_UNSIGNED}",
    _price: rf"\+?{_FAST_UNSIGNED}",
    _date: _FAST_DATE,
    # Spelled out: under IGNORECASE the Kelvin sign would match k and the long s would match s.
    _boolean: r"[Tt][Rr][Uu][Ee]|[Yy][Ee][Ss]|1|[Ff][Aa][Ll][Ss][Ee]|[Nn][Oo]|0",
    _country: r"[A-Z]{2}",
    _kind: "|".join(KINDS),
    _owner: _OWNER.pattern,
}


# SQLite takes the fast lines' cells as text, which its column affinities turn into what the
# parsers return (+007 into 7; +5, .5 and 5. as the row-by-row path's own text) but for these.
def _as_text(cell: ColumnElement[Any]) -> ColumnElement[Any]:
    return cell


def _as_boolean(cell: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.lower(cell).in_([literal_column(f"'{word}'") for word in ("true", "yes", "1")])


_SQLITE_FAST_VALUES: dict[Parser | None, Callable[[ColumnElement[Any]], ColumnElement[Any]]] = {
    _boolean: _as_boolean,
}


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
            _Column("owner", Text(), parse=_owner),
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


def _decoded(
    lines: Iterable[bytes], file: str, problems: list[Problem], first: int
) -> Iterator[str]:
    # Decoding line by line keeps exact line numbers for bad bytes and goes on past them.
    for number, raw in enumerate(lines, first):
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
    lines: Iterable[bytes],
    file: str,
    problems: list[Problem],
    first: int = 1,
    starting: Callable[[], None] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of every CSV record; `lines` starts at line `first`.

    `starting` is called before each record is read.
    """
    reader = csv.reader(_decoded(lines, file, problems, first))
    offset = before = first - 1
    while True:
        if starting is not None:
            starting()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(Problem(file, before + 1, "", f"unreadable CSV: {exc}"))
        else:
            yield before + 1, cells
        before = offset + reader.line_num


class _Segment:
    """The lines of a chunk for the row-by-row path, then as many more lines of the file as
    a record begun in the chunk needs: it ends where a record does, for the fast path to go on.
    """

    def __init__(self, chunk: bytes, handle: BinaryIO) -> None:
        self.lines = iter(io.BytesIO(chunk))
        self.handle = handle
        self.at_record_start = False
        self.count = 0

    def starting(self) -> None:
        self.at_record_start = True

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = next(self.lines, None)
        if line is None:
            if self.at_record_start:
                raise StopIteration
            line = self.handle.readline()
            if not line:
                raise StopIteration
        self.at_record_start = False
        self.count += 1
        return line


class _FastChunks:
    """Chunks of whole lines of `handle` for as long as they match `pattern`, each as bytes
    and as text, both ending with a line ending; then `rest` is the chunk that did not match
    (None at the end of the file).
    """

    def __init__(self, handle: BinaryIO, pattern: re.Pattern[str], ending: str) -> None:
        self.handle = handle
        self.pattern = pattern
        self.ending = ending
        self.rest: bytes | None = None

    def __iter__(self) -> Iterator[tuple[bytes, str]]:
        while chunk := self.handle.read(_CHUNK):
            chunk += self.handle.readline()
            try:
                decoded = chunk.decode("utf-8")
            except UnicodeDecodeError:
                self.rest = chunk
                return
            raw = chunk
            if not decoded.endswith("\n"):  # the last line of the file
                decoded += self.ending
                raw += self.ending.encode()
            if self.pattern.fullmatch(decoded) is None:
                self.rest = chunk
                return
            yield raw, decoded


def _simple_header(first: bytes) -> tuple[list[str], str] | None:
    """Cells and line ending of a first line the fast path can read, or None."""
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ending = "\r\n" if line.endswith("\r\n") else "\n"
    body = line.removesuffix(ending)
    if not body or any(c in body for c in '"\r\n\x00'):
        return None
    return next(csv.reader([body])), ending


def _in_file_order(positions: dict[str, int]) -> list[str]:
    return sorted(positions, key=positions.__getitem__)


def _fast_lines(spec: _Spec, positions: dict[str, int], ending: str) -> re.Pattern[str] | None:
    """A pattern matching a run of whole lines the fast path may take, or None."""
    cells: list[str] = []
    for column in sorted(
        (c for c in spec.columns if c.name in positions), key=lambda c: positions[c.name]
    ):
        pattern = _FAST_PATTERNS.get(column.parse)
        if pattern is None:
            return None
        cells.append(f"(?:{pattern})" if column.required else f"(?:{pattern})?")
    return re.compile("(?:" + ",".join(cells) + re.escape(ending) + ")*+")


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
    # Lines [start, stop) that went row by row; None: every line did.
    slow: tuple[tuple[int, int], ...] | None = None

    def fast(self, line: int) -> bool:
        """Whether the line went to COPY as it was."""
        if self.slow is None:
            return False
        index = bisect_right(self.slow, (line, _INT_MAX)) - 1
        return index < 0 or line >= self.slow[index][1]


class _LostRows(Exception):
    """Rows that a check left to the write were missing from it: nothing may be written."""


class _Retry(Exception):
    """The direct load met what it leaves to the staged path, which words any problem."""


_Ids = dict[str, str]  # a referenced table's id, as text, by its key


def _resolver(
    positions: dict[str, int], ids: dict[str, _Ids], ending: str, numbers: Iterator[int]
) -> Callable[[str], str]:
    """What rewrites a fast chunk's lines as (id, *cells) with ids for refs; _Retry at an
    unknown ref."""
    at = [(positions[column], by_key) for column, by_key in ids.items()]
    cut = max((position + 1 for position, _ in at), default=0)

    def resolve(decoded: str) -> str:
        lines = decoded.split(ending)
        lines.pop()  # what follows the last line ending: nothing
        try:
            if at and '"' in decoded:
                return _resolved_csv(lines, at, ending, numbers)
            out = []
            for line in lines:
                cells = line.split(",", cut)  # the cells after the last ref stay one
                for position, by_key in at:
                    cells[position] = by_key[cells[position]]
                out.append(f"{next(numbers)},{','.join(cells)}")
        except KeyError:
            raise _Retry from None
        out.append("")
        return ending.join(out)

    return resolve


def _resolved_csv(
    lines: list[str], at: list[tuple[int, _Ids]], ending: str, numbers: Iterator[int]
) -> str:
    rows = list(csv.reader(lines))
    for cells in rows:
        for position, by_key in at:
            cells[position] = by_key[cells[position]]
        cells.insert(0, str(next(numbers)))
    out = io.StringIO()
    # Quoted as needed, never an empty cell: COPY reads back the same values and NULLs.
    csv.writer(out, lineterminator=ending).writerows(rows)
    return out.getvalue()


def _resolved_rows(
    rows: list[tuple[object, ...]],
    columns: tuple[str, ...],
    ids: dict[str, _Ids],
    numbers: Iterator[int],
) -> Iterator[tuple[object, ...]]:
    """Staging rows (line, *columns) as (id, *columns) with ids for refs; _Retry at an
    unknown ref."""
    at = [(columns.index(column) + 1, by_key) for column, by_key in ids.items()]
    for row in rows:
        cells = list(row)
        try:
            for position, by_key in at:
                cells[position] = by_key[str(cells[position])]
        except KeyError:
            raise _Retry from None
        cells[0] = next(numbers)
        yield tuple(cells)


def _pair_broken(
    start: ColumnElement[Any], end: ColumnElement[Any], pair: _DatePair
) -> ColumnElement[bool]:
    lonely = (start.is_(None) != end.is_(None)) if pair.both else false()
    return or_(lonely, end < start)


def _has_coverage(table: FromClause) -> ColumnElement[bool]:
    return or_(table.c.coverage_start.is_not(None), table.c.coverage_end.is_not(None))


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    while batch := list(islice(rows, _BATCH)):
        yield batch


def _counter(path: Path) -> Callable[[], int]:
    """What counts the lines after the header: a bar's total (a record may span lines)."""

    def count() -> int:
        with path.open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return max(lines - 1, 0)

    return count


class _Import:
    def __init__(self, conn: Connection, progress: Progress = SILENT) -> None:
        if conn.dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"import does not support {conn.dialect.name}")
        self.conn = conn
        self.progress = progress
        self.postgres = conn.dialect.name == "postgresql"
        self.problems: list[Problem] = []
        self.metadata = MetaData()
        self.unique_keys: set[str] = set()  # files whose staged keys are known to be unique
        self.ids: dict[str, _Ids] = {}  # the direct load's referenced tables, by name
        # COPY is handed the file's own bytes, so the connection must speak UTF-8.
        self.fast_path = not self.postgres or self._driver().info.encoding == "utf-8"

    def _driver(self) -> psycopg.Connection[Any]:
        driver = self.conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        return driver

    def run(self, paths: dict[str, Path]) -> tuple[TableCounts, ...]:
        loaded = self._load_direct(paths)
        if loaded is not None:
            return loaded
        staged: dict[str, _Staged] = {}
        unreadable: set[str] = set()
        for spec in _SPECS:
            if spec.file in paths:
                result = self._stage(spec, paths[spec.file])
                if result is None:
                    unreadable.add(spec.file)
                else:
                    staged[spec.file] = result
        empty: set[Table] = set()
        if not self.problems:
            empty = self._claim_empty_targets([s.spec.target for s in staged.values() if s.rows])
        # Filling an empty table, the INSERT's join drops the rows with unknown refs: counting
        # them checks the refs, and only if some are missing are they looked for.
        unchecked = {s.spec.file for s in staged.values() if s.spec.target in empty}
        row_problems = list(self.problems)
        self._check(staged, unreadable, unchecked)
        counts = None if self.problems else self._write(staged, empty)
        if counts is None:
            if unchecked:
                # Again with every check, in the usual order, to word every problem.
                self.problems = row_problems
                self._check(staged, unreadable, set())
            if not self.problems:
                raise RuntimeError("rows went missing during the import; nothing was imported")
            raise ImportFailed(self.problems)
        for stage in staged.values():
            stage.table.drop(self.conn)
        return counts

    def _write(
        self, staged: dict[str, _Staged], empty: set[Table]
    ) -> tuple[TableCounts, ...] | None:
        """Write every file; None, with nothing written, when rows went missing."""
        try:
            with self.conn.begin_nested():
                return tuple(
                    self._bulk_insert(stage) if stage.spec.target in empty else self._upsert(stage)
                    for stage in staged.values()
                )
        except _LostRows:
            return None

    # --- the direct load: empty tables filled straight from the files ---

    def _load_direct(self, paths: dict[str, Path]) -> tuple[TableCounts, ...] | None:
        """Fill tables that are all empty straight from their files; None if it gave up.

        The staged path writes every row twice: into its staging table, then into the real
        one. Here the lines go to COPY once, with refs already replaced by ids, while the
        tables' indexes and foreign keys are dropped. What the staged path checks over its
        staging tables is checked over the real ones: duplicate keys by the unique indexes
        as they are rebuilt, date pairs and coverage by a query each, refs by the lookup
        itself. At the first problem the savepoint is rolled back and the staged path runs,
        wording every problem: a refused import costs more, a good one half the writing.
        """
        specs = [spec for spec in _SPECS if spec.file in paths]
        if not (self.postgres and self.fast_path) or not all(map(self._unique_key, specs)):
            return None
        targets = [spec.target for spec in specs]
        try:
            with self.conn.begin_nested():
                if self._claim_empty_targets(targets) != set(targets):
                    raise _Retry
                filled = [self._fill(spec, paths[spec.file]) for spec in specs]
                for counts, sequence, first in filled:
                    if counts.inserted:  # sequences are not rolled back: only now
                        self.conn.execute(
                            text("SELECT setval(:s, :n)"),
                            {"s": sequence, "n": first + counts.inserted - 1},
                        )
                return tuple(counts for counts, _, _ in filled)
        except (_Retry, IntegrityError, psycopg.IntegrityError):
            self.problems.clear()
            return None
        finally:
            self.ids.clear()

    def _unique_key(self, spec: _Spec) -> bool:
        """Whether a unique index of the target is on the file's key: it finds duplicates."""
        table = self.conn.dialect.identifier_preparer.quote(spec.target.name)
        keys = self.conn.execute(_UNIQUE_KEYS, {"table": table}).scalars()
        return any(set(key) == set(spec.key) for key in keys)

    def _fill(self, spec: _Spec, path: Path) -> tuple[TableCounts, str, int]:
        """Fill one empty table from its file, or raise _Retry; what it did, and the sequence
        of its ids with the first id it gave."""
        with path.open("rb") as handle:
            simple = _simple_header(handle.readline())
            if simple is None:
                raise _Retry
            cells, ending = simple
            positions, problems = _header_problems(spec, cells)
            pattern = None if problems else _fast_lines(spec, positions, ending)
            if pattern is None:
                raise _Retry
            with self.progress.phase(f"import: {spec.file}", total=_counter(path)) as step:
                ids = {ref.column: self._ids(ref) for ref in spec.refs}
                rebuild = self._drop_secondary(spec.target)
                sequence, first = self._next_id(spec.target)
                numbers = itertools.count(first)
                rows = self._fill_mixed(
                    spec, positions, pattern, ending, handle, ids, numbers, step
                )
        with self.progress.phase(f"import: {spec.file} checks and indexes", unit=None):
            if self._any_broken(spec):
                raise _Retry
            self._rebuild(spec.target, rebuild)
        return TableCounts(spec.target.name, spec.file, rows, rows, 0, 0), sequence, first

    def _next_id(self, target: Table) -> tuple[str, int]:
        """The sequence of the table's ids, and its next value; _Retry if there is none.

        The id column's default costs COPY a third of its time (a nextval per row): the
        direct load numbers the rows itself from there and, once everything is loaded, sets
        the sequence past them, as a restore of pg_dump's does. Only inserts into the table
        draw on its sequence, and the table is locked meanwhile.
        """
        table = self.conn.dialect.identifier_preparer.quote(target.name)
        sequence = self.conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
        if sequence is None:
            raise _Retry
        return sequence, int(self.conn.scalar(text("SELECT nextval(:s)"), {"s": sequence}))

    def _ids(self, ref: _Ref) -> _Ids:
        """The referenced table's ids by key, read once; _Retry if it has too many rows."""
        name = ref.table.name
        if name not in self.ids:
            query = sql.SQL("SELECT {}, CAST(id AS text) FROM {} LIMIT {}").format(
                sql.Identifier(ref.key), sql.Identifier(name), _DIRECT_MAX_REFS + 1
            )
            with self._driver().cursor() as cursor:
                ids = {key: id_ for key, id_ in cursor.execute(query)}
            if len(ids) > _DIRECT_MAX_REFS:
                raise _Retry
            self.ids[name] = ids
        return self.ids[name]

    def _fill_mixed(
        self,
        spec: _Spec,
        positions: dict[str, int],
        pattern: re.Pattern[str],
        ending: str,
        handle: BinaryIO,
        ids: dict[str, _Ids],
        numbers: Iterator[int],
        step: Step,
    ) -> int:
        """COPY runs of fast lines as they are but for ids, any other chunk once parsed and
        found faultless; the rows copied."""
        fast_columns = ["id", *map(spec.target_column, _in_file_order(positions))]
        columns = tuple(name for name in spec.names if name in positions)
        resolve = _resolver(positions, ids, ending, numbers)
        line = 2  # the next line
        count = 0
        while True:
            chunks = _FastChunks(handle, pattern, ending)
            copied = self._copy_fast(spec.target, fast_columns, chunks, step, resolve)
            count += copied
            line += copied
            if chunks.rest is None:
                return count
            segment = _Segment(chunks.rest, handle)
            records = _records(segment, spec.file, self.problems, line, segment.starting)
            rows = list(_rows(spec, records, positions, self.problems))
            if self.problems:
                raise _Retry
            targets = ("id", *map(spec.target_column, columns))
            resolved = _resolved_rows(rows, columns, ids, numbers)
            count += self._copy(spec.target, targets, resolved, step)
            line += segment.count

    def _any_broken(self, spec: _Spec) -> bool:
        """Whether a row breaks a date pair, or has coverage on a kind of product without."""
        table = spec.target
        broken = [_pair_broken(table.c[p.start], table.c[p.end], p) for p in spec.pairs]
        if table is _PURCHASES:
            # Inside the OR, the few products' ids are a hashed subplan: one scan in all.
            uncovered = select(_PRODUCTS.c.id).where(_PRODUCTS.c.kind.not_in(COVERED_KINDS))
            broken.append(and_(_has_coverage(table), table.c.product_id.in_(uncovered)))
        return bool(broken) and bool(self.conn.scalar(select(exists().where(or_(*broken)))))

    def _check(self, staged: dict[str, _Staged], unreadable: set[str], unchecked: set[str]) -> None:
        """Every check that spans rows or files; refs of the files in `unchecked` excepted."""
        with self.progress.phase("import: checks across rows and files", unit=None):
            for stage in staged.values():
                self._check_fast_pairs(stage)
                self._check_duplicates(stage)
                for ref in stage.spec.refs:
                    if stage.spec.file in unchecked:
                        continue
                    if ref.file not in unreadable and ref.column in stage.columns:
                        self._check_refs(stage, ref, staged.get(ref.file))
            purchases = staged.get("purchases.csv")
            if (
                purchases
                and "products.csv" not in unreadable
                and "coverage_start" in purchases.columns
            ):
                self._check_coverage(purchases, staged.get("products.csv"))

    def _stage(self, spec: _Spec, path: Path) -> _Staged | None:
        """Parse and stage one file; None when its header is unusable."""
        with path.open("rb") as handle:
            first = handle.readline()
            simple = _simple_header(first) if self.fast_path else None
            records: Iterator[tuple[int, list[str]]] | None = None
            if simple is None:
                lines = chain([first], handle) if first else handle
                records = _records(lines, spec.file, self.problems)
                header = next(records, None)
                if header is None:
                    self.problems.append(
                        Problem(spec.file, 1, "", "empty file, expected a header line")
                    )
                    return None
                cells = header[1]
            else:
                cells, ending = simple
            positions, header_problems = _header_problems(spec, cells)
            if header_problems:
                self.problems.extend(header_problems)
                return None
            columns = tuple(name for name in spec.names if name in positions)
            # On the fast path the identity numbers the lines: there, a record is a line.
            numbered = Column("line", Integer, Identity(start=2, cache=1000), nullable=False)
            table = Table(
                f"import_stage_{spec.target.name}",
                self.metadata,
                numbered if self.postgres else Column("line", Integer, nullable=False),
                *(Column(c.name, c.type) for c in spec.columns),
                prefixes=["TEMPORARY"],
            )
            table.create(self.conn)
            pattern = None if simple is None else _fast_lines(spec, positions, ending)
            slow: tuple[tuple[int, int], ...] | None = None
            with self.progress.phase(f"import: {spec.file}", total=_counter(path)) as step:
                if pattern is not None:
                    count, slow = self._stage_mixed(
                        spec, table, positions, pattern, ending, handle, step
                    )
                else:
                    if records is None:
                        records = _records(handle, spec.file, self.problems, first=2)
                    rows = _rows(spec, records, positions, self.problems)
                    count = self._copy(table, ("line", *columns), rows, step)
        if self.postgres:
            # Temporary tables are never auto-analyzed; the checks' join plans need row counts.
            self.conn.execute(
                text(f"ANALYZE {self.conn.dialect.identifier_preparer.quote(table.name)}")
            )
        return _Staged(spec, table, columns, count, slow)

    def _stage_mixed(
        self,
        spec: _Spec,
        table: Table,
        positions: dict[str, int],
        pattern: re.Pattern[str],
        ending: str,
        handle: BinaryIO,
        step: Step,
    ) -> tuple[int, tuple[tuple[int, int], ...]]:
        """Stage runs of fast lines wholesale, any other chunk row by row.

        The rows staged, and the lines [start, stop) that went row by row.
        """
        columns = ("line", *(name for name in spec.names if name in positions))
        sequence = None
        if self.postgres:
            sequence = self.conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'line')"),
                {"t": self.conn.dialect.identifier_preparer.quote(table.name)},
            )
        line = numbered = 2  # the next line, and the identity's next value
        count = 0
        slow: list[tuple[int, int]] = []
        while True:
            chunks = _FastChunks(handle, pattern, ending)
            if not self.postgres:
                staged = self._insert_fast(table, spec, positions, chunks, ending, line, step)
            else:
                if numbered != line:
                    self.conn.execute(
                        text("SELECT setval(:s, :n, false)"), {"s": sequence, "n": line}
                    )
                staged = self._copy_fast(table, _in_file_order(positions), chunks, step)
            count += staged
            line = numbered = line + staged
            if chunks.rest is None:
                return count, tuple(slow)
            segment = _Segment(chunks.rest, handle)
            records = _records(segment, spec.file, self.problems, line, segment.starting)
            rows = _rows(spec, records, positions, self.problems)
            count += self._copy(table, columns, rows, step)
            slow.append((line, line + segment.count))
            line += segment.count

    def _copy_fast(
        self,
        table: Table,
        columns: list[str],
        chunks: _FastChunks,
        step: Step,
        resolve: Callable[[str], str] | None = None,
    ) -> int:
        """COPY the chunks (cells in `columns` order) as they are or as `resolve` rewrites them;
        the lines copied. A staging table numbers them by its identity."""
        query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        count = 0
        with self._driver().cursor() as cursor, cursor.copy(query) as copy:
            for raw, decoded in chunks:
                copy.write(raw if resolve is None else resolve(decoded))
                lines = decoded.count("\n")
                step.advance(lines)
                count += lines
        return count

    def _insert_fast(
        self,
        table: Table,
        spec: _Spec,
        positions: dict[str, int],
        chunks: _FastChunks,
        ending: str,
        first: int,
        step: Step,
    ) -> int:
        """Insert the chunks' lines split at the commas, SQLite converting the cells as the
        row-by-row path would; the lines inserted."""
        values: dict[str, ColumnElement[Any]] = {"line": bindparam("line")}
        for column in spec.columns:
            if column.name in positions:
                cell: ColumnElement[Any] = bindparam(column.name)
                if not column.required:
                    cell = func.nullif(cell, literal_column("''"))
                values[column.name] = _SQLITE_FAST_VALUES.get(column.parse, _as_text)(cell)
        statement = table.insert().values(values).compile(dialect=self.conn.dialect)
        names = list(statement.positiontup or ())
        # Every header has two required columns at least: itemgetter gives tuples.
        assert names[0] == "line" and len(names) == len(positions) + 1 >= 3
        in_order = itemgetter(*(positions[name] for name in names[1:]))
        line = first
        for _, decoded in chunks:
            lines = decoded.split(ending)[:-1]
            records = csv.reader(lines) if '"' in decoded else (row.split(",") for row in lines)
            batch = [(n, *in_order(cells)) for n, cells in enumerate(records, line)]
            self.conn.exec_driver_sql(str(statement), batch)
            step.advance(len(batch))
            line += len(batch)
        return line - first

    def _copy(
        self,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterator[tuple[object, ...]],
        step: Step,
    ) -> int:
        count = 0
        if self.postgres:
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with self._driver().cursor() as cursor, cursor.copy(query) as copy:
                for batch in _batches(rows):
                    for row in batch:
                        copy.write_row(row)
                    step.advance(len(batch))
                    count += len(batch)
            return count
        statement = table.insert().compile(dialect=self.conn.dialect, column_keys=list(columns))
        assert tuple(statement.positiontup or ()) == columns
        for batch in _batches(rows):
            self.conn.exec_driver_sql(str(statement), batch)
            step.advance(len(batch))
            count += len(batch)
        return count

    def _check_fast_pairs(self, stage: _Staged) -> None:
        """The date-pair rules, which no line pattern can express, for the fast-path lines."""
        if stage.slow is None:
            return
        table = stage.table
        for pair in stage.spec.pairs:
            if pair.start not in stage.columns or pair.end not in stage.columns:
                continue
            start, end = table.c[pair.start], table.c[pair.end]
            query = (
                select(table.c.line, start, end)
                .where(_pair_broken(start, end, pair))
                .order_by(table.c.line)
            )
            for line, first, last in self.conn.execute(query):
                if not stage.fast(line):
                    continue  # the row-by-row path checked it, knowing which cells were bad
                if pair.both and (first is None) != (last is None):
                    given, blank = (pair.start, pair.end) if first else (pair.end, pair.start)
                    reason = f"required when {given} is given"
                    self.problems.append(Problem(stage.spec.file, line, blank, reason))
                else:
                    reason = f"{last.isoformat()!r} is before {pair.start} {first.isoformat()!r}"
                    self.problems.append(Problem(stage.spec.file, line, pair.end, reason))

    def _check_duplicates(self, stage: _Staged) -> None:
        table, key = stage.table, [stage.table.c[k] for k in stage.spec.key]
        # A unique index is built by sorting, several times faster than grouping a big table;
        # only when it fails are the duplicates looked for. NULL keys are bad cells, skipped
        # both ways.
        if stage.spec.file in self.unique_keys:
            return
        try:
            with self.conn.begin_nested():
                Index(f"{table.name}_key", *key, unique=True).create(self.conn)
        except IntegrityError:
            pass
        else:
            self.unique_keys.add(stage.spec.file)
            return
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
        source = lines.outerjoin(_PRODUCTS, _PRODUCTS.c.sku == lines.c.sku)
        kind: ColumnElement[Any] = _PRODUCTS.c.kind
        if products is not None:
            staged = products.table
            new_kinds = (
                select(staged.c.sku, func.max(staged.c.kind).label("kind"))
                .group_by(staged.c.sku)
                .subquery()
            )
            source = source.outerjoin(new_kinds, new_kinds.c.sku == lines.c.sku)
            kind = func.coalesce(new_kinds.c.kind, kind)
        query = (
            select(lines.c.line, lines.c.sku, lines.c.coverage_start, kind.label("kind"))
            .select_from(source)
            .where(_has_coverage(lines))
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

    def _source(self, stage: _Staged) -> tuple[list[str], Select[Any]]:
        """Target columns, and the staged rows with refs resolved to ids, in that order."""
        spec, table = stage.spec, stage.table
        source: FromClause = table
        selected: list[ColumnElement[Any]] = []
        for name in stage.columns:
            ref = next((r for r in spec.refs if r.column == name), None)
            if ref is None:
                selected.append(table.c[name])
            else:
                source = source.join(ref.table, ref.table.c[ref.key] == table.c[name])
                selected.append(ref.table.c.id)
        # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT (parse ambiguity).
        query = select(*selected).select_from(source).where(true())
        return [spec.target_column(name) for name in stage.columns], query

    def _claim_empty_targets(self, targets: list[Table]) -> set[Table]:
        """The targets that are empty, and stay so until this transaction ends.

        SQLite lets one connection write at a time, and refuses a transaction that read
        before another's write to write itself; PostgreSQL needs a lock.
        """
        empty = [t for t in targets if not self.conn.scalar(select(exists().select_from(t)))]
        if not empty or not self.postgres:
            return set(empty)
        quote = self.conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(t.name) for t in empty)
        self.conn.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
        return {t for t in empty if not self.conn.scalar(select(exists().select_from(t)))}

    def _bulk_insert(self, stage: _Staged) -> TableCounts:
        """Fill an empty table with its indexes (and on PostgreSQL foreign keys) dropped.

        Building an index once is far cheaper than updating it row by row, and adding a
        foreign key checks it with one join instead of a trigger per row. They are rebuilt from
        the catalog's own definitions, in this transaction: a failure rolls all of it back.
        """
        target = stage.spec.target
        rebuild = self._drop_secondary(target)
        columns, query = self._source(stage)
        filling = insert(target).from_select(columns, query)
        with self.progress.phase(f"import: {stage.spec.file} write", total=stage.rows) as step:
            written = self.conn.execute(filling.execution_options(preserve_rowcount=True)).rowcount
            step.advance(written)
        if written != stage.rows:
            raise _LostRows
        with self.progress.phase(f"import: {stage.spec.file} indexes", unit=None):
            self._rebuild(target, rebuild)
        return TableCounts(target.name, stage.spec.file, stage.rows, stage.rows, 0, 0)

    def _rebuild(self, target: Table, statements: list[str]) -> None:
        """Run what _drop_secondary returned, then give the planner the table's statistics."""
        for statement in statements:
            self.conn.exec_driver_sql(statement)
        if self.postgres:  # SQLite's planner is left as basebot's users get it: unanalyzed
            self.conn.exec_driver_sql(
                f"ANALYZE {self.conn.dialect.identifier_preparer.quote(target.name)}"
            )

    def _drop_secondary(self, target: Table) -> list[str]:
        """Drop what the table's rows would each update: foreign keys, keys and indexes.

        On PostgreSQL, kept are the keys and indexes that a foreign key (of this table or
        another) relies on, that back the replica identity or that order CLUSTER. SQLite's
        keys and foreign keys are part of the table: only its CREATE INDEX indexes go.

        Foreign keys come back validated, a join each (7 % of a first load), although every
        ref was just resolved against the referenced table. NOT VALID would skip that join
        and still be enforced for every later write, but the catalog would call the rows
        unchecked, and a referenced table outside the import is not locked against deletes
        until ADD CONSTRAINT locks it and checks.
        """
        table = self.conn.dialect.identifier_preparer.quote(target.name)
        query = _SECONDARY if self.postgres else _SQLITE_SECONDARY
        found = self.conn.execute(query, {"table": table}).all()
        for drop, _, _ in found:
            self.conn.exec_driver_sql(drop)
        # Keys and indexes first: the foreign keys' checks need nothing of them.
        return [create for _, create, kind in sorted(found, key=lambda f: f[2] == "f")]

    def _upsert(self, stage: _Staged) -> TableCounts:
        spec, table, target = stage.spec, stage.table, stage.spec.target
        targets, query = self._source(stage)
        matched = and_(*(target.c[k] == table.c[k] for k in spec.key))
        existing = self.conn.scalar(select(func.count()).select_from(table.join(target, matched)))

        upsert_into = (postgresql.insert if self.postgres else sqlite.insert)(target)
        upsert_into = upsert_into.from_select(targets, query)
        updated = [name for name in targets if name not in spec.key]
        upsert = upsert_into.on_conflict_do_update(
            index_elements=[target.c[k] for k in spec.key],
            set_={name: upsert_into.excluded[name] for name in updated},
            where=or_(*(target.c[n].is_distinct_from(upsert_into.excluded[n]) for n in updated)),
        )
        # Rows the WHERE skips are not counted, on both SQLite and PostgreSQL.
        with self.progress.phase(f"import: {spec.file} write", total=stage.rows) as step:
            written = self.conn.execute(upsert.execution_options(preserve_rowcount=True)).rowcount
            step.advance(stage.rows)
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


# The key columns of each unique index of a table, but for partial and expression indexes.
_UNIQUE_KEYS = text(
    """
    SELECT array_agg(a.attname::text)
    FROM pg_index i
    JOIN pg_attribute a
      ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey[0:i.indnkeyatts - 1])
    WHERE i.indrelid = CAST(:table AS regclass) AND i.indisunique AND i.indisvalid
      AND i.indpred IS NULL AND i.indexprs IS NULL
    GROUP BY i.indexrelid
    """
)
_SQLITE_SECONDARY = text(
    """SELECT 'DROP INDEX "' || replace(name, '"', '""') || '"', sql, 'i' FROM sqlite_master"""
    " WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
)
# Per secondary object of a table: the statement dropping it, the one rebuilding it, its kind.
_SECONDARY = text(
    """
    SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
                  pg_get_constraintdef(c.oid)),
           c.contype::text
    FROM pg_constraint c
    LEFT JOIN pg_index i ON i.indexrelid = c.conindid
    WHERE c.conrelid = CAST(:table AS regclass)
      AND (c.contype = 'f'
           OR c.contype IN ('p', 'u') AND NOT i.indisreplident AND NOT i.indisclustered
              AND NOT EXISTS (SELECT FROM pg_constraint r
                              WHERE r.contype = 'f' AND r.conindid = c.conindid))
    UNION ALL
    SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 'i'
    FROM pg_index i
    WHERE i.indrelid = CAST(:table AS regclass)
      AND NOT i.indisprimary AND NOT i.indisreplident AND NOT i.indisclustered
      AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    """
)
