"""`basebot import <folder>`: exact values, idempotence, updates, all-or-nothing refusals."""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from queries import importer
from queries.freshness import changes_between, data_state
from queries.importer import (
    FILES,
    ImportFailed,
    ImportReport,
    Problem,
    TableCounts,
    import_folder,
)
from queries.models import Base, Customer, Installation, Product, Purchase
from tests.builders import Fixture, d

TABLES: list[Table] = [
    Base.metadata.tables[name] for name in ("customers", "products", "purchases", "installations")
]
KIND_NAMES = ("core", "accessory", "consumable", "service", "subscription")


def write(folder: Path, name: str, content: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(dedent(content).lstrip("\n"), encoding="utf-8")


def dump(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t.name: [tuple(row) for row in session.execute(select(t).order_by(t.c.id))] for t in TABLES
    }


def refused(session: Session, folder: Path) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        import_folder(session, folder)
    return [str(p) for p in caught.value.problems]


def customer(session: Session, ref: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.customer_ref == ref)).one()


def product(session: Session, sku: str) -> Product:
    return session.scalars(select(Product).where(Product.sku == sku)).one()


def purchase(session: Session, order_ref: str, line_no: int) -> Purchase:
    query = select(Purchase).where(Purchase.order_ref == order_ref, Purchase.line_no == line_no)
    return session.scalars(query).one()


def installation(session: Session, serial: str) -> Installation:
    return session.scalars(select(Installation).where(Installation.serial == serial)).one()


