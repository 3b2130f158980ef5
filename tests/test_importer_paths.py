"""`basebot import`'s ways in and its first load: same results whichever way a row takes.

On PostgreSQL, runs of lines that need no cleaning up are handed to COPY as they are and the
rest goes row by row; tables that are empty are filled with their indexes rebuilt afterwards,
straight from the files unless a problem sends the import through the staging tables.
"""

from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queries import importer
from queries.importer import import_folder
from queries.models import Customer, Installation, Product, Purchase
from tests.builders import d
from tests.test_importer import TABLES, dump, refused, write, write_good_folder


def postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def schema(session: Session) -> dict[str, list[str]]:
    """Every index and constraint of the four data tables, as the database spells it."""
    conn = session.connection()
    out: dict[str, list[str]] = {}
    for table in TABLES:
        if postgres(session):
            indexes = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": table.name}
            ).scalars()
            constraints = conn.execute(
                text(
                    "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = CAST(:t AS regclass)"
                ),
                {"t": table.name},
            ).scalars()
            out[table.name] = sorted([*indexes, *constraints])
        else:
            rows = conn.execute(
                text("SELECT coalesce(sql, name) FROM sqlite_master WHERE tbl_name = :t"),
                {"t": table.name},
            ).scalars()
            out[table.name] = sorted(rows)
    return out


def empty(session: Session) -> bool:
    return all(rows == [] for rows in dump(session).values())


# --- the fast path's patterns against the parsers ---


def fast(parse: importer.Parser | None) -> re.Pattern[str]:
    return re.compile(importer._FAST_PATTERNS[parse])


def parsed(parse: importer.Parser, raw: str) -> object:
    try:
        return parse(raw)
    except importer._Invalid:
        return importer._Invalid


def test_the_date_pattern_takes_exactly_the_valid_dates() -> None:
    years = [0, 1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9996, 9999]
    candidates = [
        f"{year:04d}-{month:02d}-{day:02d}"
        for year in years
        for month in range(14)
        for day in range(33)
    ]
    pattern = fast(importer._date)

    taken = [c for c in candidates if pattern.fullmatch(c)]

    assert taken == [c for c in candidates if parsed(importer._date, c) == c]
    assert "2024-02-29" in taken and "2100-02-29" not in taken and "2000-02-29" in taken


@pytest.mark.parametrize(
    "parse", [importer._number, importer._price, importer._positive, importer._quantity]
)
def test_number_patterns_take_only_numbers_the_parsers_stage_alike(
    parse: importer.Parser,
) -> None:
    rng = random.Random(11)
    candidates = [
        "".join(rng.choices("0123456789+-.e ,", k=rng.randint(1, 18))) for _ in range(50_000)
    ]
    candidates += [s * k for s in ("9", "0", "1.", ".5", "-") for k in range(1, 20)]
    candidates += ["1" + "0" * k for k in range(20)] + ["0." + "1" * k for k in range(8)]
    pattern = fast(parse)

    taken = [c for c in candidates if pattern.fullmatch(c)]

    assert len(taken) > 1_000
    as_staged = {c: parsed(parse, c) for c in taken}
    assert importer._Invalid not in as_staged.values()
    if parse in (importer._number, importer._price):
        assert all(staged == raw for raw, staged in as_staged.items())


@pytest.mark.parametrize(
    ("parse", "taken", "left"),
    [
        (importer._boolean, ["true", "TRUE", "Yes", "no", "FALSE", "1", "0"], ["y", "yeſ", "on"]),
        (importer._country, ["US", "DE"], ["us", "Us", "ÄB", "USA", "K"]),
        (importer._kind, list(importer.KINDS), ["Core", "services", "core "]),
        (
            importer._owner,
            ["ann@acme.example", "O'Brien+EU@Sales.Acme.example", "U0123ABCD", "W0B"],
            [" ann@acme.example", '"ann@acme.example"', "ann@acme", "a,b@acme.example", "u0b"],
        ),
        (
            None,
            ["a", "a b", '"a, b"', '"say ""hi"""', "a\\.b"],
            [" a", "a ", '""', "a\xa0", '"a\nb"'],
        ),
    ],
)
def test_other_patterns_take_only_cells_staged_as_they_are(
    parse: importer.Parser | None, taken: list[str], left: list[str]
) -> None:
    pattern = fast(parse)

    assert [c for c in taken + left if pattern.fullmatch(c)] == taken
    if parse is not None:
        assert all(parsed(parse, c) is not importer._Invalid for c in taken)


