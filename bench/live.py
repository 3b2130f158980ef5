"""`python -m bench --live`: answer times while the data changes (issue #16).

Per backend: load the data set, start `basebot serve` (a replica folder of its own) and wait
for its replica, then time the verbs through signed slash commands twice: still (nobody
writing), and live, while a writer commits a change every `write_every` seconds. After each
commit the bench, through a read path of its own, times how long catching up takes and
checks that its answers count every commit so far (bench/verbs.py says which answers).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.databases import server_settings
from bench.datagen import Dataset
from bench.report import git_commit, machine
from bench.results import (
    Freshness,
    LiveBackend,
    LiveReport,
    LiveVerb,
    PhaseTiming,
    Timing,
)
from bench.run import Common, data_set, databases, loaded
from bench.slack import ServeProcess, SlackStandIn
from bench.verbs import CHECK_SECONDS, FRESHNESS_CHECKS, LIVE_VERBS, TOUCHED, Verb, differences
from bench.writer import LiveWriter
from bot.ask import ask_json
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker, normalize_url
from queries.freshness import data_version
from queries.replica import ReadPath, snapshot

READY_TIMEOUT_S = 3600.0
_EXAMPLES = 3


@dataclass(frozen=True, kw_only=True)
class LiveConfig(Common):
    still_seconds: float = 120.0
    live_seconds: float = 240.0
    write_every: float = 1.0


def run_live(config: LiveConfig) -> LiveReport:
    started = datetime.now(UTC).astimezone()
    dataset = data_set(config)
    report = LiveReport(
        started=started,
        machine=machine(),
        commit=git_commit(),
        dataset=dataset,
        still_seconds=config.still_seconds,
        live_seconds=config.live_seconds,
        write_every=config.write_every,
        timeout_s=config.timeout_s,
    )
    for backend, url in databases(config, dataset):
        report.backends.append(_run_backend(config, dataset, backend, url))
    return report


@dataclass
class _Samples:
    seconds: list[float] = field(default_factory=list)
    failed: int = 0
    timed_out: int = 0

    def result(self) -> PhaseTiming:
        return PhaseTiming(Timing(tuple(self.seconds)), self.failed, self.timed_out)


class _Asker:
    """Sends the verbs round-robin; `customer` looks up another customer on every run."""

    def __init__(self, server: ServeProcess, config: LiveConfig) -> None:
        self.server = server
        self.config = config
        self.runs = 0

    def text(self, verb: Verb) -> str:
        self.runs += 1
        command = verb.text(self.runs, self.config.customers)
        return f"{command} as of {self.config.today.isoformat()}"

    def phase(self, seconds: float, *, user: str, rounds: int = 1) -> dict[str, _Samples]:
        """At least `rounds` rounds of every verb, then more until `seconds` have passed."""
        samples = {v.label: _Samples() for v in LIVE_VERBS}
        ends = time.monotonic() + seconds
        done = 0
        while done < rounds or time.monotonic() < ends:
            for verb in LIVE_VERBS:
                if done >= rounds and time.monotonic() >= ends:
                    break
                reply = self.server.ask(self.text(verb), user=user, timeout=self.config.timeout_s)
                kept = samples[verb.label]
                if reply is None:
                    kept.timed_out += 1
                elif not reply.ok:
                    kept.failed += 1
                else:
                    kept.seconds.append(reply.seconds)
            done += 1
        return samples


class _Probe:
    """A read path of the bench's own on the same database, made as a server makes one."""

    def __init__(self, url: str, folder: Path | None, today: date) -> None:
        self.settings = Settings(
            database_url=url, replica_dir=None if folder is None else str(folder)
        )
        self.engine = make_engine(url)
        self.factory = make_sessionmaker(self.engine)
        self.reads = ReadPath(self.factory, self.settings.replica())
        self.today = today
        self.after_commit: list[float] = []
        self.idle: list[float] = []
        self.checks = {c: Freshness(c, 0, 0, 0) for c in (TOUCHED, *FRESHNESS_CHECKS)}
        self.checking = False  # set for the check phase, after the timed live phase

    def close(self) -> None:
        self.reads.close()
        self.engine.dispose()

    def entry_s(self) -> float:
        began = time.perf_counter()
        with self.reads.session():
            pass
        return time.perf_counter() - began

    def answer(self, session: Session, command: str) -> dict[str, Any]:
        return ask_json(session, command, as_of=self.today, settings=self.settings)

    def after(self, gate: threading.Lock, touched: str | None) -> None:
        """Right after a commit, while `gate` keeps the writer out: catch up, then answer.

        The database's own answers come from a snapshot pinned under the gate, so they are
        computed after the writer has moved on yet count exactly the same commits.
        """
        if not self.checking:
            return
        checks = {TOUCHED: f"customer {touched}"} if touched else {}
        checks |= {c: c for c in FRESHNESS_CHECKS}
        with ExitStack() as stack:
            with gate:
                self.after_commit.append(self.entry_s())
                self.idle.append(self.entry_s())
                primary = stack.enter_context(snapshot(self.factory))
                data_version(primary)  # the snapshot starts with the first read
                read = {}
                for label, command in checks.items():
                    on_replica = self.reads.on_replica()
                    with self.reads.session() as session:
                        read[label] = (self.answer(session, command), on_replica)
            with Session(bind=primary) as session:
                for label, (got, on_replica) in read.items():
                    command = checks[label]
                    diffs = differences(self.answer(session, command), got)
                    named = [d if command == label else f"{command}: {d}" for d in diffs]
                    self._count(label, named, on_replica)

    def _count(self, label: str, diffs: list[str], on_replica: bool) -> None:
        was = self.checks[label]
        examples = was.examples
        if diffs and len(examples) < _EXAMPLES:
            examples = (*examples, diffs[0])
        self.checks[label] = Freshness(
            label,
            was.checks + 1,
            was.differing + bool(diffs),
            was.on_replica + on_replica,
            examples,
        )


