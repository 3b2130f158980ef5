"""A claim act as a rep sees it (issue #13): picked from the menu under an upsell page, the
act written and the page redrawn in place, at the scale of an already loaded bench database.

`python -m bench.acts --pg-url URL` times what `bot.listeners.actions.act_from_menu` does
between the pick and `chat.update`: the `claim` command (access rules, parse, the claim's
transaction on the primary, audit row), the page asked again (read from the replica, the
claims from the primary) and its Block Kit reply. Each run claims a different candidate of
the page, and releases it untimed. Prints a Markdown line for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
import time
from datetime import date

from bench.databases import DEFAULT_PG_URL
from bench.datagen import sales_team
from bench.run import DEFAULT_TODAY
from bench.serve import Server
from bot.i18n import speaker
from bot.listeners.replies import Asker, compute
from bot.render.blocks import PAGE_ROWS, render_answer
from queries.upsell import UpsellList
from queries.view import people

PAGE = "upsell printers service"
REP = Asker(user_id="U0BENCHREP", channel_id="D0BENCH")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.acts", description=__doc__)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--as-of", type=date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="basebot-acts-") as replica_dir:
        server = Server(
            {
                "url": args.pg_url,
                "replica_dir": replica_dir,
                "as_of": args.as_of.isoformat(),
                "asker": sales_team(args.customers).asker,
                "timeout_s": 120,
            }
        )
        built = server.replicate()
        print(f"replica built in {built['seconds']:.1f} s" if built else "no replica")
        svc, d = server.services, args.as_of
        first = compute(svc, PAGE, as_of=d, asker=REP, me=server.me)
        assert isinstance(first, UpsellList)
        refs = [c.customer_ref for c in first.candidates][:PAGE_ROWS]
        acts, pages, totals = [], [], []
        for n in range(args.runs + 1):
            command = f"claim {shlex.quote(refs[n % len(refs)])} printers service"
            began = time.perf_counter()
            compute(svc, command, as_of=None, asker=REP, me=server.me)
            acted = time.perf_counter()
            page = compute(svc, PAGE, as_of=d, asker=REP, page=0, me=server.me)
            render_answer(page, speak=speaker("de"), page=0)
            done = time.perf_counter()
            assert people(page.view()), "the redrawn page shows the claim"
            compute(svc, f"un{command}", as_of=None, asker=REP, me=server.me)
            if n:  # the first run warms up
                acts.append(acted - began)
                pages.append(done - acted)
                totals.append(done - began)
        server.reads.close()
        server.engine.dispose()

    def ms(values: list[float]) -> str:
        median, p95 = statistics.median(values) * 1000, _p95(values) * 1000
        return f"median {median:,.0f} ms, p95 {p95:,.0f} ms"

    print(f"claim act reflected in the page ({len(totals)} runs): {ms(totals)}")
    print(f"  the act: {ms(acts)}; the page asked again and drawn: {ms(pages)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
