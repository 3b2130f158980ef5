"""The Markdown report: the run's context, then one table per backend, then query plans."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.datagen import Dataset
from bench.results import (
    BackendResult,
    LiveBackend,
    LiveReport,
    Machine,
    PhaseTiming,
    Report,
    Timing,
    VerbResult,
)
from bench.verbs import (
    CHECK_SECONDS,
    FLOOR_RATIO_TARGET,
    FRESHNESS_CHECKS,
    IMPORT_TARGET_ROWS_S,
    RSS_TARGET_MB,
    TOUCHED,
)

_REPO = Path(__file__).resolve().parent.parent
_PLAN_STATEMENTS = 3
_TARGET_NOTE = (
    "Targets (issue #6) are set for PostgreSQL at 1,000,000 customers; at other scales and on"
    " SQLite they are shown for reference."
)


def machine() -> Machine:
    cpus = len(os.sched_getaffinity(0))
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    one, five, fifteen = os.getloadavg()
    return Machine(cpus, memory_kib / 1024 / 1024, model, (one, five, fifteen))


def git_commit() -> str:
    """The short commit, marked when the working tree has local changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _duration(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def _machine(m: Machine) -> str:
    load = ", ".join(f"{v:.2f}" for v in m.load_average)
    return (
        f"{m.cpus} CPUs ({m.cpu_model}), {m.memory_gib:,.1f} GiB RAM; load average at start {load}"
    )


def _owners(data: Dataset) -> str:
    owners = data.owners
    return (
        f"`… mine` asked as {owners.asker} (the asker's Slack profile email), owner of"
        f" {owners.asker_accounts:,} accounts; {owners.reps:,} reps own"
        f" {owners.owned:,} of the {data.customers:,} customers"
    )


def _mb(kib: int) -> float:
    return kib / 1024


def _status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _check(row: VerbResult) -> str:
    baselines = [b for b in (row.floor, row.pandas) if b is not None]
    if not baselines:
        return "— (no basebot answer)" if row.verb.baselined else "—"
    if all(b.agreed for b in baselines):
        return "agrees"
    return "**DIFFERS**"


def _verb_row(row: VerbResult, timeout_s: float) -> str:
    target = row.verb.target_p95_ms
    p95 = row.timing.p95_ms
    runs = f"{row.timing.runs}"
    over = f"> {timeout_s * 1000:,.0f}"
    if row.timed_out:
        # The cancelled run is slower than every sample: it sets the p95 at least.
        runs += " + 1 timed out"
        p95_cell, met = over, False
    else:
        p95_cell, met = _ms(p95), p95 is not None and target is not None and p95 <= target
    target_cell = "—" if target is None else f"≤ {target:,.0f} ({_status(met)})"
    floor_ratio = row.floor_ratio()
    floor_cell = _ratio(floor_ratio)
    if floor_ratio is not None:
        floor_cell += f" ({_status(floor_ratio <= FLOOR_RATIO_TARGET)})"
    median = row.timing.median_ms
    cells = [
        f"`{row.verb.label}`",
        runs,
        over if median is None else _ms(median),
        p95_cell,
        target_cell,
        _ms(None if row.full_s is None else row.full_s * 1000),
        _ms(row.floor.timing.median_ms if row.floor else None),
        floor_cell,
        _ms(row.pandas.timing.median_ms if row.pandas else None),
        _ratio(row.pandas_ratio()),
        _check(row),
        f"{row.size:,}",
        f"{_mb(row.peak_kib):,.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


_TABLE_HEADER = (
    "| verb | runs | median ms | p95 ms | p95 target ms | full JSON ms | floor ms |"
    " × floor (≤ 1.5) | pandas ms | × pandas | baselines | answer rows | RSS after, MB |\n"
    "|---|--:|--:|--:|---|--:|--:|---|--:|--:|---|--:|--:|"
)


def _backend_section(result: BackendResult, report: Report) -> list[str]:
    name = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[result.backend]
    server = result.server
    lines = [f"## {name} {server.get('version', '')}".rstrip(), ""]
    settings = ", ".join(f"{k} {v}" for k, v in server.items() if k != "version")
    if settings:
        lines += [f"Server settings: {settings}.", ""]
    load = result.load
    rate = load.rows_per_s
    if rate is None:
        lines.append(
            f"- Import: reused the database already loaded with these {load.rows:,} rows"
            " (`--reuse-db`): not measured."
        )
    else:
        target = (
            f" (target ≥ {IMPORT_TARGET_ROWS_S:,.0f} on PostgreSQL: "
            f"{_status(rate >= IMPORT_TARGET_ROWS_S)})"
        )
        lines.append(
            f"- Import (`basebot import`, `queries.importer.import_folder` in one transaction):"
            f" {load.rows:,} rows in {load.seconds:,.1f} s = **{rate:,.0f} rows/s**{target}"
        )
        if result.backend == "postgresql":
            lines.append(
                "- Then `VACUUM ANALYZE` (what autovacuum would soon do):"
                f" {load.maintenance_seconds:,.1f} s"
            )
    if result.replica is not None:
        lines.append(
            f"- Read replica (DuckDB) built from the database in"
            f" {result.replica['seconds']:,.1f} s: {result.replica['bytes'] / 1e6:,.0f} MB file;"
            " every answer below is read from it"
        )
    else:
        lines.append("- No read replica (`--no-replica`): every answer reads the database")
    peak_mb = _mb(result.serving_peak_kib or result.peak_kib)
    lines.append(
        f"- Serving process: peak RSS **{peak_mb:,.0f} MB** answering the Slack commands"
        f" (target < {RSS_TARGET_MB:,.0f} MB: {_status(peak_mb < RSS_TARGET_MB)});"
        f" {_mb(result.started_kib):,.0f} MB after start-up;"
        f" {_mb(result.peak_kib):,.0f} MB after also building the whole JSON answers of the"
        " baselined verbs (`basebot ask --json`: a long list is built in full there)"
    )
    lines.append(f"- Wall time for this backend: {_duration(result.seconds)}")
    rows = (_verb_row(v, report.timeout_s) for v in result.verbs)
    lines += ["", _TABLE_HEADER, *rows, ""]
    problems = [
        (v.verb.label, kind, b.differences)
        for v in result.verbs
        for kind, b in (("floor", v.floor), ("pandas", v.pandas))
        if b is not None and not b.agreed
    ]
    for label, kind, diffs in problems:
        shown = "; ".join(diffs[:5]) + (f"; … {len(diffs) - 5} more" if len(diffs) > 5 else "")
        lines.append(f"- **{kind} baseline of `{label}` differs from basebot**: {shown}")
    if problems:
        lines.append("")
    return lines


def _plans_section(result: BackendResult) -> list[str]:
    if not result.plans:
        return []
    name = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[result.backend]
    if result.replica is not None:
        name, how = f"the read replica of {name}", "DuckDB EXPLAIN ANALYZE"
    else:
        how = (
            "EXPLAIN (ANALYZE, BUFFERS)" if result.backend == "postgresql" else "EXPLAIN QUERY PLAN"
        )
    lines = [f"### Query plans on {name}: the slowest verbs ({how})", ""]
    for plans in result.plans:
        lines.append(
            f"**`{plans.command}`** — {len(plans.statements)} SQL statements,"
            f" {plans.total_ms:,.0f} ms in all; the slowest:"
        )
        lines.append("")
        for statement in plans.statements[:_PLAN_STATEMENTS]:
            first = " ".join(statement.sql.split())[:160]
            lines += [
                "<details>",
                f"<summary>{statement.ms:,.1f} ms{_server_ms(statement.execution_ms)}"
                f" — <code>{_html(first)}…</code></summary>",
                "",
                "```",
                statement.sql.strip(),
                "",
                statement.plan,
                "```",
                "</details>",
                "",
            ]
    return lines


def _server_ms(ms: float | None) -> str:
    return "" if ms is None else f" (server {ms:,.1f} ms)"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(report: Report) -> str:
    m, data = report.machine, report.dataset
    rows = data.rows
    generated = "reused" if data.reused else f"generated in {data.seconds:,.1f} s"
    lines = [
        "# basebot benchmark",
        "",
        "| | |",
        "|---|---|",
        f"| date | {report.started:%Y-%m-%d %H:%M %Z} |",
        f"| machine | {_machine(m)} |",
        f"| git commit | {report.commit} |",
        f"| scale | {data.customers:,} customers, {rows.get('purchases.csv', 0):,} purchase"
        f" lines, {rows.get('installations.csv', 0):,} installations,"
        f" {rows.get('products.csv', 0):,} products ({data.total_rows:,} rows) |",
        f"| data | seed {data.seed}, as of {data.today.isoformat()}, {generated} |",
        f"| owners | {_owners(data)} |",
        f"| runs | after one untimed warm-up, up to {report.repeat} timed runs per verb in one"
        f" warm serving process ({report.budget_s:,.0f} s budget per verb, at least 2 runs;"
        f" a run is cancelled after {report.timeout_s:,g} s); pandas up to"
        f" {report.pandas_repeat} runs |",
        "",
        "Times are wall-clock for what a Slack user waits for, in a warm serving process: the"
        " listener's work (`bot.listeners.replies.compute`: access rules, data-version check,"
        " parse, queries, audit row) and the Block Kit reply (`render_answer`, first page)."
        " *full JSON*: the whole answer once (`basebot ask --json`; for a long list, every"
        " candidate). *floor*: one hand-written SQL statement for the same answer on the"
        " database itself (not the replica); *pandas*: read the needed columns into pandas"
        " and compute in memory. Ratios are basebot's median over the baseline's (for a long"
        " list, its full JSON time); each baseline's answer is checked against basebot's"
        " (money to the cent). *RSS after*: the serving process's peak RSS once that verb had"
        " run.",
        "",
        _TARGET_NOTE,
        "",
    ]
    for result in report.backends:
        lines += _backend_section(result, report)
    for result in report.backends:
        lines += _plans_section(result)
    return "\n".join(lines).rstrip() + "\n"


LIVE_HEADING = "## Live data"
_BACKEND_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
_DRIVERS = {"postgresql": "psycopg", "sqlite": "sqlite3"}
_LIVE_HEADER = (
    "| verb | still runs | still p50 ms | still p95 ms | live runs | live p50 ms | live p95 ms"
    " | live p95 ÷ still p95 |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|"
)
_LIVE_INTRO = (
    "Answer times while the data changes (`python -m bench --live`): `basebot serve` is timed"
    " from each signed slash command to its reply at the response_url, one command at a time,"
    " the verbs in turn, first with nobody writing (*still*), then while a writer commits one"
    " change at a time through the database driver (*live*)."
)


def _phase_cells(phase: PhaseTiming, timeout_s: float) -> list[str]:
    runs = f"{phase.timing.runs}"
    if phase.failed:
        runs += f" + {phase.failed} failed"
    if phase.timed_out:
        runs += f" + {phase.timed_out} timed out"
    p95 = f"> {timeout_s * 1000:,.0f}" if phase.timed_out else _ms(phase.timing.p95_ms)
    return [runs, _ms(phase.timing.median_ms), p95]


def _timing(timing: Timing) -> str:
    return f"p50 {_ms(timing.median_ms)} ms, p95 {_ms(timing.p95_ms)} ms"


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items(), key=_by_count))


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _listed(commands: tuple[str, ...]) -> str:
    return " and ".join(f"`{c}`" for c in commands)