class _Live:
    """The writer and the probe, each on a thread of its own, until stopped."""

    def __init__(self, writer: LiveWriter, probe: _Probe, every: float) -> None:
        self.writer = writer
        self.probe = probe
        self.every = every
        self.gate = threading.Lock()
        self.commits = 0
        self.touched: str | None = None
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guarded(self._write), name="bench-writer"),
            threading.Thread(target=self._guarded(self._probe), name="bench-probe"),
        ]

    @contextmanager
    def running(self) -> Iterator[None]:
        for thread in self.threads:
            thread.start()
        try:
            yield
        finally:
            self.stopping.set()
            with self.changed:
                self.changed.notify_all()
            for thread in self.threads:
                thread.join()
        if self.errors:
            raise self.errors[0]

    def _guarded(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                self.errors.append(exc)
                self.stopping.set()
                with self.changed:
                    self.changed.notify_all()

        return run

    def _write(self) -> None:
        due = time.monotonic() + self.every
        while not self.stopping.wait(max(0.0, due - time.monotonic())):
            with self.gate:
                change = self.writer.commit()
            with self.changed:
                self.commits += 1
                self.touched = change.customer_ref
                self.changed.notify_all()
            # A commit held up by the probe is not made up for: one change per tick at most.
            due = max(due + self.every, time.monotonic())

    def _probe(self) -> None:
        seen = 0
        while True:
            with self.changed:
                while self.commits <= seen and not self.stopping.is_set():
                    self.changed.wait()
                if self.stopping.is_set():
                    return
                seen, touched = self.commits, self.touched
            self.probe.after(self.gate, touched)


def _fresh_folder(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _run_backend(config: LiveConfig, dataset: Dataset, backend: str, url: str) -> LiveBackend:
    say = config.progress
    began = time.perf_counter()
    stats = loaded(backend, url, dataset, reuse=config.reuse_db, say=say)
    server_dir = probe_dir = None
    if config.replica:
        server_dir = _fresh_folder(dataset.folder / f"replica-live-serve-{backend}")
        probe_dir = _fresh_folder(dataset.folder / f"replica-live-probe-{backend}")
    log = dataset.folder / f"live-serve-{backend}.log"
    with ExitStack() as stack:
        standin = stack.enter_context(SlackStandIn(email=dataset.owners.asker))
        server = stack.enter_context(
            ServeProcess(url=url, replica_dir=server_dir, standin=standin, log=log)
        )
        server.wait_listening(READY_TIMEOUT_S)
        ready_s = None
        if server_dir is not None:
            say(f"{backend}: basebot serve is up; waiting for its read replica")
            ready_s = server.wait_replica(server_dir, READY_TIMEOUT_S)
            say(f"{backend}: the server's replica was ready after {ready_s:,.1f} s")
        probe = _Probe(url, probe_dir, config.today)
        stack.callback(probe.close)
        if probe_dir is not None:
            probe.reads.refresh()
            say(f"{backend}: the bench's own read path has its replica")
        asker = _Asker(server, config)
        asker.phase(0, user="U0BENCHWARM")  # one untimed round: first-use costs
        started_kib = server.kib("VmRSS")
        say(f"{backend}: still phase, {config.still_seconds:,.0f} s")
        still_began = time.monotonic()
        still = asker.phase(config.still_seconds, user="U0BENCHSTILL")
        still_s = time.monotonic() - still_began
        still_peak = server.kib("VmHWM")
        writer = LiveWriter(url, today=config.today, customers=config.customers, seed=config.seed)
        stack.callback(writer.close)
        live = _Live(writer, probe, config.write_every)
        say(
            f"{backend}: live phase, {config.live_seconds:,.0f} s, a commit every"
            f" {config.write_every:g} s"
        )
        live_began = time.monotonic()
        with live.running():
            moving = asker.phase(config.live_seconds, user="U0BENCHLIVE")
            live_s = time.monotonic() - live_began
            checking = min(CHECK_SECONDS, config.live_seconds / 4)
            say(f"{backend}: check phase, {checking:,.0f} s: applying and checking each commit")
            probe.checking = True
            time.sleep(checking)
        peak = server.kib("VmHWM")
        say(f"{backend}: {writer.stats.commits} commits; serving peak RSS {peak / 1024:,.0f} MB")
    apply = [a - i for a, i in zip(probe.after_commit, probe.idle, strict=True)]
    return LiveBackend(
        backend=backend,
        url=make_url(normalize_url(url)).render_as_string(hide_password=True),
        server=server_settings(url, backend),
        load=stats,
        replica=config.replica,
        replica_ready_s=ready_s,
        still_s=still_s,
        live_s=live_s,
        verbs=tuple(
            LiveVerb(v, still[v.label].result(), moving[v.label].result()) for v in LIVE_VERBS
        ),
        commits=writer.stats.commits,
        kinds=dict(writer.stats.kinds),
        commit=Timing(tuple(writer.stats.commit_s)),
        apply=Timing(tuple(apply)),
        entry_after_commit=Timing(tuple(probe.after_commit)),
        entry_idle=Timing(tuple(probe.idle)),
        freshness=tuple(probe.checks.values()),
        started_kib=started_kib,
        still_peak_kib=still_peak,
        peak_kib=peak,
        seconds=time.perf_counter() - began,
    )
