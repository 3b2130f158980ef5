"""Owners' digests (SPEC §10): one subscription, every account owner's own digest in a DM,
once a day each; owners with no Slack account listed; the real scheduler process, two of them
at once, and one killed mid-run and started again.

The hand-worked world (tests/digest/conftest.py) with owners: Ann owns A (written as her user
id U0ANN) and N (as her email); Ben (U0BEN, Slack in German) owns B and M; Cara
(cara@acme.example) has no Slack account; Dan (dan@acme.example, U0DAN) owns E.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

import bot.owners
from bot.digest import build_digest, delivery_client, digest_message
from bot.directory import Directory
from bot.i18n import speaker
from bot.listeners.digest import handle
from bot.listeners.replies import Asker
from bot.listeners.services import Services
from bot.pacing import PacedClient, Pacing
from bot.scheduler import tick
from bot.settings import Settings
from queries.db import make_sessionmaker
from queries.models import Customer, DigestDelivery, DigestSubscription, OwnerDelivery
from queries.subscriptions import OWNERS, subscribe
from tests.builders import Fixture
from tests.committed import committed_database
from tests.digest.conftest import TOKEN, build_digest_world
from tests.digest.test_subcommands import FakeRespond
from tests.queries.world import D
from tests.slack.standin import Call, SlackStandIn

CREATED = datetime(2026, 6, 1, tzinfo=UTC)
# 08:05 in Berlin on 2026-06-30: the local day is D.
AT_0805 = datetime(2026, 6, 30, 6, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
MANY = 50


def build_owners_world(session: Session) -> Fixture:
    f = build_digest_world(session)
    for ref, owner in {
        "A": "U0ANN",
        "N": "ann@acme.example",
        "B": "U0BEN",
        "M": "U0BEN",
        "C": "cara@acme.example",
        "E": "dan@acme.example",
    }.items():
        session.execute(update(Customer).where(Customer.customer_ref == ref).values(owner=owner))
    return f


def build_many_owners_world(session: Session) -> Fixture:
    """The world with MANY more owners, one account each: odd ones written as a Slack user id,
    even ones as an email that Slack knows (the stand-in's directory)."""
    f = build_digest_world(session)
    for i in range(1, MANY + 1):
        f.customer(f"O{i:02d}", f"Owned {i:02d}", owner=_many_owner(i))
    return f


def _many_owner(i: int) -> str:
    return f"U0OWN{i:02d}" if i % 2 else f"own{i:02d}@acme.example"


@pytest.fixture()
def owners_db(engine: Engine, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with committed_database(engine, tmp_path, "owners", build_owners_world) as db:
        yield make_sessionmaker(db)


@pytest.fixture()
def slack(standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStandIn]:
    """The stand-in knowing Ann, Ben and Dan; no pacing (it has no limits); a fresh directory."""
    monkeypatch.setattr(bot.owners, "DIRECTORY", Directory())
    standin.reset_scripts()
    standin.directory.update({"ann@acme.example": "U0ANN", "DAN@acme.example": "U0DAN"})
    standin.emails.update({"U0ANN": "ann@acme.example", "U0BEN": "ben@acme.example"})
    standin.locales["U0BEN"] = "de-DE"
    yield standin
    standin.reset_scripts()
    standin.directory.clear()
    standin.emails.pop("U0ANN", None)
    standin.emails.pop("U0BEN", None)
    standin.locales.pop("U0BEN", None)


def _subscribe_owners(
    sessions: sessionmaker[Session],
    scope: str = "",
    *,
    at: str = "08:00",
    tz: str = "Europe/Berlin",
    created: datetime = CREATED,
    lang: str | None = None,
) -> int:
    with sessions() as session, session.begin():
        sub, _ = subscribe(
            session,
            kind=OWNERS,
            channel_id="",
            local_time=at,
            tz=tz,
            scope=scope,
            now=created,
            created_by="U0MANAGER",
            lang=lang,
        )
        return sub.id


def _dms(slack: SlackStandIn, before: int) -> dict[str, list[Call]]:
    """chat.postMessage calls to a user id since `before`, by user."""
    found: dict[str, list[Call]] = {}
    for c in slack.calls()[before:]:
        channel = str(c.data.get("channel") or "")
        if c.method == "chat.postMessage" and channel.startswith("U"):
            found.setdefault(channel, []).append(c)
    return found


def _rows(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with sessions() as session:
        return {
            r.owner: (r.status, r.error)
            for r in session.scalars(select(OwnerDelivery).order_by(OwnerDelivery.owner))
        }


def _day(sessions: sessionmaker[Session], sub_id: int) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [
            (r.day.isoformat(), r.status, r.error)
            for r in session.scalars(
                select(DigestDelivery)
                .where(DigestDelivery.subscription_id == sub_id)
                .order_by(DigestDelivery.day)
            )
        ]


def _blocks(call: Call) -> list[dict[str, Any]]:
    blocks = call.blocks()
    assert blocks is not None
    return blocks


# ---------------------------------------------------------------- in process


def test_every_owner_gets_their_own_digest_once(
    owners_db: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    sub_id = _subscribe_owners(owners_db)
    before = len(slack.calls())
    client = delivery_client(settings)
    outcomes = tick(owners_db, client, settings, now=AT_0805, worker="w1")
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", "3 sent, 1 unreachable, 0 failed")
    ]
    dms = _dms(slack, before)
    assert sorted((user, len(calls)) for user, calls in dms.items()) == [
        ("U0ANN", 1),
        ("U0BEN", 1),
        ("U0DAN", 1),
    ]
    # Ann's accounts, worked by hand: A (her id) and N (her email). On 2026-06-29 N buys two
    # Laser 100 at 800 (its first purchase) and has one installed; the installed base on the
    # 29th is A's two units and N's one (A-2 goes on the 30th), against A's two a week before.
    [ann] = dms["U0ANN"]
    assert ann.data["text"] == (
        "Daily digest · mine · as of Jun 30, 2026: Jun 29, 2026: 1 new customer, 1 purchase"
        " line ($1,600.00), 1 unit installed, 0 removed; installed base +1 unit on the week."
    )
    shown = str(ann.data["blocks"])
    assert "Nordlicht" in shown and "Mesa" not in shown and "Bergmann" not in shown
    # Ben reads German; his DM is the digest asked `in owner:U0BEN`, but for its title.
    [ben] = dms["U0BEN"]
    with owners_db() as session:
        asked = build_digest(session, "in owner:U0BEN", as_of=D, settings=settings)
    expected = digest_message(asked, speaker("de"))
    assert _blocks(ben)[0]["text"]["text"] == "Tagesübersicht · mine · Stand 30.06.2026"
    # Its CSV button asks `digest mine` again, as whoever clicks it in their DM: the owner.
    asked_again = json.dumps(expected.blocks[1:]).replace("digest in owner:U0BEN", "digest mine")
    assert json.dumps(_blocks(ben)[1:]) == asked_again
    # M's first purchase on the 29th, a copier at 1500; B a printer candidate.
    assert str(ben.data["text"]).startswith(
        "Tagesübersicht · mine · Stand 30.06.2026: 29.06.2026: 1 neuer Kunde, 1 Kaufposition"
        " (1.500,00\xa0$), 0 Einheiten installiert"
    )
    assert "Bergmann Behörde (B)" in str(_blocks(ben))
    # Each chart goes to the DM Slack answered with (D…), beside the message.
    done = [c for c in slack.calls()[before:] if c.method == "files.completeUploadExternal"]
    assert sorted(str(c.data.get("channel_id")) for c in done) == ["DU0ANN", "DU0BEN", "DU0DAN"]
    assert _rows(owners_db) == {
        "U0ANN": ("posted", None),
        "U0BEN": ("posted", None),
        "U0DAN": ("posted", None),
        "cara@acme.example": ("unreachable", "users_not_found"),
    }
    assert _day(owners_db, sub_id) == [("2026-06-30", "posted", "3 sent, 1 unreachable, 0 failed")]
    # Later that day: nothing is due, nobody gets a second DM.
    assert tick(owners_db, client, settings, now=AT_0805 + timedelta(hours=6)) == []
    assert sum(map(len, _dms(slack, before).values())) == 3
    # The next day, the next digest, without asking Slack again who the owners are.
    asked_before = len(slack.calls())
    nxt = tick(owners_db, client, settings, now=AT_0805 + timedelta(days=1))
    assert [o.status for o in nxt] == ["posted"]
    assert sorted(_dms(slack, asked_before)) == ["U0ANN", "U0BEN", "U0DAN"]
    methods = Counter(c.method for c in slack.calls()[asked_before:])
    assert methods["users.lookupByEmail"] == methods["users.info"] == 0


def test_a_refused_dm_is_recorded_and_the_others_still_go(
    owners_db: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    sub_id = _subscribe_owners(owners_db)
    slack.refuse("U0DAN", "channel_not_found")
    before = len(slack.calls())
    outcomes = tick(owners_db, delivery_client(settings), settings, now=AT_0805)
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", "2 sent, 1 unreachable, 1 failed")
    ]
    assert sorted(_dms(slack, before)) == ["U0ANN", "U0BEN", "U0DAN"]
    rows = _rows(owners_db)
    assert rows["U0DAN"] == ("failed", "channel_not_found")
    assert rows["U0ANN"] == rows["U0BEN"] == ("posted", None)
    with owners_db() as session:
        sub = session.get_one(DigestSubscription, sub_id)
        assert sub.active  # one owner's DM never pauses everyone's


def test_a_dropped_chart_is_a_note_on_the_owners_row_and_the_dm_stands(
    owners_db: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe_owners(owners_db, "in owner:U0BEN")
    slack.drop_uploads = True
    try:
        outcomes = tick(owners_db, delivery_client(settings), settings, now=AT_0805)
    finally:
        slack.drop_uploads = False
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", "1 sent, 0 unreachable, 0 failed")
    ]
    assert _rows(owners_db) == {"U0BEN": ("posted", "chart not uploaded: RemoteDisconnected")}


def test_the_subscription_language_wins_over_each_owners(
    owners_db: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe_owners(owners_db, "printers", lang="fr")
    before = len(slack.calls())
    tick(owners_db, delivery_client(settings), settings, now=AT_0805)
    dms = _dms(slack, before)
    assert sorted(dms) == ["U0ANN", "U0BEN", "U0DAN"]
    french = "Résumé quotidien · printers · mine · au 30 juin 2026"
    assert all(str(calls[0].data["text"]).startswith(french) for calls in dms.values())


def test_calls_keep_to_their_pace_and_a_429_is_still_waited_out(
    settings: Settings, slack: SlackStandIn
) -> None:
    pacing = Pacing(0.1)  # chat.postMessage every 0.1 s, users.lookupByEmail every 0.12 s
    client = PacedClient(delivery_client(settings), pacing)
    assert any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers)
    before = len(slack.calls())
    for n in range(4):
        client.chat_postMessage(channel=f"U0PACE{n}", text="hi")
    slack.script(
        "chat.postMessage",
        status=429,
        body={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": "1"},
    )
    sent = client.chat_postMessage(channel="U0PACE9", text="hi")
    assert sent["channel"] == "DU0PACE9"
    times = [c.at for c in slack.calls()[before:] if c.method == "chat.postMessage"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 6 and min(gaps[:4]) >= 0.09 and gaps[4] >= 0.95, gaps
    assert client.spent.calls == 5 and client.spent.paced > 0.25


# ---------------------------------------------------------------- the subcommands


def _say(sessions: sessionmaker[Session], settings: Settings, text: str) -> str:
    respond = FakeRespond()
    body = {"text": text, "user_id": "U0MANAGER", "channel_id": "C0HERE", "team_id": "T0001"}
    handle(
        Services(settings=settings, sessions=sessions),
        body,
        respond,  # type: ignore[arg-type]
        WebClient(token=TOKEN, base_url=settings.slack_api_url or ""),
        Asker.from_command(body),
        speaker("en"),
    )
    assert len(respond.said) == 1 and respond.said[0]["response_type"] == "ephemeral"
    return respond.last


def test_subscribe_list_and_unsubscribe_owners(
    owners_db: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    said = _say(owners_db, settings, "digest subscribe owners 07:30 Europe/Berlin in AMER")
    assert said == (
        ":white_check_mark: Every account owner will get their own digest of *in AMER* (their"
        " accounts only) in a direct message at 07:30 (Europe/Berlin), in their own Slack"
        " language."
        " Owners I can't reach on Slack are listed in `/base digest list`."
    )
    said = _say(owners_db, settings, "digest subscribe owners 08:00 lang:de")
    assert "Every account owner will get their own digest in a direct message at 08:00" in said
    assert said.endswith(
        "(UTC), in German. Owners I can't reach on Slack are listed in `/base digest list`."
    )
    with owners_db() as session:
        subs = session.scalars(select(DigestSubscription).order_by(DigestSubscription.id)).all()
        assert [(s.kind, s.channel_id, s.scope, s.local_time, s.lang) for s in subs] == [
            (OWNERS, "", "in AMER", "07:30", None),
            (OWNERS, "", "", "08:00", "de"),
        ]
        # Created before the slot, as the scheduler will see them at 08:05 in Berlin.
        session.execute(update(DigestSubscription).values(created_at=CREATED, tz="Europe/Berlin"))
        session.commit()
    assert _say(owners_db, settings, "digest unsubscribe owners in AMER") == (
        "Account owners will no longer get their digest for *in AMER* in a direct message."
    )
    assert _say(owners_db, settings, "digest unsubscribe owners in EMEA") == (
        "There is no owners' digest for *in EMEA*."
    )
    with owners_db() as session, session.begin():
        # Twelve more owners no one can find on Slack: the list names ten.
        for i in range(12):
            session.add(
                Customer(customer_ref=f"L{i:02d}", name="Lost", owner=f"lost{i:02d}@x.example")
            )
    tick(owners_db, delivery_client(settings), settings, now=AT_0805)
    listed = _say(owners_db, settings, "digest list")
    [line] = [s for s in listed.splitlines() if "Owners' digests" in s]
    assert line.startswith(
        "• Owners' digests, each in a direct message, at 08:00 Europe/Berlin · lang:de · running"
        " · Jun 30, 2026: 3 sent, 13 unreachable, 0 failed · not reached: cara@acme.example,"
        " lost00@x.example, "
    )
    assert line.endswith("lost08@x.example and 3 more")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("digest subscribe owners mine", "leave out “mine”"),
        ("digest subscribe owners <#C0SALES|sales> 08:00", "it takes no channel"),
        ("digest subscribe owners C0SALES1 08:00", "it takes no channel"),
        ("digest unsubscribe owners", "There is no owners' digest. Example:"),
    ],
)
def test_owners_subcommands_refuse_what_they_cannot_do(
    owners_db: sessionmaker[Session], settings: Settings, text: str, says: str
) -> None:
    said = _say(owners_db, settings, text)
    assert says in said and "/base digest subscribe owners 08:00 Europe/Berlin" in said
    with owners_db() as session:
        assert session.scalars(select(DigestSubscription)).all() == []


# ---------------------------------------------------------------- the scheduler process


def _midday_zone() -> str:
    """A time zone where it is now about noon: its 00:00 has passed and midnight is far."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12 hours from UTC
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


@pytest.fixture()
def many_db(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    with committed_database(engine, tmp_path, "many_owners", build_many_owners_world) as db:
        yield db


@pytest.fixture()
def many_slack(slack: SlackStandIn) -> SlackStandIn:
    for i in range(2, MANY + 1, 2):
        slack.directory[_many_owner(i)] = f"U0OWN{i:02d}"
    return slack


def _scheduler(db: Engine, slack: SlackStandIn, cwd: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db.url.render_as_string(hide_password=False),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url,
        "BASEBOT_REPLICA": "off",
        "BASEBOT_SLACK_PACE": "0",  # the stand-in has no limits
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "scheduler", "--once"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(process: subprocess.Popen[bytes]) -> str:
    out, _ = process.communicate(timeout=120)
    text = out.decode(errors="replace")
    assert process.returncode == 0, text
    return text


def _due_now(db: Engine) -> int:
    return _subscribe_owners(
        make_sessionmaker(db),
        at="00:00",
        tz=_midday_zone(),
        created=datetime.now(UTC) - timedelta(days=2),
    )


def test_two_scheduler_processes_send_each_owner_one_dm(
    many_db: Engine, many_slack: SlackStandIn, tmp_path: Path
) -> None:
    sub_id = _due_now(many_db)
    before = len(many_slack.calls())
    processes = [_scheduler(many_db, many_slack, tmp_path) for _ in range(2)]
    outputs = [_finish(p) for p in processes]
    dms = _dms(many_slack, before)
    assert sorted(dms) == [f"U0OWN{i:02d}" for i in range(1, MANY + 1)]
    assert all(len(calls) == 1 for calls in dms.values())
    # Whichever finished last closed the day.
    assert sum(f"{sub_id} " in o and " posted" in o for o in outputs) >= 1, outputs
    [(_, status, note)] = _day(make_sessionmaker(many_db), sub_id)
    assert (status, note) == ("posted", f"{MANY} sent, 0 unreachable, 0 failed")


def test_a_scheduler_killed_mid_run_resumes_without_a_second_dm(
    many_db: Engine, many_slack: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = make_sessionmaker(many_db)
    sub_id = _due_now(many_db)
    before = len(many_slack.calls())
    # Slack holds each DM's answer: the process is killed while Slack has its 5th message and
    # before it could record it.
    many_slack.delay("chat.postMessage", 0.5)
    sent = len(many_slack.api("chat.postMessage"))
    first = _scheduler(many_db, many_slack, tmp_path)
    try:
        many_slack.wait(lambda c: c.method == "chat.postMessage", count=sent + 5, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    killed_at = sum(map(len, _dms(many_slack, before).values()))
    assert killed_at == 5
    many_slack.delay("chat.postMessage", 0)
    again = _finish(_scheduler(many_db, many_slack, tmp_path))
    dms = _dms(many_slack, before)
    assert sorted(dms) == [f"U0OWN{i:02d}" for i in range(1, MANY + 1)]
    assert all(len(calls) == 1 for calls in dms.values()), {u: len(c) for u, c in dms.items()}
    # The owner whose DM was in flight stays claimed: never sent twice, and the day stays open
    # until that claim is old enough to be called interrupted.
    rows = _rows(sessions)
    assert Counter(status for status, _ in rows.values()) == {"posted": MANY - 1, "claimed": 1}
    assert f"{sub_id} " in again and "skipped" in again, again
    monkeypatch.setattr(bot.owners, "STALE_AFTER", timedelta(0))
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=many_slack.api_url)
    outcomes = tick(sessions, delivery_client(settings), settings, now=datetime.now(UTC))
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", f"{MANY - 1} sent, 0 unreachable, 1 failed")
    ]
    assert sum(map(len, _dms(many_slack, before).values())) == MANY
    [(_, error)] = [v for v in _rows(sessions).values() if v[0] == "failed"]
    assert error is not None and error.startswith("interrupted")


def test_the_bench_stand_in_refuses_calls_faster_than_slacks_limits() -> None:
    from bench.owners import LimitedSlack

    with LimitedSlack(users={"ann@acme.example": "U0ANN"}, latency=0.0) as limited:
        client = WebClient(token=TOKEN, base_url=f"{limited.url}/api/", retry_handlers=[])
        for _ in range(2):  # a burst of two goes through
            assert client.users_lookupByEmail(email="ann@acme.example")["user"]["id"] == "U0ANN"
        with pytest.raises(SlackApiError) as refused:
            client.users_lookupByEmail(email="ann@acme.example")
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        # A DM a second per channel: another channel is not held back.
        for user in ("U0ANN", "U0ANN", "U0BEN"):
            client.chat_postMessage(channel=user, text="hi")
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="U0ANN", text="hi")
    assert limited.seen.limited == {"users.lookupByEmail": 1, "chat.postMessage": 1}
    assert limited.seen.dms == {"U0ANN": 2, "U0BEN": 1}