def write_good_folder(folder: Path) -> None:
    # Header orders vary, cells carry stray spaces, installations.csv has no `site` column.
    write(
        folder,
        "customers.csv",
        """
        name,customer_ref,segment,channel,industry,country,region,email,created_on
        Acme Corp, C1 ,business,direct,retail,us,AMER,ops@acme.example,2023-01-15
        Globex,C2,government,indirect,,DE,EMEA,,
        "Initech, Inc.",C3,startup,direct,industrial,GB,EMEA,,2022-12-01
        """,
    )
    write(
        folder,
        "products.csv",
        """
        sku,name,category,kind,for_category,installable,list_price
        PRN-1,Laser printer,printers,core,,yes,499.00
        TON-1,Toner,toner,consumable,printers,FALSE,39.5
        SVC-1,Printer care,services,service,printers,0,
        """,
    )
    write(
        folder,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,coverage_start,coverage_end
        O1,1,C1,PRN-1,2,450.00,2024-01-10,,
        O1,2,C1,SVC-1,1,120,2024-01-10,2024-01-10,2025-01-09
        O2,1,C1,PRN-1,-1,450,2024-02-01,,
        O3,1,C2,TON-1,5,39.5,2024-03-05,,
        """,
    )
    write(
        folder,
        "installations.csv",
        """
        serial,sku,customer_ref,order_ref,installed_on,removed_on
        SN-1,PRN-1,C1,O1,2024-01-12,
        SN-2,PRN-1,C1,O1,2024-01-12,2024-02-01
        """,
    )


def test_a_good_folder_loads_with_exact_values(session: Session, tmp_path: Path) -> None:
    write_good_folder(tmp_path)

    report = import_folder(session, tmp_path)

    assert report.tables == (
        TableCounts("customers", "customers.csv", 3, 3, 0, 0),
        TableCounts("products", "products.csv", 3, 3, 0, 0),
        TableCounts("purchases", "purchases.csv", 4, 4, 0, 0),
        TableCounts("installations", "installations.csv", 2, 2, 0, 0),
    )
    acme, globex, initech = (customer(session, ref) for ref in ("C1", "C2", "C3"))
    assert (acme.name, acme.segment, acme.channel, acme.industry) == (
        "Acme Corp",
        "business",
        "direct",
        "retail",
    )
    assert (acme.country, acme.region, acme.email, acme.created_on) == (
        "US",
        "AMER",
        "ops@acme.example",
        d("2023-01-15"),
    )
    assert (globex.industry, globex.email, globex.created_on, globex.country) == (
        None,
        None,
        None,
        "DE",
    )
    assert (initech.name, initech.segment) == ("Initech, Inc.", "startup")

    printer, toner, care = (product(session, sku) for sku in ("PRN-1", "TON-1", "SVC-1"))
    assert (printer.category, printer.kind, printer.for_category) == ("printers", "core", None)
    assert (printer.installable, printer.list_price) == (True, 499.0)
    assert (toner.kind, toner.for_category, toner.installable, toner.list_price) == (
        "consumable",
        "printers",
        False,
        39.5,
    )
    assert (care.kind, care.installable, care.list_price) == ("service", False, None)

    line = purchase(session, "O1", 1)
    assert (line.customer_id, line.product_id) == (acme.id, printer.id)
    assert (line.quantity, line.unit_price, line.purchased_on) == (2, 450.0, d("2024-01-10"))
    assert (line.coverage_start, line.coverage_end) == (None, None)
    service = purchase(session, "O1", 2)
    assert (service.product_id, service.unit_price) == (care.id, 120.0)
    assert (service.coverage_start, service.coverage_end) == (d("2024-01-10"), d("2025-01-09"))
    assert purchase(session, "O2", 1).quantity == -1
    assert purchase(session, "O3", 1).customer_id == globex.id

    active, removed = installation(session, "SN-1"), installation(session, "SN-2")
    assert (active.customer_id, active.product_id, active.order_ref) == (acme.id, printer.id, "O1")
    assert (active.site, active.installed_on, active.removed_on) == (
        None,
        d("2024-01-12"),
        None,
    )
    assert removed.removed_on == d("2024-02-01")


def test_reimporting_the_same_files_changes_nothing(session: Session, tmp_path: Path) -> None:
    write_good_folder(tmp_path)
    import_folder(session, tmp_path)
    before = dump(session)

    report = import_folder(session, tmp_path)

    assert dump(session) == before
    assert [(c.read, c.inserted, c.updated, c.unchanged) for c in report.tables] == [
        (3, 0, 0, 3),
        (3, 0, 0, 3),
        (4, 0, 0, 4),
        (2, 0, 0, 2),
    ]
    assert report.changed == 0


def test_a_second_import_updates_changed_rows_and_inserts_new_ones(
    session: Session, tmp_path: Path
) -> None:
    write_good_folder(tmp_path / "first")
    import_folder(session, tmp_path / "first")
    ids = {c.customer_ref: c.id for c in session.scalars(select(Customer))}
    second = tmp_path / "second"
    # Only the required customer columns: the absent ones (email, ...) are left as they were.
    write(
        second,
        "customers.csv",
        """
        customer_ref,name
        C1,Acme Corporation
        C2,Globex
        C4,Umbrella
        """,
    )
    write(
        second,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on
        O3,1,C4,TON-1,6,39.5,2024-03-05
        O1,1,C1,PRN-1,2,450,2024-01-10
        """,
    )

    report = import_folder(session, second)

    assert report["customers"] == TableCounts("customers", "customers.csv", 3, 1, 1, 1)
    assert report["purchases"] == TableCounts("purchases", "purchases.csv", 2, 0, 1, 1)
    acme = customer(session, "C1")
    assert (acme.id, acme.name, acme.email, acme.country) == (
        ids["C1"],
        "Acme Corporation",
        "ops@acme.example",
        "US",
    )
    assert customer(session, "C4").segment is None
    moved = purchase(session, "O3", 1)
    assert (moved.customer_id, moved.quantity) == (customer(session, "C4").id, 6)
    assert moved.coverage_start is None
    assert session.scalar(select(func.count()).select_from(Customer)) == 4


