"""An owners' digest run timed at scale: `python -m bench.owners --owners 300`.

Reuses a database `python -m bench` loaded on PostgreSQL (default 1,000,000 customers, owned
by its generated sales team of 2,000 reps). The run needs exactly `--owners` owners, so the
accounts are shared out again in a copy of that database (CREATE DATABASE … TEMPLATE; the
loaded one is left as it is): the reps ordered by their number, rep k's accounts go to rep
k mod N, so N reps keep their own spelling (an email, or a Slack user id for about one in
ten). The copy is kept and reused by later runs; `--fresh` makes it again.

Then the real scheduler process (`python -m bot scheduler --once`, reading the read replica
built for the copy) sends one owners' digest subscription, due now, to a local Web API
stand-in that enforces Slack's rate limits: a method called faster than its tier allows is
answered 429 with Retry-After (users.lookupByEmail Tier 3, users.info and the file upload
methods Tier 4, chat.postMessage one a second per channel), every answer after `--latency`.
The report: wall time, where the process spent it, DMs, 429s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.engine import URL, make_url

from bench.databases import DEFAULT_PG_URL, BenchDatabaseError
from queries.db import make_engine, make_sessionmaker, normalize_url, transaction
from queries.models import Customer, DigestSubscription
from queries.request import is_user_id
from queries.subscriptions import OWNERS, subscribe

TOKEN = "xoxb-bench-owners"
COPY_COMMENT = "basebot owners-digest benchmark copy (python -m bench.owners); remade on --fresh"
TARGET_SECONDS = 600.0
# Requests a minute (Slack's tiers) and how many may come at once before the rate applies.
TIER_2, TIER_3, TIER_4 = 20, 50, 100
LIMITS = {
    "users.lookupByEmail": TIER_3,
    "conversations.open": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}
BURST = 2
POST_PER_CHANNEL_S = 1.0
LOCALES = ("en-US", "de-DE", "fr-FR", "it-IT", "ro-RO", "ru-RU")
_SUMMARY = re.compile(
    r"owners' digest \d+ for \S+: (?P<done>.+?) here in (?P<wall>[\d.]+) s \(building"
    r" (?P<building>[\d.]+) s, Slack calls (?P<slack>[\d.]+) s, paced (?P<paced>[\d.]+) s,"
    r" (?P<calls>\d+) calls\)"
)


# ---------------------------------------------------------------- the Web API, rate-limited


class _Bucket:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> float:
        """0 when a call may go now; else the seconds until it may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class Seen:
    calls: Counter[str] = field(default_factory=Counter)
    limited: Counter[str] = field(default_factory=Counter)  # 429s by method
    retry_after: float = 0.0  # seconds of Retry-After handed out
    dms: Counter[str] = field(default_factory=Counter)  # user id -> DMs posted


class LimitedSlack:
    """The Web API methods an owners' digest calls, on 127.0.0.1, within Slack's limits."""

    def __init__(self, *, users: dict[str, str], latency: float) -> None:
        # users: owner email -> user id; owners written as an id have an email made up.
        self.users = users
        self.emails = {uid: email for email, uid in users.items()}
        self.latency = latency
        self.seen = Seen()
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._files = 0
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = slack._answer(self.path.split("?", 1)[0], raw)
                data = json.dumps(body).encode() if isinstance(body, dict) else body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LimitedSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _limit(self, key: str, per_minute: float) -> float:
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(per_minute, BURST))
            return bucket.take()

    def _answer(self, path: str, raw: bytes) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        time.sleep(self.latency)
        if path.startswith("/upload/"):
            return 200, b"OK", {}
        method = path.removeprefix("/api/")
        text_ = raw.decode("utf-8", "replace")
        data: dict[str, Any] = (
            json.loads(text_) if text_.startswith("{") else dict(parse_qsl(text_))
        )
        channel = str(data.get("channel") or "")
        with self._lock:
            self.seen.calls[method] += 1
        if method == "chat.postMessage":
            wait = self._limit(f"{method}:{channel}", 60.0 / POST_PER_CHANNEL_S)
        elif method in LIMITS:
            wait = self._limit(method, LIMITS[method])
        else:
            wait = 0.0
        if wait > 0:
            retry = max(1, math.ceil(wait))
            with self._lock:
                self.seen.limited[method] += 1
                self.seen.retry_after += retry
            body = {"ok": False, "error": "ratelimited"}
            return 429, body, {"Retry-After": str(retry), "Content-Type": "application/json"}
        return 200, self._ok(method, data, channel), {"Content-Type": "application/json"}

    def _ok(self, method: str, data: dict[str, Any], channel: str) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "team_id": "T0BENCH", "user_id": "UBOT", "bot_id": "BBOT"}
        if method == "users.lookupByEmail":
            email = str(data.get("email") or "").lower()
            if email not in self.users:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": self.users[email], "profile": {"email": email}}}
        if method == "users.info":
            user = str(data.get("user") or "")
            locale = LOCALES[sum(map(ord, user)) % len(LOCALES)]
            known = self.emails.get(user)
            profile = {"email": known} if known else {}
            return {"ok": True, "user": {"id": user, "locale": locale, "profile": profile}}
        if method == "chat.postMessage":
            with self._lock:
                self.seen.dms[channel] += 1
            return {"ok": True, "channel": "D" + channel, "ts": f"{time.time():.6f}"}
        if method == "files.getUploadURLExternal":
            with self._lock:
                self._files += 1
                file_id = f"F{self._files:06d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": json.loads(str(data.get("files") or "[]"))}
        return {"ok": False, "error": "unknown_method"}


