"""What is timed: one command per verb of issue #6, its targets, and its key figures.

Key figures are the parts of an answer a baseline must reproduce. They are plain JSON values
so the serving process can hand them to the parent, and the comparison allows a cent on money
(SQLite sums prices as floats).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from queries.registry import QUERIES
from queries.request import MINE, Me

CATEGORY = "printers"
# `since`: 30 days before the data's default 'today' (bench/run.py DEFAULT_TODAY, which imports
# this module); an earlier --as-of makes it a bad command.
SINCE = "2025-05-31"
TOP_EXAMPLES = 5
MONEY_TOLERANCE = 0.011


@dataclass(frozen=True)
class Verb:
    label: str
    command: str
    target_p95_ms: float | None
    baselined: bool = False
    # A long list: Slack shows its first page, so the baselines (the whole list) are
    # compared with the time of the whole JSON answer.
    lists: bool = False

    def text(self, run: int, customers: int) -> str:
        """The command text of one run; `customer` looks up a different customer each time."""
        if "{ref}" not in self.command:
            return self.command
        return self.command.format(ref=customer_ref(run, customers))

    def texts(self, runs: int, customers: int) -> list[str]:
        return [self.text(k, customers) for k in range(runs)]


COMMON_P95_MS = 300.0
ANY_P95_MS = 1000.0
FLOOR_RATIO_TARGET = 1.5
RSS_TARGET_MB = 300.0
IMPORT_TARGET_ROWS_S = 150_000.0


def _mine(verb: Verb) -> Verb:
    """`verb` over the asker's own accounts, within the same targets (issue #13)."""
    return Verb(f"{verb.label} {MINE}", f"{verb.command} {MINE}", verb.target_p95_ms)


_INSTALLED = Verb("installed", "installed", COMMON_P95_MS)
_UPSELL = Verb("upsell <category>", f"upsell {CATEGORY}", ANY_P95_MS)
_INSTALLED_MINE = _mine(_INSTALLED)
_UPSELL_MINE = _mine(_UPSELL)
# Asked as one rep of the generated sales team (`SalesTeam.asker` in bench/datagen.py).
MINE_VERBS: tuple[Verb, ...] = (_INSTALLED_MINE, _UPSELL_MINE)

_TIMED: tuple[Verb, ...] = (
    _INSTALLED,
    _INSTALLED_MINE,
    Verb(
        "installed <category> by region",
        f"installed {CATEGORY} by region",
        COMMON_P95_MS,
        baselined=True,
    ),
    Verb("customers", "customers", COMMON_P95_MS, baselined=True),
    Verb("compare", "compare", ANY_P95_MS, baselined=True),
    _UPSELL,
    _UPSELL_MINE,
    Verb(
        "upsell <category> service",
        f"upsell {CATEGORY} service",
        ANY_P95_MS,
        baselined=True,
        lists=True,
    ),
    Verb(
        "upsell <category> service since <date>",
        f"upsell {CATEGORY} service since {SINCE}",
        ANY_P95_MS,
    ),
    Verb("customer <ref>", "customer {ref}", COMMON_P95_MS),
    Verb("top 10", "top 10", COMMON_P95_MS),
    Verb("loyal", "loyal", ANY_P95_MS),
    Verb("concentration", "concentration", ANY_P95_MS),
    Verb("digest", "digest", ANY_P95_MS),
    Verb("health", "health", None),
)


def _registered(timed: Sequence[Verb]) -> tuple[Verb, ...]:
    """Every question the registry has and the lists above do not name, by its first example:
    a new verb is timed without touching the bench. Acts (claims) change data: not timed here."""
    named = {v.command.split()[0] for v in timed}
    return tuple(
        Verb(q.verb, q.examples[0], ANY_P95_MS)
        for q in QUERIES.values()
        if q.verb not in named and not q.writes
    )


# The App Home (SPEC §9) of the asker rep: `bot.home.build_home` on the serving process's read
# path and primary, then `bot.render.home.home_view` in German; not a command, so no baselines
# and no query plans. Its label names the rep's accounts once the data set is known.
HOME_COMMAND = "(App Home)"
HOME_LANGUAGE = "de"
HOME = Verb("App Home (rep with N accounts)", HOME_COMMAND, ANY_P95_MS)


def home_label(accounts: int) -> str:
    return f"App Home (rep with {accounts:,} accounts)"


VERBS: tuple[Verb, ...] = _TIMED + _registered(_TIMED) + (HOME,)
BASELINED = tuple(v.label for v in VERBS if v.baselined)

# What `--live` times, still and while a writer commits (issue #16).
LIVE_VERBS: tuple[Verb, ...] = (
    Verb("installed <category> by region", f"installed {CATEGORY} by region", COMMON_P95_MS),
    Verb("customers", "customers", COMMON_P95_MS),
    Verb("upsell <category> service top 20", f"upsell {CATEGORY} service top 20", ANY_P95_MS),
    Verb("top 10", "top 10", COMMON_P95_MS),
    Verb("compare", "compare", ANY_P95_MS),
    Verb("customer <ref>", "customer {ref}", COMMON_P95_MS),
    _INSTALLED,
    Verb("digest", "digest", ANY_P95_MS),
    *MINE_VERBS,
    *_registered(_TIMED),
)
# Asked right after each commit of the check phase that follows the timed live phase, through
# the bench's own read path and the database: the customer the commit touched, and answers
# over the whole base, which between them change with every kind of write. Not while the
# server is timed: the bench's own catching up and the database's whole-base answers would
# crowd it (and the stand-in that times its replies shares the bench's process).
TOUCHED = "customer <ref>"
FRESHNESS_CHECKS = ("customers", "installed by region")
CHECK_SECONDS = 60.0


