"""An independent test oracle: every figure of SPEC §1, §4, §5 and §6 from the raw rows.

The four tables are read whole into pandas and each payload is recomputed from the
definitions in SPEC.md (plus the lead's recorded decisions where the SPEC is silent),
without looking at how basebot computes it. Percentages and money are returned
unrounded; the comparison in tests/test_oracle.py allows half a unit of the last
decimal the SPEC asks for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase

DIMENSIONS = ("segment", "channel", "industry", "country", "region", "owner")
TIME_BUCKETS = ("year", "quarter", "month")
RULES = ("service", "renewal", "install", "consumables", "aging")
UNKNOWN = "(unknown)"
WINDOW_DAYS = 365


@dataclass(frozen=True)
class Frames:
    customers: pd.DataFrame
    products: pd.DataFrame
    purchases: (
        pd.DataFrame
    )  # + sku, category, kind, for_category, installable, customer_ref, amount
    installations: pd.DataFrame  # + sku, category, kind, installable, customer_ref


# --------------------------------------------------------------------------- loading


def load_frames(session: Session | Connection) -> Frames:
    """Read the four tables whole (fine for an oracle) in the caller's transaction."""
    if isinstance(session, Session):
        session.flush()
        conn = session.connection()
    else:
        conn = session
    return frames_from_tables(
        pd.read_sql(select(Customer.__table__), conn),
        pd.read_sql(select(Product.__table__), conn),
        pd.read_sql(select(Purchase.__table__), conn),
        pd.read_sql(select(Installation.__table__), conn),
    )


def _dates(df: pd.DataFrame, cols: Iterable[str]) -> None:
    for col in cols:
        df[col] = pd.to_datetime(df[col])


def frames_from_tables(
    customers: pd.DataFrame,
    products: pd.DataFrame,
    purchases: pd.DataFrame,
    installations: pd.DataFrame,
) -> Frames:
    cu = customers.copy()
    for col in (*DIMENSIONS, "name", "customer_ref", "email"):
        cu[col] = cu[col].astype(object).where(cu[col].notna(), None)
    pr = products.copy()
    pr["installable"] = pr["installable"].fillna(False).astype(bool)
    pr["for_category"] = pr["for_category"].astype(object).where(pr["for_category"].notna(), None)
    prod_cols = pr[["id", "sku", "category", "kind", "for_category", "installable"]].rename(
        columns={"id": "product_id"}
    )
    cust_cols = cu[["id", "customer_ref", "name"]].rename(
        columns={"id": "customer_id", "name": "customer_name"}
    )

    pu = purchases.copy()
    _dates(pu, ("purchased_on", "coverage_start", "coverage_end"))
    pu["quantity"] = pu["quantity"].astype(int)
    pu["unit_price"] = pu["unit_price"].astype(float)
    pu["amount"] = pu["quantity"] * pu["unit_price"]
    pu = pu.merge(prod_cols, on="product_id", how="left").merge(
        cust_cols, on="customer_id", how="left"
    )

    ins = installations.copy()
    _dates(ins, ("installed_on", "removed_on"))
    ins = ins.merge(prod_cols, on="product_id", how="left").merge(
        cust_cols, on="customer_id", how="left"
    )
    return Frames(cu, pr, pu, ins)


# --------------------------------------------------------------------------- helpers


def ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day)


def days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()


def five_years_before(day: date) -> date:
    """D minus 5 calendar years; 29 February becomes 28 February (SPEC §4 aging)."""
    try:
        return day.replace(year=day.year - 5)
    except ValueError:
        return day.replace(year=day.year - 5, day=28)


