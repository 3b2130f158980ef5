"""The `basebot` command line: exit codes, JSON, text, the console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from queries.db import make_engine, make_sessionmaker


def test_ask_json(world_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "installed printers", "--json", "--as-of", "2026-06-30"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert (reply["kind"], reply["customers"], reply["units"]) == ("installed", 3, 4)


def test_text_as_of_in_the_command_wins_over_the_flag(
    world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "installed printers as of 2026-06-29", "--as-of", "2026-06-30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Installed base · printers · as of Jun 29, 2026")
    assert "2 customers with 4 units installed" in out


@pytest.mark.parametrize(
    "command",
    [
        "compare",
        "upsell printers",
        "customer acme",
        "top 3",
        "loyal",
        "concentration",
        "digest",
        "health",
        "customers by year",
        "help",
    ],
)
def test_every_verb_renders_as_text(
    world_db: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main(["ask", command, "--as-of", "2026-06-30"]) == 0
    assert capsys.readouterr().out.strip()


def test_bad_command_exits_2_with_the_reason_on_stderr(
    world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "installed printrs"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "printrs" in captured.err and "Did you mean: printers, copiers?" in captured.err
    assert "For example: /base installed printers" in captured.err


def test_bad_settings_exit_2(
    world_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BASEBOT_TZ", "Mars/Olympus")
    assert main(["ask", "installed"]) == 2
    assert "BASEBOT_TZ" in capsys.readouterr().err


def test_unreachable_database_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    assert main(["ask", "installed"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("basebot: database error") and "Traceback" not in err


def test_console_script_answers_piped_commands(world_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": world_db}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="/base installed printers as of 2026-06-30\nnonsense\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "3 customers with 4 units installed" in done.stdout
    assert "I don't know the command “nonsense”" in done.stdout
    assert "Traceback" not in done.stderr


def _counts(url: str) -> tuple[int, ...]:
    from sqlalchemy import func, select

    from queries.models import Customer, Installation, Product, Purchase

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        counts = tuple(
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Customer, Product, Purchase, Installation)
        )
    engine.dispose()
    return counts


def test_import_refused_exits_1_lists_every_problem_and_changes_nothing(
    world_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "customer_ref,name,segment,channel,industry,country,region,email,created_on\n"
        "N1,New One,business,direct,retail,US,AMER,,2026-01-01\n"
    )
    (folder / "purchases.csv").write_text(
        "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
        "coverage_start,coverage_end\n"
        "X1,1,N1,PRN-1,two,10,2026-01-01,,\n"
        "X1,2,NOBODY,PRN-1,1,10,2026-02-30,,\n"
    )
    before = _counts(world_db)
    assert main(["import", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "purchases.csv:2: quantity:" in err
    assert "purchases.csv:3: customer_ref:" in err and "purchases.csv:3: purchased_on:" in err
    assert "nothing was changed" in err
    assert _counts(world_db) == before


def test_import_then_reimport(
    world_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "good"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "customer_ref,name,segment,channel,industry,country,region,email,created_on\n"
        "N1,New One,business,direct,retail,US,AMER,,2026-01-01\n"
    )
    before = _counts(world_db)
    assert main(["import", str(folder)]) == 0
    assert _counts(world_db) == (before[0] + 1, *before[1:])
    assert main(["import", str(folder)]) == 0
    assert "1 unchanged" in capsys.readouterr().out
    assert _counts(world_db) == (before[0] + 1, *before[1:])


def test_seed_refuses_a_database_with_data(
    world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--customers", "50"]) == 2
    assert "already has customers" in capsys.readouterr().err


def test_seed_reset_fills_the_database(world_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--reset", "--customers", "60", "--today", "2026-06-30"]) == 0
    assert _counts(world_db)[0] == 60
    assert main(["ask", "installed printers", "--json", "--as-of", "2026-06-30"]) == 0
