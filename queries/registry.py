"""The predefined queries: one entry per verb, with the help text and examples users see.

Adding a query: write the function in its module, register it here with its help, examples
and definition, and give it a test. Front ends (CLI, Slack) need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from queries.compare import compare
from queries.concentration import concentration
from queries.customers import customers
from queries.digest import digest
from queries.health import health
from queries.installed import installed
from queries.lookup import customer_card
from queries.loyal import loyal
from queries.request import Request
from queries.results import Answer
from queries.top import top
from queries.upsell import upsell


@dataclass(frozen=True, kw_only=True)
class QuerySpec:
    verb: str
    title: str
    usage: str
    summary: str
    definition: str
    examples: tuple[str, ...]
    run: Callable[[Session, Request], Answer]
    breakdowns: bool = False
    target: bool = True
    # A point lookup (a few indexed rows): read from the database itself, never a replica.
    primary: bool = False


QUERIES: dict[str, QuerySpec] = {
    q.verb: q
    for q in (
        QuerySpec(
            verb="installed",
            title="Installed base",
            usage="installed [target] [by <dimension>] [in <value>] [as of YYYY-MM-DD]",
            summary="customers with products installed and in use, and their units",
            definition="Counts units installed on or before the date and not removed by it;"
            " a customer counts once however many units.",
            examples=("installed printers", "installed copiers by region", "installed in EMEA"),
            run=installed,
            breakdowns=True,
        ),
        QuerySpec(
            verb="customers",
            title="Customer base",
            usage="customers [target] [by <dimension>] [in <value>] [as of YYYY-MM-DD]",
            summary="everyone who bought, the active ones (bought in the last 365 days), revenue",
            definition="Customers with a purchase on or before the date (returns do not remove"
            " them); active = bought in the 365 days to the date; revenue over those 365 days,"
            " returns included.",
            examples=("customers", "customers printers by channel", "customers in international"),
            run=customers,
            breakdowns=True,
        ),
        QuerySpec(
            verb="compare",
            title="Customer base vs installed base",
            usage="compare [target] [in <value>] [as of YYYY-MM-DD]",
            summary="per category: buyers, installed customers, install rate, units not"
            " installed, units removed",
            definition="Install rate = customers with a unit in use / customers who bought the"
            " category; removed = units removed in the last 365 days.",
            examples=("compare", "compare printers", "compare in government"),
            run=compare,
        ),
        QuerySpec(
            verb="upsell",
            title="Upsell candidates",
            usage="upsell [target] [service|renewal|install|consumables|aging] [top N]",
            summary="who to call: units without service, renewals due, units never installed,"
            " no consumables lately, aging units",
            definition="service: units in use, no plan covering today · renewal: plan ends within"
            " 60 days · install: bought 14+ days ago, not installed · consumables: none bought in"
            " 90 days · aging: installed 5+ years ago.",
            examples=("upsell printers", "upsell printers service", "upsell aging in EMEA"),
            run=upsell,
        ),
        QuerySpec(
            verb="customer",
            title="Customer",
            usage="customer <name, ref or email>",
            summary="one customer: installed products, service coverage, last purchases, revenue",
            definition="Installations up to the date (active = in use on it); coverage from"
            " service and subscription lines; revenue over the last 365 days.",
            examples=("customer Acme", "customer C000042"),
            run=customer_card,
            target=False,
            primary=True,
        ),
        QuerySpec(
            verb="top",
            title="Top customers",
            usage="top [N] [target] [by revenue|units] [in <value>]",
            summary="the biggest customers by revenue (or units) over the last 365 days",
            definition="Revenue = quantity × unit price of lines in the 365 days to the date,"
            " returns included; ties by customer ref.",
            examples=("top 10 customers", "top 5 printers by units", "top in EMEA"),
            run=top,
        ),
        QuerySpec(
            verb="loyal",
            title="Loyal and recurring customers",
            usage="loyal [target] [by <customer dimension>] [in <value>]",
            summary="customers who keep buying, and those on a running service or subscription",
            definition="Loyal: first purchase a year or more ago and purchases in 3 of the last 4"
            " 91-day periods; recurring: a service or subscription covering the date.",
            examples=("loyal", "loyal printers by region"),
            run=loyal,
            breakdowns=True,
        ),
        QuerySpec(
            verb="concentration",
            title="Revenue concentration",
            usage="concentration [target] [in <value>]",
            summary="broad or tall: share of revenue from the top 20% of customers, and HHI",
            definition="Among customers with positive revenue over the last 365 days; tall when"
            " the top 20% bring 80% or more.",
            examples=("concentration", "concentration in government"),
            run=concentration,
        ),
        QuerySpec(
            verb="digest",
            title="Daily digest",
            usage="digest [now] [target] [in <value>] [as of YYYY-MM-DD]"
            " · digest subscribe #channel [HH:MM] [time zone] [target] [in <value>]"
            " · digest unsubscribe #channel · digest list · digest now #channel",
            summary="yesterday's activity, the installed base and its change, contracts ending,"
            " top upsell candidates",
            definition="Activity of the day before the date; installed base at that day against"
            " a week earlier; service lines ending within 30 days.",
            examples=("digest", "digest in EMEA"),
            run=digest,
        ),
        QuerySpec(
            verb="health",
            title="Data quality",
            usage="health",
            summary="orphans, installs without purchases, units never installed, duplicate"
            " names, future dates",
            definition="Counts with up to five examples each.",
            examples=("health",),
            run=health,
            target=False,
        ),
    )
}


def answer(session: Session, request: Request) -> Answer:
    """Run the predefined query for the request's verb."""
    return QUERIES[request.verb].run(session, request)
