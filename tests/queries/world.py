"""A small hand-built world whose every figure at D = 2026-06-30 is worked out by hand.

D-365 = 2025-06-30 · D-90 = 2026-04-01 · D-14 = 2026-06-16 · D+60 = 2026-08-29
D minus 5 years = 2021-06-30
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tests.builders import Fixture

D = date(2026, 6, 30)


def build_world(session: Session) -> Fixture:
    f = Fixture(session)
    f.product("PRN-1", "printers", name="Laser 100")
    f.product("PRN-2", "printers", name="Laser 200")
    f.product("COP-1", "copiers", name="Copier One")
    f.product("TON-1", "toner", "consumable", for_category="printers", name="Toner Black")
    f.product("SVC-P", "service", "service", for_category="printers", name="Printer Care")
    f.product("SUB-1", "subscriptions", "subscription", for_category="printers", name="Cloud Print")
    f.product("ACC-1", "accessories", "accessory", for_category="printers", name="Finisher")

    # A: business/direct/retail/US/AMER. Two printers bought just inside the 365-day window.
    f.customer("A", "Acme Logistics", segment="business", region="AMER", email="ops@acme.test")
    f.buy("A", "PRN-1", "2025-07-01", 2, 1000)
    f.install("A", "PRN-1", "2025-07-05", serial="A-1")
    f.install("A", "PRN-1", "2025-07-05", removed="2026-06-30", serial="A-2")  # removed ON D
    f.buy("A", "TON-1", "2026-04-01", 1, 50)  # exactly D-90: outside (D-90, D]

    # B: government/indirect/commercial/DE/EMEA.
    f.customer(
        "B",
        "Bergmann Behörde",
        segment="government",
        channel="indirect",
        industry="commercial",
        country="DE",
        region="EMEA",
    )
    f.buy("B", "PRN-2", "2026-06-16", 3, 500)  # exactly D-14: counts for the install rule
    f.buy("B", "PRN-2", "2026-06-17", 1, 500)  # D-13: too recent for the install rule
    f.buy("B", "PRN-2", "2026-06-25", -1, 500)  # a return
    f.install("B", "PRN-2", "2026-06-30", serial="B-1")  # installed ON D
    f.buy("B", "SVC-P", "2026-06-20", 1, 200, coverage=("2026-06-30", "2026-08-29"))

    # C: unknown segment and region (NULL) → "(unknown)".
    f.customer("C", "Cobalt Dental", segment=None, region=None, industry="healthcare")
    f.buy("C", "PRN-1", "2019-06-30", 1, 300)
    f.install("C", "PRN-1", "2021-06-30", serial="C-1")  # exactly 5 years before D: aging
    f.install("C", "PRN-1", "2021-07-01", serial="C-2")  # one day short of aging
    f.buy("C", "SVC-P", "2025-06-01", 1, 150, coverage=("2025-06-01", "2026-06-29"))  # ended D-1
    f.buy("C", "TON-1", "2026-04-02", 1, 50)  # D-89: recent

    # E: a prospect with an installation and no purchase (installed base, not customer base).
    f.customer(
        "E",
        "Etoile Asso",
        segment="nonprofit",
        channel="indirect",
        industry="industrial",
        country="FR",
        region="EMEA",
    )
    f.install("E", "COP-1", "2026-01-01", serial="E-1")

    # F: bought a copier exactly at D-365 (in the base, not active), returned it in the window.
    f.customer("F", "Fjord Wholesale", segment="business", industry="wholesale")
    f.buy("F", "COP-1", "2025-06-30", 1, 2000)
    f.buy("F", "COP-1", "2026-01-10", -1, 2000)

    # G: a subscription covering D.
    f.customer("G", "Gamma Print", segment="consumer")
    f.buy("G", "SUB-1", "2026-01-01", 1, 120, coverage=("2026-01-01", "2026-12-31"))

    # P: a pure prospect: nowhere.
    f.customer("P", "Prospect Ltd", segment="business")
    return f
