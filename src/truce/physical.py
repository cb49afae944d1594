"""Physical evidence: satellite fire detections (NASA FIRMS) matched to facilities and incidents.

Evidence that no party writes. For every incident at a registry facility, the detections
within the facility type's radius (``data/firms/matching.yaml``: the site's half-extent, plus
the sensor's pixel, plus slack for a facility the registry places only to its area or town)
and within the incident's window (the evening before its day to the end of the day after)
say one of three things:

- **supports** — detections stand above the facility's background: a refinery's flare or a
  CHP's stack is learned per facility from the days with detections and no incident near
  them, so a flare burning as it does every night corroborates nothing;
- **silent** — nothing at the site, and the record says what can be known of why: no FIRMS
  data loaded for those days; no detection within the observed radius either (no overpass,
  cloud or smoke cannot be told apart); detections around (a satellite saw the area) but
  none at the site; or only the site's usual background;
- **contradicts** — a fire is reported, yet the satellites saw the site in the window at
  its background level only (its flare was detected, so the sky was clear) — it contradicts
  the reported fire, not the strike.

Detections above background at a facility with no incident within the window become
**candidate incidents** for review: they never make an incident or a finding by themselves.

A stage like the others: functions over records, no I/O beyond reading its parameters
(the pipeline passes detections in and stores what comes out). The grade consequence
(supported weak → fair, a reason in every case) is :func:`truce.grade.with_physical`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from truce.grade import with_physical
from truce.records import DetectionMatch, Facility, FireCandidate, FireDetection, Incident, PhysicalEvidence
from truce.reference.registry import Registry

EARTH_KM = 6371.0
CONFIDENCE_RANK = {"low": 0, "nominal": 1, "high": 2}


# --- parameters --------------------------------------------------------------------------

def load_matching(path: str | Path | None = None) -> dict[str, Any]:
    """The matching parameters: the package's ``data/firms/matching.yaml``, with any key a user
    file sets replacing the package's (one level deep)."""
    import yaml

    with resources.files("truce").joinpath("data", "firms", "matching.yaml").open(encoding="utf-8") as fh:
        params: dict[str, Any] = yaml.safe_load(fh)
    if path:
        with open(path, encoding="utf-8") as fh:
            extra = yaml.safe_load(fh) or {}
        for k, v in extra.items():
            if isinstance(v, dict) and isinstance(params.get(k), dict):
                params[k] = {**params[k], **v}
            else:
                params[k] = v
    return params


def radius_km(f: Facility, instrument: str, params: dict[str, Any]) -> float:
    """The distance within which a detection by ``instrument`` counts as at ``f``."""
    site = float(params["radius_km"].get(f.type, params["radius_km"]["other_energy"]))
    return site + float(params["sensor_km"].get(instrument, 1.0)) + float(params["precision_km"].get(f.coord_precision, 6.0))


def window(day: str, params: dict[str, Any]) -> tuple[str, str]:
    """(start, end) of an incident's window, UTC, in the form detections' times use."""
    d0 = dt.datetime.fromisoformat(day[:10])
    start = d0 - dt.timedelta(hours=float(params["window"]["before_hours"]))
    end = d0 + dt.timedelta(hours=float(params["window"]["after_hours"])) - dt.timedelta(minutes=1)
    return start.strftime("%Y-%m-%dT%H:%MZ"), end.strftime("%Y-%m-%dT%H:%MZ")


# --- step 1: which detections are near which facilities (columns in, ids out) -------------

@dataclass
class Nearby:
    """Detections near facilities: ``at_site[facility] = [(detection id, km)]`` (within the
    widest radius any instrument allows) and ``around[incident] = [detection ids]`` within
    ``observed_km`` in the incident's window (a satellite saw the area)."""

    at_site: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    around: dict[str, list[str]] = field(default_factory=dict)
    days: frozenset[str] = frozenset()  # UTC days with any detection loaded

    def ids(self) -> set[str]:
        return {i for v in self.at_site.values() for i, _ in v} | {i for v in self.around.values() for i in v}


def _xyz(lat: Any, lon: Any) -> Any:
    import numpy as np

    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def _chord(km: float) -> float:
    return 2 * math.sin(km / (2 * EARTH_KM))


