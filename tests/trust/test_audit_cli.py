"""`basebot audit`: the log, filtered by date and user, with no row data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.__main__ import main
from queries.audit import Event, entries, record
from queries.db import make_engine, make_sessionmaker
from queries.schema import upgrade


def test_audit_prints_the_log_filtered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        for user, day, outcome in (
            ("U0OLD", 1, "answered"),
            ("U0NEW", 20, "refused"),
            ("U0NEW", 21, "answered"),
        ):
            event = Event(
                team_id="T1",
                user_id=user,
                channel_id="C1",
                command="installed   printers",
                outcome=outcome,
                verb="installed",
                rows=3,
                ms=12,
                rule="verbs.installed" if outcome == "refused" else None,
            )
            record(session, event, at=datetime(2026, 6, day, 9, tzinfo=UTC))
        session.commit()
        assert [e.user_id for e in entries(session, user="U0NEW")] == ["U0NEW", "U0NEW"]
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit", "--since", "2026-06-10", "--user", "U0NEW"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert "refused" in out[2] and "verbs.installed" in out[2]
    assert out[1].startswith("2026-06-21 09:00:00") and out[1].endswith("installed printers")
    assert all("U0OLD" not in line for line in out)


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        record(None, Event(team_id=None, user_id=None, channel_id=None, command="", outcome="x"))  # type: ignore[arg-type]
