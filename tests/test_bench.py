"""The benchmark harness at a tiny scale: it runs end to end and its baselines agree.

Timings are the benchmark's business (`python -m bench`), never asserted here.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from bench.cli import main
from bench.databases import SQLITE_FILE
from bench.report import LIVE_HEADING, keep_live, with_live
from bench.run import DEFAULT_TODAY
from bench.verbs import (
    FRESHNESS_CHECKS,
    HOME,
    LIVE_VERBS,
    MINE_VERBS,
    SINCE,
    TOUCHED,
    VERBS,
    differences,
    home_label,
    upsell_figures,
)

_ASKED_AS = re.compile(r"`… mine` asked as (rep\d+@sales\.example) .*, owner of (\d+) accounts")


def _table_rows(report: str) -> dict[str, list[str]]:
    rows = {}
    for line in report.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("replica", [True, False], ids=["replica", "database"])
def test_tiny_run_reports_every_verb_and_baselines_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replica: bool
) -> None:
    out = tmp_path / "RESULTS.md"
    code = main(
        [
            "--customers",
            "300",
            "--repeat",
            "2",
            "--pandas-repeat",
            "1",
            "--backend",
            "sqlite",
            "--data-dir",
            str(tmp_path / "data"),
            "--explain",
            "1",
            "--out",
            str(out),
            "--quiet",
            *([] if replica else ["--no-replica"]),
        ]
    )

    assert code == 0
    report = out.read_text()
    assert report == capsys.readouterr().out
    assert "300 customers" in report
    assert "rows/s" in report
    assert "peak RSS" in report
    rows = _table_rows(report)
    [(_, accounts)] = _ASKED_AS.findall(report)
    assert int(accounts) > 0
    # The App Home is timed like a verb, labelled with the asker's accounts.
    home = home_label(int(accounts))
    labels = {home if v == HOME else v.label: v for v in VERBS}
    assert set(rows) == set(labels)
    for label, verb in labels.items():
        runs, median = rows[label][1], rows[label][2]
        assert runs == "2" and median != "—"
        baselines = rows[label][10]
        assert baselines == ("agrees" if verb.baselined else "—"), label
    assert "DIFFERS" not in report
    assert rows[home][4].startswith("≤ 1,000")
    assert int(rows[home][11]) > 1  # the blocks of its view
    # The asker's accounts have answers of their own, a part of the whole base's.
    for verb in MINE_VERBS:
        assert int(rows[verb.label][11]) > 0, verb.label
    assert int(rows["upsell <category> mine"][11]) < int(rows["upsell <category>"][11])
    if replica:
        assert "Read replica (DuckDB) built" in report
        assert "Query plans on the read replica of SQLite" in report
    else:
        assert "No read replica" in report
        assert "Query plans on SQLite" in report
    assert (tmp_path / "data").is_dir()


def test_since_is_about_a_month_before_the_data_s_today() -> None:
    assert (DEFAULT_TODAY - date.fromisoformat(SINCE)).days == 30
    [since] = [v for v in VERBS if v.label == "upsell <category> service since <date>"]
    assert since.command.endswith(f"since {SINCE}")


def test_a_wrong_baseline_is_caught() -> None:
    right = upsell_figures([("C0000002", 3), ("C0000001", 1)])
    swapped = upsell_figures([("C0000001", 3), ("C0000002", 1)])
    assert differences(right, right) == []
    assert differences(right, swapped)
    assert differences({"revenue": 10.0}, {"revenue": 10.004}) == []
    assert differences({"revenue": 10.0}, {"revenue": 10.02}) == ["revenue: 10.0 vs 10.02"]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_tiny_live_run_times_every_verb_while_the_writer_commits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# basebot benchmark\n\n## SQLite 3\n\nthe full-scale tables\n")
    code = main(
        [
            "--live",
            "--customers",
            "300",
            "--backend",
            "sqlite",
            "--data-dir",
            str(tmp_path / "data"),
            "--still-seconds",
            "1",
            "--live-seconds",
            "4",
            "--write-every",
            "0.5",
            "--out",
            str(out),
            "--quiet",
        ]
    )

    printed = capsys.readouterr().out
    written = out.read_text()
    assert written.startswith("# basebot benchmark\n\n## SQLite 3\n\nthe full-scale tables\n")
    assert written.endswith(printed)
    assert printed.startswith("## Live data\n")
    assert "### SQLite" in printed
    tables = [_cells(line) for line in printed.splitlines() if line.startswith("| `")]
    verbs = {cells[0].strip("`"): cells for cells in tables if len(cells) == 8}
    checks = {cells[0].strip("`"): cells for cells in tables if len(cells) == 5}
    assert list(verbs) == [v.label for v in LIVE_VERBS]
    for label, cells in verbs.items():
        still_runs, live_runs = cells[1], cells[4]
        assert int(still_runs) >= 1 and int(live_runs) >= 1, label
        assert cells[7].endswith("×")
    [committed] = re.findall(r"the writer committed (\d+) changes", printed)
    assert int(committed) >= 2
    assert list(checks) == [TOUCHED, *FRESHNESS_CHECKS]
    differing = 0
    for cells in checks.values():
        asked, differ, on_replica, on_database = (int(c.strip("*")) for c in cells[1:5])
        assert asked >= 1 and on_replica + on_database == asked
        differing += differ
    assert "failed" not in printed and "timed out" not in printed
    assert "peak RSS" in printed and "Time to apply one commit" in printed
    # `mine` found the asker's accounts by the email users.info gave the server.
    assert _ASKED_AS.search(printed)
    [database] = (tmp_path / "data").glob(f"*/{SQLITE_FILE}")
    with closing(sqlite3.connect(database)) as db:
        for verb in MINE_VERBS:
            answered = db.execute(
                "SELECT count(*), min(rows) FROM audit_log"
                " WHERE command LIKE ? AND outcome = 'answered'",
                (verb.command + " as of %",),
            ).fetchone()
            assert answered[0] >= 2 and answered[1] > 0, verb.label
    # Answers that do not count a commit are a finding: the exit code says so.
    assert code == (1 if differing else 0)


def test_live_data_keeps_the_other_sections_and_backends() -> None:
    full = "# basebot benchmark\n\n## PostgreSQL 15\n\nfull-scale table\n"
    postgres = f"{LIVE_HEADING}\n\nintro\n\n### PostgreSQL 15\n\nlive on PostgreSQL\n"
    sqlite = f"{LIVE_HEADING}\n\nintro\n\n### SQLite 3\n\nlive on SQLite\n"
    both = with_live(with_live(full, sqlite), postgres)
    assert both.startswith(full)
    assert both.index("live on PostgreSQL") < both.index("live on SQLite")
    again = with_live(both, sqlite.replace("live on SQLite", "again on SQLite"))
    assert "live on SQLite" not in again and "live on PostgreSQL" in again
    rerun = keep_live("# basebot benchmark\n\n## PostgreSQL 15\n\nnew table\n", again)
    assert "new table" in rerun and "full-scale table" not in rerun
    assert "again on SQLite" in rerun and "live on PostgreSQL" in rerun
    assert keep_live(full, "") == full
