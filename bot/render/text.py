"""Plain-text replies for the terminal: the same content the Slack reply shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.help import HelpAnswer
from queries.compare import Comparison
from queries.concentration import Concentration
from queries.customers import CustomerBase
from queries.digest import Digest
from queries.health import HealthReport
from queries.installed import InstalledBase
from queries.lookup import CustomerCard
from queries.loyal import LoyalCustomers
from queries.registry import QUERIES
from queries.request import OFFLINE, UPSELL_RULES, Request, Source
from queries.results import Answer
from queries.top import TopCustomers
from queries.upsell import Candidate, UpsellList


def number(n: float | int | None) -> str:
    if n is None:
        return "–"
    if isinstance(n, int):
        return f"{n:,}"
    return f"{n:,.2f}"


def pct(p: float | None) -> str:
    return "–" if p is None else f"{p:.1f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 or not _numeric(v) else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "yes" if v else ("–" if v is None else "no")
    if isinstance(v, int | float):
        return number(v)
    return str(v)


def _numeric(v: str) -> bool:
    return v.replace(",", "").replace(".", "").replace("-", "").replace("%", "").isdigit()


def title(kind: str, request: Request) -> str:
    parts = [QUERIES[kind].title if kind in QUERIES else "basebot"]
    if request.target:
        parts.append(request.target.value)
    parts += [f.describe() for f in request.filters]
    parts.append(f"as of {request.as_of.isoformat()}")
    return " · ".join(parts)


def installed_line(r: InstalledBase) -> str:
    return f"{number(r.customers)} customers with {number(r.units)} units installed"


def customers_line(r: CustomerBase, currency: str) -> str:
    return (
        f"{number(r.customers)} customers · {number(r.active_customers)} active · "
        f"revenue {number(r.revenue)} {currency} (365 days)"
    )


def loyal_line(r: LoyalCustomers) -> str:
    return (
        f"{number(r.loyal)} loyal · {number(r.recurring)} recurring-revenue · "
        f"of {number(r.customers)} customers"
    )


def concentration_line(r: Concentration, currency: str) -> str:
    return (
        f"{(r.verdict or 'no revenue').upper()}: the top {number(r.top_customers)} of "
        f"{number(r.customers)} paying customers bring {pct(r.top20_share)} of "
        f"{number(r.revenue)} {currency}; HHI {number(r.hhi)}"
    )


def render_text(answer: Answer, *, currency: str = "USD") -> str:
    """The reply as readable text."""
    r = answer
    if isinstance(r, HelpAnswer):
        return _help(r)
    head = title(r.kind, r.request)
    body: str
    if isinstance(r, InstalledBase):
        body = (
            installed_line(r)
            + "\n\n"
            + table([r.by, "customers", "units"], [(x.key, x.customers, x.units) for x in r.rows])
        )
    elif isinstance(r, CustomerBase):
        body = (
            customers_line(r, currency)
            + "\n\n"
            + table(
                [r.by, "customers", "active", f"revenue ({currency})"],
                [(x.key, x.customers, x.active_customers, x.revenue) for x in r.rows],
            )
        )
    elif isinstance(r, Comparison):
        body = table(
            ["category", "customers", "installed", "install rate", "not installed", "removed"],
            [
                (
                    x.category,
                    x.customers,
                    x.installed_customers,
                    pct(x.install_rate),
                    x.not_installed_units,
                    x.removed_units,
                )
                for x in r.rows
            ],
        )
    elif isinstance(r, UpsellList):
        body = _upsell(r.by_rule()) or "No candidates."
    elif isinstance(r, CustomerCard):
        body = _card(r, currency)
    elif isinstance(r, TopCustomers):
        body = (
            table(
                ["#", "customer", "name", f"revenue ({currency})", "units"],
                [(i, x.customer_ref, x.name, x.revenue, x.units) for i, x in enumerate(r.rows, 1)],
            )
            if r.rows
            else "No purchases in the last 365 days."
        )
    elif isinstance(r, LoyalCustomers):
        body = (
            loyal_line(r)
            + "\n\n"
            + table(
                [r.by, "customers", "loyal", "recurring"],
                [(x.key, x.customers, x.loyal, x.recurring) for x in r.rows],
            )
        )
    elif isinstance(r, Concentration):
        body = concentration_line(r, currency)
    elif isinstance(r, Digest):
        body = _digest(r, currency)
    elif isinstance(r, HealthReport):
        body = table(
            ["check", "count", "examples"],
            [(c.check, c.count, ", ".join(c.examples)) for c in r.checks],
        )
    else:  # pragma: no cover - every registered kind is handled above
        body = str(r.to_json())
    definition = QUERIES[r.kind].definition if r.kind in QUERIES else ""
    note = source_note(r.request.source)
    return f"{head}\n\n{body}\n\n{definition}\n{note or ''}".rstrip() + "\n"


def source_note(source: Source | None) -> str | None:
    """Why an answer was slower, or may be behind: where its figures were read."""
    if source is None:
        return None
    if source.kind == OFFLINE and source.at is not None:
        return (
            "The database cannot be reached: these figures are its data as of"
            f" {source.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, from basebot's copy."
        )
    return (
        "Read directly from the database: basebot's fast copy is being built (or rebuilt"
        " after a large change), so answers take longer meanwhile."
    )


def _help(r: HelpAnswer) -> str:
    lines = ["basebot answers questions about your customer base and installed base.", ""]
    for v in r.to_json()["verbs"]:
        lines.append(f"{v['usage']}")
        lines.append(f"    {v['summary']}")
        lines.append("    e.g. " + " · ".join(v["examples"]))
    lines.append("")
    for k, v in r.to_json()["modifiers"].items():
        lines.append(f"{k}: {v}")
    return "\n".join(lines) + "\n"


def _upsell(groups: dict[str, list[Candidate]]) -> str:
    out = []
    for rule in UPSELL_RULES:
        found = groups.get(rule, [])
        if not found:
            continue
        out.append(f"{rule} ({len(found)})")
        out.append(
            table(
                ["customer", "name", "category", "score", "detail"],
                [(c.customer_ref, c.name, c.category, c.score, c.detail) for c in found],
            )
        )
        out.append("")
    return "\n".join(out).rstrip()


def _card(r: CustomerCard, currency: str) -> str:
    if r.customer is None:
        if not r.matches:
            return f"No customer matches “{r.request.lookup}”."
        return "Several customers match:\n" + table(
            ["customer", "name"], [(m.customer_ref, m.name) for m in r.matches]
        )
    c = r.customer
    parts = [
        f"{c.name} ({c.customer_ref}) · {c.segment or '(unknown)'} · {c.channel or '(unknown)'}"
        f" · {c.industry or '(unknown)'} · {c.country or '(unknown)'} / {c.region or '(unknown)'}",
        f"Revenue (365 days): {number(r.revenue)} {currency}",
        "",
        "Installations",
        table(
            ["serial", "sku", "category", "site", "installed", "removed", "in use"],
            [
                (
                    i.serial,
                    i.sku,
                    i.category,
                    i.site or "",
                    i.installed_on,
                    i.removed_on or "",
                    i.active,
                )
                for i in r.installations
            ],
        )
        if r.installations
        else "none",
        "",
        "Service coverage",
        table(
            ["sku", "for", "from", "to", "covers today"],
            [
                (v.sku, v.for_category or "", v.coverage_start, v.coverage_end, v.active)
                for v in r.coverage
            ],
        )
        if r.coverage
        else "none",
        "",
        "Last purchases",
        table(
            ["order", "line", "sku", "qty", "unit price", "date"],
            [
                (p.order_ref, p.line_no, p.sku, p.quantity, p.unit_price, p.purchased_on)
                for p in r.purchases
            ],
        )
        if r.purchases
        else "none",
    ]
    return "\n".join(parts)


def _count(n: int, one: str, many: str) -> str:
    return f"{number(n)} {one if n == 1 else many}"


def digest_summary(r: Digest, currency: str = "USD") -> str:
    """One line: what changed that day, and the installed base against a week before."""
    change = (
        f"installed base {r.units_change:+,} {'unit' if abs(r.units_change) == 1 else 'units'}"
        " on the week"
        if r.units_change
        else "installed base unchanged on the week"
    )
    if r.quiet:
        return f"{r.day}: a quiet day — no purchases, installations or removals; {change}."
    return (
        f"{r.day}: {_count(r.new_customers, 'new customer', 'new customers')}, "
        f"{_count(r.purchase_lines, 'purchase line', 'purchase lines')} "
        f"({number(r.revenue)} {currency}), "
        f"{_count(r.units_installed, 'unit', 'units')} installed, "
        f"{number(r.units_removed)} removed; {change}."
    )


def _digest(r: Digest, currency: str) -> str:
    lines = [
        digest_summary(r, currency),
        "",
        f"Installed base on {r.day}: {number(r.installed_customers)} customers "
        f"({r.customers_change:+,}), {number(r.installed_units)} units ({r.units_change:+,})"
        " against a week before",
        f"Service lines ending in the next 30 days: {number(r.ending_service)}",
        "",
        "Top upsell candidates",
        _upsell(r.upsell) or "none",
    ]
    return "\n".join(lines)
