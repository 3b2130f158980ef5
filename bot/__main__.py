"""The `basebot` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.i18n import LANGUAGES, speaker
from bot.parsing import ParseError
from bot.render.text import render_text
from bot.settings import Settings, SettingsError
from queries.alerts import EXAMPLE, AlertList, alerts
from queries.claims import in_force
from queries.db import make_engine, make_sessionmaker, transaction
from queries.models import Customer
from queries.progress import Progress, for_stderr
from queries.registry import QUERIES
from queries.replica import ReadPath
from queries.request import Me, Request
from queries.results import Answer
from queries.schema import ensure_schema, upgrade
from queries.view import _
from queries.vocabulary import frozen

log = logging.getLogger("basebot")

DEMO_CUSTOMERS = 2000
DEMO_SEED = 42
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input on the command line: exit 2 with the message on stderr."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _factory(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    return make_sessionmaker(engine)


def _reads(settings: Settings, factory: sessionmaker[Session], *, build: bool) -> ReadPath:
    """Answers from the read replica when it is fresh; `build`: make one when it is not."""
    return ReadPath(factory, settings.replica(), build=build)


def _refresh_replica(
    settings: Settings,
    factory: sessionmaker[Session],
    progress: Progress,
    *,
    always: bool = False,
) -> None:
    """After a change to the data: a replica that can answer for it, so answers stay fast
    (a small change is applied to the one there is; `always`: build a new one)."""
    import time

    reads = _reads(settings, factory, build=False)
    if reads.config is None:
        return
    if not always and reads.on_replica():
        reads.close()
        return
    started = time.perf_counter()
    try:
        reads.refresh(progress=progress)
    except Exception as exc:  # answers still come from the database itself
        print(f"basebot: the read replica could not be built: {exc}", file=sys.stderr)
        return
    finally:
        reads.close()
    print(f"Read replica built in {time.perf_counter() - started:.1f} s ({reads.config.folder}).")


def _is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Customer))


def _answer(
    session: Session,
    factory: sessionmaker[Session],
    text: str,
    *,
    as_of: date | None,
    settings: Settings,
    me: Me | None,
) -> Answer:
    """Parse and answer on the read path; an act changes the database itself, in a
    transaction of its own; claims and alerts are read from the database. Raises ParseError."""
    words = text.split()
    if words and words[0].lower() == "alert":
        return _alerts(factory, words[1:], text, settings=settings, me=me)
    request = parse_command(session, text, as_of=as_of, settings=settings, me=me)
    spec = QUERIES.get(request.verb)
    if spec is not None and spec.writes:
        with transaction(factory) as primary:
            return run(primary, replace(request, source=None), settings)
    if spec is not None and spec.claims and frozen(session):
        with factory() as primary:
            request = replace(request, holds=in_force(primary, datetime.now(UTC)))
    return run(session, request, settings)


def _alerts(
    factory: sessionmaker[Session],
    words: list[str],
    text: str,
    *,
    settings: Settings,
    me: Me | None,
) -> AlertList:
    """`alert list`: the alert subscriptions (JSON kind `alert`). Alerts are made in Slack,
    where they are posted."""
    if [w.lower() for w in words] not in ([], ["list"]):
        raise ParseError(
            _(
                "Alerts are made in Slack, where they are posted ({example}); here, {command}"
                " lists them.",
                example=EXAMPLE,
                command='basebot ask "alert list"',
            ),
            example="/base alert list",
        )
    with factory() as session:
        found = alerts(session, seen_by=me.user_id if me is not None else None)
    request = Request(verb="alert", as_of=settings.today(), text=text)
    return AlertList(request=request, alerts=found)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    factory = _factory(settings)
    reads = _reads(settings, factory, build=False)
    speak = speaker(getattr(args, "lang", None) or settings.language, settings.currency)
    with reads.session() as session:
        try:
            result = _answer(
                session, factory, args.text, as_of=args.as_of, settings=settings, me=_me(args)
            )
        except ParseError as exc:
            raise UsageError(exc.text(speak)) from None
        if args.json:
            print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        else:
            print(render_text(result, speak=speak), end="")
    return 0


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    """The main job without Slack: seed the demo data once, then answer /base commands."""
    factory = _factory(settings)
    with transaction(factory) as session:
        if _is_empty(session):
            from queries.demo import seed_demo

            summary = seed_demo(
                session, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, today=settings.today()
            )
            print(f"Seeded demo data into {settings.database_url}: {summary}")
    reads = _reads(settings, factory, build=True)
    reads.start()
    speak = speaker(getattr(args, "lang", None) or settings.language, settings.currency)
    me = _me(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print(
            f"Type {settings.command_name} commands (e.g. {settings.command_name} installed "
            "printers), 'help' for the list, Ctrl-D to leave."
        )
    while True:
        try:
            line = input("base> " if interactive else "")
        except EOFError:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("quit", "exit"):
            break
        if not interactive:
            print(f"base> {text}")
        with reads.session() as session:
            try:
                said = _answer(session, factory, text, as_of=None, settings=settings, me=me)
                print(render_text(said, speak=speak))
            except ParseError as exc:
                print(exc.text(speak) + "\n")
    reads.close()
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from queries.importer import ImportFailed, import_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder. Example: basebot import ./exports")
    factory = _factory(settings)
    progress = for_stderr()
    try:
        with transaction(factory) as session:
            report = import_folder(session, folder, progress=progress)
    except ImportFailed as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"Import refused: {len(exc.problems)} problem(s); nothing was changed.", file=sys.stderr
        )
        return 1
    print(report)
    _refresh_replica(settings, factory, progress)
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from queries.demo import seed_demo

    engine = make_engine(settings.database_url)
    if args.reset:
        from queries.models import Base

        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    ensure_schema(engine)
    progress = for_stderr()
    with transaction(make_sessionmaker(engine)) as session:
        if not _is_empty(session):
            raise UsageError(
                "The database already has customers; seed only fills an empty one. "
                "Example: basebot seed --reset --customers 5000"
            )
        summary = seed_demo(
            session,
            customers=args.customers,
            seed=args.seed,
            today=args.today or settings.today(),
            progress=progress,
        )
    print(f"Seeded {settings.database_url}: {summary}")
    _refresh_replica(settings, make_sessionmaker(engine), progress)
    return 0


def cmd_replica(args: argparse.Namespace, settings: Settings) -> int:
    """Build the read replica for the database's current data now (servers do it themselves)."""
    if settings.replica() is None:
        raise UsageError("The read replica is off (BASEBOT_REPLICA=off). Example: unset it")
    _refresh_replica(settings, _factory(settings), for_stderr(), always=True)
    return 0