def nearby(ids: Sequence[str], lats: Sequence[float], lons: Sequence[float], times: Sequence[str],
           registry: Registry, incidents: Sequence[Incident], params: dict[str, Any]) -> Nearby:
    """Match every stored detection (as columns) to the facilities it may belong to."""
    import numpy as np
    from scipy.spatial import cKDTree

    out = Nearby(days=frozenset(t[:10] for t in times))
    if not ids:
        return out
    tree = cKDTree(_xyz(np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)))
    facs = [f for f in registry if f.lat is not None and f.lon is not None]
    widest = {f.id: max(radius_km(f, "VIIRS", params), radius_km(f, "MODIS", params)) for f in facs}
    centres = _xyz(np.array([f.lat for f in facs]), np.array([f.lon for f in facs]))
    for f, c in zip(facs, centres):
        hits = tree.query_ball_point(c, _chord(widest[f.id]))
        if hits:
            out.at_site[f.id] = sorted(((ids[i], round(_km(f.lat, f.lon, lats[i], lons[i]), 3)) for i in hits))
    observed = float(params.get("observed_km", 50.0))
    times_arr = np.asarray(times)
    for inc in incidents:
        fac = registry.get(inc.facility_id)
        if fac is None or not inc.date:
            continue
        start, end = window(inc.date, params)
        hits = tree.query_ball_point(_xyz(np.array([fac.lat]), np.array([fac.lon]))[0], _chord(observed))
        if not hits:
            continue
        idx = np.asarray(hits)
        t = times_arr[idx]
        keep = idx[(t >= start) & (t <= end)]
        if len(keep):
            out.around[inc.id] = sorted(ids[i] for i in keep[:200])
    return out


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


# --- step 2: background, verdicts, candidates ---------------------------------------------

@dataclass(frozen=True)
class Background:
    """A facility's usual detections on days without incidents."""

    quiet_days: int  # days with data and no incident near
    detection_days: int  # of them, days with detections at the site
    frp_p95: float
    count_p95: float
    exists: bool
    by_day: tuple[tuple[str, float, int], ...] = ()  # (quiet day with detections, strongest FRP, count)
    min_days: int = 5

    @classmethod
    def of(cls, quiet_days: int, by_day: Iterable[tuple[str, float, int]], min_days: int) -> "Background":
        rows = tuple(sorted(by_day))
        return cls(quiet_days=quiet_days, detection_days=len(rows),
                   frp_p95=round(_percentile([f for _, f, _ in rows], 0.95), 2),
                   count_p95=round(_percentile([float(n) for _, _, n in rows], 0.95), 1),
                   exists=len(rows) >= min_days, by_day=rows, min_days=min_days)

    def without(self, days: set[str]) -> "Background":
        """The background learned without ``days`` (a candidate's own fire is not its background)."""
        return Background.of(self.quiet_days - len(days), (r for r in self.by_day if r[0] not in days), self.min_days)

    def describe(self) -> str:
        if not self.detection_days:
            return f"no detection at the site on {self.quiet_days} quiet day(s) with data"
        share = 100.0 * self.detection_days / max(self.quiet_days, 1)
        if not self.exists:
            return (f"detections on only {self.detection_days} of {self.quiet_days} quiet day(s) ({share:.0f} %), "
                    f"up to {self.frp_p95:.1f} MW and {self.count_p95:.0f} a day: a background held to those days")
        return (f"background (flare or stack) on {self.detection_days} of {self.quiet_days} quiet days ({share:.0f} %), "
                f"95th percentile {self.frp_p95:.1f} MW and {self.count_p95:.0f} detection(s) a day")


def _percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return 0.0
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _days_near(dates: Iterable[str], n: int) -> set[str]:
    out = set()
    for d in dates:
        day = dt.date.fromisoformat(d[:10])
        out |= {(day + dt.timedelta(days=k)).isoformat() for k in range(-n, n + 1)}
    return out


