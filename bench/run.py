"""One benchmark run: data, then per backend load, serve-and-time, baselines, plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from bench.baselines import FLOORS, PANDAS, Baseline
from bench.databases import DEFAULT_PG_URL, ImportStats, load, server_settings, sqlite_url
from bench.datagen import Dataset, ensure_dataset
from bench.explain import VerbPlans, explain_verbs
from bench.report import git_commit, machine
from bench.results import BackendResult, Report, Timing, VerbResult
from bench.results import Baseline as BaselineResult
from bench.verbs import HOME, VERBS, asker, differences, home_label
from queries.db import make_engine, normalize_url

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATA_DIR = BENCH_DIR / "data"
DEFAULT_TODAY = date(2025, 6, 30)
BACKENDS = ("postgresql", "sqlite")
_WARM_UP_BELOW_MS = 2_000.0

T = TypeVar("T")


def _silent(_message: str) -> None:
    pass


@dataclass(frozen=True, kw_only=True)
class Common:
    """What the full and the live benchmark (bench/live.py) take alike."""

    customers: int = 1_000_000
    seed: int = 1
    today: date = DEFAULT_TODAY
    backends: tuple[str, ...] = BACKENDS
    pg_url: str = DEFAULT_PG_URL
    timeout_s: float = 120.0
    data_dir: Path = DEFAULT_DATA_DIR
    reuse_db: bool = False
    replica: bool = True
    progress: Callable[[str], None] = _silent


@dataclass(frozen=True, kw_only=True)
class Config(Common):
    repeat: int = 20
    pandas_repeat: int = 3
    budget_s: float = 30.0
    explain: int = 3


def data_set(config: Common) -> Dataset:
    say = config.progress
    say(f"data: {config.customers:,} customers, seed {config.seed} → {config.data_dir}")
    dataset = ensure_dataset(
        config.data_dir, customers=config.customers, seed=config.seed, today=config.today
    )
    say(
        f"data: {dataset.total_rows:,} rows "
        + ("reused" if dataset.reused else f"generated in {dataset.seconds:.1f} s")
    )
    return dataset


def databases(config: Common, dataset: Dataset) -> list[tuple[str, str]]:
    """(backend, database URL) of each backend to run."""
    return [
        (b, sqlite_url(dataset.folder) if b == "sqlite" else config.pg_url) for b in config.backends
    ]


def loaded(
    backend: str, url: str, dataset: Dataset, *, reuse: bool, say: Callable[[str], None]
) -> ImportStats:
    """The data set in the backend's database: `basebot import`, timed, or reused."""
    say(f"{backend}: importing {dataset.total_rows:,} rows")
    stats = load(
        backend, url, dataset.folder, dataset.rows, owned=dataset.owners.owned, reuse=reuse
    )
    if stats.reused:
        say(f"{backend}: reused the loaded database")
    else:
        say(f"{backend}: imported in {stats.seconds:.1f} s ({stats.rows_per_s or 0:,.0f} rows/s)")
    return stats


def run(config: Config) -> Report:
    started = datetime.now(UTC).astimezone()
    dataset = data_set(config)
    report = Report(
        started=started,
        machine=machine(),
        commit=git_commit(),
        dataset=dataset,
        repeat=config.repeat,
        pandas_repeat=config.pandas_repeat,
        budget_s=config.budget_s,
        timeout_s=config.timeout_s,
    )
    for backend, url in databases(config, dataset):
        report.backends.append(_run_backend(config, dataset, backend, url))
    return report


