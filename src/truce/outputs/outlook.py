"""The grid outlook: what the strikes leave of a country's power supply, against its demand.

For a day: installed capacity by type (the registry's plants) minus what is lost — plants
occupied, destroyed or damaged per the registry (from their status date) and plants with a
strike incident whose loss has not yet been repaired (a repair time by type, since reports
of repairs are not extracted) — times the share available at the evening peak, plus
generation the registry does not list and imports, against the month's evening-peak
demand. The deficit in MW and the hours a day an average consumer goes without power
(rolling outages share the shortfall of each hour: the sum over hours of shortfall /
demand) follow, each with its range: the low end takes every assumption at its
favourable end together (and leaves out contested and single-source incidents), the high
end every one at its unfavourable end. Every assumption is a parameter with its source
(``data/outlook/ua.yaml``).

:func:`outlook` is the figure for one day; :func:`series` the same over a period, for the
report's chart and the web server's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable, Sequence

from truce.records import Facility, Incident
from truce.reference.registry import Registry

GENERATION = ("nuclear_plant", "thermal_plant", "chp", "hydro_plant", "solar_wind")
CASES = ("low", "central", "high")  # of the deficit: favourable, central, unfavourable assumptions
_IDX = {"central": 0, "low": 1, "high": 2}  # position in a [central, low, high] triple


def load_assumptions(country: str = "UA", path: str | None = None) -> dict[str, Any]:
    """The outlook's assumptions for ``country`` (the package's file, or ``path``)."""
    import yaml

    from truce.errors import PipelineError

    if path:
        with open(path, encoding="utf-8") as fh:
            data: dict[str, Any] = yaml.safe_load(fh)
    else:
        f = resources.files("truce").joinpath("data", "outlook", f"{country.lower()}.yaml")
        if not f.is_file():
            raise PipelineError(f"no outlook assumptions for {country!r} (shipped: UA); pass a file with TRUCE_OUTLOOK")
        with f.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    if data.get("country") != country:
        raise PipelineError(f"the outlook assumptions are for {data.get('country')!r}, not {country!r}")
    return data


def _pick(triple: Sequence[float], case: str, favourable_is_high: bool) -> float:
    """[central, low, high] → the value for ``case`` of the deficit (low case = favourable)."""
    if case == "central":
        return float(triple[0])
    want_high = (case == "low") == favourable_is_high
    return float(triple[2] if want_high else triple[1])


def _triple(block: dict[str, Any]) -> list[float]:
    return [float(block["value"]), float(block["range"][0]), float(block["range"][1])]


@dataclass(frozen=True)
class Loss:
    """Capacity a plant has lost on the day: why, since when, until when, and the incidents."""

    facility_id: str
    name: str
    type: str
    installed_mw: float
    lost_mw: dict[str, float]  # by case
    cause: str  # occupied | destroyed | damaged
    basis: str  # registry | incident
    since: str | None
    until: dict[str, str | None]  # by case: when it is assumed repaired (None: not assumed)
    incidents: tuple[str, ...] = ()
    note: str = ""


@dataclass
class Outlook:
    country: str
    date: str
    installed_mw: dict[str, float]
    lost_mw: dict[str, dict[str, float]]  # type → case → MW
    available_mw: dict[str, dict[str, float]]  # type → case → MW at the evening peak
    unlisted_mw: dict[str, float]
    import_mw: dict[str, float]
    supply_mw: dict[str, float]
    demand_mw: dict[str, float]
    deficit_mw: dict[str, float]
    outage_hours: dict[str, float]  # hours a day without power for an average consumer (shortfall shared)
    shortfall_hours: dict[str, int]  # hours of the day in which demand exceeds supply
    losses: list[Loss] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    assumptions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def _day(s: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((s or "")[:10])
    except ValueError:
        return None


def _top(f: Facility, registry: Registry) -> Facility:
    while f.parent and registry.get(f.parent) is not None:
        p = registry.get(f.parent)
        assert p is not None
        f = p
    return f


def facility_ids(registry: Registry, country: str) -> frozenset[str]:
    """The facilities whose incidents can cost ``country`` generation in :func:`losses` (a plant, or a
    part of one, of the country's generation with a capacity in MW): an incident anywhere else never
    counts, so a caller may read only these incidents."""
    out = set()
    for f in registry:
        top = _top(f, registry)
        if top.country == country and top.type in GENERATION and top.capacity_unit == "MW" and top.capacity:
            out.add(f.id)
    return frozenset(out)


def losses(registry: Registry, incidents: Iterable[Incident], day: dt.date, country: str,
           a: dict[str, Any]) -> list[Loss]:
    """Every plant's loss on ``day``: the larger of what the registry's status and its incidents say."""
    share = _triple(a["damage_share"])
    rep = a["repair_days"]
    by_fac: dict[str, list[Loss]] = {}
    for f in registry:
        if f.country != country or f.type not in GENERATION or f.capacity_unit != "MW" or not f.capacity or f.parent:
            continue
        since = _day(f.status_date)
        if f.status in ("occupied", "destroyed", "damaged", "decommissioned") and (since is None or since <= day):
            if f.status == "decommissioned":
                lost = {c: f.capacity for c in CASES}
            elif f.status == "damaged":
                lost = {c: f.capacity * _pick(share, c, favourable_is_high=False) for c in CASES}
            else:
                lost = {c: f.capacity for c in CASES}
            note = "" if since else "status date not recorded: counted on every day"
            by_fac.setdefault(f.id, []).append(Loss(f.id, f.name, f.type, f.capacity, lost, f.status, "registry",
                                                    f.status_date or None, {c: None for c in CASES}, (), note))
    for inc in incidents:
        d = _day(inc.date)
        fac = registry.get(inc.facility_id)
        if d is None or fac is None or d > day or inc.grade == "discounted":
            continue
        top = _top(fac, registry)
        if top.country != country or top.type not in GENERATION or top.capacity_unit != "MW" or not top.capacity:
            continue
        e = inc.effects
        if not (inc.outcome == "hit" or e.damage or e.destroyed or e.fire):
            continue
        mw = min(fac.capacity or top.capacity, top.capacity) if fac.capacity_unit == "MW" else top.capacity
        destroyed = bool(e.destroyed)
        days = rep["destroyed"] if destroyed else rep["damaged"].get(top.type, [90, 30, 180])
        gone: dict[str, float] = {}
        until: dict[str, str | None] = {}
        for c in CASES:
            end = d + dt.timedelta(days=_pick(days, c, favourable_is_high=False))
            counted = not (c == "low" and inc.grade in ("weak", "contested"))
            gone[c] = (mw * (1.0 if destroyed else _pick(share, c, favourable_is_high=False))
                       if counted and day < end else 0.0)
            until[c] = end.isoformat()
        if any(gone.values()):
            by_fac.setdefault(top.id, []).append(Loss(
                top.id, top.name, top.type, top.capacity, gone, "destroyed" if destroyed else "damaged", "incident",
                inc.date, until, (inc.id,),
                f"grade {inc.grade}" + ("; left out of the favourable case" if inc.grade in ("weak", "contested") else "")))
    out = []
    for fid, ls in by_fac.items():
        # one plant loses at most its capacity: the largest loss by case, with every incident behind it
        best = max(ls, key=lambda x: (x.lost_mw["central"], x.basis == "registry"))
        merged = {c: min(max(x.lost_mw[c] for x in ls), best.installed_mw) for c in CASES}
        incs = tuple(sorted({i for x in ls for i in x.incidents}))
        out.append(Loss(best.facility_id, best.name, best.type, best.installed_mw, merged, best.cause, best.basis,
                        best.since, best.until, incs, best.note))
    out.sort(key=lambda x: (-x.lost_mw["central"], x.facility_id))
    return out


def outlook(registry: Registry, incidents: Sequence[Incident], day: dt.date, country: str = "UA",
            assumptions: dict[str, Any] | None = None) -> Outlook:
    """The grid outlook on ``day``."""
    a = assumptions or load_assumptions(country)
    ls = losses(registry, incidents, day, country, a)
    installed = {t: 0.0 for t in GENERATION}
    for f in registry:
        if f.country == country and f.type in GENERATION and f.capacity_unit == "MW" and f.capacity and not f.parent:
            installed[f.type] += f.capacity
    lost = {t: {c: sum(x.lost_mw[c] for x in ls if x.type == t) for c in CASES} for t in GENERATION}
    avail_f = a["availability"]["by_type"]
    available = {t: {c: round(max(installed[t] - lost[t][c], 0.0) * _pick(avail_f[t], c, favourable_is_high=True), 1)
                     for c in CASES} for t in GENERATION}
    unlisted = {c: _pick(_triple(a["unlisted_generation_mw"]), c, True) for c in CASES}
    imports = {c: _pick(_triple(a["import_mw"]), c, True) for c in CASES}
    demand_t = a["demand_peak_mw"]["months"][day.month]
    demand = {c: _pick(demand_t, c, favourable_is_high=False) for c in CASES}
    supply = {c: round(sum(available[t][c] for t in GENERATION) + unlisted[c] + imports[c], 1) for c in CASES}
    deficit = {c: round(max(demand[c] - supply[c], 0.0), 1) for c in CASES}
    profile = [float(x) for x in a["daily_profile"]["hours"]]
    hours = {c: round(sum(max(demand[c] * s - supply[c], 0.0) / (demand[c] * s) for s in profile), 1) for c in CASES}
    short = {c: sum(1 for s in profile if demand[c] * s > supply[c]) for c in CASES}
    notes = [
        "low/central/high: every assumption at its favourable, central or unfavourable end together "
        "(the favourable case also leaves out single-source and contested incidents)",
        "the registry lists plants of 100 MW and more; smaller generation is one assumption (unlisted generation)",
        "grid damage (substations, lines) is not counted: it limits where power can go, not how much is made",
        "repairs are not read from reports yet: a loss lasts the assumed repair time after its incident",
    ]
    return Outlook(country=country, date=day.isoformat(), installed_mw={t: round(v, 1) for t, v in installed.items()},
                   lost_mw={t: {c: round(v, 1) for c, v in d.items()} for t, d in lost.items()}, available_mw=available,
                   unlisted_mw=unlisted, import_mw=imports, supply_mw=supply, demand_mw=demand, deficit_mw=deficit,
                   outage_hours=hours, shortfall_hours=short, losses=ls, sources=dict(a.get("sources", {})),
                   assumptions=_assumption_rows(a, day), notes=notes)


def _assumption_rows(a: dict[str, Any], day: dt.date) -> list[dict[str, Any]]:
    def cite(s: str) -> str:
        return s

    m = a["demand_peak_mw"]["months"][day.month]
    rows = [dict(name=f"evening-peak demand, month {day.month}", value=m[0], low=m[1], high=m[2], unit="MW",
                 source=cite(a["demand_peak_mw"]["source"])),
            dict(name="imports", value=a["import_mw"]["value"], low=a["import_mw"]["range"][0],
                 high=a["import_mw"]["range"][1], unit="MW", source=cite(a["import_mw"]["source"])),
            dict(name="generation not in the registry", value=a["unlisted_generation_mw"]["value"],
                 low=a["unlisted_generation_mw"]["range"][0], high=a["unlisted_generation_mw"]["range"][1], unit="MW",
                 source=cite(a["unlisted_generation_mw"]["source"])),
            dict(name="share lost when damaged", value=a["damage_share"]["value"], low=a["damage_share"]["range"][0],
                 high=a["damage_share"]["range"][1], unit="share", source=cite(a["damage_share"]["source"]))]
    for t, v in a["availability"]["by_type"].items():
        rows.append(dict(name=f"available at the peak: {t}", value=v[0], low=v[1], high=v[2], unit="share",
                         source=cite(a["availability"]["source"])))
    d = a["repair_days"]
    rows.append(dict(name="repair: destroyed", value=d["destroyed"][0], low=d["destroyed"][1], high=d["destroyed"][2],
                     unit="days", source=cite(d["source"])))
    for t, v in d["damaged"].items():
        rows.append(dict(name=f"repair: damaged {t}", value=v[0], low=v[1], high=v[2], unit="days", source=cite(d["source"])))
    return rows


def series(registry: Registry, incidents: Sequence[Incident], start: dt.date, end: dt.date, *, step_days: int = 7,
           country: str = "UA", assumptions: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The outlook every ``step_days`` from ``start`` to ``end``: the points the report's chart (and the
    web server's) plots. Each point: date, available MW by type (central), unlisted, imports, supply,
    demand and deficit (low, central, high) and outage hours (low, central, high)."""
    a = assumptions or load_assumptions(country)
    # each point reads only the incidents that can count on its day: at a facility of the country's
    # generation, dated, from their day to the longest repair time they can be given (in their order)
    ids = facility_ids(registry, country)
    rep = a["repair_days"]
    spans = []
    for inc in incidents:
        d, fac = _day(inc.date), registry.get(inc.facility_id)
        if inc.facility_id not in ids or d is None or fac is None:
            continue
        longest = rep["destroyed"] if inc.effects.destroyed else rep["damaged"].get(_top(fac, registry).type, [90, 30, 180])
        spans.append((inc, d, d + dt.timedelta(days=max(float(x) for x in longest))))
    out = []
    day = start
    while day <= end:
        o = outlook(registry, [inc for inc, d0, d1 in spans if d0 <= day < d1], day, country, a)
        out.append(dict(date=o.date, available_mw={t: v["central"] for t, v in o.available_mw.items()},
                        unlisted_mw=o.unlisted_mw["central"], import_mw=o.import_mw["central"], supply_mw=o.supply_mw,
                        demand_mw=o.demand_mw, deficit_mw=o.deficit_mw, outage_hours=o.outage_hours,
                        shortfall_hours=o.shortfall_hours,
                        incidents=sorted({i for x in o.losses for i in x.incidents})))
        day += dt.timedelta(days=step_days)
    return out


def format_table(o: Outlook) -> str:
    """The outlook as plain text."""
    lines = [f"Grid outlook {o.country} on {o.date} (evening peak; MW; low / central / high deficit cases)", ""]
    lines.append(f"{'type':15} {'installed':>10} {'lost':>22} {'available at peak':>24}")

    def trio(d: dict[str, float]) -> str:
        return f"{d['low']:,.0f} / {d['central']:,.0f} / {d['high']:,.0f}"

    for t in GENERATION:
        lines.append(f"{t:15} {o.installed_mw[t]:>10,.0f} {trio(o.lost_mw[t]):>22} {trio(o.available_mw[t]):>24}")
    lines += [f"{'not in registry':15} {'':>10} {'':>22} {trio(o.unlisted_mw):>24}",
              f"{'imports':15} {'':>10} {'':>22} {trio(o.import_mw):>24}",
              f"{'supply':15} {'':>10} {'':>22} {trio(o.supply_mw):>24}",
              f"{'demand':15} {'':>10} {'':>22} {trio(o.demand_mw):>24}",
              f"{'deficit':15} {'':>10} {'':>22} {trio(o.deficit_mw):>24}",
              f"hours a day without power, average consumer: {o.outage_hours['low']:.1f} / {o.outage_hours['central']:.1f} / "
              f"{o.outage_hours['high']:.1f} (in {o.shortfall_hours['low']} / {o.shortfall_hours['central']} / "
              f"{o.shortfall_hours['high']} hours of shortfall)", "", "Losses (MW low / central / high; cause; since; incidents):"]
    for x in o.losses:
        lines.append(f"  {trio(x.lost_mw):>22}  {x.name} ({x.type}): {x.cause} per {x.basis}"
                     f"{' since ' + x.since if x.since else ''}{'; ' + ', '.join(x.incidents) if x.incidents else ''}"
                     f"{'; ' + x.note if x.note else ''}")
    lines += ["", "Assumptions (value, range, source):"]
    for r in o.assumptions:
        lines.append(f"  {r['name']}: {r['value']} ({r['low']}–{r['high']}) {r['unit']} — {r['source']}")
    lines += ["", "Sources:"] + [f"  {k}: {v}" for k, v in o.sources.items()]
    lines += ["", "Notes:"] + [f"  {n}" for n in o.notes]
    return "\n".join(lines)


def for_database(db: Any, registry: Registry, day: dt.date | None, country: str = "UA",
                 assumptions: dict[str, Any] | None = None) -> Outlook:
    """The outlook over a database's incidents; ``day`` defaults to the latest incident's date."""
    incidents = db.incidents()
    if day is None:
        dates = [d for d in (_day(i.date) for i in incidents) if d is not None]
        day = max(dates) if dates else dt.date.today()
    return outlook(registry, incidents, day, country, assumptions)


def chart(points: Sequence[dict[str, Any]]) -> str:
    """The series as a PNG data URI: available generation by type stacked, imports, demand and the deficit's range."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 3.8))
    if points:
        xs = [mdates.date2num(dt.date.fromisoformat(p["date"])) for p in points]
        stacks = [[p["available_mw"][t] for p in points] for t in GENERATION]
        stacks += [[p["unlisted_mw"] for p in points], [p["import_mw"] for p in points]]
        labels = [t.replace("_", " ") for t in GENERATION] + ["not in registry", "imports"]
        colours = ["#6a51a3", "#525252", "#969696", "#2171b5", "#fdae6b", "#c7e9c0", "#a1d99b"]
        ax.stackplot(xs, *stacks, labels=labels, colors=colours, alpha=0.9)
        ax.plot(xs, [p["demand_mw"]["central"] for p in points], color="#b2182b", linewidth=2, label="evening-peak demand")
        ax.plot(xs, [p["supply_mw"]["high"] for p in points], color="#08306b", linestyle="--", linewidth=1.2,
                label="supply, unfavourable case")
        ax.plot(xs, [p["supply_mw"]["low"] for p in points], color="#08306b", linestyle=":", linewidth=1.2,
                label="supply, favourable case")
        ax.xaxis.set_major_locator(mdates.AutoDateLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        fig.autofmt_xdate()
    ax.set_ylabel("MW at the evening peak")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=7, ncol=5, frameon=False)
    ax.grid(True, axis="y", linewidth=0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
