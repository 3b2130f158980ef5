"""Faults survived: the database going away and coming back, timeouts, a read-only audit log."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.listeners import guard
from bot.serve import wsgi_app
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker
from queries.replica import ReadPath
from tests.slack.driver import Slack, serving, shown
from tests.trust.conftest import SCHEMA, TrustStandIn, audit_of
from tests.trust.proxy import Proxy

APOLOGY_SECONDS = 3.0


@pytest.fixture()
def postgres_url(trust_engine: Engine) -> str:
    if trust_engine.dialect.name != "postgresql":
        pytest.skip("the network fault needs PostgreSQL")
    return os.environ["TEST_DATABASE_URL"]


@pytest.fixture()
def proxied(postgres_url: str, trust_engine: Engine) -> Iterator[tuple[Proxy, Engine]]:
    url = make_url(postgres_url)
    proxy = Proxy(target=(url.host or "127.0.0.1", url.port or 5432)).start()
    # The schema in the URL, where a replica build in a process of its own finds it too.
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).update_query_dict(
        {"options": f"-c search_path={SCHEMA} -c statement_timeout=2000"}
    )
    engine = make_engine(
        proxied_url.render_as_string(hide_password=False),
        connect_timeout_s=2,
        pool_size=4,
        max_overflow=2,
    )
    yield proxy, engine
    engine.dispose()
    proxy.stop()


def _ask(slack: Slack, text_: str, user: str) -> tuple[str, float]:
    started = time.monotonic()
    sent = slack.command(text_, user=user)
    reply = slack.standin.replies(sent.response_url, timeout=10)[0]
    return shown(reply), time.monotonic() - started


def test_the_database_goes_away_and_comes_back_without_a_restart(
    proxied: tuple[Proxy, Engine], trust_settings: Settings, standin: TrustStandIn
) -> None:
    proxy, engine = proxied
    sessions = make_sessionmaker(engine)
    with serving(wsgi_app(trust_settings, sessions)) as url:
        slack = Slack(url, standin)
        answer, _ = _ask(slack, "installed printers", "U0FAULT")
        assert "Installed" in answer
        proxy.cut()
        for _ in range(3):
            answer, seconds = _ask(slack, "installed printers", "U0FAULT")
            assert "The database cannot be reached right now" in answer
            assert "incident id" in answer
            assert seconds < APOLOGY_SECONDS
        proxy.restore()
        answer, _ = _ask(slack, "installed printers", "U0FAULT")
        assert "Installed" in answer
    outcomes = [e.outcome for e in audit_of(sessions, "U0FAULT")]
    # The failures could not be written while the database was away; the answers were.
    assert outcomes[0] == outcomes[-1] == "answered"


def test_a_slow_statement_is_cancelled(postgres_url: str) -> None:
    engine = make_engine(postgres_url, statement_timeout_ms=200, connect_timeout_s=2)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as c:
            c.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 2
    finally:
        engine.dispose()


def test_a_failing_query_is_an_apology_and_audited(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, trust_sessions: sessionmaker[Session]
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the query blew up")

    monkeypatch.setattr(guard, "run", broken)
    answer, _ = _ask(slack, "installed printers", "U0BROKEN")
    assert "Incident id" in answer and "blew up" not in answer
    [entry] = audit_of(trust_sessions, "U0BROKEN")
    assert entry.outcome == "failed" and entry.incident_id and entry.incident_id in answer


def test_an_audit_log_that_cannot_be_written_does_not_stop_answers(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("read-only transaction"))

    monkeypatch.setattr(guard, "record", read_only)
    with caplog.at_level(logging.ERROR):
        answer, _ = _ask(slack, "installed printers", "U0READONLY")
    assert "Installed" in answer
    assert "the audit entry (answered) could not be written" in caplog.text


def test_with_a_replica_the_database_going_away_is_said_and_figures_still_come(
    proxied: tuple[Proxy, Engine],
    trust_settings: Settings,
    standin: TrustStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    proxy, engine = proxied
    sessions = make_sessionmaker(engine)
    folder = tmp_path_factory.mktemp("replica")
    settings = replace(trust_settings, replica_dir=str(folder))
    ReadPath(sessions, settings.replica()).refresh()  # as `basebot replica` leaves it
    with serving(wsgi_app(settings, sessions)) as url:
        slack = Slack(url, standin)
        before, _ = _ask(slack, "installed printers", "U0DOWN")
        assert "Installed" in before and "cannot be reached" not in before
        proxy.cut()  # the server stops mid-session
        during, seconds = _ask(slack, "installed printers", "U0DOWN")
        assert "The database cannot be reached" in during and "UTC" in during
        assert _figures(during) == _figures(before)  # what the replica knew
        assert seconds < APOLOGY_SECONDS
        # A change cannot be made: it is refused in so many words, not as a bare incident.
        refused, _ = _ask(slack, "digest subscribe <#C0PUBLIC|public>", "U0DOWN")
        assert "The database cannot be reached right now" in refused
        assert "nothing was changed" in refused
        proxy.restore()  # and starts again
        after, _ = _ask(slack, "installed printers", "U0DOWN")
        assert "Installed" in after and "cannot be reached" not in after
        assert _figures(after) == _figures(before)


def _figures(answer: str) -> list[str]:
    # The figures, not the time of the data the note gives.
    shown = answer.split("The database cannot be reached")[0]
    return [word for word in shown.split() if word.replace(",", "").isdigit()]
