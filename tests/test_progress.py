"""Progress of the long jobs: one line per phase on stderr from the command line when it is not
a terminal, a bar per phase when it is, and nothing at all from a library call."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from queries.bars import Bars
from queries.demo import seed_demo
from queries.importer import import_folder
from queries.progress import Lines, named
from queries.replica import ReplicaConfig, build_elsewhere, build_replica
from tests.committed import committed_database, sqlite_file
from tests.test_importer import write_good_folder

# "<job>: <phase>[ <count> <unit>] in <seconds> s[ (<rate> <unit>/s)]"
SUMMARY = re.compile(
    r"(?P<phase>\w+: .+?)(?: (?P<count>[\d,]+) (?P<unit>rows|customers))?"
    r" in \d+\.\d s(?: \([\d,]+ (?P=unit)/s\))?"
)
# The good folder's rows per file, and so per table of the replica.
ROWS = {"customers": 3, "products": 3, "purchases": 4, "installations": 2}
REPLICA_PHASES = {f"replica: {table}": rows for table, rows in ROWS.items()} | {
    f"replica: {table} sorted": None for table in ROWS
}


def basebot(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it, its stderr a pipe (no .env: `cwd` is a new folder)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def summaries(stderr: str) -> dict[str, int | None]:
    """Every phase named on stderr, with its count; fails on any other line."""
    found: dict[str, int | None] = {}
    for line in stderr.splitlines():
        match = SUMMARY.fullmatch(line)
        assert match, f"not a phase summary: {line!r}"
        count = match["count"]
        found[match["phase"]] = None if count is None else int(count.replace(",", ""))
    return found


def test_import_names_every_file_with_its_rows_on_stderr(engine: Engine, tmp_path: Path) -> None:
    write_good_folder(tmp_path / "folder")
    with committed_database(engine, tmp_path, "progress", lambda session: None) as db:
        done = basebot(db.url.render_as_string(hide_password=False), tmp_path, "import", "folder")
    phases = summaries(done.stderr)
    assert phases.items() >= {f"import: {t}.csv": n for t, n in ROWS.items()}.items()
    assert phases.items() >= REPLICA_PHASES.items()
    assert list(phases)[-1] == "replica: saved"
    # Empty tables: PostgreSQL fills them straight from the files, SQLite through staging.
    finish = "checks and indexes" if engine.dialect.name == "postgresql" else "indexes"
    assert all(f"import: {table}.csv {finish}" in phases for table in ROWS)
    assert "purchases.csv: 4 read, 4 inserted, 0 updated, 0 unchanged" in done.stdout


def test_seed_reports_its_customers_then_the_replica_on_stderr(tmp_path: Path) -> None:
    url = sqlite_file(tmp_path / "seed.db", lambda session: None)
    done = basebot(url, tmp_path, "seed", "--customers", "40", "--today", "2026-06-30")
    seeded = re.search(r"(\d+) purchase lines, (\d+) installations", done.stdout)
    assert seeded, done.stdout
    phases = summaries(done.stderr)
    assert next(iter(phases.items())) == ("seed: generate and insert", 40)
    assert (
        phases.items()
        >= {
            "replica: customers": 40,
            "replica: products": 34,
            "replica: purchases": int(seeded[1]),
            "replica: installations": int(seeded[2]),
        }.items()
    )
    assert list(phases)[-1] == "replica: saved"


def test_library_calls_are_silent(
    session: Session, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_good_folder(tmp_path / "folder")
    import_folder(session, tmp_path / "folder")
    config = ReplicaConfig(folder=tmp_path / "replica", memory_limit="256MB", threads=1)
    build_replica(session.connection(), config)
    url = sqlite_file(tmp_path / "seed.db", lambda s: seed_demo(s, customers=5, today=date.today()))
    build_elsewhere(url, config)  # the child process too
    assert capfd.readouterr() == ("", "")


def test_a_phase_cut_short_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), Lines().phase("import: purchases.csv") as step:
        step.advance(7)
        raise KeyError
    said = capsys.readouterr().err
    assert re.fullmatch(r"import: purchases\.csv stopped after \d+\.\d s \(7 rows\)\n", said)


def test_bars_end_full_with_the_count_done() -> None:
    shown = io.StringIO()
    bars = Bars(Console(file=shown, force_terminal=True, width=120, color_system=None))
    with bars.phase("replica: purchases", total=lambda: 10) as step:
        step.advance(4)
        step.advance(4)
    with bars.phase("replica: state rows", unit=None):
        pass
    # Each phase's last drawing, without the terminal's control sequences.
    last = [
        re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.split("\r")[-1])
        for drawn in shown.getvalue().split("\n")[:-1]
    ]
    assert re.fullmatch(r"replica: purchases +━{40} 8 rows [\d,]+ rows/s \d+\.\d s", last[0])
    assert re.fullmatch(r"replica: state rows +━{40} +\d+\.\d s", last[1])


def test_a_child_reports_the_way_its_parent_does() -> None:
    assert [named(p.kind).kind for p in (Bars(), Lines(), named("silent"))] == [
        "bars",
        "lines",
        "silent",
    ]
