"""Analytics over stored incidents: coverage of sources, capacity affected,
strike rates around agreement windows (see :func:`rate_change`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any, Sequence

from truce.context import Context
from truce.db import Database
from truce.outputs.query import Filters
from truce.reference.registry import Registry


def coverage(db: Database, date_from: str | None = None, date_to: str | None = None) -> dict[str, Any]:
    """Sources and reports per affiliation in a period, days without reports, syndication."""
    reports = db.reports(text=False)

    def day(r: Any) -> str | None:
        return (r.published or "")[:10] or None

    inside = [r for r in reports if (day(r) or "") >= (date_from or "") and (date_to is None or (day(r) or "9999") <= date_to)]
    by_aff: dict[str, dict[str, Any]] = defaultdict(lambda: {"sources": set(), "reports": 0})
    for r in inside:
        row = by_aff[r.affiliation or "unknown"]
        row["sources"].add(r.source or "unknown")
        row["reports"] += 1
    days = sorted(d for d in {day(r) for r in inside} if d)
    gaps: list[str] = []
    if days:
        d0 = dt.date.fromisoformat(date_from or days[0])
        d1 = dt.date.fromisoformat(date_to or days[-1])
        have = set(days)
        cur = d0
        while cur <= d1:
            if cur.isoformat() not in have:
                gaps.append(cur.isoformat())
            cur += dt.timedelta(days=1)
    # the syndication groups stored by ``truce run`` (copies of one story), as far as the period holds them
    by_ext = {r.id: f"{r.source} ({r.external_id})" for r in inside}
    groups = ["; ".join(by_ext[m] for m in members if m in by_ext)
              for _, members in db.syndicated_groups() if sum(m in by_ext for m in members) > 1]
    return {"by_affiliation": {k: {"sources": sorted(v["sources"]), "reports": v["reports"]} for k, v in by_aff.items()},
            "gaps": gaps, "syndicated": groups, "reports": len(inside)}


# --- capacity affected ------------------------------------------------------------------

GENERATION = ("nuclear_plant", "thermal_plant", "chp", "hydro_plant", "solar_wind")


def capacity_affected(incidents: Sequence[Any], registry: Registry, *, date_from: str | None = None, date_to: str | None = None,
                      refinery_days: int = 30) -> dict[str, Any]:
    """MW of generation by type hit in the period (each facility once) with its share of the
    registry's national total, grid assets hit, and Mt/yr of refining capacity with an
    incident in the last ``refinery_days`` days of the period with its share of the total."""
    inside = [i for i in incidents if i.date and (date_from is None or i.date >= date_from)
              and (date_to is None or i.date <= date_to)]
    days = [i.date for i in inside if i.date]
    end = max(days, default=None) if date_to is None else date_to
    out: dict[str, Any] = {"period": {"from": date_from or min(days, default=None), "to": end},
                           "generation": {}, "grid": {}, "refining": {}}
    for country in ("UA", "RU"):
        hit = {i.facility_id for i in inside if i.facility_id and i.country == country}
        facs = [f for f in registry if f.country == country and not f.parent]
        by_type: dict[str, dict[str, Any]] = {}
        for t in GENERATION:
            total = sum(f.capacity or 0 for f in facs if f.type == t and f.capacity_unit == "MW")
            hit_mw = sum(f.capacity or 0 for f in facs if f.type == t and f.capacity_unit == "MW" and f.id in hit)
            names = sorted(f.name for f in facs if f.type == t and f.id in hit)
            if total or hit_mw:
                by_type[t] = {"mw_hit": round(hit_mw, 1), "mw_registry": round(total, 1),
                              "share": round(hit_mw / total, 4) if total else None, "facilities": names}
        tot = sum(v["mw_registry"] for v in by_type.values())
        hit_all = sum(v["mw_hit"] for v in by_type.values())
        out["generation"][country] = {"by_type": by_type, "mw_hit": round(hit_all, 1), "mw_registry": round(tot, 1),
                                      "share": round(hit_all / tot, 4) if tot else None}
        grid_named = sorted(f.name for f in facs if f.id in hit and f.type in ("substation", "transmission_line", "distribution"))
        grid_unnamed = sum(1 for i in inside if i.country == country and not i.facility_id
                           and i.facility_type in ("substation", "transmission_line", "distribution"))
        out["grid"][country] = {"named_assets_hit": grid_named, "unnamed_grid_incidents": grid_unnamed}
        if end is not None:
            import datetime as dt

            since = (dt.date.fromisoformat(end) - dt.timedelta(days=refinery_days - 1)).isoformat()
            recent = {i.facility_id for i in inside if i.facility_id and i.country == country and (i.date or "") >= since}
            refs = [f for f in facs if f.type == "refinery" and f.capacity_unit == "Mt/yr" and f.capacity]
            total = sum(f.capacity or 0.0 for f in refs)
            hit_mt = sum(f.capacity or 0.0 for f in refs if f.id in recent)
            if total:
                out["refining"][country] = {"window": {"from": since, "to": end}, "mt_per_year_hit": round(hit_mt, 2),
                                            "mt_per_year_registry": round(total, 2), "share": round(hit_mt / total, 4),
                                            "refineries": sorted(f.name for f in refs if f.id in recent)}
    return out


# --- strike rates around an agreement window -----------------------------------------

def rate_change(incidents: Sequence[Any], start: str, end: str, *,
                grades: tuple[str, ...] = ("confirmed", "fair", "weak", "contested")) -> dict[str, Any]:
    """Incidents per day before, during and after a window, per attacking party, with the
    during/before and after/during rate ratios and their tests.

    "Before" and "after" are periods as long as the window, adjacent to it. Counts are
    modelled as Poisson with exposure in days: conditional on the total of the two
    periods, the count in one is binomial, so the rate ratio gets an exact test
    (scipy ``binomtest``) and a Clopper–Pearson interval mapped to the ratio scale.
    When day-to-day counts are overdispersed (variance well above the mean) the
    Poisson interval is too narrow; the result reports the dispersion so a reader
    can discount it."""
    import datetime as dt

    from scipy.stats import binomtest

    d0, d1 = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    days = (d1 - d0).days + 1
    periods = {"before": (d0 - dt.timedelta(days=days), d0 - dt.timedelta(days=1)), "during": (d0, d1),
               "after": (d1 + dt.timedelta(days=1), d1 + dt.timedelta(days=days))}
    out: dict[str, Any] = {"window": {"start": start, "end": end, "days": days},
                           "periods": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in periods.items()}, "by_attacker": {}}
    tally = Counter((i.attacker, i.date) for i in incidents if i.date and i.grade in grades)  # each day read once
    for party in ("RU", "UA"):
        per_day: dict[str, list[int]] = {k: [0] * days for k in periods}
        for (attacker, date), n in tally.items():
            if attacker != party:
                continue
            d = dt.date.fromisoformat(date)
            for k, (a, b) in periods.items():
                if a <= d <= b:
                    per_day[k][(d - a).days] += n
        counts = {k: sum(v) for k, v in per_day.items()}
        row: dict[str, Any] = {"counts": counts, "per_day": {k: round(v / days, 3) for k, v in counts.items()}}
        all_days = [x for v in per_day.values() for x in v]
        mean = sum(all_days) / len(all_days)
        var = sum((x - mean) ** 2 for x in all_days) / max(len(all_days) - 1, 1)
        row["dispersion"] = round(var / mean, 2) if mean else None
        for name, (num, den) in (("during_vs_before", ("during", "before")), ("after_vs_during", ("after", "during"))):
            n_a, n_b = counts[num], counts[den]
            if n_a + n_b == 0:
                row[name] = {"ratio": None, "p_value": None, "ci95": None, "note": "no incidents in either period"}
                continue
            test = binomtest(n_a, n_a + n_b, 0.5)  # equal exposure: p = 1/2 under equal rates
            ci = test.proportion_ci(confidence_level=0.95, method="exact")
            row[name] = {"ratio": round(n_a / n_b, 3) if n_b else float("inf"), "p_value": round(test.pvalue, 4),
                         "ci95": [round(to_ratio(ci.low), 3), round(to_ratio(ci.high), 3) if ci.high < 1 else None]}
        out["by_attacker"][party] = row
    return out


def to_ratio(p: float) -> float:
    """A binomial proportion of events in the first period → the rate ratio (equal exposure)."""
    return p / (1 - p) if p < 1 else float("inf")


def verdict_counts(findings: list[Any], agreement_id: str | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in findings:
        if agreement_id and f.agreement_id != agreement_id:
            continue
        out.setdefault(f.agreement_id, {})
        out[f.agreement_id][f.verdict] = out[f.agreement_id].get(f.verdict, 0) + 1
    return out


def summary(db: Database, ctx: Context, *, agreement_id: str | None = None, date_from: str | None = None,
            date_to: str | None = None, filters: Filters | None = None) -> dict[str, Any]:
    """Everything `truce stats` prints: capacity, rates per agreement reading, verdict counts.

    ``filters`` select the incidents counted; their period bounds the capacity figures and the
    findings counted (the rates compare periods around each agreement window, whatever the period).
    ``agreement_id``, ``date_from`` and ``date_to`` are a shorthand for such filters."""
    if filters is None:
        filters = Filters(date_from=dt.date.fromisoformat(date_from) if date_from else None,
                          date_to=dt.date.fromisoformat(date_to) if date_to else None,
                          agreements=(agreement_id,) if agreement_id else ())
    found = db.findings()
    verdicts: dict[str, dict[str, str]] = {}
    for f, _ in found:
        verdicts.setdefault(f.incident_id, {})[f.agreement_id] = f.verdict
    incidents = [i for i in db.incidents() if filters.incident(i, verdicts.get(i.id, {}), dates=False)]
    by_id = {i.id: i for i in incidents}
    findings = [f for f, _ in found if filters.finding(f, by_id.get(f.incident_id))]
    return {"capacity": capacity_affected(incidents, ctx.registry, date_from=filters.start, date_to=filters.end),
            "verdicts": verdict_counts(findings), "rates": agreement_rates(ctx, filters, incidents)}


def agreement_rates(ctx: Context, filters: Filters, incidents: Sequence[Any]) -> dict[str, Any]:
    """:func:`rate_change` around the window of each agreement (selected, ever in force) under each
    party's reading; ``incidents``: anything with ``attacker``, ``date`` and ``grade``."""
    out: dict[str, Any] = {}
    for a in ctx.agreements:
        if (filters.agreements and a.id not in filters.agreements) or not a.ever_in_force():
            continue
        c = a.commitments[0]
        readings = {"terms": (c["window"]["start"], c["window"]["end"])}
        starts = {x["id"]: x["value"] for amb in a.ambiguities if amb["field"] == "window.start" for x in amb["alternatives"]}
        ends = {x["id"]: x["value"] for amb in a.ambiguities if amb["field"] == "window.end" for x in amb["alternatives"]}
        for k in sorted(set(starts) & set(ends)):
            readings[k] = (starts[k], ends[k])
        if len(readings) > 1:
            del readings["terms"]  # the terms' own window is one of the parties' readings
        out[a.id] = {k: rate_change(incidents, s, e) for k, (s, e) in readings.items() if s and e}
    return out