def _run_backend(config: Config, dataset: Dataset, backend: str, url: str) -> BackendResult:
    say = config.progress
    began = time.perf_counter()
    stats = loaded(backend, url, dataset, reuse=config.reuse_db, say=say)
    replica_dir = dataset.folder / f"replica-{backend}" if config.replica else None
    served = _serve(config, dataset, url, replica_dir)
    say(f"{backend}: serving process peak RSS {served['peak_kib'] / 1024:,.0f} MB")
    verbs = []
    for verb, measured in zip(VERBS, served["verbs"], strict=True):
        floor = pandas = None
        expected = measured["figures"]
        # Without basebot's answer (it timed out) there is nothing to check a baseline against.
        if verb.baselined and expected is not None:
            floor = _baseline(config, url, FLOORS[verb.label], expected, config.repeat, True)
            pandas = _baseline(
                config, url, PANDAS[verb.label], expected, config.pandas_repeat, False
            )
            say(
                f"{backend}: baselines of {verb.label}: floor {floor.timing.median_ms or 0:,.1f}"
                f" ms, pandas {pandas.timing.median_ms or 0:,.0f} ms"
                + ("" if floor.agreed and pandas.agreed else " — DIFFERENT ANSWER")
            )
        verbs.append(
            VerbResult(
                verb=verb
                if verb != HOME
                else replace(verb, label=home_label(dataset.owners.asker_accounts)),
                timing=Timing(tuple(measured["timings_s"])),
                size=int(measured["size"]),
                peak_kib=int(measured["peak_kib"]),
                timed_out=bool(measured["timed_out"]),
                floor=floor,
                pandas=pandas,
                full_s=measured["full_s"],
            )
        )

    plans: tuple[VerbPlans, ...] = ()
    if config.explain:
        # The App Home is not a command: it has no plan of its own (its verbs do).
        commands_only = (v for v in verbs if v.verb.command != HOME.command)
        slowest = sorted(commands_only, key=lambda v: -v.slowness)[: config.explain]
        say(f"{backend}: query plans of {', '.join(v.verb.label for v in slowest)}")
        commands = [
            # A warm-up run first, unless the verb is slow enough not to notice first-use costs.
            (v.verb.label, v.verb.texts(1, config.customers)[0], v.slowness < _WARM_UP_BELOW_MS)
            for v in slowest
        ]
        replicas = sorted(replica_dir.glob("replica-*.duckdb")) if replica_dir else []
        # The plans of what answered: the replica's when there is one.
        where, engine_kind = (f"duckdb:///{replicas[0]}", "duckdb") if replicas else (url, backend)
        plans = tuple(
            explain_verbs(
                where,
                engine_kind,
                commands,
                config.today,
                config.timeout_s,
                asker(dataset.owners.asker),
            )
        )
    return BackendResult(
        backend=backend,
        url=make_url(normalize_url(url)).render_as_string(hide_password=True),
        server=server_settings(url, backend),
        load=stats,
        started_kib=int(served["started_kib"]),
        peak_kib=int(served["peak_kib"]),
        serving_peak_kib=int(served["serving_peak_kib"]),
        replica=served["replica"],
        verbs=tuple(verbs),
        plans=plans,
        seconds=time.perf_counter() - began,
    )


def _serve(config: Config, dataset: Dataset, url: str, replica_dir: Path | None) -> dict[str, Any]:
    """Run the query loop in a child process, which reports its own peak RSS."""
    say = config.progress
    job = {
        "url": url,
        "as_of": config.today.isoformat(),
        "repeat": config.repeat,
        "budget_s": config.budget_s,
        "timeout_s": config.timeout_s,
        "replica_dir": None if replica_dir is None else str(replica_dir),
        "asker": dataset.owners.asker,
        "verbs": [
            {
                "label": v.label,
                "baselined": v.baselined,
                "texts": v.texts(config.repeat + 1, dataset.customers),
            }
            for v in VERBS
        ],
    }
    with tempfile.TemporaryDirectory(prefix="basebot-bench-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        say(f"serving: {len(VERBS)} verbs, up to {config.repeat} runs each")
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        }
        with subprocess.Popen(
            [sys.executable, "-m", "bench.serve", str(job_path), str(result_path)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:  # the child's progress
                say(line.rstrip())
        if child.returncode != 0:
            raise RuntimeError(f"the serving process failed (exit {child.returncode})")
        result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def _baseline(
    config: Config,
    url: str,
    baseline: Baseline,
    expected: dict[str, Any],
    repeat: int,
    warm_up: bool,
) -> BaselineResult:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:

            def once() -> dict[str, Any]:
                try:
                    return baseline(conn, config.today)
                finally:
                    conn.rollback()

            first, first_s = _timed(once)
            samples = [] if warm_up else [first_s]
            loop_started = time.perf_counter()
            minimum = 2 if warm_up else 1
            while len(samples) < repeat:
                if len(samples) >= minimum and time.perf_counter() - loop_started > config.budget_s:
                    break
                samples.append(_timed(once)[1])
    finally:
        engine.dispose()
    return BaselineResult(Timing(tuple(samples)), tuple(differences(expected, first)))


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began