def _live_backend(result: LiveBackend, report: LiveReport) -> list[str]:
    name = _BACKEND_NAMES[result.backend]
    data = report.dataset
    rows = data.rows
    load = result.load
    imported = (
        "reused (`--reuse-db`)"
        if load.rows_per_s is None
        else f"imported in {_duration(load.seconds)}"
    )
    replica = (
        f"DuckDB, in a folder of the server's own; ready {_duration(result.replica_ready_s)}"
        " after the server started"
        if result.replica_ready_s is not None
        else "off (`--no-replica`): every answer reads the database"
    )
    lines = [
        f"### {name} {result.server.get('version', '')}".rstrip(),
        "",
        "| | |",
        "|---|---|",
        f"| date | {report.started:%Y-%m-%d %H:%M %Z} |",
        f"| git commit | {report.commit} |",
        f"| machine | {_machine(report.machine)} |",
        f"| scale | {data.customers:,} customers, {rows.get('purchases.csv', 0):,} purchase"
        f" lines, {rows.get('installations.csv', 0):,} installations (seed {data.seed},"
        f" as of {data.today.isoformat()}) |",
        f"| owners | {_owners(data)} |",
        f"| database | {result.url}, {imported} |",
        f"| read replica | {replica} |",
        f"| still phase | {_duration(result.still_s)} (asked for"
        f" {_duration(report.still_seconds)}), nobody writing |",
        f"| live phase | {_duration(result.live_s)} (asked for {_duration(report.live_seconds)});"
        f" the writer committed {result.commits:,} changes, {result.write_rate:.2f} a second"
        f" (one every {report.write_every:g} s asked): {_kinds(result.kinds)} |",
        "",
        _LIVE_HEADER,
    ]
    for row in result.verbs:
        cells = [
            f"`{row.verb.label}`",
            *_phase_cells(row.still, report.timeout_s),
            *_phase_cells(row.live, report.timeout_s),
            _ratio(row.p95_ratio()),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- Serving process: peak RSS **{_mb(result.peak_kib):,.0f} MB**"
        f" ({_mb(result.still_peak_kib):,.0f} MB at the end of the still phase,"
        f" {_mb(result.started_kib):,.0f} MB once ready and warmed up)",
        f"- Writer ({_DRIVERS[result.backend]}, each change a transaction of its own):"
        f" {_timing(result.commit)} from begin to commit",
        "- Time to apply one commit (in the check phase, the bench's own `ReadPath` on the"
        " same database,"
        f" {'its own replica folder' if result.replica else 'no replica'}: entering"
        " `reads.session()` right after a commit, minus entering it again with no new commit):"
        f" **{_timing(result.apply)}** over {result.apply.runs:,} commits"
        f" (after a commit {_timing(result.entry_after_commit)};"
        f" with none new {_timing(result.entry_idle)})",
        "- Freshness: in a check phase after the timed live phase (a quarter of its length,"
        f" at most {CHECK_SECONDS:,.0f} s; the writer still going, the server no longer timed:"
        " the bench's own catching up and the database's whole-base answers would crowd it),"
        " right after each commit the same command through that read path and through the"
        f" database itself (a snapshot of the same commits): `{TOUCHED}` of the customer the"
        f" commit touched, and {_listed(FRESHNESS_CHECKS)} over the whole base. Lag 0 means no"
        " answer differs, i.e. every answer counts every commit made before it",
        "",
        "| check | checks | answers that differ | from the replica | from the database |",
        "|---|--:|--:|--:|--:|",
    ]
    for check in result.freshness:
        differing = f"**{check.differing:,}**" if check.differing else "0"
        lines.append(
            f"| `{check.command}` | {check.checks:,} | {differing} | {check.on_replica:,} |"
            f" {check.checks - check.on_replica:,} |"
        )
    for check in result.freshness:
        if check.examples:
            lines.append(
                f"\n`{check.command}` differed (the database's figure first), e.g.: "
                + "; ".join(check.examples)
            )
    lines.append("")
    return lines


