"""`basebot digest`: a dry run prints the fallback text and the figures, with no Slack; a
post goes to the channel with its chart; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.__main__ import build_parser, main
from tests.committed import sqlite_file
from tests.digest.conftest import TOKEN, build_digest_world
from tests.slack.standin import SlackStandIn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def digest_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sqlite_file(tmp_path / "digest.db", build_digest_world)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


def test_dry_run_needs_no_slack(
    digest_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "chart.png"
    argv = ["digest", "--as-of", "2026-06-30", "--dry-run", "--json", "--chart", str(chart)]
    assert main([*argv, "--scope", "printers in EMEA"]) == 0
    data = json.loads(capsys.readouterr().out)  # --json: nothing but the JSON
    assert (
        main(["digest", "--as-of", "2026-06-30", "--dry-run", "--scope", "printers in EMEA"]) == 0
    )
    fallback, _, _ = capsys.readouterr().out.partition("\n\n")
    assert fallback == (
        "Daily digest · printers · EMEA · as of Jun 30, 2026: Jun 29, 2026: 1 new customer, 1 "
        "purchase line ($1,600.00), 1 unit installed, 0 removed; installed base +1 unit "
        "on the week."
    )
    assert (data["kind"], data["day"], data["new_customers"], data["revenue"]) == (
        "digest",
        "2026-06-29",
        1,
        1600.0,
    )
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert main(["digest", "--as-of", "2026-06-29", "--dry-run"]) == 0
    assert "a quiet day" in capsys.readouterr().out


@pytest.fixture()
def slack_env(standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> SlackStandIn:
    """The CLI posting to the Web API stand-in."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", standin.api_url)
    return standin


def test_post_to_a_channel(
    digest_db: str, slack_env: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = slack_env
    before = len(standin.calls())
    assert main(["digest", "--channel", "<#C0CLI|cli>", "--as-of", "2026-06-30"]) == 0
    assert "Posted the digest for 2026-06-29 in C0CLI" in capsys.readouterr().out
    methods = [c.method for c in standin.calls()[before:] if c.method]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert main(["digest", "--channel", "<#CNOTIN>", "--as-of", "2026-06-30"]) == 1
    assert "not_in_channel" in capsys.readouterr().err


def test_a_dropped_chart_upload_is_one_line_and_the_post_stands(
    digest_db: str, slack_env: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = slack_env
    standin.drop_uploads = True
    try:
        assert main(["digest", "--channel", "<#C0CLI|cli>", "--as-of", "2026-06-30"]) == 0
    finally:
        standin.drop_uploads = False
    out, err = capsys.readouterr()
    assert "Posted the digest for 2026-06-29 in C0CLI" in out
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("basebot: the chart was not uploaded (") and "message stands" in err


def test_bad_input_exits_2(digest_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "--channel", "#general"]) == 2
    assert "pick it from the list" in capsys.readouterr().err
    assert main(["digest"]) == 2
    assert main(["digest", "--dry-run", "--scope", "plotters"]) == 2


def test_scheduler_is_a_command_and_a_clock_process() -> None:
    args = build_parser().parse_args(["scheduler", "--every", "5"])
    assert args.every == 5.0
    assert "clock: basebot scheduler" in (ROOT / "Procfile").read_text().splitlines()
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert manifest["features"]["slash_commands"][0]["should_escape"] is True
