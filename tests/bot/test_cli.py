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
from queries.schema import upgrade
from tests.queries.world import build_world


@pytest.fixture()
def world_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'world.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        build_world(session)
        session.commit()
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


def test_ask_json(world_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "installed printers", "--json", "--as-of", "2026-06-30"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert (reply["kind"], reply["customers"], reply["units"]) == ("installed", 3, 4)


def test_text_as_of_in_the_command_wins_over_the_flag(
    world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "installed printers as of 2026-06-29", "--as-of", "2026-06-30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Installed base · printers · as of 2026-06-29")
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
