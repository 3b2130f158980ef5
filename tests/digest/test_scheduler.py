"""The scheduler against the Slack stand-in: once a day whatever runs, rate limits waited out,
channels that can't be posted to reported once and recorded, slices posted as slices."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.digest import delivery_client
from bot.scheduler import tick
from bot.settings import Settings
from queries.models import DigestDelivery, DigestSubscription
from queries.subscriptions import subscribe
from tests.slack.driver import check_blocks
from tests.slack.standin import NOT_IN_CHANNEL, SlackStandIn

CREATED = datetime(2026, 6, 1, tzinfo=UTC)
# 08:05 in Berlin on 2026-06-30 (CEST, UTC+2): the local day is D = 2026-06-30.
AT_0805 = datetime(2026, 6, 30, 6, 5, tzinfo=UTC)


def _subscribe(
    sessions: sessionmaker[Session],
    channel: str,
    scope: str = "",
    *,
    at: str = "08:00",
    tz: str = "Europe/Berlin",
    by: str = "U0MANAGER",
    lang: str | None = None,
) -> int:
    with sessions() as session, session.begin():
        sub, _ = subscribe(
            session,
            channel_id=channel,
            local_time=at,
            tz=tz,
            scope=scope,
            now=CREATED,
            created_by=by,
            lang=lang,
        )
        return sub.id


def _deliveries(sessions: sessionmaker[Session]) -> list[DigestDelivery]:
    with sessions() as session:
        return list(session.scalars(select(DigestDelivery).order_by(DigestDelivery.id)))


def _posts(slack: SlackStandIn, before: int, channel: str) -> list[dict[str, object]]:
    return [
        c.data
        for c in slack.calls()[before:]
        if c.method == "chat.postMessage" and c.data.get("channel") == channel
    ]


def test_two_schedulers_post_once(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    sub_id = _subscribe(sessions, "C0TWICE")
    before = len(slack.calls())
    results: list[list[str]] = []
    start = threading.Barrier(2)

    def run(worker: str) -> None:
        start.wait()
        outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805, worker=worker)
        results.append([o.status for o in outcomes])

    threads = [threading.Thread(target=run, args=(f"w{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(tuple, results)) in ([(), ("posted",)], [("posted",), ("skipped",)])
    assert len(_posts(slack, before, "C0TWICE")) == 1
    rows = _deliveries(sessions)
    assert [(r.subscription_id, r.day.isoformat(), r.status) for r in rows] == [
        (sub_id, "2026-06-30", "posted")
    ]
    assert rows[0].message_ts == "1700000000.000100"
    # A restarted scheduler later that day finds the delivery row and posts nothing.
    later = datetime(2026, 6, 30, 15, 0, tzinfo=UTC)
    assert tick(sessions, delivery_client(settings), settings, now=later) == []
    assert len(_posts(slack, before, "C0TWICE")) == 1


def test_not_yet_then_missed_slot_then_next_day(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0SLOT")
    client = delivery_client(settings)
    assert tick(sessions, client, settings, now=datetime(2026, 6, 30, 5, 59, tzinfo=UTC)) == []
    # Down at 08:00, up at 08:20: still that day's digest.
    late = tick(sessions, client, settings, now=datetime(2026, 6, 30, 6, 20, tzinfo=UTC))
    assert [(o.day.isoformat(), o.status) for o in late] == [("2026-06-30", "posted")]
    nxt = tick(sessions, client, settings, now=datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
    assert [(o.day.isoformat(), o.status) for o in nxt] == [("2026-07-01", "posted")]


def test_subscribed_after_todays_slot_starts_tomorrow(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    with sessions() as session, session.begin():
        subscribe(
            session,
            channel_id="C0LATE",
            local_time="08:00",
            tz="UTC",
            scope="",
            now=datetime(2026, 6, 30, 9, 0, tzinfo=UTC),
        )
    client = delivery_client(settings)
    assert tick(sessions, client, settings, now=datetime(2026, 6, 30, 9, 1, tzinfo=UTC)) == []
    assert len(tick(sessions, client, settings, now=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))) == 1


def test_rate_limit_is_waited_out(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0BUSY")
    slack.script(
        "chat.postMessage",
        status=429,
        body={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": "1"},
        times=2,
    )
    before = len(slack.calls())
    started = time.monotonic()
    outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    assert [o.status for o in outcomes] == ["posted"]
    assert time.monotonic() - started >= 2.0  # waited Retry-After twice
    attempts = [c for c in slack.calls()[before:] if c.method == "chat.postMessage"]
    assert len(attempts) == 3  # two refused, one delivered: one message in the channel
    assert [r.status for r in _deliveries(sessions)] == ["posted"]


def test_connection_error_is_retried(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    from slack_sdk.http_retry import ConnectionErrorRetryHandler

    _subscribe(sessions, "C0FLAKY")
    client = delivery_client(settings)
    assert any(isinstance(h, ConnectionErrorRetryHandler) for h in client.retry_handlers)
    assert [o.status for o in tick(sessions, client, settings, now=AT_0805)] == ["posted"]


def test_not_in_channel_is_recorded_reported_once_and_not_retried(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    sub_id = _subscribe(sessions, NOT_IN_CHANNEL, by="U0BOSS")
    before = len(slack.calls())
    client = delivery_client(settings)
    outcomes = tick(sessions, client, settings, now=AT_0805)
    assert [(o.status, o.error) for o in outcomes] == [("failed", "not_in_channel")]
    calls = slack.calls()[before:]
    assert len([c for c in calls if c.data.get("channel") == NOT_IN_CHANNEL]) == 1
    dms = [c for c in calls if c.method == "chat.postMessage" and c.data.get("channel") == "U0BOSS"]
    assert len(dms) == 1 and "not a member" in str(dms[0].data["text"])
    rows = _deliveries(sessions)
    assert [(r.status, r.error) for r in rows] == [("failed", "not_in_channel")]
    with sessions() as session:
        sub = session.get_one(DigestSubscription, sub_id)
        assert (sub.active, sub.last_error) == (False, "not_in_channel")
    # Not retried: not later that day, not the next days (paused until subscribed again).
    for at in (datetime(2026, 6, 30, 12, tzinfo=UTC), datetime(2026, 7, 1, 7, tzinfo=UTC)):
        assert tick(sessions, client, settings, now=at) == []
    assert len(slack.calls()) - before == 2


def test_archived_channel_is_paused_too(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0ARCHIVED")
    slack.refuse("C0ARCHIVED", "is_archived")
    outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    assert [(o.status, o.error) for o in outcomes] == [("failed", "is_archived")]


def test_subscriptions_post_their_slice_with_the_chart(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0ALL")
    _subscribe(sessions, "C0EMEA", "printers in EMEA")
    before = len(slack.calls())
    outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    assert [o.status for o in outcomes] == ["posted", "posted"]
    (whole,) = _posts(slack, before, "C0ALL")
    (emea,) = _posts(slack, before, "C0EMEA")
    assert str(whole["text"]).startswith("Daily digest · as of Jun 30, 2026: Jun 29, 2026: 2 new")
    assert str(emea["text"]).startswith(
        "Daily digest · printers · EMEA · as of Jun 30, 2026: Jun 29, 2026: 1 new customer, "
        "1 purchase line ($1,600.00)"
    )
    assert "Mesa" not in str(emea["blocks"]) and "Acme" not in str(emea["blocks"])
    for post in (whole, emea):
        blocks = post["blocks"]
        check_blocks(blocks if isinstance(blocks, list) else json.loads(str(blocks)))
    # The chart: the external upload pair, then the bytes at the URL it handed out.
    calls = slack.calls()[before:]
    urls = [c for c in calls if c.method == "files.getUploadURLExternal"]
    done = [c for c in calls if c.method == "files.completeUploadExternal"]
    uploads = [c for c in calls if c.path.startswith("/upload/")]
    assert len(urls) == len(done) == len(uploads) == 2
    assert all(u.raw.startswith(b"\x89PNG") for u in uploads)
    assert sorted(str(c.data.get("channel_id")) for c in done) == ["C0ALL", "C0EMEA"]
    assert all(u.data.get("filename") == "installed-base-90-days.png" for u in urls)


def test_a_refused_chart_still_counts_as_posted(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0NOFILES")
    slack.script("files.getUploadURLExternal", body={"ok": False, "error": "missing_scope"})
    outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", "chart not uploaded: missing_scope")
    ]


def test_a_dropped_chart_upload_is_recorded_on_the_delivery(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0DROPPED")
    slack.drop_uploads = True
    try:
        outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    finally:
        slack.drop_uploads = False
    assert [(o.status, o.error) for o in outcomes] == [
        ("posted", "chart not uploaded: RemoteDisconnected")
    ]
    [row] = [r for r in _deliveries(sessions) if r.status == "posted"]
    assert (row.message_ts, row.error) == (
        "1700000000.000100",
        "chart not uploaded: RemoteDisconnected",
    )


def test_the_scheduler_does_not_post_where_the_rules_forbid(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    from dataclasses import replace

    rules = tmp_path / "access.toml"
    rules.write_text('public_channels = ["C0OPEN"]\n')
    strict = replace(settings, access_file=str(rules))
    sub_id = _subscribe(sessions, "C0CLOSED")
    before = len(slack.calls())
    outcomes = tick(sessions, delivery_client(strict), strict, now=AT_0805, worker="w1")
    assert [(o.subscription_id, o.status) for o in outcomes] == [(sub_id, "failed")]
    assert not _posts(slack, before, "C0CLOSED")
    with sessions() as session:
        sub = session.get(DigestSubscription, sub_id)
        assert sub is not None and not sub.active
        assert "public_channels" in (sub.last_error or "")


def test_a_subscription_posts_in_its_language(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _subscribe(sessions, "C0DE", "printers in EMEA", lang="de")
    _subscribe(sessions, "C0RU", "printers in EMEA", lang="ru")
    before = len(slack.calls())
    outcomes = tick(sessions, delivery_client(settings), settings, now=AT_0805)
    assert [o.status for o in outcomes] == ["posted", "posted"]
    (german,) = _posts(slack, before, "C0DE")
    (russian,) = _posts(slack, before, "C0RU")
    assert str(german["text"]).startswith(
        "Tagesübersicht · printers · EMEA · Stand 30.06.2026: 29.06.2026: 1 neuer Kunde"
    )
    assert "1.600,00\xa0$" in str(german["text"])
    assert str(russian["text"]).startswith("Ежедневная сводка · printers · EMEA")
    done = [c.data for c in slack.calls()[before:] if c.method == "files.completeUploadExternal"]
    assert any("Installierte Basis 29.06.2026" in str(d.get("files")) for d in done), done