def cmd_init_db(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(make_engine(settings.database_url))
    print("Database is at the latest schema.")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.serve import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_socket(args: argparse.Namespace, settings: Settings) -> int:
    from bot.serve import socket

    socket(settings)
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from queries.audit import entries

    since = (
        None
        if args.since is None
        else datetime.combine(args.since, datetime.min.time(), tzinfo=UTC)
    )
    with _factory(settings)() as session:
        found = entries(session, since=since, user=args.user, limit=args.limit)
    print(
        "time (UTC)           team      user         channel      outcome    verb        "
        "rows      ms  incident  command"
    )
    for e in found:
        at = e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)
        print(
            f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}  {e.team_id or '-':<8}  "
            f"{e.user_id or '-':<11}  "
            f"{e.channel_id or '-':<11}  {e.outcome:<9}  {e.verb or '-':<10}  "
            f"{'-' if e.rows is None else e.rows:>4}  {'-' if e.ms is None else e.ms:>6}  "
            f"{e.incident_id or e.rule or '-':<8}  {e.command}"
        )
    return 0


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    """Post every subscription at its local time, until stopped (with --once: what is due
    now, then exit, e.g. from cron)."""
    from bot.digest import delivery_client
    from bot.scheduler import run_forever, tick

    logging.getLogger("bot").setLevel(logging.INFO)
    factory = _factory(settings)
    print(f"basebot: scheduler on {settings.database_url.split('@')[-1]}", flush=True)
    reads = _reads(settings, factory, build=True)
    client = delivery_client(settings)
    if args.once:
        for outcome in tick(factory, client, settings, reads=reads.session):
            print(f"{outcome.subscription_id} {outcome.day} {outcome.status}", flush=True)
        return 0
    run_forever(factory, client, settings, every=args.every, reads=reads.session)
    return 0


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    """One digest: posted to a channel, or with --dry-run printed here (no Slack needed)."""
    import time

    from bot.digest import (
        DigestUsageError,
        build_digest,
        chart_title,
        delivery_client,
        digest_chart,
        digest_message,
        parse_channel,
        post_digest,
    )

    speak = speaker(getattr(args, "lang", None) or settings.language, settings.currency)
    try:
        channel = parse_channel(args.channel) if args.channel else None
    except DigestUsageError as exc:
        raise UsageError(speak(exc.problem)) from None
    if channel is None and not args.dry_run:
        raise UsageError("--channel is required unless --dry-run. Example: --channel C0123ABC")
    as_of = args.as_of or settings.today()
    reads = _reads(settings, _factory(settings), build=False)
    started = time.perf_counter()
    with reads.session() as session:
        try:
            digest = build_digest(session, args.scope, as_of=as_of, settings=settings)
        except ParseError as exc:
            raise UsageError(exc.text(speak)) from None
        built = time.perf_counter()
        chart = digest_chart(session, digest, speak)
    charted = time.perf_counter()
    message = digest_message(digest, speak)
    if args.chart:
        Path(args.chart).write_bytes(chart)
    if args.dry_run:
        if args.json:
            print(json.dumps(digest.to_json(), indent=2, ensure_ascii=False))
        else:
            print(message.text + "\n")
            print(render_text(digest, speak=speak), end="")
        print(
            f"\n(dry run: figures {built - started:.2f} s, chart {charted - built:.2f} s"
            f" ({len(chart):,} bytes PNG); nothing posted)",
            file=sys.stderr,
        )
        return 0
    assert channel is not None
    from slack_sdk.errors import SlackApiError

    try:
        posted = post_digest(
            delivery_client(settings),
            channel.id,
            message,
            chart,
            title=chart_title(digest, speak),
        )
    except SlackApiError as exc:
        print(f"basebot: Slack refused the digest: {exc.response.get('error')}", file=sys.stderr)
        return 1
    print(f"Posted the digest for {digest.day} in {channel.id} (ts {posted.ts}).")
    if posted.chart_error:
        reason = posted.chart_error.removeprefix("chart not uploaded: ")
        print(
            f"basebot: the chart was not uploaded ({reason}); the message stands.", file=sys.stderr
        )
    return 0


