"""Command line of the benchmark: `python -m bench [options]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from bench.databases import DEFAULT_PG_URL, BenchDatabaseError
from bench.live import LiveConfig, run_live
from bench.report import keep_live, render, render_live, with_live
from bench.run import BACKENDS, BENCH_DIR, DEFAULT_DATA_DIR, DEFAULT_TODAY, Config, run

FULL_SCALE = 1_000_000
SMALL_SCALE = 100_000
DEFAULT_OUT = BENCH_DIR / "RESULTS.md"

_DESCRIPTION = """\
Benchmark basebot (issue #6). Generates a deterministic data set (customers, products,
purchases, installations as import CSVs, about 5 purchase lines and 3 installations per
customer), loads it with `basebot import` and reports the import rate, then times every
verb in a warm serving process (a child process, whose peak RSS is reported): median and
95th percentile over repeated runs; `installed mine` and `upsell printers mine` are asked as
one rep of the generated sales team (the report says how many accounts they own). For the
key figures (installed <category> by region, customers, compare, upsell <category> service)
it also times two baselines on the same database -- a hand-written SQL statement (the
floor) and a pandas script that loads the tables -- checks that both got basebot's answer,
and reports basebot's time as a ratio.
Prints a Markdown report; exits 1 when a baseline disagrees with basebot.

