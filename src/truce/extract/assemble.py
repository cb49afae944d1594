"""Document-level assembly: drafts (one target told in one sentence) become claims.

Mentions of one target merge into one claim with all their evidence; "the
plant", "the refinery", "the facility" refer back to the facility named
before them (or in the headline); a generic regional mention yields to a
specific asset in that region and a country-level one to the regions it
sums up, unless the report makes a national statement; the date, attacker,
weapon and effects of the merged claim come from its best-told mention.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from truce.extract.analysis import Document, SentenceInfo
from truce.extract.context import Draft
from truce.extract.dates import DateMention, to_iso
from truce.extract.effects import effects_for
from truce.extract.targets import GENERIC, Target
from truce.records import Claim, Evidence
from truce.reference.gazetteer import haversine_km
from truce.reference.registry import type_family


def assemble(drafts: list[Draft], doc: Document, report_id: str, main: DateMention | None,
             extractor: str, headline: list[Draft] | None = None) -> list[Claim]:
    """Merge drafts about one target (and one salience/date) into claims."""
    groups: dict[tuple[Any, ...], list[Draft]] = {}
    drafts = _resolve_anaphora(drafts, doc, headline or [])
    dated_bg: dict[tuple[Any, ...], set[Any]] = {}
    for d in drafts:
        if d.salience == "background" and d.date is not None:
            dated_bg.setdefault(d.target.key(), set()).add(d.date.date)
    for d in drafts:
        day = d.date.date if d.date is not None else None
        if d.salience == "background" and day is None and len(dated_bg.get(d.target.key(), ())) == 1:
            day = next(iter(dated_bg[d.target.key()]))  # "The DniproHES attack opened …": the one dated earlier
        elif d.salience == "background" and d.target.facility is None and d.target.region_code is None and (
                d.date is None or d.date.precision != "day"):
            continue  # "a series of drone strikes on refineries in August": nothing to place or date
        if d.salience != "background":
            # two main strikes on one region's grid on different days told with their own dates
            # ("вночі … підстанцію"; "вчора вдень … лінію електропередачі") are two events
            day = d.date.date if d.date is not None and d.date_basis not in ("inferred_context", "publication_date") \
                and d.target.facility is None else None
        # a denial of a target is a claim of its own, never merged with the report's assertion of it;
        # "another hit in Nizhyn district" on an unnamed asset is a new event, not the region's earlier one
        own = ("denies",) if d.denies else (("another", d.sentences[0].index)
                                              if d.target.facility is None and d.sentences[0].has("another") else ())
        groups.setdefault((d.target.key() + own, d.salience == "background", day), []).append(d)
    dated_main: dict[Any, set[Any]] = {}
    for k in groups:
        if k[1] is False and k[2] is not None:
            dated_main.setdefault(k[0], set()).add(k[2])
    for k, days in dated_main.items():
        if (k, False, None) in groups:
            # undated mentions join the dated event: the only one, else the report's main day's
            day = next(iter(days)) if len(days) == 1 else (main.date if main is not None and main.date in days else min(days))
            joined = groups.pop((k, False, None)) + groups[(k, False, day)]
            groups[(k, False, day)] = sorted(joined, key=lambda d: (d.sentences[0].index, d.target.start))
    merged: list[Draft] = []
    for _, ds in groups.items():
        first = ds[0]
        sents = list(dict.fromkeys(s for d in ds for s in d.sentences))
        outcomes = [d.outcome for d in ds]
        outcome = "hit" if "hit" in outcomes else ("attempted" if "attempted" in outcomes else "unknown")
        attackers = [(d.attacker, d.attacker_basis) for d in ds if d.attacker_basis == "stated"]
        att, abasis = attackers[0] if attackers else (first.attacker, first.attacker_basis)
        date = next((d.date for d in ds if d.date is not None and d.date_basis != "inferred_context"), first.date)
        basis = next((d.date_basis for d in ds if d.date is date), first.date_basis)
        merged.append(replace(first, sentences=sents, outcome=outcome, attacker=att, attacker_basis=abasis,
                              date=date, date_basis=basis,
                              acknowledged_by=next((d.acknowledged_by for d in ds if d.acknowledged_by), None),
                              weapon=next((d.weapon for d in ds if d.weapon), None),
                              hedged=all(d.hedged for d in ds),
                              retracted=any(d.retracted for d in ds),
                              rules=list(dict.fromkeys(r for d in ds for r in d.rules)),
                              confidence=max(d.confidence for d in ds)))
    merged = _drop_subsumed([d for d in merged if not d.denies]) + _drop_subsumed([d for d in merged if d.denies])
    claims = []
    seen_main = False
    for i, d in enumerate(sorted(merged, key=lambda d: (d.sentences[0].start, d.target.start))):
        t = d.target
        salience = d.salience
        if salience != "background":
            salience = "main" if not seen_main or d.sentences[0].index <= 1 else "secondary"
            seen_main = True
        day = d.date.date if d.date is not None else (doc.pub.date if d.date_basis == "publication_date" else None)
        if day is not None and d.date is not None and d.date.basis == "resolved_relative" and doc.pub.date is not None \
                and doc.pub.usable and (day - doc.pub.date).days > 1:
            # a strike is reported after it happens: "12 березня" in a January report is last March
            try:
                day = day.replace(year=day.year - 1)
            except ValueError:
                day = day.replace(year=day.year - 1, day=28)
        date_end = d.date.date_end if d.date is not None else None
        precision = d.date.precision if d.date is not None else ("day" if day else "unknown")
        eff = effects_for(doc, d.sentences, t)
        conf = d.confidence + (0.1 if d.outcome == "hit" else 0.0) - (0.2 if d.hedged else 0.0)
        conf -= 0.1 if t.region_code is None and t.facility is None else 0.0
        claims.append(Claim(
            report_id=report_id, index=i, kind="strike", date=to_iso(day), date_end=to_iso(date_end),
            date_precision=precision, date_basis=d.date_basis, country=t.country,
            region_code=t.region_code, region=None, place=t.place.name if t.place else (t.facility.place if t.facility else None),
            place_id=t.place.id if t.place else None,
            lat=t.facility.lat if t.facility else (t.place.lat if t.place else None),
            lon=t.facility.lon if t.facility else (t.place.lon if t.place else None),
            location_precision="facility" if t.facility else ("settlement" if t.place else ("region" if t.region_code else "country")),
            facility_id=t.facility.id if t.facility else None,
            facility_name=t.facility.name if t.facility else doc.text[t.start:t.end],
            facility_type=t.output_type, attacker=d.attacker, attacker_basis=d.attacker_basis,
            acknowledged_by=d.acknowledged_by, weapon=d.weapon, outcome=d.outcome, effects=eff,
            salience=salience, hedged=d.hedged, retracted=d.retracted,
            stance="denies" if d.denies else "asserts", denied=d.denied if d.denies else None,
            evidence=tuple(Evidence(s.start, s.end, doc.text[s.start:s.end]) for s in d.sentences),
            confidence=round(max(0.05, min(0.99, conf)), 2), extractor=extractor,
            rule=";".join(d.rules), language=doc.lang))
    return claims


def _resolve_anaphora(drafts: list[Draft], doc: Document, headline: list[Draft]) -> list[Draft]:
    """"the refinery", "the plant", "the station" after a named facility: an
    unplaced type term of the same family is the facility already named (the
    nearest before it, or the one the headline names when the text names none:
    an excerpt that starts after the lead). A generic term ("energy facility",
    "power plant") is the named facility only when it has no region of its own,
    shares the facility's region, or stands in apposition to the name ("Trypillia
    TPP, the largest power plant supplying Kyiv, Cherkasy and Zhytomyr oblasts").
    Counted ones ("three of its plants") and numbered units ("CHP-6" after
    "CHP-5") are targets of their own."""
    named = [d for d in drafts if d.target.facility is not None]
    if not named and headline:
        named = headline
    out: list[Draft] = []
    for d in drafts:
        t = d.target
        if t.type == "facility_ref":
            # "the facility", "об'єкт", "установка": the facility named before (or in the headline), else
            # the asset the sentence before it names; nothing of its own
            host = _antecedent(d, named, doc) if named else None
            host = host or _previous_typed(d, drafts)
            if host is not None:
                out.append(replace(d, target=host.target, rules=[r + "+anaphora" for r in d.rules]))
            continue
        if not named:
            out.append(d)
            continue
        # a town's outage is the town's, and "Ukraine's power plants" are the country's, not a plant's named nearby
        if t.facility is None and "type-term+place" not in t.rule and "+undisclosed" not in t.rule \
                and "+national" not in t.rule and "+counted" not in t.rule \
                and not t.rule.startswith(("outage-told", "national")):
            host = _antecedent(d, named, doc)
            if host is not None:
                d = replace(d, target=host.target, rules=[r + "+anaphora" for r in d.rules])
        out.append(d)
    return out


def _previous_typed(d: Draft, drafts: list[Draft]) -> Draft | None:
    """The draft of the sentence before (same paragraph) that names an asset of its own."""
    si = d.sentences[0]
    prev = [x for x in drafts if x.target.type != "facility_ref" and x.sentences[0].index in (si.index, si.index - 1)
            and x.sentences[0].sent.paragraph == si.sent.paragraph and x.salience == d.salience
            and x.sentences[0].start <= si.start]
    return prev[-1] if prev else None


_UNIT = re.compile(r"^\s*(?:[-–—№#]\s*)?(\d{1,2})\b")
_TANK = ("tank", "резервуар", "ємніст", "емкост", "цистерн")
_OIL = ("refinery", "oil_depot", "oil_terminal", "oil_pumping_station")


def _unit(doc: Document, t: Target) -> str | None:
    """The number right after a type term ("CHP-6", "ТЕЦ-5", "блок №3")."""
    m = _UNIT.match(doc.text[t.end: t.end + 8])
    return m.group(1) if m else None


def _antecedent(d: Draft, named: list[Draft], doc: Document) -> Draft | None:
    t = d.target
    bg = d.salience == "background"
    power = ("thermal", "hydro", "nuclear", "renewable")
    unit = _unit(doc, t)
    tank = any(w in doc.text[t.start:t.end].lower() for w in _TANK)
    cands = []
    for n in named:
        f = n.target.facility
        if (n.salience == "background") != bg or f is None or _other_country(t, f):
            continue
        if unit is not None and unit not in " ".join(f.all_names()):
            continue  # "CHP-6 was also hit" after "CHP-5": another unit of the city's grid
        fam = type_family(f.type)
        if t.type in ("other_energy", "facility_ref"):
            ok_type = True
        elif t.type == "power_plant":
            ok_type = fam in power
        elif tank and f.type in _OIL:
            ok_type = True  # "tanks of oil products burned on the plant's grounds": part of the named refinery
        else:
            ok_type = fam == type_family(t.output_type)
        # "a substation at the Konakovo power plant", "на Каширській ГРЕС … влучили в
        # трансформаторну підстанцію": an unplaced asset in the named plant's sentence is part of it
        component = n.sentences[0] is d.sentences[0] and (t.region_code in (None, f.region_code) or "+lead-region" in t.rule)
        if not ok_type and not component:
            continue
        apposition = n.sentences[0] is d.sentences[0] and 0 <= t.start - n.target.end <= 40
        if t.generic and not (t.region_code in (None, f.region_code) or apposition):
            continue
        if not t.generic and t.region_code not in (None, f.region_code) and "+sentence-region" in t.rule:
            continue  # "refineries in Ryazan, Saratov and Samara regions" are not the Volgograd one
        cands.append(n)
    if not cands and bg and not t.generic and any(x.precision == "day" for x in d.sentences[0].dates):
        # "The plant has been hit repeatedly. On the night of Feb. 3, a drone attack caused a fire
        # at the refinery": an earlier strike on the one plant of that kind the report names
        same = {n.target.facility.id: n for n in named if n.target.facility is not None
                and type_family(n.target.facility.type) == type_family(t.output_type)
                and t.region_code in (None, n.target.facility.region_code)
                and not _other_country(t, n.target.facility)}
        return next(iter(same.values())) if len(same) == 1 else None
    if not cands:
        return None
    before = [n for n in cands if n.target.start <= t.start] or cands
    return before[-1]


_LABEL = re.compile(r"^\s*([^\W\d][^:.!?\n]{1,40}):\s")


def _label(si: SentenceInfo) -> str | None:
    """The place label opening a line of a regional digest ("Шосткинська громада:", "Kharkiv:")."""
    m = _LABEL.match(si.sent.text)
    return m.group(1).strip().lower() if m and len(m.group(1).split()) <= 4 else None


def _other_country(t: Target, f: Any) -> bool:
    """The term's own country (not one borrowed from the lead) differs from the facility's:
    Naftogaz's "production sites" are not Russia's Orenburg plant."""
    return t.country not in (None, f.country) and "+lead-region" not in t.rule and "+paragraph-region" not in t.rule


def _drop_subsumed(drafts: list[Draft]) -> list[Draft]:
    """A generic claim for a region yields to a specific one in that region
    (same salience), and a country-level claim to any regional one."""
    facility_regions: dict[tuple[Any, bool], list[tuple[float, float] | None]] = {}
    for d in drafts:
        if d.target.facility is not None or not d.target.generic:
            at = d.target.facility or d.target.place
            facility_regions.setdefault((d.target.region_code, d.salience == "background"), []).append(
                (at.lat, at.lon) if at is not None else None)
    named_families = {(d.target.region_code, type_family(d.target.facility.type), d.salience == "background")
                      for d in drafts if d.target.facility is not None}
    regional = {(d.target.country, d.salience == "background") for d in drafts if d.target.region_code}
    out = []
    for d in drafts:
        t = d.target
        bg = d.salience == "background"
        points = facility_regions.get((t.region_code, bg))
        label = _label(d.sentences[0])
        if label is not None and t.facility is None and t.type in GENERIC and all(
                _label(x.sentences[0]) not in (None, label) for x in drafts
                if x is not d and x.target.region_code == t.region_code and not x.target.generic):
            out.append(d)  # "Шосткинська громада: …" beside "Конотопська громада: … підстанцію": two places
            continue
        if t.facility is None and t.type in GENERIC and points is not None and (
                t.place is None or any(pt is None or haversine_km(pt[0], pt[1], t.place.lat, t.place.lon) < 30
                                       for pt in points)):
            continue  # unless it names a town of its own: "Харків: влучання в об'єкт енергетики" beside a substation elsewhere
        if t.facility is None and "+counted" not in t.rule and (t.region_code, type_family(t.output_type), bg) in named_families:
            continue  # "two refineries in Samara region" when both are named
        if t.facility is None and t.region_code is None and t.generic and any(k[1] == bg for k in regional) \
                and "+counted" not in t.rule \
                and not (any("+national" in r or r.startswith("national") for r in d.rules)
                         or any(s.has("national") for s in d.sentences)):
            continue  # "attacks on energy" beside the regions hit; but "Ukraine's energy system was hit" stays
        if t.facility is None and t.region_code is None and not t.generic and "+undisclosed" not in t.rule \
                and "+counted" not in t.rule and (
                (type_family(t.output_type), bg) in {(type_family(x.target.output_type), x.salience == "background")
                                                     for x in drafts if x.target.region_code or x.target.facility}):
            continue  # a national "refineries were hit" when specific refineries are named
        out.append(d)
    return out