def background(matches: Sequence[DetectionMatch], incident_days: Iterable[str], data_days: Iterable[str],
               params: dict[str, Any]) -> Background:
    """Learn a facility's background from its detections on quiet days (no incident within
    ``exclusion_days``)."""
    bp = params["background"]
    excluded = _days_near(incident_days, int(bp["exclusion_days"]))
    quiet = {d for d in data_days if d not in excluded}
    per_day: dict[str, list[DetectionMatch]] = defaultdict(list)
    for m in matches:
        day = m.detection.acquired[:10]
        if day in quiet:
            per_day[day].append(m)
    return Background.of(len(quiet), ((d, max((m.detection.frp or 0.0) for m in ms), len(ms)) for d, ms in per_day.items()),
                         int(bp["min_quiet_days"]))


def _above(day_matches: Sequence[DetectionMatch], bg: Background, params: dict[str, Any]) -> list[DetectionMatch]:
    """The day's detections marked by whether they stand above the background. A site never seen
    burning on a quiet day has none; one seen on a few days only is held to what those days showed."""
    if not bg.detection_days:
        return [replace(m, above_background=True) for m in day_matches]
    bp = params["background"]
    frp_line = max(float(bp["frp_factor"]) * bg.frp_p95, float(bp["min_frp_mw"]))
    many = len(day_matches) > float(bp["count_factor"]) * max(bg.count_p95, 1.0)
    return [replace(m, above_background=many or (m.detection.frp or 0.0) > frp_line) for m in day_matches]


def _fmt(m: DetectionMatch) -> str:
    d = m.detection
    t = d.acquired.replace("T", " ").replace("Z", " UTC")
    return (f"{d.instrument} {d.satellite} {t}, {m.distance_km:.1f} km from the site, "
            f"{'' if d.brightness is None else f'{d.brightness:.1f} K, '}"
            f"{'FRP ?' if d.frp is None else f'FRP {d.frp:.1f} MW'}, {d.confidence} confidence")


def _list(ms: Sequence[DetectionMatch], limit: int = 3) -> str:
    strongest = sorted(ms, key=lambda m: (-(m.detection.frp or 0.0), m.detection.acquired, m.detection.id))
    return "; ".join(_fmt(m) for m in strongest[:limit]) + (f"; and {len(ms) - limit} more" if len(ms) > limit else "")


def assess(incidents: Sequence[Incident], near: Nearby, detections: dict[str, FireDetection], registry: Registry,
           params: dict[str, Any]) -> tuple[list[PhysicalEvidence], list[FireCandidate]]:
    """Physical evidence for every facility incident, and candidate incidents."""
    by_fac_incidents: dict[str, list[Incident]] = defaultdict(list)
    for inc in incidents:
        if inc.facility_id and inc.date and registry.get(inc.facility_id):
            by_fac_incidents[inc.facility_id].append(inc)
    site: dict[str, list[DetectionMatch]] = {}
    for fid, pairs in near.at_site.items():
        f = registry.get(fid)
        if f is None:
            continue
        ms = [DetectionMatch(detections[i], km) for i, km in pairs if i in detections]
        site[fid] = [m for m in ms if m.distance_km <= radius_km(f, m.detection.instrument, params)]
    backgrounds = {fid: background(ms, [i.date or "" for i in by_fac_incidents.get(fid, ())], near.days, params)
                   for fid, ms in site.items()}
    evidence = []
    for fid, incs in sorted(by_fac_incidents.items()):
        f = registry.get(fid)
        assert f is not None
        for inc in sorted(incs, key=lambda i: i.id):
            evidence.append(_evidence(inc, f, site.get(fid, []), backgrounds.get(fid), near, detections, params))
    candidates = _candidates(site, backgrounds, by_fac_incidents, incidents, registry, params)
    return evidence, candidates


