"""The benchmark harness at a tiny scale: it runs end to end and its baselines agree.

Timings are the benchmark's business (`python -m bench`), never asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.verbs import VERBS, differences, upsell_figures


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
    assert set(rows) == {v.label for v in VERBS}
    for verb in VERBS:
        runs, median = rows[verb.label][1], rows[verb.label][2]
        assert runs == "2" and median != "—"
        baselines = rows[verb.label][10]
        assert baselines == ("agrees" if verb.baselined else "—"), verb.label
    assert "DIFFERS" not in report
    if replica:
        assert "Read replica (DuckDB) built" in report
        assert "Query plans on the read replica of SQLite" in report
    else:
        assert "No read replica" in report
        assert "Query plans on SQLite" in report
    assert (tmp_path / "data").is_dir()


def test_a_wrong_baseline_is_caught() -> None:
    right = upsell_figures([("C0000002", 3), ("C0000001", 1)])
    swapped = upsell_figures([("C0000001", 3), ("C0000002", 1)])
    assert differences(right, right) == []
    assert differences(right, swapped)
    assert differences({"revenue": 10.0}, {"revenue": 10.004}) == []
    assert differences({"revenue": 10.0}, {"revenue": 10.02}) == ["revenue: 10.0 vs 10.02"]