def write_bad_folder(folder: Path) -> None:
    write(
        folder,
        "customers.csv",
        """
        customer_ref,name,segment,channel,industry,country,region,email,created_on
        C1,Acme,business,direct,retail,US,AMER,,2023-01-15
        C2,,business,direct,retail,USA,AMER,,2023-02-30
        C1,Acme again,business,direct,retail,US,AMER,,
        """,
    )
    write(
        folder,
        "products.csv",
        """
        sku,name,category,kind,for_category,installable,list_price
        PRN-1,Printer,printers,core,,yes,499
        GAD-1,Gadget,gadgets,gadget,,maybe,-5
        """,
    )
    write(
        folder,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,coverage_start,coverage_end
        O1,1,C1,PRN-1,0,450,2024-01-10,,
        O1,2,C9,PRN-1,1,x,10/01/2024,,
        O1,2,C1,NOPE,1,450,2024-01-10,2024-01-10,2025-01-09
        O2,1,C1,PRN-1,1,450,2024-01-10,2024-01-10,2025-01-09
        O2,0,C0,SVC-0,1.5,450,2024-01-10,2024-02-01,2024-01-01
        """,
    )
    write(
        folder,
        "installations.csv",
        """
        serial,customer_ref,sku,order_ref,site,installed_on,removed_on
        SN-1,C1,PRN-1,O1,HQ,2024-01-12,2024-01-11
        SN-2,C1,PRN-1,O1,HQ,2024-01-12
        """,
    )


BAD_FOLDER_PROBLEMS = [
    "customers.csv:3: name: required value missing",
    "customers.csv:3: country: not a 2-letter country code: 'USA'",
    "customers.csv:3: created_on: not a date (YYYY-MM-DD): '2023-02-30'",
    "customers.csv:4: customer_ref: duplicate of line 2: 'C1'",
    "installations.csv:2: removed_on: '2024-01-11' is before installed_on '2024-01-12'",
    "installations.csv:3: 6 values, but the header has 7 columns",
    "products.csv:3: kind: not one of core, accessory, consumable, service, subscription: 'gadget'",
    "products.csv:3: installable: not a boolean (true/false, yes/no, 1/0): 'maybe'",
    "products.csv:3: list_price: must not be negative: '-5'",
    "purchases.csv:2: quantity: must not be 0: '0'",
    "purchases.csv:3: unit_price: not a number: 'x'",
    "purchases.csv:3: purchased_on: not a date (YYYY-MM-DD): '10/01/2024'",
    "purchases.csv:3: customer_ref: unknown customer: 'C9'",
    "purchases.csv:4: order_ref+line_no: duplicate of line 3: 'O1', 2",
    "purchases.csv:4: sku: unknown product: 'NOPE'",
    "purchases.csv:5: coverage_start: 'PRN-1' is a core product;"
    " only service and subscription lines have coverage",
    "purchases.csv:6: line_no: must be a positive whole number: '0'",
    "purchases.csv:6: quantity: not a whole number: '1.5'",
    "purchases.csv:6: coverage_end: '2024-01-01' is before coverage_start '2024-02-01'",
]


def test_a_bad_folder_is_refused_whole_with_every_problem(session: Session, tmp_path: Path) -> None:
    fx = Fixture(session)
    fx.customer("C0", "Existing")
    fx.product("SVC-0", "services", "service")
    fx.buy("C0", "SVC-0", "2024-01-01", coverage=("2024-01-01", "2024-12-31"))
    write_bad_folder(tmp_path)
    before = dump(session)

    problems = refused(session, tmp_path)

    assert problems == BAD_FOLDER_PROBLEMS
    assert dump(session) == before
    # The good rows of the folder (customer C1, product PRN-1) did not land either.
    assert session.scalar(select(func.count()).where(Customer.customer_ref == "C1")) == 0
    assert session.scalar(select(func.count()).where(Product.sku == "PRN-1")) == 0


def test_one_bad_row_keeps_every_good_file_out(session: Session, tmp_path: Path) -> None:
    write_good_folder(tmp_path)
    with (tmp_path / "installations.csv").open("a", encoding="utf-8") as handle:
        handle.write("SN-3,PRN-1,C1,O1,2024-13-01,\n")
    before = dump(session)

    assert refused(session, tmp_path) == [
        "installations.csv:4: installed_on: not a date (YYYY-MM-DD): '2024-13-01'"
    ]
    assert dump(session) == before


def test_the_import_neither_commits_nor_leaves_connection_settings_changed(
    session: Session, tmp_path: Path
) -> None:
    def settings() -> tuple[object, ...]:
        conn = session.connection()
        if session.get_bind().dialect.name == "sqlite":
            return (conn.exec_driver_sql("PRAGMA cache_size").scalar(),)
        return tuple(
            conn.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("work_mem", "maintenance_work_mem")
        )

    before = settings()
    write_good_folder(tmp_path / "good")
    write(tmp_path / "bad", "customers.csv", "customer_ref,name\nC1,\n")

    import_folder(session, tmp_path / "good")
    refused(session, tmp_path / "bad")

    assert settings() == before
    assert session.in_transaction()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_failed_import_keeps_the_callers_work_and_the_session_usable(
    session: Session, tmp_path: Path
) -> None:
    Fixture(session).customer("MINE", "Pending work of the caller")
    write(tmp_path / "bad", "customers.csv", "customer_ref,name\nC1,\n")
    refused(session, tmp_path / "bad")
    write_good_folder(tmp_path / "good")

    report = import_folder(session, tmp_path / "good")

    assert report["customers"].inserted == 3
    assert customer(session, "MINE").name == "Pending work of the caller"


def test_references_resolve_to_the_database_or_the_same_import(
    session: Session, tmp_path: Path
) -> None:
    fx = Fixture(session)
    fx.customer("DB-C")
    fx.product("DB-P", "printers")
    write(tmp_path, "customers.csv", "customer_ref,name\nNEW-C,New customer\n")
    write(
        tmp_path,
        "products.csv",
        "sku,name,category,kind,installable\nNEW-P,New printer,printers,core,true\n",
    )
    write(
        tmp_path,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on
        O1,1,DB-C,NEW-P,1,10,2024-01-01
        O1,2,NEW-C,DB-P,1,10,2024-01-01
        O1,3,GHOST,DB-P,1,10,2024-01-01
        O1,4,DB-C,ghost-sku,1,10,2024-01-01
        """,
    )
    write(
        tmp_path,
        "installations.csv",
        """
        serial,customer_ref,sku,installed_on
        SN-1,NEW-C,NEW-P,2024-01-02
        SN-2,db-c,DB-P,2024-01-02
        SN-3,NOBODY,NOTHING,2024-01-02
        """,
    )

    assert refused(session, tmp_path) == [
        "installations.csv:3: customer_ref: unknown customer: 'db-c'",
        "installations.csv:4: customer_ref: unknown customer: 'NOBODY'",
        "installations.csv:4: sku: unknown product: 'NOTHING'",
        "purchases.csv:4: customer_ref: unknown customer: 'GHOST'",
        "purchases.csv:5: sku: unknown product: 'ghost-sku'",
    ]

    write(
        tmp_path,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on
        O1,1,DB-C,NEW-P,1,10,2024-01-01
        O1,2,NEW-C,DB-P,1,10,2024-01-01
        """,
    )
    write(tmp_path, "installations.csv", "serial,customer_ref,sku,installed_on\n")
    report = import_folder(session, tmp_path)

    assert report["purchases"].inserted == 2
    assert report["installations"].read == 0
    assert purchase(session, "O1", 2).customer_id == customer(session, "NEW-C").id


def test_duplicate_keys_within_a_file_are_refused(session: Session, tmp_path: Path) -> None:
    write(
        tmp_path,
        "products.csv",
        """
        sku,name,category,kind,installable
        P1,Printer,printers,core,yes
        P2,Scanner,scanners,core,yes
        P1,Printer again,printers,core,yes
        P1,Printer thrice,printers,core,yes
        """,
    )
    write(
        tmp_path,
        "installations.csv",
        """
        serial,customer_ref,sku,installed_on
        SN-1,C1,P1,2024-01-01
        SN-1,C1,P2,2024-01-01
        """,
    )
    Fixture(session).customer("C1")

    assert refused(session, tmp_path) == [
        "installations.csv:3: serial: duplicate of line 2: 'SN-1'",
        "products.csv:4: sku: duplicate of line 2: 'P1'",
        "products.csv:5: sku: duplicate of line 2: 'P1'",
    ]


def test_coverage_only_on_service_and_subscription_lines(session: Session, tmp_path: Path) -> None:
    fx = Fixture(session)
    fx.customer("C1")
    fx.product("CARE-DB", "services", "service", for_category="printers")
    fx.product("PRN-DB", "printers", "core")
    fx.product("BECOMES-SVC", "services", "core")
    # products.csv wins over the database: the kind is the one after this import.
    write(
        tmp_path,
        "products.csv",
        """
        sku,name,category,kind,installable
        BECOMES-SVC,Care plan,services,service,no
        CLOUD,Cloud plan,services,subscription,no
        TON-1,Toner,toner,consumable,no
        """,
    )
    header = "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
    write(
        tmp_path,
        "purchases.csv",
        header
        + """coverage_end,coverage_start
        O1,1,C1,CARE-DB,1,100,2024-01-01,2024-12-31,2024-01-01
        O1,2,C1,BECOMES-SVC,1,100,2024-01-01,2024-12-31,2024-01-01
        O1,3,C1,CLOUD,1,100,2024-01-01,2024-12-31,2024-01-01
        O1,4,C1,PRN-DB,1,100,2024-01-01,2024-12-31,2024-01-01
        O1,5,C1,TON-1,1,100,2024-01-01,2024-12-31,
        O1,6,C1,PRN-DB,1,100,2024-01-01,,
        O1,7,C1,CLOUD,1,100,2024-01-01,2024-12-31,2024-12-31
        """,
    )

    assert refused(session, tmp_path) == [
        "purchases.csv:5: coverage_start: 'PRN-DB' is a core product;"
        " only service and subscription lines have coverage",
        "purchases.csv:6: coverage_start: required when coverage_end is given",
        "purchases.csv:6: coverage_end: 'TON-1' is a consumable product;"
        " only service and subscription lines have coverage",
    ]


def test_a_utf8_bom_is_accepted(session: Session, tmp_path: Path) -> None:
    content = "customer_ref,name,country\r\nC1,Café Zürich,CH\r\n"
    (tmp_path / "customers.csv").write_bytes("\ufeff".encode() + content.encode())

    report = import_folder(session, tmp_path)

    assert report["customers"].inserted == 1
    assert (customer(session, "C1").name, customer(session, "C1").country) == (
        "Café Zürich",
        "CH",
    )


def test_bytes_that_are_not_utf8_are_refused_by_line(session: Session, tmp_path: Path) -> None:
    rows = b"customer_ref,name\nC1,Acme\nC2,Caf\xe9\nC3,Globex\n"
    (tmp_path / "customers.csv").write_bytes(rows)

    assert refused(session, tmp_path) == [
        "customers.csv:3: not valid UTF-8 (byte 0xe9 at position 7)"
    ]


def test_nul_characters_are_refused_by_line(session: Session, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"customer_ref,name\nC1,Ac\x00me\n")

    assert refused(session, tmp_path) == ["customers.csv:2: contains a NUL character"]


def test_line_numbers_are_physical_lines(session: Session, tmp_path: Path) -> None:
    # A quoted value spanning two lines, a blank line and an empty spreadsheet row in between.
    write(
        tmp_path,
        "customers.csv",
        """
        customer_ref,name,email
        C1,"Acme
        Corp",a@example.com

        ,,
        C2,Globex,
        C3,,
        """,
    )

    assert refused(session, tmp_path) == ["customers.csv:7: name: required value missing"]


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ([], "none of customers.csv, products.csv, purchases.csv, installations.csv found"),
        (["purchase.csv", "notes.txt"], "none of " + ", ".join(FILES) + " found"),
    ],
)
def test_a_folder_without_any_import_file_is_refused(
    session: Session, tmp_path: Path, layout: list[str], expected: str
) -> None:
    for name in layout:
        (tmp_path / name).write_text("x\n", encoding="utf-8")

    assert refused(session, tmp_path) == [f"{tmp_path}: {expected}"]


def test_a_missing_folder_is_refused(session: Session, tmp_path: Path) -> None:
    assert refused(session, tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a folder"]


def test_other_csv_files_are_reported_as_ignored(session: Session, tmp_path: Path) -> None:
    write(tmp_path, "customers.csv", "customer_ref,name\nC1,Acme\n")
    write(tmp_path, "purchase.csv", "typo in the name\n")

    report = import_folder(session, tmp_path)

    assert report.ignored == ("purchase.csv",)
    assert str(report) == (
        "customers.csv: 1 read, 1 inserted, 0 updated, 0 unchanged\n"
        "ignored (not an import file): purchase.csv"
    )


def test_header_problems_are_reported_on_line_1(session: Session, tmp_path: Path) -> None:
    write(tmp_path, "customers.csv", "customer_ref,Name,colour,customer_ref,\nC1,Acme,red,C1,\n")
    write(tmp_path, "products.csv", "sku;name;category;kind;installable\nP1;P;p;core;yes\n")
    write(
        tmp_path,
        "purchases.csv",
        """
        order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,coverage_start
        O1,1,C1,P1,1,10,2024-01-01,2024-01-01
        """,
    )
    (tmp_path / "installations.csv").write_bytes(b"")

    # Rows of a file with a bad header are not read; refs into such a file are not checked.
    assert refused(session, tmp_path) == [
        "customers.csv:1: Name: unknown column",
        "customers.csv:1: colour: unknown column",
        "customers.csv:1: customer_ref: duplicate column",
        "customers.csv:1: column 5: blank column name",
        "customers.csv:1: name: missing column",
        "installations.csv:1: empty file, expected a header line",
        "products.csv:1: sku;name;category;kind;installable: unknown column;"
        " the file must be comma-separated",
        "products.csv:1: sku: missing column",
        "products.csv:1: name: missing column",
        "products.csv:1: category: missing column",
        "products.csv:1: kind: missing column",
        "products.csv:1: installable: missing column",
        "purchases.csv:1: coverage_end: missing column (needed with coverage_start)",
    ]


NOT_AN_OWNER = "not an email address or a Slack user id (e.g. ann@acme.example or U0123ABCD)"
BAD_OWNERS = (
    "ann",
    "ann@acme",
    "ann@@acme.example",
    "ann lee@acme.example",
    "Ann Lee <ann@acme.example>",
    "mailto:ann@acme.example",
    "u0123abcd",
    "<@U0123ABCD>",
    "@ann",
    "U",
    "ann@acmé.example",
)

BASE_ROWS = {
    "customers.csv": {
        "customer_ref": "C1",
        "name": "Acme",
        "segment": "business",
        "country": "US",
        "created_on": "2024-01-01",
    },
    "products.csv": {
        "sku": "P1",
        "name": "Printer",
        "category": "printers",
        "kind": "core",
        "installable": "true",
        "list_price": "10",
    },
    "purchases.csv": {
        "order_ref": "O1",
        "line_no": "1",
        "customer_ref": "C-DB",
        "sku": "CARE-DB",
        "quantity": "1",
        "unit_price": "10",
        "purchased_on": "2024-01-01",
        "coverage_start": "",
        "coverage_end": "",
    },
    "installations.csv": {
        "serial": "SN-1",
        "customer_ref": "C-DB",
        "sku": "CARE-DB",
        "installed_on": "2024-01-01",
        "removed_on": "",
    },
}


def write_one_row(session: Session, folder: Path, file: str, column: str, value: str) -> None:
    fx = Fixture(session)
    fx.customer("C-DB")
    fx.product("CARE-DB", "services", "service")
    row = BASE_ROWS[file] | {column: value}
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / file).open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row.keys(), row.values()])


@pytest.mark.parametrize(
    ("file", "column", "value", "reason"),
    [
        ("customers.csv", "customer_ref", "  ", "required value missing"),
        ("customers.csv", "name", "", "required value missing"),
        ("customers.csv", "country", "USA", "not a 2-letter country code: 'USA'"),
        ("customers.csv", "country", "U1", "not a 2-letter country code: 'U1'"),
        ("customers.csv", "created_on", "2024-1-05", "not a date (YYYY-MM-DD): '2024-1-05'"),
        ("customers.csv", "created_on", "20240105", "not a date (YYYY-MM-DD): '20240105'"),
        ("customers.csv", "created_on", "2023-02-29", "not a date (YYYY-MM-DD): '2023-02-29'"),
        ("products.csv", "kind", "Core", f"not one of {', '.join(KIND_NAMES)}: 'Core'"),
        ("products.csv", "installable", "y", "not a boolean (true/false, yes/no, 1/0): 'y'"),
        ("products.csv", "installable", "", "required value missing"),
        ("products.csv", "list_price", "-0.01", "must not be negative: '-0.01'"),
        ("products.csv", "list_price", "1.23456", "more than 4 decimal places: '1.23456'"),
        ("products.csv", "list_price", "1,5", "not a number: '1,5'"),
        ("products.csv", "list_price", "1e3", "not a number: '1e3'"),
        ("products.csv", "list_price", "123456789012345", "too large: '123456789012345'"),
        ("purchases.csv", "line_no", "-1", "must be a positive whole number: '-1'"),
        ("purchases.csv", "line_no", "first", "not a whole number: 'first'"),
        ("purchases.csv", "quantity", "0", "must not be 0: '0'"),
        ("purchases.csv", "quantity", "1.0", "not a whole number: '1.0'"),
        ("purchases.csv", "quantity", "9999999999", "out of range: '9999999999'"),
        ("purchases.csv", "unit_price", "$10", "not a number: '$10'"),
        ("purchases.csv", "purchased_on", "", "required value missing"),
        ("purchases.csv", "coverage_end", "2024-12-31", "required when coverage_end is given"),
        ("installations.csv", "installed_on", "", "required value missing"),
        *(("customers.csv", "owner", bad, f"{NOT_AN_OWNER}: {bad!r}") for bad in BAD_OWNERS),
    ],
)
def test_each_bad_value_is_named(
    session: Session, tmp_path: Path, file: str, column: str, value: str, reason: str
) -> None:
    write_one_row(session, tmp_path, file, column, value)
    shown = "coverage_start" if reason.startswith("required when") else column

    assert refused(session, tmp_path) == [f"{file}:2: {shown}: {reason}"]


def test_removed_before_installed_is_refused(session: Session, tmp_path: Path) -> None:
    write_one_row(session, tmp_path, "installations.csv", "removed_on", "2023-12-31")

    assert refused(session, tmp_path) == [
        "installations.csv:2: removed_on: '2023-12-31' is before installed_on '2024-01-01'"
    ]


@pytest.mark.parametrize(
    ("file", "column", "value", "attribute", "stored"),
    [
        ("customers.csv", "country", "de", "country", "DE"),
        ("customers.csv", "segment", "reseller partner", "segment", "reseller partner"),
        ("products.csv", "installable", "YES", "installable", True),
        ("products.csv", "installable", "No", "installable", False),
        ("products.csv", "installable", "1", "installable", True),
        ("products.csv", "list_price", "0", "list_price", 0.0),
        ("products.csv", "list_price", ".5", "list_price", 0.5),
        ("products.csv", "list_price", "12.34000", "list_price", 12.34),
        ("purchases.csv", "quantity", "-3", "quantity", -3),
        ("purchases.csv", "unit_price", "-12.5", "unit_price", -12.5),
        ("installations.csv", "removed_on", "2024-01-01", "removed_on", date(2024, 1, 1)),
        ("customers.csv", "owner", " ann@acme.example ", "owner", "ann@acme.example"),
        ("customers.csv", "owner", "Bea.Lee+EU@Acme.example", "owner", "Bea.Lee+EU@Acme.example"),
        ("customers.csv", "owner", "U0123ABCD", "owner", "U0123ABCD"),
        ("customers.csv", "owner", "W012A3CDE", "owner", "W012A3CDE"),
        ("customers.csv", "owner", "", "owner", None),
    ],
)
def test_accepted_values(
    session: Session,
    tmp_path: Path,
    file: str,
    column: str,
    value: str,
    attribute: str,
    stored: object,
) -> None:
    write_one_row(session, tmp_path, file, column, value)

    import_folder(session, tmp_path)

    model = {
        "customers.csv": Customer,
        "products.csv": Product,
        "purchases.csv": Purchase,
        "installations.csv": Installation,
    }[file]
    rows = session.scalars(select(model).order_by(model.__table__.c.id.desc())).first()
    assert getattr(rows, attribute) == stored


def write_owners(folder: Path, rows: list[tuple[str, str]]) -> None:
    """customers.csv with a name, an owner column and (ref, owner) rows written as given."""
    lines = ["customer_ref,name,owner", *(f"{ref},Customer {ref},{owner}" for ref, owner in rows)]
    write(folder, "customers.csv", "\n".join(lines) + "\n")


def owners(session: Session) -> dict[str, str | None]:
    return {
        ref: owner for ref, owner in session.execute(select(Customer.customer_ref, Customer.owner))
    }


def test_an_owner_is_an_email_or_a_slack_user_id_and_a_blank_is_no_owner(
    session: Session, tmp_path: Path
) -> None:
    write_owners(
        tmp_path,
        [
            ("C1", "ann@acme.example"),
            ("C2", "  U0123ABCD "),
            ("C3", ""),
            ("C4", '"W012A3CDE"'),
            ("C5", "ANN@Acme.example"),  # kept as written: SPEC §9 compares case-insensitively
            ("C6", '" "'),
        ],
    )

    assert import_folder(session, tmp_path)["customers"].inserted == 6

    assert owners(session) == {
        "C1": "ann@acme.example",
        "C2": "U0123ABCD",
        "C3": None,
        "C4": "W012A3CDE",
        "C5": "ANN@Acme.example",
        "C6": None,
    }


def test_a_bad_owner_refuses_the_whole_folder(session: Session, tmp_path: Path) -> None:
    write_good_folder(tmp_path / "first")
    write_owners(tmp_path / "first", [("C1", "ann@acme.example"), ("C2", "U0BOB")])
    import_folder(session, tmp_path / "first")
    before = dump(session)
    write_good_folder(tmp_path / "second")
    write_owners(
        tmp_path / "second",
        [("C1", "U0CARA"), ("C2", "bob at acme"), ("C3", "ann@acme.example"), ("C4", "u0dan")],
    )

    assert refused(session, tmp_path / "second") == [
        f"customers.csv:3: owner: {NOT_AN_OWNER}: 'bob at acme'",
        f"customers.csv:5: owner: {NOT_AN_OWNER}: 'u0dan'",
    ]
    assert dump(session) == before
    assert owners(session) == {"C1": "ann@acme.example", "C2": "U0BOB"}


def test_the_command_refuses_a_bad_owner_with_exit_1(
    world_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main
    from queries.db import make_engine

    write_owners(tmp_path / "bad", [("N1", "ann@acme.example"), ("N2", "Ann Lee")])
    engine = make_engine(world_db)
    with Session(engine) as session:
        before = dump(session)

    assert main(["import", str(tmp_path / "bad")]) == 1

    assert f"customers.csv:3: owner: {NOT_AN_OWNER}: 'Ann Lee'" in capsys.readouterr().err
    with Session(engine) as session:
        assert dump(session) == before
    engine.dispose()


def test_twenty_thousand_purchase_lines(session: Session, tmp_path: Path) -> None:
    rng = random.Random(7)
    customers = [f"C{i:04d}" for i in range(300)]
    write(
        tmp_path,
        "customers.csv",
        "customer_ref,name,country\n" + "".join(f"{c},Customer {c},US\n" for c in customers),
    )
    write(
        tmp_path,
        "products.csv",
        "sku,name,category,kind,installable,list_price\n"
        "PRN,Printer,printers,core,yes,400\nCARE,Care,services,service,no,100\n",
    )
    lines = ["order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
             "coverage_start,coverage_end\n"]  # fmt: skip
    quantity_sum, revenue_cents = 0, 0
    for n in range(20_000):
        quantity = rng.choice([-2, -1, 1, 1, 2, 3, 10])
        cents = rng.randrange(100, 100_000)
        day = date(2023, 1, 1).toordinal() + rng.randrange(700)
        on = date.fromordinal(day).isoformat()
        care = n % 5 == 0
        coverage = f"{on},{date.fromordinal(day + 364).isoformat()}" if care else ","
        lines.append(
            f"O{n // 4},{n % 4 + 1},{rng.choice(customers)},{'CARE' if care else 'PRN'},"
            f"{quantity},{cents // 100}.{cents % 100:02d},{on},{coverage}\n"
        )
        quantity_sum += quantity
        revenue_cents += quantity * cents
    write(tmp_path, "purchases.csv", "".join(lines))

    report = import_folder(session, tmp_path)

    assert report["purchases"] == TableCounts("purchases", "purchases.csv", 20_000, 20_000, 0, 0)
    totals = session.execute(
        select(
            func.count(),
            func.sum(Purchase.quantity),
            func.sum(Purchase.quantity * Purchase.unit_price),
            func.count(Purchase.coverage_start),
        )
    ).one()
    assert totals[0] == 20_000
    assert totals[1] == quantity_sum
    assert float(totals[2]) == pytest.approx(revenue_cents / 100, abs=0.01)
    assert totals[3] == 4_000
    assert import_folder(session, tmp_path)["purchases"].unchanged == 20_000


def test_problem_and_failure_texts() -> None:
    problem = Problem("purchases.csv", 7, "quantity", "not a whole number: 'x'")
    failure = ImportFailed([problem, Problem("customers.csv", 2, "name", "required value missing")])

    assert str(problem) == "purchases.csv:7: quantity: not a whole number: 'x'"
    assert str(failure) == (
        "2 problems; nothing was imported\n"
        "customers.csv:2: name: required value missing\n"
        "purchases.csv:7: quantity: not a whole number: 'x'"
    )
    assert str(ImportReport(tables=(TableCounts("products", "products.csv", 2, 1, 0, 1),))) == (
        "products.csv: 2 read, 1 inserted, 0 updated, 1 unchanged"
    )


@pytest.mark.parametrize("bulk", [False, True])
def test_an_import_is_captured_and_a_refused_one_leaves_the_capture_as_it_was(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    if bulk:  # as if the files were large: the replicas are rebuilt instead
        monkeypatch.setattr(importer, "BULK_BYTES", 0)
    before = data_state(session)
    write_bad_folder(tmp_path)
    refused(session, tmp_path)
    assert data_state(session) == before
    write_good_folder(tmp_path)
    import_folder(session, tmp_path)
    after = data_state(session)
    assert before is not None and after is not None
    if bulk:
        assert after.version != before.version  # a new lineage: replicas are rebuilt
    else:
        assert after.version == before.version and after.seq > before.seq
        changes = changes_between(session, before.seq, after.seq)
        assert changes.complete and changes.customers == {
            customer(session, "C1").id,
            customer(session, "C2").id,
            customer(session, "C3").id,
        }
    # Either way the triggers are in place for the next writer.
    Fixture(session).customer("LATER")
    later = data_state(session)
    assert later is not None and later.seq == after.seq + 1