def _evidence(inc: Incident, f: Facility, at_site: Sequence[DetectionMatch], bg: Background | None, near: Nearby,
              detections: dict[str, FireDetection], params: dict[str, Any]) -> PhysicalEvidence:
    assert inc.date is not None
    start, end = window(inc.date, params)
    r_v, r_m = radius_km(f, "VIIRS", params), radius_km(f, "MODIS", params)
    radius = round(r_v, 2)
    where = (f"within {r_v:.1f} km (VIIRS) / {r_m:.1f} km (MODIS) of {f.name} ({f.type}, placed to its "
             f"{f.coord_precision})")
    span = f"{start.replace('T', ' ').replace('Z', ' UTC')} – {end.replace('T', ' ').replace('Z', ' UTC')}"
    bg = bg or Background(0, 0, 0.0, 0.0, False)
    in_window = [m for m in at_site if start <= m.detection.acquired <= end]
    by_day: dict[str, list[DetectionMatch]] = defaultdict(list)
    for m in in_window:
        by_day[m.detection.acquired[:10]].append(m)
    marked = [m for day in sorted(by_day) for m in _above(by_day[day], bg, params)]
    above = [m for m in marked if m.above_background]
    days = {(dt.datetime.fromisoformat(start[:10]) + dt.timedelta(days=k)).date().isoformat() for k in range(4)}
    days = {d for d in days if start[:10] <= d <= end[:10]}

    def mk(verdict: str, why: str, reason: str, found: Sequence[DetectionMatch] = ()) -> PhysicalEvidence:
        return PhysicalEvidence(incident_id=inc.id, facility_id=f.id, verdict=verdict, why=why, reason=reason,
                                window_start=start, window_end=end, radius_km=radius, detections=tuple(found),
                                background=bg.describe())

    fire_reported = bool(inc.effects.fire)
    if above:
        denied = [x for x in inc.disputed if x in ("strike", "damage")]
        counter = (f"; it contradicts the counter-claim denying the {' and '.join(denied)}" if denied else
                   "; it contradicts the report that the attack was repelled without damage" if inc.outcome == "attempted"
                   else "")
        reason = (f"supports: {len(above)} satellite fire detection(s) {where} in {span}, above the site's "
                  f"background ({bg.describe()}): {_list(above)}{counter}")
        return mk("supports", "supports", reason, marked)
    if marked:
        if fire_reported:
            reason = (f"contradicts the reported fire: the satellites saw the site in {span} ({len(marked)} detection(s) "
                      f"{where}, at its usual background level: {_list(marked)}), so the sky was clear, but nothing "
                      f"above its background ({bg.describe()}); a strike without a large fire is not ruled out")
            return mk("contradicts", "observed_no_fire", reason, marked)
        reason = (f"silent: only the site's usual background {where} in {span} ({_list(marked)}); "
                  f"{bg.describe()}")
        return mk("silent", "background_only", reason, marked)
    if not (days & near.days):
        reason = (f"silent: no FIRMS data loaded for {span} (no overpass on record for those days): "
                  "load the FIRMS file covering them")
        return mk("silent", "no_data", reason)
    around = [detections[i] for i in near.around.get(inc.id, ()) if i in detections]
    if around:
        first = min(around, key=lambda d: (d.acquired, d.id))
        sats = sorted({d.satellite for d in around})
        reason = (f"silent: no detection {where} in {span}, though {len(around)} detection(s) within "
                  f"{params.get('observed_km', 50)} km show {', '.join(sats)} overpassed the area (first "
                  f"{first.acquired.replace('T', ' ').replace('Z', ' UTC')}): cloud or smoke over the site, or a fire "
                  "too small or too short to detect")
    else:
        reason = (f"silent: no detection {where} in {span}, nor within {params.get('observed_km', 50)} km: no "
                  "overpass, cloud, or a fire too small to detect cannot be told apart (FIRMS records fires, not "
                  "overpasses)")
    return mk("silent", "no_detection", reason)