def format_summary(s: dict[str, Any]) -> str:
    """The plain-text rendering of :func:`summary` (also used in the situation report)."""
    lines = []
    cap = s["capacity"]
    lines.append(f"Capacity with incidents, {cap['period']['from']} – {cap['period']['to']} (each facility once):")
    for country, g in cap["generation"].items():
        if g["mw_registry"]:
            lines.append(f"  {country} generation: {g['mw_hit']:,.0f} of {g['mw_registry']:,.0f} MW in the registry "
                         f"({100 * (g['share'] or 0):.1f} %)")
            for t, v in g["by_type"].items():
                if v["mw_hit"]:
                    lines.append(f"    {t:14} {v['mw_hit']:>8,.0f} MW of {v['mw_registry']:,.0f} ({100 * (v['share'] or 0):.1f} %): "
                                 + ", ".join(v["facilities"]))
        gr = cap["grid"][country]
        if gr["named_assets_hit"] or gr["unnamed_grid_incidents"]:
            lines.append(f"  {country} grid: {len(gr['named_assets_hit'])} named assets, "
                         f"{gr['unnamed_grid_incidents']} incidents on unnamed substations/lines")
    for country, r in cap["refining"].items():
        lines.append(f"  {country} refining hit {r['window']['from']} – {r['window']['to']}: {r['mt_per_year_hit']:.1f} of "
                     f"{r['mt_per_year_registry']:.1f} Mt/yr ({100 * r['share']:.1f} %)"
                     + (": " + ", ".join(r["refineries"]) if r["refineries"] else ""))
    for aid, readings in s["rates"].items():
        lines.append(f"Strike rates around {aid} (incidents per day; exact Poisson rate-ratio tests):")
        for reading, rc in readings.items():
            w = rc["window"]
            lines.append(f"  reading '{reading}': window {w['start']} – {w['end']} ({w['days']} days)")
            for party, row in rc["by_attacker"].items():
                c = row["counts"]
                dv = row["during_vs_before"]
                ci = dv.get("ci95")
                ci_txt = f"95% CI {ci[0]}–{ci[1] if ci[1] is not None else '∞'}" if ci else "no data"
                lines.append(f"    attacker {party}: before {c['before']}, during {c['during']}, after {c['after']}; "
                             f"during/before {dv['ratio'] if dv['ratio'] is not None else '-'} ({ci_txt}, p={dv['p_value']}); "
                             f"dispersion {row['dispersion']}")
    for aid, vs in s["verdicts"].items():
        lines.append(f"Findings under {aid}: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)
