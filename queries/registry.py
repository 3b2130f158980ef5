"""The predefined queries: one entry per verb, with the help text and examples users see.

Adding a verb: its query module (the query, its result, the result's `view()` and JSON), its
entry here (usage, summary, examples, the modifiers it takes) and its test; then its new
messages in the catalogs (README, "Languages"). The parser, help, the renderers, CSV and the
benchmark read everything else from here and from the View.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from queries.claims import CLAIMED, UNCLAIMED, claim_act
from queries.compare import compare
from queries.concentration import concentration
from queries.customers import customers
from queries.digest import digest
from queries.health import health
from queries.installed import installed
from queries.lookup import customer_card
from queries.loyal import loyal
from queries.request import CUSTOMER_DIMENSIONS, DIMENSIONS, PRODUCT_DIMENSIONS, Request
from queries.results import Answer
from queries.retention import retention
from queries.top import top
from queries.upsell import upsell
from queries.view import Msg, _

# The modifiers a verb may take (SPEC §3); the parser accepts, and help lists, only these.
BY = "by"  # by <dimension>, one of QuerySpec.dimensions
IN = "in"  # in <value>
AS_OF = "as of"
TOP = "top"  # top <N>
COUNT = "count"  # a bare number N (top 10)
RANK = "rank"  # by revenue|units
RULE = "rule"  # an upsell rule
UNCLAIMED_ONLY = "unclaimed"  # leave out candidates others hold, and dismissed ones
SINCE = "since"  # since <date>: only the upsell candidates new since that day
CSV = "csv"
PUBLIC = "public"
COMMON = frozenset({IN, AS_OF, CSV, PUBLIC})


@dataclass(frozen=True, kw_only=True)
class QuerySpec:
    verb: str
    usage: str  # command words: English in every language
    summary: Msg
    examples: tuple[str, ...]
    run: Callable[[Session, Request], Answer]
    modifiers: frozenset[str] = COMMON
    dimensions: tuple[str, ...] = ()  # what `by` accepts
    ignored: tuple[str, ...] = ()  # words that may be typed and mean nothing (top 10 customers)
    target: bool = True
    lookup: bool = False  # the rest of the command names one customer
    # An act on one upsell candidate: <customer_ref> <category> <rule> [status], no modifiers.
    act: str | None = None
    # Changes the database (in a transaction of its own, on the database itself).
    writes: bool = False
    # Shows who holds its candidates: the claims in force are read from the database.
    claims: bool = False
    kind: str = ""  # its JSON kind, when not the verb itself

    @property
    def answers(self) -> str:
        """The JSON `kind` of its answers."""
        return self.kind or self.verb

    # A point lookup (a few indexed rows): read from the database itself, never a replica.
    primary: bool = False


QUERIES: dict[str, QuerySpec] = {
    q.verb: q
    for q in (
        QuerySpec(
            verb="installed",
            usage="installed [target] [by <dimension>] [in <value>] [as of YYYY-MM-DD]",
            summary=_("customers with products installed and in use, and their units"),
            examples=("installed printers", "installed copiers by region", "installed in EMEA"),
            run=installed,
            modifiers=COMMON | {BY},
            dimensions=DIMENSIONS,
        ),
        QuerySpec(
            verb="customers",
            usage="customers [target] [by <dimension>] [in <value>] [as of YYYY-MM-DD]",
            summary=_(
                "everyone who bought, the active ones (bought in the last 365 days), revenue"
            ),
            examples=("customers", "customers printers by channel", "customers in international"),
            run=customers,
            modifiers=COMMON | {BY},
            dimensions=DIMENSIONS,
        ),
        QuerySpec(
            verb="compare",
            usage="compare [target] [in <value>] [as of YYYY-MM-DD]",
            summary=_(
                "per category: buyers, installed customers, install rate, units not"
                " installed, units removed"
            ),
            examples=("compare", "compare printers", "compare in government"),
            run=compare,
        ),
        QuerySpec(
            verb="retention",
            usage="retention [target] [by <dimension>] [in <value>] [as of YYYY-MM-DD]",
            summary=_(
                "installed-base customers kept, lost and won over the last 365 days, and the"
                " retention rate"
            ),
            examples=("retention", "retention printers by region", "retention by category"),
            run=retention,
            modifiers=COMMON | {BY},
            # A product dimension's row is the retention of that category's (product's) own
            # installed base; a time dimension has no meaning for two fixed dates.
            dimensions=CUSTOMER_DIMENSIONS + PRODUCT_DIMENSIONS,
        ),
        QuerySpec(
            verb="upsell",
            usage="upsell [target] [service|renewal|install|consumables|aging] [top N]"
            " [since YYYY-MM-DD]",
            summary=_(
                "who to call: units without service, renewals due, units never installed,"
                " no consumables lately, aging units"
            ),
            examples=(
                "upsell printers",
                "upsell printers service",
                "upsell aging in EMEA",
                "upsell printers service since 2026-06-01",
            ),
            run=upsell,
            modifiers=COMMON | {RULE, TOP, UNCLAIMED_ONLY, SINCE},
            claims=True,
        ),
        QuerySpec(
            verb="claim",
            usage="claim <customer_ref> <category> <rule> [contacted|dismissed]",
            summary=_(
                "hold an upsell candidate so that no other rep chases it: claimed or contacted"
                " for 30 days, dismissed for 90"
            ),
            examples=("claim C000042 printers service", "claim C000042 printers service contacted"),
            run=claim_act,
            modifiers=frozenset(),
            target=False,
            act=CLAIMED,
            writes=True,
        ),
        QuerySpec(
            verb="unclaim",
            usage="unclaim <customer_ref> <category> <rule>",
            summary=_(
                "let go of a candidate you hold (or, where the access rules allow, anyone's)"
            ),
            examples=("unclaim C000042 printers service",),
            run=claim_act,
            modifiers=frozenset(),
            target=False,
            act=UNCLAIMED,
            writes=True,
            kind="claim",
        ),
        QuerySpec(
            verb="customer",
            usage="customer <name, ref or email>",
            summary=_(
                "one customer: installed products, service coverage, last purchases, revenue"
            ),
            examples=("customer Acme", "customer C000042"),
            run=customer_card,
            modifiers=frozenset({AS_OF, CSV, PUBLIC}),
            target=False,
            lookup=True,
            primary=True,
        ),
        QuerySpec(
            verb="top",
            usage="top [N] [target] [by revenue|units] [in <value>]",
            summary=_("the biggest customers by revenue (or units) over the last 365 days"),
            examples=("top 10 customers", "top 5 printers by units", "top in EMEA"),
            run=top,
            modifiers=COMMON | {COUNT, RANK},
            ignored=("customer", "customers"),
        ),
        QuerySpec(
            verb="loyal",
            usage="loyal [target] [by <customer dimension>] [in <value>]",
            summary=_("customers who keep buying, and those on a running service or subscription"),
            examples=("loyal", "loyal printers by region"),
            run=loyal,
            modifiers=COMMON | {BY},
            dimensions=CUSTOMER_DIMENSIONS,
        ),
        QuerySpec(
            verb="concentration",
            usage="concentration [target] [in <value>]",
            summary=_("broad or tall: the top 20%'s share of revenue, and HHI"),
            examples=("concentration", "concentration in government"),
            run=concentration,
        ),
        QuerySpec(
            verb="digest",
            usage="digest [now] [target] [in <value>] [as of YYYY-MM-DD]"
            " · digest subscribe #channel [HH:MM] [time zone] [target] [in <value>]"
            " · digest subscribe owners [HH:MM] [time zone] [target] [in <value>]"
            " · digest unsubscribe #channel|owners · digest list · digest now #channel",
            summary=_(
                "yesterday's activity, the installed base and its change, contracts ending,"
                " top upsell candidates"
            ),
            examples=("digest", "digest in EMEA"),
            run=digest,
            ignored=("now",),
        ),
        QuerySpec(
            verb="health",
            usage="health",
            summary=_(
                "orphans, installs without purchases, units never installed, duplicate"
                " names, future dates"
            ),
            examples=("health",),
            run=health,
            modifiers=frozenset({AS_OF, CSV, PUBLIC}),
            target=False,
        ),
    )
}


def answer(session: Session, request: Request) -> Answer:
    """Run the predefined query for the request's verb."""
    return QUERIES[request.verb].run(session, request)