# --- both paths through whole files ---

TRICKY = ["a", "b", "é", " ", "\t", ",", '"', "\xa0", "\u2028", "\x85", "\\", "\\.", ".", "\x0b"]


def tricky_customers(folder: Path, rng: random.Random, ending: str) -> None:
    """Most lines clean but for what quoting takes care of, some needing trimming or more."""

    def cell(clean: bool) -> str:
        inner = "".join(rng.choice(TRICKY) if rng.random() < 0.4 else "x" for _ in range(5))
        return "x" + inner + "x" if clean else rng.choice(TRICKY) + inner + rng.choice(TRICKY)

    lines = [",".join(["customer_ref", "name", "segment", "region", "country", "created_on"])]
    for n in range(300):
        clean = rng.random() < 0.8
        country = "US" if clean else rng.choice(["de", " GB", ""])
        created = rng.choice(["2024-02-29", ""] if clean else ["1999-12-31 ", "\t2000-01-01"])
        row = [f"C{n}", cell(clean), cell(clean), rng.choice([cell(clean), ""]), country, created]
        out = io.StringIO()
        quoting = csv.QUOTE_ALL if rng.random() < 0.2 else csv.QUOTE_MINIMAL
        csv.writer(out, lineterminator="", quoting=quoting).writerow(row)
        lines.append(out.getvalue())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_bytes((ending.join(lines) + ending).encode())


def purchases_in_every_format(folder: Path) -> None:
    formats = [
        ("1", "1", "10", ""),
        ("+2", "-3", "+5.", "2024-01-01,2024-12-31"),
        ("003", "+0004", ".5", ""),
        ("4", "1", "12.34000", ","),
        ("5", "2", "-0.0001", ""),
        ("6", " 7 ", " 1.5 ", ""),
    ]
    lines = ["order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
             "coverage_start,coverage_end"]  # fmt: skip
    for n in range(200):
        line_no, quantity, price, coverage = formats[n % len(formats)]
        coverage = coverage if "," in coverage else coverage + ","
        lines.append(f"O{n},{line_no},C1,SVC,{quantity},{price},2024-01-0{n % 9 + 1},{coverage}")
    write(folder, "purchases.csv", "\n".join(lines) + "\n")
    write(folder, "customers.csv", "customer_ref,name\nC1,Acme\n")
    write(
        folder,
        "products.csv",
        """
        sku,name,category,kind,installable,list_price
        SVC,Care,care,service,no,
        P1,Printer,printers,core,YES,+5.
        P2,Printer,printers,core,True,.5
        P3,Printer,printers,core,0,0012.34000
        P4,Printer,printers,core,FALSE,0
        P5,Printer,printers,core,1,1
        """,
    )