# The Slack user the serving bench asks as; their profile email is the asker rep's.
ASKER_USER = "U0BENCH"


def asker(email: str) -> Me:
    """Who asks, as the Slack listener knows them (user id and users.info's email)."""
    return Me(user_id=ASKER_USER, email=email)


def customer_ref(k: int, customers: int) -> str:
    """The k-th looked-up customer: spread over the whole range, the same for every backend."""
    return f"C{(k * 7919 + 42) % customers + 1:07d}"


def answer_size(answer: dict[str, Any]) -> int:
    """Rows in an answer (breakdown rows, candidates, installations...), for the report."""
    for key in ("candidates", "rows", "checks"):
        if isinstance(answer.get(key), list):
            return len(answer[key])
    breakdown = answer.get("breakdown")
    if isinstance(breakdown, dict):
        return len(breakdown.get("rows", []))
    if isinstance(answer.get("installations"), list):
        return len(answer["installations"]) + len(answer.get("purchases", []))
    if isinstance(answer.get("upsell"), dict):
        return sum(len(v) for v in answer["upsell"].values())
    return 1


def key_figures(label: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The figures of a basebot JSON answer that the baselines must reproduce."""
    if label == "installed <category> by region":
        rows = answer["breakdown"]["rows"]
        return installed_figures(
            answer["customers"],
            answer["units"],
            [(r["key"], r["customers"], r["units"]) for r in rows],
        )
    if label == "customers":
        rows = answer["breakdown"]["rows"]
        return customers_figures(
            answer["customers"],
            answer["active_customers"],
            answer["revenue"],
            [(r["key"], r["customers"], r["active_customers"], r["revenue"]) for r in rows],
        )
    if label == "compare":
        return compare_figures(
            [
                (
                    r["category"],
                    r["customers"],
                    r["installed_customers"],
                    r["install_rate"],
                    r["not_installed_units"],
                    r["removed_units"],
                )
                for r in answer["rows"]
            ]
        )
    if label == "upsell <category> service":
        return upsell_figures([(c["customer_ref"], c["score"]) for c in answer["candidates"]])
    raise KeyError(label)


def installed_figures(
    customers: int, units: int, rows: Sequence[tuple[str, int, int]]
) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: (-r[1], r[0]))
    return {
        "customers": int(customers),
        "units": int(units),
        "rows": [[k, int(c), int(u)] for k, c, u in ordered],
    }


def customers_figures(
    customers: int,
    active: int,
    revenue: float,
    rows: Sequence[tuple[str, int, int, float]],
) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: (-r[1], r[0]))
    return {
        "customers": int(customers),
        "active_customers": int(active),
        "revenue": round(float(revenue), 2),
        "rows": [[k, int(c), int(a), round(float(r), 2)] for k, c, a, r in ordered],
    }


def install_rate(installed: int, bought: int) -> float | None:
    return None if bought == 0 else round(100.0 * installed / bought, 1)


def compare_figures(
    rows: Sequence[tuple[str, int, int, float | None, int, int]],
) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: (-r[1], r[0]))
    return {
        "rows": [[cat, int(c), int(i), rate, int(n), int(r)] for cat, c, i, rate, n, r in ordered]
    }


def upsell_figures(candidates: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Count, total score, the first few and a digest of the whole ordered list."""
    digest = hashlib.sha256()
    for ref, score in candidates:
        digest.update(f"{ref}:{int(score)}\n".encode())
    return {
        "candidates": len(candidates),
        "score_total": sum(int(s) for _, s in candidates),
        "first": [[ref, int(score)] for ref, score in candidates[:TOP_EXAMPLES]],
        "sha256": digest.hexdigest(),
    }


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where two key-figure values differ (money within a cent); empty when they agree."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(got)):
            where = f"{path}.{key}" if path else str(key)
            if key not in expected or key not in got:
                out.append(f"{where}: present on one side only")
            else:
                out.extend(differences(expected[key], got[key], where))
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items vs {len(got)}"]
        out = []
        for n, (a, b) in enumerate(zip(expected, got, strict=True)):
            out.extend(differences(a, b, f"{path}[{n}]"))
        return out
    if isinstance(expected, float) or isinstance(got, float):
        if expected is None or got is None:
            return [] if expected is got else [f"{path}: {expected!r} vs {got!r}"]
        if abs(float(expected) - float(got)) <= MONEY_TOLERANCE:
            return []
        return [f"{path}: {expected!r} vs {got!r}"]
    return [] if expected == got else [f"{path}: {expected!r} vs {got!r}"]