With --live (issue #16) it times the verbs through signed slash commands to `basebot serve`,
first with nobody writing, then while a writer commits a change a second through the
database driver; it reports both, the time the bench's own read path takes to apply a
commit, and whether answers right after a commit count it. Exits 1 when such an answer
differs from the database's or a command fails.
"""

_EPILOG = """\
examples:
  python -m bench                          full scale (1,000,000 customers), both backends,
                                           report also written to bench/RESULTS.md
  python -m bench --small --backend postgresql
  python -m bench --customers 2000 --repeat 5 --backend sqlite     (a CI-sized run)
  python -m bench --live --customers 20000 --backend postgresql --live-seconds 60

Generated data is kept under bench/data/ (git-ignored), one folder per scale and seed, and
reused. The SQLite database is a file beside the data; the PostgreSQL database (--pg-url)
is created through the `postgres` maintenance database when missing and WIPED on every run
unless --reuse-db finds it already loaded: use a database of its own. A --live run leaves
its writer's rows in the database, so the next run loads the data set again. Databases named
test* are never touched. Targets (PostgreSQL, 1,000,000 customers): p95 <= 1 s for every
verb but health, <= 300 ms for installed, customers, customer, top; basebot within 1.5x of
the floor; serving process < 300 MB RSS; import >= 150,000 rows/s.
"""


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scale = p.add_mutually_exclusive_group()
    scale.add_argument(
        "--customers",
        type=_positive,
        default=FULL_SCALE,
        metavar="N",
        help=f"number of customers (default {FULL_SCALE:,})",
    )
    scale.add_argument(
        "--small",
        action="store_const",
        const=SMALL_SCALE,
        dest="customers",
        help=f"shorthand for --customers {SMALL_SCALE:,}",
    )
    p.add_argument(
        "--backend",
        choices=(*BACKENDS, "both"),
        default="both",
        help="database(s) to benchmark (default both)",
    )
    p.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        metavar="URL",
        help=f"PostgreSQL database to use, created if missing (default {DEFAULT_PG_URL})",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=20,
        metavar="N",
        help="timed runs per verb after one warm-up run (default 20)",
    )
    p.add_argument(
        "--pandas-repeat",
        type=_positive,
        default=3,
        metavar="N",
        help="runs of each pandas baseline (default 3)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="stop repeating a verb (or baseline) after this long, once it has at least"
        " 2 timed runs (1 for pandas) (default 30)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="cancel a command that runs longer and report the verb as timed out (default 120)",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="random seed of the generated data (default 1)"
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=DEFAULT_TODAY,
        metavar="YYYY-MM-DD",
        help=f"the data's 'today' and every command's as-of date (default {DEFAULT_TODAY})",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="where generated data and the SQLite database live (default bench/data)",
    )
    p.add_argument(
        "--reuse-db",
        action="store_true",
        help="skip the import when the database already holds exactly this data set's row"
        " counts (the import rate is then not measured)",
    )
    p.add_argument(
        "--explain",
        type=int,
        default=3,
        metavar="N",
        help="append the query plans of the N slowest verbs per backend (default 3; 0: none)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help=f"also write the report to FILE ('-': stdout only). Default: {DEFAULT_OUT.name}"
        f" in bench/ at full scale ({FULL_SCALE:,} customers), stdout only otherwise",
    )
    p.add_argument(
        "--no-replica",
        dest="replica",
        action="store_false",
        help="answer from the database itself, without the read replica",
    )
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    live = p.add_argument_group(
        "live data (--live; --repeat, --budget, --explain and the baselines do not apply)"
    )
    live.add_argument(
        "--live",
        action="store_true",
        help="time signed slash commands to `basebot serve`, still and while a writer commits",
    )
    live.add_argument(
        "--still-seconds",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="the still phase: the verbs in turn for this long, each at least once (default 120)",
    )
    live.add_argument(
        "--live-seconds",
        type=_seconds,
        default=240.0,
        metavar="SECONDS",
        help="the live phase, with the writer committing (default 240)",
    )
    live.add_argument(
        "--write-every",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="the writer commits one change this often (default 1)",
    )
    return p


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


_NOT_LIVE = ("repeat", "pandas_repeat", "budget", "explain")


def _shared(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of `bench.run.Common`."""
    return {
        "customers": args.customers,
        "seed": args.seed,
        "today": args.as_of,
        "backends": BACKENDS if args.backend == "both" else (args.backend,),
        "pg_url": args.pg_url,
        "timeout_s": args.timeout,
        "data_dir": args.data_dir,
        "reuse_db": args.reuse_db,
        "replica": args.replica,
        "progress": (lambda _message: None) if args.quiet else _progress,
    }


def _publish(args: argparse.Namespace, text: str, merged: Callable[[str, str], str]) -> None:
    """Print the report; write it into --out (by default RESULTS.md at full scale) too."""
    print(text, end="")
    out = args.out or (str(DEFAULT_OUT) if args.customers >= FULL_SCALE else "-")
    if out != "-":
        path = Path(out)
        path.write_text(merged(text, path.read_text() if path.exists() else ""))
        _progress(f"report written to {out}")


def _full(args: argparse.Namespace) -> int:
    report = run(
        Config(
            **_shared(args),
            repeat=args.repeat,
            pandas_repeat=args.pandas_repeat,
            budget_s=args.budget,
            explain=max(0, args.explain),
        )
    )
    _publish(args, render(report), keep_live)
    if not report.agreed:
        print("bench: a baseline disagreed with basebot (see the report)", file=sys.stderr)
        return 1
    return 0


def _live(args: argparse.Namespace) -> int:
    report = run_live(
        LiveConfig(
            **_shared(args),
            still_seconds=args.still_seconds,
            live_seconds=args.live_seconds,
            write_every=args.write_every,
        )
    )
    _publish(args, render_live(report), lambda text, previous: with_live(previous, text))
    differing = sum(c.differing for b in report.backends for c in b.freshness)
    failed = sum(
        phase.failed + phase.timed_out
        for b in report.backends
        for v in b.verbs
        for phase in (v.still, v.live)
    )
    if differing or failed:
        print(
            f"bench: {differing} answers right after a commit differed from the database's;"
            f" {failed} commands failed or timed out (see the report)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.live:
        for name in _NOT_LIVE:
            if getattr(args, name) != p.get_default(name):
                p.error(f"--{name.replace('_', '-')} does not apply to --live")
    try:
        return _live(args) if args.live else _full(args)
    except (BenchDatabaseError, OperationalError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