def natural(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """The rows without their ids, which differ from one import to the next, but with the
    refs they resolve to."""
    customers = [c for c in Customer.__table__.c if c.name != "id"]
    products = [c for c in Product.__table__.c if c.name != "id"]
    ids = ("id", "customer_id", "product_id")
    purchases = [c for c in Purchase.__table__.c if c.name not in ids]
    installations = [c for c in Installation.__table__.c if c.name not in ids]
    return {
        "customers": [
            tuple(r) for r in session.execute(select(*customers).order_by(Customer.customer_ref))
        ],
        "products": [tuple(r) for r in session.execute(select(*products).order_by(Product.sku))],
        "purchases": _with_refs(session, Purchase, purchases, Purchase.order_ref, Purchase.line_no),
        "installations": _with_refs(session, Installation, installations, Installation.serial),
    }


def _with_refs(session: Session, model: Any, columns: list[Any], *order: Any) -> list[Any]:
    """The rows' columns with the customer_ref and sku their ids stand for."""
    stmt = (
        select(*columns, Customer.customer_ref, Product.sku)
        .join(Customer, Customer.id == model.customer_id)
        .join(Product, Product.id == model.product_id)
        .order_by(*order)
    )
    return [tuple(r) for r in session.execute(stmt)]


def calls(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """The files that _Import.<method>, taking a staged file, is called for from now on."""
    called: list[str] = []
    original = getattr(importer._Import, method)

    def spy(self: Any, stage: Any, *rest: Any) -> Any:
        called.append(stage.spec.file)
        return original(self, stage, *rest)

    monkeypatch.setattr(importer._Import, method, spy)
    return called


def imported_every_way(
    session: Session, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Any, Any]]:
    """What an import stores as it runs, through the staging tables, and row by row."""
    results = []
    staged = calls(monkeypatch, "_bulk_insert")
    for way in ("as it runs", "staged", "row by row"):
        if way == "staged":
            monkeypatch.setattr(importer._Import, "_load_direct", lambda self, paths: None)
        if way == "row by row":
            monkeypatch.setattr(importer, "_simple_header", lambda first: None)
        nested = session.begin_nested()
        report = import_folder(session, folder)
        results.append((report.tables, natural(session)))
        nested.rollback()
        # On PostgreSQL a good first load goes straight in, staging nothing.
        assert (staged == []) == (way == "as it runs" and postgres(session))
    return results


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tricky_text_is_stored_the_same_either_way(
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    ending: str,
) -> None:
    tricky_customers(tmp_path, random.Random(seed), ending)
    # Chunks of about a line: the file goes back and forth between the paths many times.
    monkeypatch.setattr(importer, "_CHUNK", 32)

    first, staged, row_by_row = imported_every_way(session, tmp_path, monkeypatch)

    assert first == staged == row_by_row
    assert first[0][0].inserted == 300


def tricky_refs(folder: Path, ending: str) -> None:
    """Refs that need quoting or trimming, in columns of every position."""
    lines = {
        "customers.csv": ["customer_ref,name", '"C,1",One', '"C""2",Two', "C3,Three", " C4 ,Four"],
        "products.csv": [
            "sku,name,category,kind,installable",
            "P1,Printer,printers,core,yes",
            '"P,2",Care,services,service,no',
        ],
        "purchases.csv": [
            "sku,order_ref,line_no,customer_ref,quantity,unit_price,purchased_on,"
            "coverage_start,coverage_end",
            'P1,O1,1,"C,1",1,10,2024-01-01,,',
            'P1,O1,2,"C""2",1,10,2024-01-01,,',
            "P1,O1,3,C3,1,10,2024-01-01,,",
            "P1,O1,4, C4 ,1,10,2024-01-01,,",
            '"P,2",O1,5,"C3",1,10,2024-01-01,2024-01-01,2024-12-31',
            '"P,2",O2,1,C4,1,10,2024-01-01,2024-01-01,2024-12-31',
        ],
        "installations.csv": [
            "customer_ref,sku,serial,installed_on",
            '"C,1",P1,SN-1,2024-01-02',
            "C3,P1,SN-2,2024-01-02",
            '"C""2","P1",SN-3,2024-01-02',
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in lines.items():
        (folder / name).write_bytes((ending.join(content) + ending).encode())


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("chunk", [16, 1 << 18])
def test_refs_resolve_the_same_every_way(
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    ending: str,
) -> None:
    tricky_refs(tmp_path, ending)
    monkeypatch.setattr(importer, "_CHUNK", chunk)

    first, staged, row_by_row = imported_every_way(session, tmp_path, monkeypatch)

    assert first == staged == row_by_row
    links = {(r[0], r[1]): r[-2:] for r in first[1]["purchases"]}
    assert links[("O1", 1)] == ("C,1", "P1")
    assert links[("O1", 2)] == ('C"2', "P1")
    assert links[("O1", 4)] == ("C4", "P1")
    assert links[("O1", 5)] == ("C3", "P,2")
    assert [r[-2:] for r in first[1]["installations"]] == [
        ("C,1", "P1"),
        ("C3", "P1"),
        ('C"2', "P1"),
    ]


def test_numbers_and_dates_are_stored_the_same_either_way(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchases_in_every_format(tmp_path)
    monkeypatch.setattr(importer, "_CHUNK", 100)

    first, staged, row_by_row = imported_every_way(session, tmp_path, monkeypatch)

    assert first == staged == row_by_row
    stored = {(r[0], r[1]): (r[2], r[3], r[5], r[6]) for r in first[1]["purchases"]}
    assert stored[("O0", 1)] == (1, 10.0, None, None)
    assert stored[("O1", 2)] == (-3, 5.0, d("2024-01-01"), d("2024-12-31"))
    assert stored[("O2", 3)] == (4, 0.5, None, None)
    assert stored[("O3", 4)] == (1, 12.34, None, None)
    assert stored[("O4", 5)] == (2, -0.0001, None, None)
    assert stored[("O5", 6)] == (7, 1.5, None, None)
    products = {r[0]: r[4:] for r in first[1]["products"]}
    assert products == {
        "SVC": (None, False, None),
        "P1": (None, True, 5.0),
        "P2": (None, True, 0.5),
        "P3": (None, False, 12.34),
        "P4": (None, False, 0.0),
        "P5": (None, True, 1.0),
    }


def test_problems_keep_their_lines_where_the_fast_path_hands_over(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK", 64)
    good = "".join(f"C{n},Customer {n},US,2024-01-01,\n" for n in range(2, 40))
    write(
        tmp_path / "text",
        "customers.csv",
        "customer_ref,name,country,created_on,email\n"
        + good
        + " C40 , Spaced ,us,2024-01-01,\n"  # line 40: fine, once trimmed
        + "C41,,US,2024-02-30,\n"
        + "C2,Again,US,,\n"
        + '"C43","Spans\n'
        + 'two lines",US,,\n'
        + good.replace("C", "D")  # lines 45 to 82
        + "D82,,US,,\n",
    )
    rows = b"customer_ref,name\n" + b"".join(b"K%d,K\n" % n for n in range(2, 30))
    (tmp_path / "bytes").mkdir()
    (tmp_path / "bytes" / "customers.csv").write_bytes(rows + b"K30,Caf\xe9\nK31,\x00\nK32,K\n")

    assert refused(session, tmp_path / "text") == [
        "customers.csv:41: name: required value missing",
        "customers.csv:41: created_on: not a date (YYYY-MM-DD): '2024-02-30'",
        "customers.csv:42: customer_ref: duplicate of line 2: 'C2'",
        "customers.csv:83: name: required value missing",
    ]
    assert refused(session, tmp_path / "bytes") == [
        "customers.csv:30: not valid UTF-8 (byte 0xe9 at position 8)",
        "customers.csv:31: contains a NUL character",
        "customers.csv:31: name: required value missing",
    ]


def test_date_pairs_are_checked_on_fast_lines_too(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK", 64)
    write(tmp_path, "customers.csv", "customer_ref,name\nC1,Acme\n")
    write(tmp_path, "products.csv", "sku,name,category,kind,installable\nS,Care,c,service,no\n")
    header = "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
    write(
        tmp_path,
        "purchases.csv",
        header + "coverage_start,coverage_end\n"
        "O1,1,C1,S,1,10,2024-01-01,2024-01-01,2024-12-31\n"
        "O1,2,C1,S,1,10,2024-01-01,2024-03-01,2024-02-29\n"
        "O1,3,C1,S,1,10,2024-01-01,,2024-12-31\n"
        "O1,4,C1,S,1,10,2024-01-01,2024-01-01,\n"
        "O1,5,C1,S,1,10,2024-01-01,,\n"
        "O1,6, C1 ,S,1,10,2024-01-01,2024-02-01,2024-01-01\n"  # row by row
        "O1,7,C1,S,1,10,2024-01-01,x,\n"
        + "".join(f"O2,{n},C1,S,1,10,2024-01-01,2024-01-01,2024-12-31\n" for n in range(1, 9))
        + "O3,1,C1,S,1,10,2024-01-01,2024-12-31,2024-01-01\n",
    )
    write(
        tmp_path,
        "installations.csv",
        "serial,customer_ref,sku,installed_on,removed_on\n"
        "SN-1,C1,S,2024-01-02,2024-01-01\nSN-2,C1,S,2024-01-02,\nSN-3,C1,S,2024-01-02,2024-01-02\n",
    )

    assert refused(session, tmp_path) == [
        "installations.csv:2: removed_on: '2024-01-01' is before installed_on '2024-01-02'",
        "purchases.csv:3: coverage_end: '2024-02-29' is before coverage_start '2024-03-01'",
        "purchases.csv:4: coverage_start: required when coverage_end is given",
        "purchases.csv:5: coverage_end: required when coverage_start is given",
        "purchases.csv:7: coverage_end: '2024-01-01' is before coverage_start '2024-02-01'",
        "purchases.csv:8: coverage_start: not a date (YYYY-MM-DD): 'x'",
        "purchases.csv:8: coverage_end: required when coverage_start is given",
        "purchases.csv:17: coverage_end: '2024-01-01' is before coverage_start '2024-12-31'",
    ]


def test_a_crlf_file_with_some_lf_lines_loads(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK", 16)
    content = b"customer_ref,name\r\nC1,Acme\r\nC2,Globex\r\nC3,Initech\nC4,Umbrella\r\nC5,Soylent"
    (tmp_path / "customers.csv").write_bytes(content)

    report = import_folder(session, tmp_path)

    assert report["customers"].inserted == 5
    names = session.scalars(select(Customer.name).order_by(Customer.customer_ref)).all()
    assert names == ["Acme", "Globex", "Initech", "Umbrella", "Soylent"]


OWNER_SPELLINGS = (
    "ann@acme.example",
    "U0123ABCD",
    "",
    " W0B ",
    '"cara@acme.example"',
    '" U0DAN"',
    '""',
    "O'Brien+EU@Sales.Acme.example",
    "a{b}|c@x-y.z.example",
)


def test_owners_are_stored_the_same_every_way(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spellings = OWNER_SPELLINGS
    rows = [f"C{n:02d},{spellings[n % len(spellings)]},Customer {n}" for n in range(45)]
    write(tmp_path, "customers.csv", "\n".join(["customer_ref,owner,name", *rows]) + "\n")
    monkeypatch.setattr(importer, "_CHUNK", 32)

    first, staged, row_by_row = imported_every_way(session, tmp_path, monkeypatch)

    assert first == staged == row_by_row
    at = [c.name for c in Customer.__table__.c if c.name != "id"].index("owner")
    stored = [r[at] for r in first[1]["customers"]][: len(spellings)]
    assert stored == [
        "ann@acme.example",
        "U0123ABCD",
        None,
        "W0B",
        "cara@acme.example",
        "U0DAN",
        None,
        "O'Brien+EU@Sales.Acme.example",
        "a{b}|c@x-y.z.example",
    ]


def row_by_row_lines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """(file, lines that went row by row) of every file staged in runs of fast lines from now
    on; a file staged wholly row by row is not listed."""
    seen: list[tuple[str, Any]] = []
    original = importer._Import._stage_mixed

    def spy(self: Any, spec: Any, *rest: Any) -> Any:
        count, slow = original(self, spec, *rest)
        seen.append((spec.file, slow))
        return count, slow

    monkeypatch.setattr(importer._Import, "_stage_mixed", spy)
    return seen


@pytest.mark.parametrize("way", ["fast", "row by row"])
def test_owners_are_kept_by_a_file_without_them_and_replaced_by_one_with_them(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    first = "customer_ref,name,owner\nC1,Acme,ann@acme.example\nC2,Globex,U0BOB\nC3,Initech,\n"
    write(tmp_path / "first", "customers.csv", first)
    import_folder(session, tmp_path / "first")
    if way == "row by row":
        monkeypatch.setattr(importer, "_simple_header", lambda first: None)
    staged = row_by_row_lines(monkeypatch)
    # An export from before owners existed: the owners stay as they are.
    write(
        tmp_path / "older",
        "customers.csv",
        "customer_ref,name,segment\nC1,Acme Corp,business\nC2,Globex,government\nC3,Initech,\n",
    )

    report = import_folder(session, tmp_path / "older")

    assert (report["customers"].updated, report["customers"].unchanged) == (2, 1)
    stored = session.execute(
        select(Customer.customer_ref, Customer.name, Customer.owner).order_by(Customer.id)
    ).all()
    assert [tuple(row) for row in stored] == [
        ("C1", "Acme Corp", "ann@acme.example"),
        ("C2", "Globex", "U0BOB"),
        ("C3", "Initech", None),
    ]

    write(
        tmp_path / "newer",
        "customers.csv",
        "customer_ref,owner,name\nC1,U0CARA,Acme Corp\nC2,,Globex\nC3,,Initech\n"
        "C4,dan@acme.example,Umbrella\n",
    )

    report = import_folder(session, tmp_path / "newer")

    counts = report["customers"]
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 2, 1)
    replaced = session.execute(select(Customer.customer_ref, Customer.owner).order_by(Customer.id))
    assert [tuple(row) for row in replaced] == [
        ("C1", "U0CARA"),
        ("C2", None),
        ("C3", None),
        ("C4", "dan@acme.example"),
    ]
    assert staged == ([("customers.csv", ())] * 2 if way == "fast" else [])


# --- the first load into empty tables ---


def test_a_first_load_leaves_the_schema_as_the_migrations_made_it(
    session: Session, tmp_path: Path
) -> None:
    before = schema(session)
    write_good_folder(tmp_path)

    import_folder(session, tmp_path)

    assert schema(session) == before
    names = " ".join(" ".join(definitions) for definitions in before.values())
    for table in TABLES:
        for index in table.indexes:
            assert str(index.name) in names
    # A second import upserts into tables that are no longer empty, and changes nothing.
    loaded = dump(session)
    assert import_folder(session, tmp_path).changed == 0
    assert dump(session) == loaded
    assert schema(session) == before


def test_a_first_load_refused_by_its_last_file_leaves_everything_as_it_was(
    session: Session, tmp_path: Path
) -> None:
    before = schema(session)
    write_good_folder(tmp_path)
    with (tmp_path / "installations.csv").open("a", encoding="utf-8") as handle:
        handle.write("SN-9,PRN-1,C1,O1,2024-01-12,2024-01-11\n")

    assert refused(session, tmp_path) == [
        "installations.csv:4: removed_on: '2024-01-11' is before installed_on '2024-01-12'"
    ]
    assert empty(session)
    assert schema(session) == before


def test_a_first_load_failing_in_its_last_table_undoes_the_tables_before(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = schema(session)
    write_good_folder(tmp_path)
    loaded: list[str] = []

    def failing(write: Any) -> Any:
        def wrapper(self: Any, first: Any, *rest: Any) -> Any:
            spec = getattr(first, "spec", first)  # a staged file, or the direct load's spec
            if spec.file == "installations.csv":
                if postgres(session):  # as if it failed halfway: its indexes are gone
                    self._drop_secondary(spec.target)
                raise RuntimeError("disk full")
            loaded.append(spec.file)
            return write(self, first, *rest)

        return wrapper

    monkeypatch.setattr(importer._Import, "_fill", failing(importer._Import._fill))
    monkeypatch.setattr(importer._Import, "_bulk_insert", failing(importer._Import._bulk_insert))
    monkeypatch.setattr(importer._Import, "_upsert", failing(importer._Import._upsert))

    with pytest.raises(RuntimeError, match="disk full"):
        import_folder(session, tmp_path)

    assert loaded == ["customers.csv", "products.csv", "purchases.csv"]
    assert empty(session)
    assert schema(session) == before
    monkeypatch.undo()
    assert import_folder(session, tmp_path).changed == 12


def test_only_empty_tables_take_the_first_load(session: Session, tmp_path: Path) -> None:
    write(tmp_path / "first", "customers.csv", "customer_ref,name\nC1,Acme\n")
    import_folder(session, tmp_path / "first")
    before = schema(session)
    write_good_folder(tmp_path / "second")

    report = import_folder(session, tmp_path / "second")

    assert [(c.inserted, c.updated, c.unchanged) for c in report.tables] == [
        (2, 1, 0),
        (3, 0, 0),
        (4, 0, 0),
        (2, 0, 0),
    ]
    assert schema(session) == before


def write_unknown_refs(folder: Path, *, more: bool) -> None:
    write(folder, "customers.csv", "customer_ref,name\nC1,Acme\n")
    write(
        folder,
        "products.csv",
        "sku,name,category,kind,installable\nPRN,Printer,printers,core,yes\n",
    )
    header = "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
    more_lines = (
        "O1,4,GHOST,PRN,1,10,2024-01-01,2024-01-01,2024-12-31\nO1,1,C1,PRN,1,10,2024-01-01,,\n"
    )
    write(
        folder,
        "purchases.csv",
        header + "coverage_start,coverage_end\n"
        "O1,1,C1,PRN,1,10,2024-01-01,,\n"
        "O1,2,GHOST,PRN,1,10,2024-01-01,,\n"
        "O1,3,C1,NOPE,1,10,2024-01-01,,\n" + more_lines * more,
    )
    write(
        folder,
        "installations.csv",
        "serial,customer_ref,sku,installed_on\nSN-1,C9,PRN,2024-01-02\n",
    )


# Into empty tables, unknown refs are found by counting what the INSERT's join kept.
@pytest.mark.parametrize("more", [False, True])
def test_unknown_refs_are_refused_into_empty_tables_as_into_full_ones(
    session: Session, tmp_path: Path, more: bool
) -> None:
    write_unknown_refs(tmp_path, more=more)
    expected = [
        "installations.csv:2: customer_ref: unknown customer: 'C9'",
        "purchases.csv:3: customer_ref: unknown customer: 'GHOST'",
        "purchases.csv:4: sku: unknown product: 'NOPE'",
    ]
    if more:
        expected += [
            "purchases.csv:5: customer_ref: unknown customer: 'GHOST'",
            "purchases.csv:5: coverage_start: 'PRN' is a core product;"
            " only service and subscription lines have coverage",
            "purchases.csv:6: order_ref+line_no: duplicate of line 2: 'O1', 1",
        ]

    into_empty = refused(session, tmp_path)
    assert empty(session)
    write_good_folder(tmp_path / "good")
    import_folder(session, tmp_path / "good")
    into_full = refused(session, tmp_path)

    assert into_empty == into_full == expected


def test_a_first_load_leaves_every_key_and_foreign_key_enforced(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_good_folder(tmp_path)
    staged = calls(monkeypatch, "_bulk_insert")

    import_folder(session, tmp_path)

    # On PostgreSQL a good first load goes straight in, staging nothing.
    assert staged == ([] if postgres(session) else [*importer.FILES])
    c1 = session.scalars(select(Customer.id).where(Customer.customer_ref == "C1")).one()
    printer = session.scalars(select(Product.id).where(Product.sku == "PRN-1")).one()
    nobody = session.scalar(select(func.max(Customer.id) + 1))
    line = {"line_no": 9, "quantity": 1, "unit_price": 1, "purchased_on": d("2024-01-01")}
    for refused_change in (
        insert(Customer).values(customer_ref="C1", name="Again"),
        insert(Purchase).values(
            order_ref="O1", customer_id=c1, product_id=printer, **{**line, "line_no": 1}
        ),
        insert(Purchase).values(order_ref="O9", customer_id=nobody, product_id=printer, **line),
        insert(Installation).values(
            serial="SN-9", customer_id=c1, product_id=0, installed_on=d("2024-01-01")
        ),
        delete(Customer).where(Customer.id == c1),
    ):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(refused_change)
    # New rows draw ids past the imported ones.
    session.execute(insert(Customer).values(customer_ref="C9", name="New"))
    session.execute(
        insert(Purchase).values(order_ref="O9", customer_id=c1, product_id=printer, **line)
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            "O1,1,C1,PRN,1,10,2024-01-01,,",
            "purchases.csv:3: order_ref+line_no: duplicate of line 2: 'O1', 1",
        ),
        (
            "O1,2,C1,SVC,1,10,2024-01-01,2024-12-31,2024-01-01",
            "purchases.csv:3: coverage_end: '2024-01-01' is before coverage_start '2024-12-31'",
        ),
        (
            "O1,2,C1,SVC,1,10,2024-01-01,,2024-12-31",
            "purchases.csv:3: coverage_start: required when coverage_end is given",
        ),
        (
            "O1,2,C1,PRN,1,10,2024-01-01,2024-01-01,2024-12-31",
            "purchases.csv:3: coverage_start: 'PRN' is a core product;"
            " only service and subscription lines have coverage",
        ),
    ],
)
def test_a_first_load_refuses_what_only_whole_tables_show(
    session: Session, tmp_path: Path, line: str, problem: str
) -> None:
    before = schema(session)
    write(tmp_path, "customers.csv", "customer_ref,name\nC1,Acme\n")
    write(
        tmp_path,
        "products.csv",
        "sku,name,category,kind,installable\nPRN,Printer,printers,core,yes\n"
        "SVC,Care,services,service,no\n",
    )
    header = "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
    write(
        tmp_path,
        "purchases.csv",
        f"{header}coverage_start,coverage_end\nO1,1,C1,PRN,1,10,2024-01-01,,\n{line}\n",
    )

    assert refused(session, tmp_path) == [problem]
    assert empty(session)
    assert schema(session) == before


def test_duplicates_are_found_without_a_unique_index_on_the_key(
    session: Session, tmp_path: Path
) -> None:
    if postgres(session):  # a schema the direct load cannot find duplicates in
        session.execute(text("ALTER TABLE customers DROP CONSTRAINT uq_customers_customer_ref"))
    write(tmp_path, "customers.csv", "customer_ref,name\nC1,Acme\nC2,Globex\nC1,Again\n")

    assert refused(session, tmp_path) == [
        "customers.csv:4: customer_ref: duplicate of line 2: 'C1'"
    ]
    assert empty(session)


def test_a_first_load_with_more_refs_than_it_keeps_in_memory_is_staged(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_good_folder(tmp_path)
    monkeypatch.setattr(importer, "_DIRECT_MAX_REFS", 2)  # the folder has 3 customers
    staged = calls(monkeypatch, "_bulk_insert")

    report = import_folder(session, tmp_path)

    assert staged == [*importer.FILES]
    assert [c.inserted for c in report.tables] == [3, 3, 4, 2]
    monkeypatch.undo()
    assert import_folder(session, tmp_path).changed == 0