def _me(args: argparse.Namespace) -> Me | None:
    who = (getattr(args, "user", None) or "").strip()
    if not who:
        return None
    return Me(email=who) if "@" in who else Me(user_id=who)


def _user_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--user",
        metavar="ID_OR_EMAIL",
        help="who asks, for `mine` and claims: a Slack user id (U…) or the email an account's"
        " owner is written as",
    )


def _lang_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lang",
        choices=LANGUAGES,
        help="the language of the reply (default: BASEBOT_LANGUAGE, else en); JSON is the same"
        " in every language",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basebot",
        description="Answers customer-base and installed-base questions. Without a subcommand:"
        " a local console on the configured database (demo data on first use).",
    )
    _lang_option(parser)
    _user_option(parser)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("ask", help="answer one command, e.g. basebot ask 'installed printers'")
    p.add_argument("text", help="the command, as typed after /base")
    p.add_argument("--json", action="store_true", help="print the JSON reply")
    p.add_argument("--as-of", type=_date, help="default as-of date (YYYY-MM-DD)")
    _lang_option(p)
    _user_option(p)
    p.set_defaults(func=cmd_ask)
    p = sub.add_parser("console", help="type /base commands locally (the default)")
    _lang_option(p)
    _user_option(p)
    p.set_defaults(func=cmd_console)
    p = sub.add_parser("import", help="load customers/products/purchases/installations CSVs")
    p.add_argument("folder")
    p.set_defaults(func=cmd_import)
    for name in ("seed", "demo"):
        p = sub.add_parser(name, help="fill an empty database with synthetic demo data")
        p.add_argument("--customers", type=int, default=DEMO_CUSTOMERS)
        p.add_argument("--seed", type=int, default=DEMO_SEED)
        p.add_argument("--today", type=_date, help="the demo's today (default: today)")
        p.add_argument("--reset", action="store_true", help="drop all data first")
        p.set_defaults(func=cmd_seed)
    p = sub.add_parser("replica", help="build the read replica for the current data now")
    p.set_defaults(func=cmd_replica)
    p = sub.add_parser("init-db", help="bring the database to the latest schema")
    p.set_defaults(func=cmd_init_db)
    p = sub.add_parser("serve", help="the Slack app over HTTP at /slack/events (port $PORT)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default $PORT, else 3000)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("socket", help="the Slack app over Socket Mode (needs SLACK_APP_TOKEN)")
    p.set_defaults(func=cmd_socket)
    p = sub.add_parser("audit", help="print the audit log, newest first")
    p.add_argument("--since", type=_date, help="only entries on or after this date (UTC)")
    p.add_argument("--user", help="only this Slack user id")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("scheduler", help="post the daily subscriptions at their times")
    p.add_argument("--every", type=float, default=30.0, help="seconds between checks")
    p.add_argument("--once", action="store_true", help="post what is due now, then exit")
    p.set_defaults(func=cmd_scheduler)
    p = sub.add_parser("digest", help="post one digest to a channel, or preview it (--dry-run)")
    p.add_argument("--channel", help="channel id (C…) or <#C…|name>")
    p.add_argument("--as-of", type=_date, help="the digest's date D (it reports D-1)")
    p.add_argument("--scope", default="", help="a slice, e.g. 'printers in EMEA'")
    p.add_argument("--dry-run", action="store_true", help="print it instead of posting")
    p.add_argument("--json", action="store_true", help="with --dry-run: the JSON figures")
    p.add_argument("--chart", help="also write the chart PNG to this path")
    _lang_option(p)
    p.set_defaults(func=cmd_digest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        func = getattr(args, "func", cmd_console)
        return int(func(args, settings))
    except (UsageError, SettingsError) as exc:
        print(f"basebot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        log.debug("database error", exc_info=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"basebot: database error ({type(exc).__name__}): {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
