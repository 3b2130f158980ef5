"""The `basebot` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import ask
from bot.parsing import ParseError
from bot.render.text import render_text
from bot.settings import Settings, SettingsError
from queries.db import make_engine, make_sessionmaker, transaction
from queries.models import Customer
from queries.schema import ensure_schema, upgrade

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


def _is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Customer))


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    factory = _factory(settings)
    with factory() as session:
        try:
            result = ask(session, args.text, as_of=args.as_of, settings=settings)
        except ParseError as exc:
            raise UsageError(exc.message) from None
        if args.json:
            print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        else:
            print(render_text(result, currency=settings.currency), end="")
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
        with factory() as session:
            try:
                print(
                    render_text(
                        ask(session, text, as_of=None, settings=settings),
                        currency=settings.currency,
                    )
                )
            except ParseError as exc:
                print(exc.message + "\n")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from queries.importer import ImportFailed, import_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder. Example: basebot import ./exports")
    factory = _factory(settings)
    try:
        with transaction(factory) as session:
            report = import_folder(session, folder)
    except ImportFailed as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"Import refused: {len(exc.problems)} problem(s); nothing was changed.", file=sys.stderr
        )
        return 1
    print(report)
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
    with transaction(make_sessionmaker(engine)) as session:
        if not _is_empty(session):
            raise UsageError(
                "The database already has customers; seed only fills an empty one. "
                "Example: basebot seed --reset --customers 5000"
            )
        summary = seed_demo(
            session, customers=args.customers, seed=args.seed, today=args.today or settings.today()
        )
    print(f"Seeded {settings.database_url}: {summary}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basebot",
        description="Answers customer-base and installed-base questions. Without a subcommand:"
        " a local console on the configured database (demo data on first use).",
    )
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("ask", help="answer one command, e.g. basebot ask 'installed printers'")
    p.add_argument("text", help="the command, as typed after /base")
    p.add_argument("--json", action="store_true", help="print the JSON reply")
    p.add_argument("--as-of", type=_date, help="default as-of date (YYYY-MM-DD)")
    p.set_defaults(func=cmd_ask)
    p = sub.add_parser("console", help="type /base commands locally (the default)")
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
    p = sub.add_parser("init-db", help="bring the database to the latest schema")
    p.set_defaults(func=cmd_init_db)
    p = sub.add_parser("serve", help="the Slack app over HTTP at /slack/events (port $PORT)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default $PORT, else 3000)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("socket", help="the Slack app over Socket Mode (needs SLACK_APP_TOKEN)")
    p.set_defaults(func=cmd_socket)
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