def _live_section(parts: list[str]) -> str:
    return "\n".join([LIVE_HEADING, "", _LIVE_INTRO, "", *parts]).rstrip() + "\n"


def render_live(report: LiveReport) -> str:
    return _live_section(["\n".join(_live_backend(r, report)) for r in report.backends])


def _split_live(text: str) -> tuple[str, dict[str, str]]:
    """The text without its live section, and that section's parts by backend name."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(n for n, line in enumerate(lines) if line.rstrip() == LIVE_HEADING)
    except StopIteration:
        return text, {}
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")), len(lines))
    parts: dict[str, str] = {}
    name = None
    for line in lines[start + 1 : end]:
        if line.startswith("### "):
            name = line[4:].split()[0]
            parts[name] = ""
        if name is not None:
            parts[name] += line
    return "".join(lines[:start] + lines[end:]), parts


def with_live(text: str, live: str) -> str:
    """`text` with its live section updated: `live`'s backends replaced, the others kept."""
    rest, kept = _split_live(text)
    _, new = _split_live(live)
    parts = kept | new
    order = [n for n in _BACKEND_NAMES.values() if n in parts]
    order += [n for n in parts if n not in order]
    section = _live_section([parts[n].rstrip() + "\n" for n in order])
    rest = rest.rstrip()
    return (rest + "\n\n" if rest else "") + section


def keep_live(text: str, previous: str) -> str:
    """A new benchmark report that keeps the live section of the one it replaces."""
    _, kept = _split_live(previous)
    if not kept:
        return text
    return with_live(text, previous)
