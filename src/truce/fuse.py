"""Fusion: claims → incidents (one physical event each), graded, with reasons.

Blocking, in this order:

1. claims naming a registry facility: by facility, then by date (a night
   attack straddles midnight; reports disagree by a day);
2. claims naming a region and a type: join a facility incident of that region
   on that date when one exists (a mass-strike claim "energy facilities in
   Lviv region were hit" joins the named plant there instead of duplicating
   it), else by (region, type family, date);
3. country-level claims: by (country, date).

Dates cluster around their most reported day (±1 day), so the result does
not depend on the order claims arrive in. Incident ids derive from the
incident's key (facility or region, family, date), never from insertion
order. Every claim records why it joined.

Blocks: fusion decides nothing across regions. Every claim fusion reads
falls in one block (:func:`block_of`) — the region of the facility it names,
else its own region, else its country — and every decision (a facility's date
clusters, a regional claim joining a facility or typed incident of its region,
a counter-claim joining the incident it denies) stays inside one block. So
``fuse`` over the claims of one block gives exactly that block's incidents of
``fuse`` over all claims, and the pipeline re-fuses only the blocks new claims
touch (docs/architecture.md, "Incremental fusion").

Counter-claims (a report denying the strike, its damage or who did it)
take no part in blocking: once the incidents stand, each joins the incident
it denies (same facility, or same region and asset family, ±1 day) and never
counts as a source for it (:mod:`truce.grade`). A counter-claim with no
asserted event to join creates no incident; ``unattached`` collects it with
the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from truce.grade import ReportMeta, grade, is_counter, roles
from truce.records import Claim, ClaimLink, Effects, Incident
from truce.reference.registry import Registry, type_family

FUSE_KINDS = ("strike", "accusation")
WINDOW_DAYS = 1
GENERIC_TYPES = ("other_energy",)


@dataclass
class _Cluster:
    kind: str  # facility | region | country
    key: tuple[str, ...]
    date: str | None
    claims: list[tuple[Claim, str]]  # (claim, why it joined)


def _day(s: str | None) -> dt.date | None:
    if not s or len(s) < 10:
        return None
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        return None


def claim_day(c: Claim) -> dt.date | None:
    """The day a claim is dated to, when dated to a day (or an interval's first day)."""
    return _day(c.date) if c.date_precision in ("day", "interval") else None


def _cluster_dates(items: list[Claim], reports: dict[str, ReportMeta]) -> list[tuple[str | None, list[Claim]]]:
    """Group claims of one block around their most reported days (±WINDOW_DAYS).

    Deterministic in the multiset of claims: pick the day with the most claims
    (earliest on ties), take every unassigned claim within the window, repeat.
    Undated claims join the cluster their report's publication date trails by
    0–3 days, else form an undated cluster."""
    dated = [(c, _day(c.date)) for c in items if c.date_precision in ("day", "interval") and _day(c.date)]
    undated = [c for c in items if not (c.date_precision in ("day", "interval") and _day(c.date))]
    by_day: dict[dt.date, list[Claim]] = defaultdict(list)
    for c, d in dated:
        by_day[d].append(c)  # type: ignore[index]
    out: list[tuple[str | None, list[Claim]]] = []
    for center, days in _densest_windows({d: len(v) for d, v in by_day.items()}):
        out.append((center.isoformat(), [c for d in days for c in sorted(by_day[d], key=lambda c: c.id)]))
    orphans = []
    for c in sorted(undated, key=lambda c: c.id):
        pub = _day(reports[c.report_id].published) if c.report_id in reports else None
        best = None
        month = c.date[:7] if c.date and c.date_precision == "month" else None
        if month is not None:
            # "in March 2024": the block's incident of that month with the most claims
            same = [(-len(cs), i) for i, (center, cs) in enumerate(out) if center and center.startswith(month)]
            if same:
                out[min(same)[1]][1].append(c)
                continue
        if pub is not None:
            for i, (centre, _) in enumerate(out):
                lag = (pub - dt.date.fromisoformat(centre)).days if centre else 99
                if 0 <= lag <= 3 and (best is None or lag < best[0]):
                    best = (lag, i)
        if best is not None:
            out[best[1]][1].append(c)
        else:
            orphans.append(c)
    if orphans:
        out.append((None, orphans))
    return out


def _densest_windows(counts: dict[dt.date, int]) -> list[tuple[dt.date, list[dt.date]]]:
    """Repeatedly take the day whose ±WINDOW_DAYS window holds the most claims
    (then the most on the day itself, then the earliest) with its neighbours.
    O(D log D) in the number of distinct days, with a lazily updated heap."""
    import heapq

    alive = {d.toordinal(): n for d, n in counts.items()}
    span = range(-WINDOW_DAYS, WINDOW_DAYS + 1)
    get = alive.get

    def score(o: int) -> int:
        return sum(get(o + k, 0) for k in span)

    heap = [(-score(o), -n, o) for o, n in alive.items()]
    heapq.heapify(heap)
    out = []
    while heap:
        neg, negn, o = heapq.heappop(heap)
        n = get(o)
        if n is None:
            continue
        sc = score(o)
        if -neg != sc or -negn != n:
            heapq.heappush(heap, (-sc, -n, o))
            continue
        days = [o + k for k in span if o + k in alive]
        for x in days:
            del alive[x]
        out.append((dt.date.fromordinal(o), [dt.date.fromordinal(x) for x in days]))
        for k in range(WINDOW_DAYS + 1, 2 * WINDOW_DAYS + 1):
            for nb in (o - k, o + k):
                if nb in alive:
                    heapq.heappush(heap, (-score(nb), -alive[nb], nb))
    return out


def _incident_id(kind: str, key: tuple[str, ...], date: str | None) -> str:
    h = hashlib.sha256("|".join((kind, *key, date or "undated")).encode()).hexdigest()[:16]
    return f"inc-{h}"


class Placed(Protocol):
    """What decides a claim's block: a :class:`Claim`, or a stored claim's columns."""

    @property
    def kind(self) -> str: ...

    @property
    def facility_id(self) -> str | None: ...

    @property
    def region_code(self) -> str | None: ...

    @property
    def country(self) -> str | None: ...


def block_of(c: Placed, registry: Registry) -> str | None:
    """The block a claim is fused in (None: fusion does not read it). ``region:<code>`` for a
    claim naming a registry facility (the facility's region), a region, or — a counter-claim —
    either; ``country:<code>`` for a country-level claim and a facility the registry places in
    no region. Every cluster a claim can join lies in its block (see the module's docstring)."""
    if c.kind not in FUSE_KINDS:
        return None
    if c.kind == "accusation" and not (c.facility_id or c.region_code):
        return None
    fac = registry.get(c.facility_id) if c.facility_id else None
    if fac is not None:
        return facility_block(fac.region_code, fac.country)
    if c.region_code:
        return f"region:{c.region_code}"
    if c.country:
        return f"country:{c.country}"
    return None


def facility_block(fac_region: str | None, fac_country: str | None) -> str:
    """The block of a registry facility's incidents (and of its satellite candidates)."""
    return f"region:{fac_region}" if fac_region else f"country:{fac_country or ''}"


def placeless_counter(c: Claim, registry: Registry, reports: dict[str, ReportMeta]) -> Unattached | None:
    """A counter-claim fusion reads that names no place (no block): it joins nothing, and says why."""
    if c.kind not in FUSE_KINDS or not is_counter(c) or (c.kind == "accusation" and not (c.facility_id or c.region_code)):
        return None
    _, why = _denied_cluster(c, _ByDay(()), registry, reports)
    ext = reports[c.report_id].external_id if c.report_id in reports else c.report_id
    return Unattached(c.id, ext, why)


def incident_block(i: Incident) -> str:
    """The block an incident belongs to, from its own fields: a facility incident carries its
    facility's region and country, a regional one its region, a country-level one its country."""
    return f"region:{i.region_code}" if i.region_code else f"country:{i.country or ''}"


@dataclass(frozen=True)
class Unattached:
    """A counter-claim that joined no incident, and why (it creates none of its own)."""

    claim_id: str
    report_id: str  # the id the report was ingested with
    reason: str


def _family(c: Claim) -> str:
    return "energy" if (c.facility_type or "other_energy") in GENERIC_TYPES else (type_family(c.facility_type) or "energy")


def fuse(claims: Iterable[Claim], reports: dict[str, ReportMeta], registry: Registry,
         region_names: dict[str, str] | None = None,
         region_points: dict[str, tuple[float, float]] | None = None,
         unattached: list[Unattached] | None = None) -> list[Incident]:
    """All strike-like claims → incidents (sorted by date, id). ``region_points`` places
    incidents known only to their region at a point inside it (for maps and exports).
    Counter-claims join the incident they deny; those that find none go to ``unattached``."""
    region_names = region_names or {}
    region_points = region_points or {}
    by_fac: dict[str, list[Claim]] = defaultdict(list)
    by_region: dict[tuple[str, str, str], list[Claim]] = defaultdict(list)
    by_country: dict[str, list[Claim]] = defaultdict(list)
    counters: list[Claim] = []
    for c in claims:
        if c.kind not in FUSE_KINDS:
            continue
        if c.kind == "accusation" and not (c.facility_id or c.region_code):
            continue  # an accusation with no target is tracked with the agreement, not as an incident
        if is_counter(c):
            counters.append(c)
        elif c.facility_id and registry.get(c.facility_id):
            by_fac[c.facility_id].append(c)
        elif c.region_code:
            by_region[(c.country or "", c.region_code, _family(c))].append(c)
        elif c.country:
            by_country[c.country].append(c)

    clusters: list[_Cluster] = []
    for fid in sorted(by_fac):
        for date, cs in _cluster_dates(by_fac[fid], reports):
            clusters.append(_Cluster("facility", (fid,), date, [
                (c, f"names facility {fid}" + (f", dated {c.date} (within {WINDOW_DAYS} day of {date})" if date else ", undated"))
                for c in cs]))
    # facility incidents by (region, centre day) for regional claims to join
    fac_index: dict[tuple[str, dt.date], list[tuple[_Cluster, str]]] = defaultdict(list)
    own = {id(cl): len(cl.claims) for cl in clusters}  # sizes before regional claims join
    for cl in clusters:
        f = registry.get(cl.key[0])
        if f is not None and cl.date:
            fac_index[(f.region_code, dt.date.fromisoformat(cl.date))].append((cl, type_family(f.type) or ""))
    one = dt.timedelta(days=1)
    # typed regional claims first; generic ones ("energy facilities in X") then join a
    # named facility or a typed regional incident of that region and night
    typed_index: dict[tuple[str, dt.date], list[_Cluster]] = defaultdict(list)
    for (country, region, fam) in sorted(by_region, key=lambda k: (k[2] == "energy", k)):
        block = by_region[(country, region, fam)]
        leftovers: list[Claim] = []
        for c in sorted(block, key=lambda c: c.id):
            d = _day(c.date)
            target = None
            why = ""
            if d is not None:
                days = [d + k * one for k in range(-WINDOW_DAYS, WINDOW_DAYS + 1)]
                cands = [cl for x in days for cl, ffam in fac_index.get((region, x), ()) if fam == "energy" or ffam == fam]
                if len(cands) == 1 or (cands and fam != "energy"):
                    target = min(cands, key=lambda cl: (-own[id(cl)], cl.key))
                    why = f"joins the named facility {target.key[0]} in that region on {target.date}"
                elif fam == "energy" and not cands:
                    typed = [cl for x in days for cl in typed_index.get((region, x), ())]
                    if typed:
                        target = min(typed, key=lambda cl: (-len(cl.claims), cl.key))
                        why = f"joins the {target.key[2]} incident in that region on {target.date}"
            if target is not None:
                target.claims.append((c, f"regional claim ({region}, {c.facility_type or 'energy'}) {why}"))
            else:
                leftovers.append(c)
        for date, cs in _cluster_dates(leftovers, reports):
            cl = _Cluster("region", (country, region, fam), date, [
                (c, f"same region {region} and asset family {fam}"
                 + (f", dated {c.date} (within {WINDOW_DAYS} day of {date})" if date else ", undated"))
                for c in cs])
            clusters.append(cl)
            if fam != "energy" and date:
                typed_index[(region, dt.date.fromisoformat(date))].append(cl)
    for country in sorted(by_country):
        for date, cs in _cluster_dates(by_country[country], reports):
            clusters.append(_Cluster("country", (country,), date, [
                (c, f"country-level claim ({country})" + (f" dated {c.date}" if date else ", undated")) for c in cs]))
    by_day = _ByDay(clusters)
    for c in sorted(set(counters), key=lambda c: c.id):
        target, why = _denied_cluster(c, by_day, registry, reports)
        if target is not None:
            target.claims.append((c, why))
        elif unattached is not None:
            ext = reports[c.report_id].external_id if c.report_id in reports else c.report_id
            unattached.append(Unattached(c.id, ext, why))
    incidents = [_incident(cl, reports, registry, region_names, region_points) for cl in clusters]
    incidents.sort(key=lambda i: (i.date or "9999", i.id))
    return incidents


class _ByDay:
    """Clusters by their centre day, for the counter-claims: a counter-claim looks at the few
    days around its own, not at every cluster of its block (quadratic in a busy block)."""

    def __init__(self, clusters: Sequence[_Cluster]):
        self._days: dict[dt.date, list[tuple[int, _Cluster]]] = defaultdict(list)
        for pos, cl in enumerate(clusters):
            if cl.date is not None:
                self._days[dt.date.fromisoformat(cl.date)].append((pos, cl))

    def around(self, days: Iterable[dt.date]) -> list[_Cluster]:
        """The clusters centred on these days, in the order they were made."""
        found = [x for d in set(days) for x in self._days.get(d, ())]
        return [cl for _, cl in sorted(found, key=lambda x: x[0])]


def _denied_cluster(c: Claim, by_day: _ByDay, registry: Registry,
                    reports: dict[str, ReportMeta]) -> tuple[_Cluster | None, str]:
    """The incident a counter-claim denies: the same facility, else the same region (a facility
    there, or the same asset family), else a country-level incident; within a day of the denied
    date (undated: reported 0–3 days after the incident). Returns (cluster or None, why)."""
    what = f"denies the {c.denied or 'strike'}"
    day = _day(c.date) if c.date_precision in ("day", "interval") else None
    pub = _day(reports[c.report_id].published) if c.report_id in reports else None

    def near(cl: _Cluster) -> int | None:
        if cl.date is None:
            return None
        centre = dt.date.fromisoformat(cl.date)
        if day is not None:
            gap = abs((day - centre).days)
            return gap if gap <= WINDOW_DAYS else None
        if pub is not None and 0 <= (pub - centre).days <= 3:
            return (pub - centre).days
        return None

    fac = registry.get(c.facility_id) if c.facility_id else None
    region = fac.region_code if fac else c.region_code
    target = c.facility_id or region or c.country or "no place"
    cands: list[tuple[int, int, _Cluster]] = []  # (rank, distance, cluster)
    one = dt.timedelta(days=1)
    window = ([day + k * one for k in range(-WINDOW_DAYS, WINDOW_DAYS + 1)] if day is not None
              else [pub - k * one for k in range(4)] if pub is not None else [])
    for cl in by_day.around(window):  # every cluster near() can accept, and only those
        gap = near(cl)
        if gap is None:
            continue
        cl_fac = registry.get(cl.key[0]) if cl.kind == "facility" else None
        if fac is not None and cl_fac is not None and cl_fac.id == fac.id:
            cands.append((0, gap, cl))
        elif region and fac is None and cl_fac is not None and cl_fac.region_code == region and (
                _family(c) == "energy" or type_family(cl_fac.type) == _family(c)):
            cands.append((1, gap, cl))
        elif region and cl.kind == "region" and cl.key[1] == region and (
                _family(c) == "energy" or cl.key[2] in (_family(c), "energy")):
            cands.append((2, gap, cl))
        elif not region and c.country and cl.kind == "country" and cl.key[0] == c.country:
            cands.append((3, gap, cl))
    if not cands:
        when = c.date or "undated"
        return None, (f"{what} at {target} ({when}), but no report asserts a strike there within "
                      f"{WINDOW_DAYS} day: a denial creates no incident")
    rank, gap, cl = min(cands, key=lambda x: (x[0], x[1], -len(x[2].claims), x[2].key, x[2].date or ""))
    if rank == 0:
        where = f"the facility {cl.key[0]}"
    elif rank == 1:
        where = f"the named facility {cl.key[0]} in {region}"
    elif rank == 2:
        where = f"the {cl.key[2]} incident in {region}"
    else:
        where = f"the country-level incident in {c.country}"
    return cl, f"counter-claim: {what} at {where} on {cl.date}"


def _mode(values: Iterable[str | None]) -> str | None:
    vals = [v for v in values if v]
    if not vals:
        return None
    counts = Counter(vals)
    return min(counts, key=lambda v: (-counts[v], v))


def _incident(cl: _Cluster, reports: dict[str, ReportMeta], registry: Registry,
              region_names: dict[str, str], region_points: dict[str, tuple[float, float]]) -> Incident:
    every = [c for c, _ in cl.claims]
    cs = [c for c in every if not is_counter(c)]  # the event's attributes come from asserting claims only
    counters = [c for c in every if is_counter(c)]
    fac = registry.get(cl.key[0]) if cl.kind == "facility" else None
    specific = [c.facility_type for c in cs if c.facility_type and c.facility_type not in GENERIC_TYPES]
    ftype = fac.type if fac else (_mode(specific) or _mode(c.facility_type for c in cs))
    stated = [c.attacker for c in cs if c.attacker_basis == "stated" and c.attacker]
    attacker: str | None
    basis: str | None
    if stated and len(set(stated)) == 1:
        attacker, basis = stated[0], "stated"
    elif stated:
        attacker, basis = None, "disputed"
    else:
        attacker = _mode(c.attacker for c in cs)
        basis = "inferred" if attacker else None
    weapons = {c.weapon for c in cs if c.weapon and c.weapon != "mixed"}
    weapon = weapons.pop() if len(weapons) == 1 else ("mixed" if weapons or any(c.weapon == "mixed" for c in cs) else None)
    outcomes = {c.outcome for c in cs}
    outcome = "hit" if "hit" in outcomes else ("attempted" if "attempted" in outcomes else "unknown")
    country = fac.country if fac else (cl.key[0] if cl.kind != "facility" else None)
    region = fac.region_code if fac else (cl.key[1] if cl.kind == "region" else None)
    lat = fac.lat if fac else _mean([c.lat for c in cs])
    lon = fac.lon if fac else _mean([c.lon for c in cs])
    precision = "facility" if fac else ("settlement" if lat is not None else None)
    if lat is None and region in region_points:
        (lat, lon), precision = region_points[region], "region"
    g, reasons = grade(every, reports, attacker)
    attribution = sorted({f"{c.attacker} per {reports[c.report_id].affiliation or 'unknown'} source"
                          for c in cs if c.attacker_basis == "stated" and c.attacker}
                         | {f"{attacker or 'the attacker'} denied by {reports[c.report_id].affiliation or 'unknown'} source"
                            for c in counters if c.denied == "attribution"})
    disputed = tuple(sorted({c.denied if c.denied in ("damage", "attribution") else "strike" for c in counters}))
    ext_ids = sorted({reports[c.report_id].external_id for c in every})
    pubs = sorted(p for p in (reports[c.report_id].published for c in every) if p)
    role = roles(every, reports)
    links = sorted((ClaimLink(c.id, reports[c.report_id].external_id, why, role[c.id][0], role[c.id][1],
                              reports[c.report_id].source) for c, why in cl.claims),
                   key=lambda link: (link.report_id, link.claim_id))
    return Incident(
        id=_incident_id(cl.kind, cl.key, cl.date), kind=cl.kind, date=cl.date,
        date_precision="day" if cl.date else "unknown", country=country, region_code=region,
        region=region_names.get(region or ""), facility_id=fac.id if fac else None,
        facility_name=fac.name if fac else None, facility_type=ftype, attacker=attacker, attacker_basis=basis,
        weapon=weapon, outcome=outcome, lat=round(lat, 5) if lat is not None else None,
        lon=round(lon, 5) if lon is not None else None, grade=g, grade_reasons=reasons, claims=tuple(links),
        report_ids=tuple(ext_ids), attribution=tuple(attribution), first_reported=pubs[0] if pubs else None,
        effects=_effects(cs), location_precision=precision, disputed=disputed)


def _mean(xs: Sequence[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return sum(v) / len(v) if v else None


def _effects(cs: Sequence[Claim]) -> Effects:
    fire = damage = destroyed = None
    outage = killed = injured = area = None
    for c in cs:
        e = c.effects
        fire = True if e.fire else fire
        damage = True if e.damage else damage
        destroyed = True if e.destroyed else destroyed
        if e.outage_customers is not None:
            outage = e.outage_customers if outage is None else max(outage, e.outage_customers)
        if e.killed is not None:
            killed = e.killed if killed is None else max(killed, e.killed)
        if e.injured is not None:
            injured = e.injured if injured is None else max(injured, e.injured)
        if e.fire_area_m2 is not None:
            area = e.fire_area_m2 if area is None else max(area, e.fire_area_m2)
    return Effects(fire=fire, damage=damage, destroyed=destroyed, outage_customers=outage, killed=killed,
                   injured=injured, fire_area_m2=area)