def _candidates(site: dict[str, list[DetectionMatch]], backgrounds: dict[str, Background],
                by_fac: dict[str, list[Incident]], incidents: Sequence[Incident], registry: Registry,
                params: dict[str, Any]) -> list[FireCandidate]:
    cp = params["candidates"]
    min_conf = CONFIDENCE_RANK.get(str(cp["min_confidence"]), 1)
    regional: dict[tuple[str, str], list[Incident]] = defaultdict(list)
    for inc in incidents:
        if not inc.facility_id and inc.region_code and inc.date:
            regional[(inc.region_code, inc.date)].append(inc)
    out = []
    for fid, ms in sorted(site.items()):
        f = registry.get(fid)
        if f is None or not ms:
            continue
        covered: set[str] = set()
        for inc in by_fac.get(fid, ()):
            start, end = window(inc.date or "", params)
            covered |= {m.detection.id for m in ms if start <= m.detection.acquired <= end}
        bg = backgrounds[fid]
        by_day: dict[str, list[DetectionMatch]] = defaultdict(list)
        for m in ms:
            if m.detection.id not in covered:
                by_day[m.detection.acquired[:10]].append(m)
        hot: dict[str, list[DetectionMatch]] = {}
        for day, dms in sorted(by_day.items()):
            # a candidate's own fire is not its background: learned without its days where they would weigh
            # (with 20 quiet days or more, three days move a 95th percentile little, and recomputing costs)
            own = bg.without(_days_near([day], 1) & {r[0] for r in bg.by_day}) if 0 < bg.detection_days < 20 else bg
            above = [m for m in _above(dms, own, params) if m.above_background]
            strong = [m for m in above if CONFIDENCE_RANK.get(m.detection.confidence, 0) >= min_conf]
            if strong and (len(above) >= int(cp["min_detections"]) or
                           max((m.detection.frp or 0.0) for m in above) >= float(cp["min_frp_mw"])):
                hot[day] = above
        # a fire burning over consecutive days is one candidate, dated by its first day
        groups: list[list[str]] = []
        for day in sorted(hot):
            if groups and (dt.date.fromisoformat(day) - dt.date.fromisoformat(groups[-1][-1])).days <= 1:
                groups[-1].append(day)
            else:
                groups.append([day])
        for g in groups:
            dets = tuple(m for d in g for m in hot[d])
            first = g[0]
            maybe = [i for d in g for k in (-1, 0, 1)
                     for i in regional.get((f.region_code, (dt.date.fromisoformat(d) + dt.timedelta(days=k)).isoformat()), ())]
            note = ""
            if maybe:
                ids = sorted({i.id for i in maybe})
                note = (f"; reports of that night name only the region: it may be {', '.join(ids[:3])}"
                        f"{' and more' if len(ids) > 3 else ''}")
            reason = (f"{len(dets)} detection(s) above the site's background at {f.name} ({f.type}) on "
                      f"{g[0]}{' – ' + g[-1] if len(g) > 1 else ''} and no reported incident at it: {_list(dets)}; "
                      f"{bg.without(_days_near(g, 1) & {r[0] for r in bg.by_day}).describe()}{note}. "
                      "For review: a candidate is never a finding")
            cid = "cand-" + hashlib.sha256(f"{fid}|{first}".encode()).hexdigest()[:16]
            out.append(FireCandidate(id=cid, facility_id=fid, facility_name=f.name, facility_type=f.type,
                                     country=f.country, region_code=f.region_code, date=first, detections=dets,
                                     reason=reason))
    out.sort(key=lambda c: (c.date, c.id))
    return out


# --- step 3: the grade consequence ---------------------------------------------------------

def regrade(incidents: Sequence[Incident], evidence: Sequence[PhysicalEvidence]) -> list[Incident]:
    """Incidents with their grade and reasons updated by what the satellites say."""
    by_id = {e.incident_id: e for e in evidence}
    out = []
    for inc in incidents:
        e = by_id.get(inc.id)
        if e is None or e.why == "no_data":  # no file covers its days: nothing to say in its grade
            out.append(inc)
            continue
        g, reasons = with_physical(inc.grade, inc.grade_reasons, e.verdict, e.reason)
        out.append(replace(inc, grade=g, grade_reasons=reasons))
    return out


def corroborate(ids: Sequence[str], lats: Sequence[float], lons: Sequence[float], times: Sequence[str],
                fetch: Any, incidents: Sequence[Incident], registry: Registry, params: dict[str, Any]
                ) -> tuple[list[Incident], list[PhysicalEvidence], list[FireCandidate]]:
    """The whole stage: columns of every detection in, ``fetch(ids) → detections`` for the few
    near facilities, out the regraded incidents, their evidence and candidates."""
    near = nearby(ids, lats, lons, times, registry, incidents, params)
    dets = {d.id: d for d in fetch(near.ids())}
    evidence, candidates = assess(incidents, near, dets, registry, params)
    return regrade(incidents, evidence), evidence, candidates