def dim_key(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return UNKNOWN
    return str(value)


def bucket(day: pd.Timestamp, by: str) -> str:
    if by == "year":
        return f"{day.year}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def is_category(fr: Frames, target: str | None) -> bool:
    return target is not None and target in set(fr.products["category"])


def in_target(fr: Frames, df: pd.DataFrame, target: str | None) -> pd.Series:
    if target is None:
        return pd.Series(True, index=df.index)
    if is_category(fr, target):
        return df["category"] == target
    return df["sku"] == target


def _resolve_filter(fr: Frames, text: str) -> tuple[str, str]:
    if ":" in text:
        dim, value = text.split(":", 1)
        return dim.strip().lower(), value.strip()
    low = text.lower()
    if low in ("international", "domestic"):
        return low, low
    found = [
        dim
        for dim in DIMENSIONS
        if any(isinstance(v, str) and v.lower() == low for v in fr.customers[dim])
    ]
    if len(found) != 1:
        raise ValueError(f"filter {text!r} matches dimensions {found}")
    return found[0], text


def customer_ids(fr: Frames, filters: Sequence[str] | None, home: str = "US") -> set[int]:
    """Ids of the customers passing every `in` filter (AND), compared case-insensitively."""
    ids: set[int] = set()
    resolved = [_resolve_filter(fr, f) for f in filters or ()]
    for row in fr.customers.itertuples(index=False):
        ok = True
        for dim, value in resolved:
            country = row.country.upper() if isinstance(row.country, str) else None
            if dim == "international":
                ok = country is not None and country != home.upper()
            elif dim == "domestic":
                ok = country == home.upper()
            else:
                stored = getattr(row, dim)
                ok = isinstance(stored, str) and stored.lower() == value.lower()
            if not ok:
                break
        if ok:
            ids.add(int(row.id))
    return ids


def _cust_key_map(fr: Frames, by: str) -> dict[int, str]:
    return {int(i): dim_key(v) for i, v in zip(fr.customers["id"], fr.customers[by], strict=True)}


def _sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-r["customers"], r["key"]))


