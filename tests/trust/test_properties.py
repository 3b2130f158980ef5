"""Any text up to 4 KB is a request or a clear error, never an exception; every reply validates."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import run
from bot.parsing import VERBS, ParseError, parse
from bot.render.blocks import render_answer, render_apology, render_error, render_notice
from bot.settings import Settings
from queries.request import Request
from queries.vocabulary import Vocabulary, load_vocabulary
from tests.slack.driver import check_blocks, mrkdwn

TODAY = date(2026, 6, 30)
WORDS = [
    *VERBS,
    *("public", "csv", "by", "in", "top", "as", "of", "revenue", "units", "now", "subscribe"),
    *("printers", "printer", "copiers", "PRN-1", "EMEA", "segment", "region", "industry:retail"),
    *("2026-01-01", "2026-13-40", "10", "0", "-3", "99999999", '"', "'", "<!channel>", "&"),
    *("<@U123>", "Acme", "ping-everyone@example.com", "\x00", "\n", "ü", "🙂", "a" * 300),
]
COMMANDS = st.one_of(
    st.text(max_size=4096),
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture()
def vocab(trust_sessions: sessionmaker[Session]) -> Vocabulary:
    with trust_sessions() as session:
        return load_vocabulary(session)


@SETTINGS
@given(text_=COMMANDS)
def test_any_text_parses_or_is_a_clear_error(vocab: Vocabulary, text_: str) -> None:
    try:
        request = parse(text_, vocab, today=TODAY)
    except ParseError as exc:
        assert exc.problem and exc.example.startswith("/base")
        check_blocks(render_error(exc).blocks)
        return
    assert isinstance(request, Request) and request.verb in VERBS


@SETTINGS
@given(text_=st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join))
def test_every_answer_renders_valid_blocks(
    vocab: Vocabulary, trust_sessions: sessionmaker[Session], text_: str
) -> None:
    try:
        request = parse(text_, vocab, today=TODAY)
    except ParseError:
        return
    if request.verb == "digest" and request.text != "digest now":
        return  # subscriptions write: the digest's own tests cover them
    with trust_sessions() as session:
        answer = run(session, request, Settings())
        session.rollback()
    for public in (False, True):
        message = render_answer(answer, public=public)
        check_blocks(message.blocks)
        live = mrkdwn({"text": message.text, "blocks": message.blocks})
        assert "<!channel>" not in live and "<@U123>" not in live


@settings(max_examples=200, deadline=None)
@given(text_=st.text(min_size=1, max_size=4096).filter(str.strip))
def test_notices_and_apologies_validate_and_stay_inert(text_: str) -> None:
    for message in (render_notice(text_), render_apology(text_[:40])):
        check_blocks(message.blocks)
        live = mrkdwn({"text": message.text, "blocks": message.blocks})
        assert "<!" not in live and "<@" not in live