# ---------------------------------------------------------------- the database


def _database(url: str) -> URL:
    parsed = make_url(normalize_url(url))
    name = parsed.database or ""
    if parsed.get_backend_name() != "postgresql" or not name:
        raise BenchDatabaseError(f"not a PostgreSQL database URL: {url}")
    if name.lower().startswith("test"):
        raise BenchDatabaseError(f"refusing to use {name!r}: test* databases are off limits")
    return parsed


def prepare_copy(source: str, copy: str, owners: int, *, fresh: bool) -> str:
    """The copy's URL, made from `source` with `owners` owners unless it is there already."""
    src = _database(source)
    dst = _database(copy if "/" in copy else src.set(database=copy).render_as_string(False))
    if dst.database == src.database:
        raise BenchDatabaseError("--copy must name another database than --pg-url")
    url = dst.render_as_string(hide_password=False)
    admin = make_engine(
        src.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            q = conn.dialect.identifier_preparer.quote
            comment = conn.scalar(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                    " WHERE datname = :n"
                ),
                {"n": dst.database},
            )
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dst.database}
            )
            if exists and comment != COPY_COMMENT:
                raise BenchDatabaseError(
                    f"database {dst.database!r} exists and was not made by bench.owners"
                )
            if exists and not fresh and _owners(url) == owners:
                print(f"reusing {dst.database} ({owners} owners)", flush=True)
                return url
            if exists:
                conn.exec_driver_sql(f"DROP DATABASE {q(str(dst.database))}")
            started = time.perf_counter()
            conn.exec_driver_sql(
                f"CREATE DATABASE {q(str(dst.database))} TEMPLATE {q(str(src.database))}"
            )
            conn.exec_driver_sql(f"COMMENT ON DATABASE {q(str(dst.database))} IS '{COPY_COMMENT}'")
            print(f"copied {src.database} in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        admin.dispose()
    _share_out(url, owners)
    return url


def _owners(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(func.distinct(Customer.owner)))) or 0)
    finally:
        engine.dispose()


def _share_out(url: str, owners: int) -> None:
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            # The generated reps are rep0001@… and U0REP0010…: ordered by their number.
            conn.execute(
                text(
                    "CREATE TEMP TABLE reps ON COMMIT DROP AS SELECT owner, row_number() OVER"
                    " (ORDER BY substring(owner FROM '[0-9]{4}')::int, owner) - 1 AS i"
                    " FROM (SELECT DISTINCT owner FROM customers WHERE owner <> '') d"
                )
            )
            conn.execute(
                text(
                    "UPDATE customers c SET owner = r2.owner FROM reps r1 JOIN reps r2"
                    " ON r2.i = r1.i % :n WHERE c.owner = r1.owner AND r1.i >= :n"
                ),
                {"n": owners},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE customers")
    finally:
        engine.dispose()
    print(f"shared the accounts out to {owners} owners in {time.perf_counter() - started:.1f} s")


def build_replica(url: str, folder: Path) -> None:
    """The read replica the scheduler answers from, unless a fresh one is there already."""
    from bot.settings import Settings
    from queries.replica import ReadPath

    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=url, replica_dir=str(folder))
    engine = make_engine(url)
    try:
        reads = ReadPath(make_sessionmaker(engine), settings.replica(), build=False)
        fresh = reads.on_replica()
        reads.close()
    finally:
        engine.dispose()
    if fresh:
        print(f"reusing the read replica in {folder}", flush=True)
        return
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "replica"],
        env=os.environ | {"DATABASE_URL": url, "BASEBOT_REPLICA": str(folder)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the read replica in {time.perf_counter() - started:.1f} s", flush=True)


def midday_zone() -> str:
    """A time zone where it is about noon: a 00:00 subscription is due and stays that day."""
    offset = 12 - datetime.now(UTC).hour
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def fresh_subscription(engine: Engine) -> list[str]:
    """One owners' digest due now (every other subscription and delivery gone); its owners."""
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        session.execute(delete(DigestSubscription))  # their deliveries go with them
        subscribe(
            session,
            kind=OWNERS,
            channel_id="",
            local_time="00:00",
            tz=midday_zone(),
            scope="",
            now=datetime.now(UTC) - timedelta(days=2),
            created_by="U0BENCH",
        )
        found = session.scalars(
            select(Customer.owner).where(Customer.owner != "").group_by(Customer.owner)
        )
        return sorted(str(o) for o in found)


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class Result:
    wall: float
    output: str
    seen: Seen
    owners: list[str]


def run_scheduler(url: str, replica: Path | None, owners: list[str], latency: float) -> Result:
    users = {o.lower(): f"U{n:07d}" for n, o in enumerate(owners) if not is_user_id(o)}
    users |= {f"{o.lower()}@ids.example": o for o in owners if is_user_id(o)}
    with LimitedSlack(users=users, latency=latency) as slack:
        env = os.environ | {
            "DATABASE_URL": url,
            "BASEBOT_REPLICA": str(replica) if replica else "off",
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": f"{slack.url}/api/",
            "BASEBOT_SLACK_PACE": "1",
        }
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "scheduler", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        wall = time.perf_counter() - started
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"the scheduler exited {done.returncode}:\n{output}")
    return Result(wall, output, slack.seen, owners)