def _active_installs(ins: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    return (ins["installed_on"] <= day) & (ins["removed_on"].isna() | (ins["removed_on"] > day))


def _covers(pu: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    return (
        (pu["quantity"] > 0)
        & pu["coverage_start"].notna()
        & pu["coverage_end"].notna()
        & (pu["coverage_start"] <= day)
        & (pu["coverage_end"] >= day)
    )


def _window(pu: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    return (pu["purchased_on"] > day - days(WINDOW_DAYS)) & (pu["purchased_on"] <= day)


def _head(kind: str, as_of: date, target: str | None) -> dict[str, Any]:
    return {"kind": kind, "as_of": as_of.isoformat(), "target": target}


# --------------------------------------------------------------------------- installed


def installed(
    fr: Frames,
    as_of: date,
    target: str | None = None,
    filters: Sequence[str] | None = None,
    by: str = "segment",
    home: str = "US",
) -> dict[str, Any]:
    day = ts(as_of)
    ins = fr.installations
    ids = customer_ids(fr, filters, home)
    act = ins[
        _active_installs(ins, day) & in_target(fr, ins, target) & ins["customer_id"].isin(ids)
    ]
    act = act.copy()
    if by in DIMENSIONS:
        keys = _cust_key_map(fr, by)
        act["key"] = [keys[int(c)] for c in act["customer_id"]]
    elif by == "category":
        act["key"] = act["category"]
    elif by == "product":
        act["key"] = act["sku"]
    else:
        act["key"] = [bucket(x, by) for x in act["installed_on"]]
    rows = [
        {"key": key, "customers": int(g["customer_id"].nunique()), "units": len(g)}
        for key, g in act.groupby("key")
    ]
    return {
        **_head("installed", as_of, target),
        "customers": int(act["customer_id"].nunique()),
        "units": len(act),
        "breakdown": {"by": by, "rows": _sort_rows(rows)},
    }


# --------------------------------------------------------------------------- customers


def customers(
    fr: Frames,
    as_of: date,
    target: str | None = None,
    filters: Sequence[str] | None = None,
    by: str = "segment",
    home: str = "US",
) -> dict[str, Any]:
    day = ts(as_of)
    pu = fr.purchases
    ids = customer_ids(fr, filters, home)
    scope = pu[in_target(fr, pu, target) & pu["customer_id"].isin(ids)]
    base_lines = scope[(scope["quantity"] > 0) & (scope["purchased_on"] <= day)]
    active_lines = base_lines[base_lines["purchased_on"] > day - days(WINDOW_DAYS)]
    rev_lines = scope[_window(scope, day)]

    # (key, customer) memberships for the base, active customers and revenue lines.
    if by in DIMENSIONS:
        keys = _cust_key_map(fr, by)

        def base_keys(df: pd.DataFrame) -> pd.Series:
            return pd.Series(
                [keys[int(c)] for c in df["customer_id"]], index=df.index, dtype=object
            )

        bk, ak, rk = base_keys(base_lines), base_keys(active_lines), base_keys(rev_lines)
    elif by in ("category", "product"):
        col = "category" if by == "category" else "sku"
        bk, ak, rk = base_lines[col], active_lines[col], rev_lines[col]
    else:
        first = base_lines.groupby("customer_id")["purchased_on"].min()
        cohort = {int(c): bucket(d, by) for c, d in first.items()}

        def cohort_keys(df: pd.DataFrame) -> pd.Series:
            return pd.Series(
                [cohort.get(int(c), UNKNOWN) for c in df["customer_id"]],
                index=df.index,
                dtype=object,
            )

        bk, ak, rk = cohort_keys(base_lines), cohort_keys(active_lines), cohort_keys(rev_lines)

    all_keys = set(bk) | set(rk)
    rows = []
    for key in all_keys:
        rows.append(
            {
                "key": key,
                "customers": int(base_lines.loc[bk == key, "customer_id"].nunique()),
                "active_customers": int(active_lines.loc[ak == key, "customer_id"].nunique()),
                "revenue": float(rev_lines.loc[rk == key, "amount"].sum()),
            }
        )
    return {
        **_head("customers", as_of, target),
        "customers": int(base_lines["customer_id"].nunique()),
        "active_customers": int(active_lines["customer_id"].nunique()),
        "revenue": float(rev_lines["amount"].sum()),
        "breakdown": {"by": by, "rows": _sort_rows(rows)},
    }


# --------------------------------------------------------------------------- compare


def compare(
    fr: Frames,
    as_of: date,
    target: str | None = None,
    filters: Sequence[str] | None = None,
    home: str = "US",
) -> dict[str, Any]:
    day = ts(as_of)
    ids = customer_ids(fr, filters, home)
    pu = fr.purchases[fr.purchases["customer_id"].isin(ids)]
    ins = fr.installations[fr.installations["customer_id"].isin(ids)]
    pr = fr.products
    cats = set(pr.loc[pr["installable"], "category"]) | set(fr.installations["category"])
    if target is not None:
        cat = target if is_category(fr, target) else pr.loc[pr["sku"] == target, "category"].iloc[0]
        cats &= {cat}
    rows = []
    for cat in cats:
        base = pu[(pu["category"] == cat) & (pu["quantity"] > 0) & (pu["purchased_on"] <= day)]
        n_customers = int(base["customer_id"].nunique())
        cat_ins = ins[ins["category"] == cat]
        n_installed = int(cat_ins.loc[_active_installs(cat_ins, day), "customer_id"].nunique())
        bought = (
            pu[(pu["category"] == cat) & pu["installable"] & (pu["purchased_on"] <= day)]
            .groupby("customer_id")["quantity"]
            .sum()
        )
        put_in = cat_ins[cat_ins["installed_on"] <= day].groupby("customer_id").size()
        gap = bought.sub(put_in, fill_value=0)
        removed = cat_ins[
            cat_ins["removed_on"].notna()
            & (cat_ins["removed_on"] > day - days(WINDOW_DAYS))
            & (cat_ins["removed_on"] <= day)
        ]
        rows.append(
            {
                "category": cat,
                "customers": n_customers,
                "installed_customers": n_installed,
                "install_rate": (100.0 * n_installed / n_customers) if n_customers else None,
                "not_installed_units": int(gap[gap > 0].sum()),
                "removed_units": len(removed),
            }
        )
    rows.sort(key=lambda r: (-r["customers"], r["category"]))
    return {**_head("compare", as_of, target), "rows": rows}


# --------------------------------------------------------------------------- upsell


def core_categories(fr: Frames) -> list[str]:
    pr = fr.products
    return sorted(set(pr.loc[pr["kind"] == "core", "category"]))


def _category_candidates(
    pu: pd.DataFrame, ins: pd.DataFrame, day: pd.Timestamp, cat: str
) -> dict[str, list[tuple[int, int]]]:
    """(customer_id, score) per rule for category `cat` at `day` (SPEC §4 table)."""
    cat_ins = ins[ins["category"] == cat]
    active = cat_ins[_active_installs(cat_ins, day)]
    units = active.groupby("customer_id").size()
    service = pu[(pu["kind"] == "service") & (pu["for_category"] == cat)]
    out: dict[str, list[tuple[int, int]]] = {}

    covered = set(service.loc[_covers(service, day), "customer_id"])
    out["service"] = [(int(c), int(n)) for c, n in units.items() if c not in covered]

    latest = service[service["quantity"] > 0].groupby("customer_id")["coverage_end"].max()
    out["renewal"] = [
        (int(c), int((end - day).days))
        for c, end in latest.items()
        if pd.notna(end) and day <= end <= day + days(60)
    ]

    bought = (
        pu[(pu["category"] == cat) & pu["installable"] & (pu["purchased_on"] <= day - days(14))]
        .groupby("customer_id")["quantity"]
        .sum()
    )
    put_in = cat_ins[cat_ins["installed_on"] <= day].groupby("customer_id").size()
    gap = bought.sub(put_in, fill_value=0)
    out["install"] = [(int(c), int(g)) for c, g in gap.items() if g > 0]

    fed = set(
        pu.loc[
            (pu["kind"] == "consumable")
            & (pu["for_category"] == cat)
            & (pu["quantity"] > 0)
            & (pu["purchased_on"] > day - days(90))
            & (pu["purchased_on"] <= day),
            "customer_id",
        ]
    )
    out["consumables"] = [(int(c), int(n)) for c, n in units.items() if c not in fed]

    limit = ts(five_years_before(day.date()))
    old = active[active["installed_on"] <= limit].groupby("customer_id").size()
    out["aging"] = [(int(c), int(n)) for c, n in old.items() if n > 0]
    return out


def upsell(
    fr: Frames,
    as_of: date,
    target: str | None = None,
    rule: str | None = None,
    filters: Sequence[str] | None = None,
    home: str = "US",
    since: date | None = None,
) -> dict[str, Any]:
    """With `since`: only the candidates at `as_of` that were not candidates (same category and
    rule) at `since`, and `dropped`, those at `since` that no longer are (SPEC §10)."""
    day = ts(as_of)
    ids = customer_ids(fr, filters, home)
    if target is None:
        cats = core_categories(fr)
    elif is_category(fr, target):
        cats = [target]
    else:
        cats = [fr.products.loc[fr.products["sku"] == target, "category"].iloc[0]]
    refs = dict(zip(fr.customers["id"], fr.customers["customer_ref"], strict=True))
    names = dict(zip(fr.customers["id"], fr.customers["name"], strict=True))
    pu = fr.purchases[fr.purchases["customer_id"].isin(ids)]
    ins = fr.installations[fr.installations["customer_id"].isin(ids)]
    per_cat = {cat: _category_candidates(pu, ins, day, cat) for cat in cats}
    rules = RULES if rule is None else (rule,)
    new: set[tuple[str, str, int]] | None = None
    dropped = 0
    if since is not None:
        now = _candidate_keys(per_cat, rules)
        earlier = {cat: _category_candidates(pu, ins, ts(since), cat) for cat in cats}
        then = _candidate_keys(earlier, rules)
        new = set(_set_minus(now, then).itertuples(index=False, name=None))
        dropped = len(_set_minus(then, now))
    out: list[dict[str, Any]] = []
    for r in rules:
        found = []
        for cat in cats:
            for cid, score in per_cat[cat][r]:
                if new is not None and (cat, r, cid) not in new:
                    continue
                found.append(
                    {
                        "customer_ref": refs[cid],
                        "name": names[cid],
                        "category": cat,
                        "rule": r,
                        "score": score,
                    }
                )
        sign = 1 if r == "renewal" else -1
        found.sort(key=lambda c: (sign * c["score"], c["customer_ref"], c["category"]))
        out.extend(found)
    head = {**_head("upsell", as_of, target), "candidates": out}
    if since is not None:
        head |= {"since": since.isoformat(), "dropped": dropped}
    return head


def _candidate_keys(
    per_cat: dict[str, dict[str, list[tuple[int, int]]]], rules: Sequence[str]
) -> pd.DataFrame:
    """(category, rule, customer_id) of every candidate of these rules."""
    rows = [(cat, r, cid) for cat, found in per_cat.items() for r in rules for cid, _s in found[r]]
    frame = pd.DataFrame(rows, columns=["category", "rule", "customer_id"])
    return frame.astype({"category": object, "rule": object, "customer_id": "int64"})


def _set_minus(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """The rows of `left` that are not rows of `right`."""
    merged = left.merge(right.drop_duplicates(), how="left", indicator=True)
    return left[(merged["_merge"] == "left_only").to_numpy()]


# --------------------------------------------------------------------------- top


def top(
    fr: Frames,
    as_of: date,
    n: int = 10,
    target: str | None = None,
    by: str = "revenue",
    filters: Sequence[str] | None = None,
    home: str = "US",
) -> dict[str, Any]:
    day = ts(as_of)
    pu = fr.purchases
    ids = customer_ids(fr, filters, home)
    lines = pu[_window(pu, day) & in_target(fr, pu, target) & pu["customer_id"].isin(ids)]
    rows = []
    for (ref, name), g in lines.groupby(["customer_ref", "customer_name"]):
        rows.append(
            {
                "customer_ref": ref,
                "name": name,
                "revenue": float(g["amount"].sum()),
                "units": int(g["quantity"].sum()),
            }
        )
    if by == "units":
        rows.sort(key=lambda r: (-r["units"], r["customer_ref"]))
    else:
        rows.sort(key=lambda r: (-round(r["revenue"], 4), r["customer_ref"]))
    return {**_head("top", as_of, target), "rows": rows[:n]}


# --------------------------------------------------------------------------- loyal


def loyal(
    fr: Frames,
    as_of: date,
    target: str | None = None,
    filters: Sequence[str] | None = None,
    by: str = "segment",
    home: str = "US",
) -> dict[str, Any]:
    day = ts(as_of)
    pu = fr.purchases
    ids = customer_ids(fr, filters, home)
    mine = pu[pu["customer_id"].isin(ids)]
    base_lines = mine[
        in_target(fr, mine, target) & (mine["quantity"] > 0) & (mine["purchased_on"] <= day)
    ]
    base = set(base_lines["customer_id"])
    first = base_lines.groupby("customer_id")["purchased_on"].min()
    age = (day - base_lines["purchased_on"]).dt.days  # 0 on D
    # Window i holds (D - 91(i+1), D - 91i], i.e. ages 91i .. 91i + 90; four windows = ages 0..363.
    recent = base_lines[age <= 363]
    windows = (age[age <= 363] // 91).groupby(recent["customer_id"]).nunique()
    loyal_ids = {int(c) for c, n in windows.items() if n >= 3 and first[c] <= day - days(365)}
    rec = mine[mine["kind"].isin(["service", "subscription"]) & _covers(mine, day)]
    if target is not None:
        if is_category(fr, target):
            rec = rec[(rec["category"] == target) | (rec["for_category"] == target)]
        else:
            rec = rec[rec["sku"] == target]
    rec_ids = {int(c) for c in rec["customer_id"]}
    keys = _cust_key_map(fr, by)
    rows: dict[str, dict[str, Any]] = {}
    for group, field in ((base, "customers"), (loyal_ids, "loyal"), (rec_ids, "recurring")):
        for cid in group:
            key = keys[int(cid)]
            row = rows.setdefault(key, {"key": key, "customers": 0, "loyal": 0, "recurring": 0})
            row[field] += 1
    return {
        **_head("loyal", as_of, target),
        "loyal": len(loyal_ids),
        "recurring": len(rec_ids),
        "breakdown": {"by": by, "rows": _sort_rows(list(rows.values()))},
    }


# --------------------------------------------------------------------------- concentration


def concentration(
    fr: Frames, as_of: date, filters: Sequence[str] | None = None, home: str = "US"
) -> dict[str, Any]:
    day = ts(as_of)
    pu = fr.purchases
    ids = customer_ids(fr, filters, home)
    rev = pu[_window(pu, day) & pu["customer_id"].isin(ids)].groupby("customer_id")["amount"].sum()
    rev = rev[rev.round(6) > 0].sort_values(ascending=False)
    total = float(rev.sum())
    n = len(rev)
    if n == 0:
        share = hhi = None
        verdict = None
    else:
        k = math.ceil(0.2 * n - 1e-9)
        share = 100.0 * float(rev.iloc[:k].sum()) / total
        hhi = float(((rev / total) * 100.0).pow(2).sum())
        verdict = "tall" if share >= 80 - 1e-9 else "broad"
    return {
        **_head("concentration", as_of, None),
        "customers": n,
        "revenue": total,
        "top20_share": share,
        "hhi": hhi,
        "verdict": verdict,
    }


# --------------------------------------------------------------------------- digest


def _base_at(fr: Frames, day: pd.Timestamp) -> tuple[int, int]:
    act = fr.installations[_active_installs(fr.installations, day)]
    return int(act["customer_id"].nunique()), len(act)


def digest(fr: Frames, as_of: date) -> dict[str, Any]:
    day = ts(as_of)
    prev = day - days(1)
    pu, ins = fr.purchases, fr.installations
    firsts = pu[pu["quantity"] > 0].groupby("customer_id")["purchased_on"].min()
    lines = pu[pu["purchased_on"] == prev]
    cust1, units1 = _base_at(fr, prev)
    cust8, units8 = _base_at(fr, day - days(8))
    service = pu[pu["kind"] == "service"]
    ending = service[_covers(service, day) & (service["coverage_end"] <= day + days(30))]
    cands = upsell(fr, as_of)["candidates"]
    return {
        **_head("digest", as_of, None),
        "day": prev.date().isoformat(),
        "new_customers": int((firsts == prev).sum()),
        "purchase_lines": len(lines),
        "revenue": float(lines["amount"].sum()),
        "units_installed": int((ins["installed_on"] == prev).sum()),
        "units_removed": int((ins["removed_on"] == prev).sum()),
        "installed_base": {
            "customers": cust1,
            "units": units1,
            "customers_change": cust1 - cust8,
            "units_change": units1 - units8,
        },
        "ending_service": len(ending),
        "upsell": {r: [c for c in cands if c["rule"] == r][:5] for r in RULES},
    }


# --------------------------------------------------------------------------- customer lookup


def customer_matches(fr: Frames, as_of: date, name: str) -> dict[str, Any]:
    """Several customers share `name`: the reply lists them instead (sorted by ref here)."""
    hits = fr.customers[fr.customers["name"].str.lower() == name.lower()]
    matches = [
        {"customer_ref": r, "name": n}
        for r, n in sorted(zip(hits["customer_ref"], hits["name"], strict=True))
    ]
    return {**_head("customer", as_of, None), "matches": matches}


def customer_lookup(
    fr: Frames, as_of: date, ref: str, *, by: str = "customer_ref"
) -> dict[str, Any]:
    day = ts(as_of)
    row = fr.customers[fr.customers[by] == ref].iloc[0]
    cid = int(row["id"])
    ins = fr.installations
    mine = ins[(ins["customer_id"] == cid) & (ins["installed_on"] <= day)]
    act = _active_installs(mine, day)
    installations = [
        {
            "serial": r.serial,
            "sku": r.sku,
            "category": r.category,
            "site": r.site if isinstance(r.site, str) else None,
            "installed_on": iso(r.installed_on),
            "removed_on": iso(r.removed_on),
            "active": bool(a),
        }
        for r, a in zip(mine.itertuples(index=False), act, strict=True)
    ]
    installations.sort(key=lambda x: x["serial"])
    pu = fr.purchases
    lines = pu[(pu["customer_id"] == cid) & (pu["purchased_on"] <= day)]
    last = lines.sort_values(
        ["purchased_on", "order_ref", "line_no"], ascending=[False, False, False]
    ).head(10)
    purchases = [
        {
            "order_ref": r.order_ref,
            "line_no": int(r.line_no),
            "sku": r.sku,
            "quantity": int(r.quantity),
            "unit_price": float(r.unit_price),
            "purchased_on": iso(r.purchased_on),
        }
        for r in last.itertuples(index=False)
    ]
    cov_lines = lines[lines["kind"].isin(["service", "subscription"]) & (lines["quantity"] > 0)]
    covers = _covers(cov_lines, day)
    coverage = [
        {
            "sku": r.sku,
            "for_category": r.for_category,
            "coverage_start": iso(r.coverage_start),
            "coverage_end": iso(r.coverage_end),
            "active": bool(a),
        }
        for r, a in zip(cov_lines.itertuples(index=False), covers, strict=True)
    ]
    coverage.sort(key=_coverage_sort_key)
    revenue = float(lines.loc[_window(lines, day), "amount"].sum())
    return {
        **_head("customer", as_of, None),
        "customer": {
            k: (row[k] if isinstance(row[k], str) else None)
            for k in (
                "customer_ref",
                "name",
                "segment",
                "channel",
                "industry",
                "country",
                "region",
                "owner",
            )
        },
        "installations": installations,
        "purchases": purchases,
        "coverage": coverage,
        "revenue": revenue,
    }


def _coverage_sort_key(c: dict[str, Any]) -> tuple[str, str, str, str]:
    return (c["sku"], c["coverage_start"] or "", c["coverage_end"] or "", str(c["active"]))