def report(result: Result) -> str:
    seen = result.seen
    emails = sum(not is_user_id(o) for o in result.owners)
    met = "met" if result.wall <= TARGET_SECONDS else "MISSED"
    lines = [
        f"owners: {len(result.owners)} ({emails} written as an email,"
        f" {len(result.owners) - emails} as a Slack user id)",
        f"wall time of the scheduler process: {result.wall:.1f} s"
        f" (target ≤ {TARGET_SECONDS:.0f} s: {met})",
    ]
    found = _SUMMARY.search(result.output)
    if found:
        lines += [
            f"the run: {found['done']} in {float(found['wall']):.1f} s; building the digests"
            f" (queries, rendering, charts) {float(found['building']):.1f} s on its thread;"
            f" Web API calls {float(found['slack']):.1f} s (Retry-After waits included);"
            f" waiting for the pacers {float(found['paced']):.1f} s; {found['calls']} calls",
        ]
    else:
        lines.append("the run's summary line was not found in its output:\n" + result.output)
    bound = max(
        seen.calls["users.lookupByEmail"] * 60 / TIER_3,
        seen.calls["users.info"] * 60 / TIER_4,
        len(seen.dms) * POST_PER_CHANNEL_S,
    )
    twice = sum(n > 1 for n in seen.dms.values())
    limited = ", ".join(f"{m} {n}" for m, n in sorted(seen.limited.items())) or "none"
    lines += [
        f"DMs: {sum(seen.dms.values())} to {len(seen.dms)} people ({twice} sent twice)",
        "calls: " + ", ".join(f"{m} {n}" for m, n in sorted(seen.calls.items())),
        f"429s: {sum(seen.limited.values())} ({limited}); Retry-After handed out:"
        f" {seen.retry_after:.0f} s",
        f"the slowest rate (lookups at {TIER_3}/min, users.info at {TIER_4}/min, one DM a"
        f" second) alone takes {bound:.0f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.owners", description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a database python -m bench loaded")
    p.add_argument("--copy", default="bench_owners", help="the copy's database name or URL")
    p.add_argument("--owners", type=int, default=300)
    p.add_argument("--fresh", action="store_true", help="make the copy again")
    p.add_argument(
        "--replica",
        default=str(Path(".bench-owners-replica").resolve()),
        help="the read replica's folder, or off to read PostgreSQL itself",
    )
    p.add_argument("--latency", type=float, default=0.1, help="seconds per Web API answer")
    args = p.parse_args(argv)
    if args.owners < 1:
        p.error("--owners must be at least 1")
    try:
        url = prepare_copy(args.pg_url, args.copy, args.owners, fresh=args.fresh)
    except BenchDatabaseError as exc:
        print(f"bench.owners: {exc}", file=sys.stderr)
        return 2
    replica = None if args.replica == "off" else Path(args.replica)
    if replica is not None:
        build_replica(url, replica)
    engine = make_engine(url)
    try:
        owners = fresh_subscription(engine)
        with engine.connect() as conn:
            customers = int(conn.scalar(select(func.count(Customer.id))) or 0)
    finally:
        engine.dispose()
    print(
        f"an owners' digest for {len(owners)} owners of {customers:,} customers on"
        f" {make_url(url).database}, {'the read replica' if replica else 'PostgreSQL itself'}",
        flush=True,
    )
    print(report(run_scheduler(url, replica, owners, args.latency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
