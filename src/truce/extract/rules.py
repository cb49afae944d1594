"""The rule extractor: strike and interception claims from analysed sentences.

Reading order for one report:

1. mark background sentences (recaps: "Recall", "Нагадаємо", "Ранее", and
   dates well before the report's main date);
2. find energy targets per sentence (:mod:`truce.extract.targets`);
3. keep a target only where the sentence (or its paragraph) reports an
   attack, damage, fire or debris, and not only a threat, a denial, or a
   list of interceptions;
4. attach date, attacker (stated, else inferred — never mixed), the
   acknowledging party, weapon, outcome and effects;
5. merge mentions of one target into one claim with all its evidence;
6. add interception claims, then negotiation and accusation claims
   (:mod:`truce.extract.negotiation`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from truce.extract.analysis import Document, SentenceInfo, Services, analyse
from truce.extract.context import Draft, ReportContext, country_from
from truce.extract.dates import DateMention, to_iso
from truce.extract.effects import effects_for
from truce.extract.accusations import accusation_claims
from truce.extract.negotiation import negotiation_claims
from truce.extract.outages import national_drafts, outage_drafts
from truce.extract.events import (HIT_CUES, attack_aimed_elsewhere, attacked_elsewhere_only, continuation, damage_next,
                                  attacked_regions, denies, economy_report, tells_attack, timed,
                                  event_decision, lead_sentences, main_date, mark_background, stale, told_then_labelled)
from truce.extract.targets import GENERIC, Target, find_targets
from truce.reference.gazetteer import haversine_km
from truce.records import Claim, Evidence, Place, Report, other_party
from truce.text import TextView
from truce.reference.registry import type_family

RULES_VERSION = "0.1.0"
EXTRACTOR_ID = f"rules/{RULES_VERSION}"


class RuleExtractor:
    """Deterministic, offline; the rule that fired is recorded on each claim."""

    name = "rules"
    version = RULES_VERSION

    def __init__(self, services: Services):
        self.svc = services

    @property
    def id(self) -> str:
        return EXTRACTOR_ID

    def extract(self, report: Report) -> list[Claim]:
        src = self.svc.sources.match(report.source, report.url) if self.svc.sources is not None else None
        # read a normalised view of the text; evidence is mapped back onto the text as given
        view = TextView.of(report.text)
        doc = analyse(self.svc, report.external_id, view.text, title=report.title,
                      published=report.published, language=report.language,
                      house_assets=src.assets if src is not None and src.kind == "operator" else None)
        claims = self.extract_document(doc, report.id, report.affiliation, src.region if src else None)
        return [on_original(c, view) for c in claims]

    def extract_document(self, doc: Document, report_id: str, affiliation: str | None = None,
                         source_region: str | None = None) -> list[Claim]:
        main = main_date(doc)
        mark_background(doc, main)
        context = ReportContext(doc, self.svc, main, affiliation, source_region, EXTRACTOR_ID)
        war = at_war(doc)
        drafts = self._drop_denied(self._strike_drafts(doc, context, war), doc)
        drafts += outage_drafts(self.svc, doc, context, war)
        drafts += national_drafts(self.svc, doc, context, war, drafts)
        events = [d for d in drafts if not d.tally]
        claims = _assemble(events, doc, report_id, main)
        # tallies are no strike claims of their own, but in a report about the
        # talks they carry an allegation ("since then, 20 strikes on energy in …")
        tallies = _assemble([d for d in drafts if d.tally], doc, report_id, main)
        claims += _interceptions(doc, context, report_id, len(claims), bool(events))
        claims += negotiation_claims(self.svc, doc, report_id, len(claims), context)
        claims += accusation_claims(self.svc, doc, report_id, claims, context, tallies)
        return claims

    # --- strikes -------------------------------------------------------------------

    def _drop_denied(self, drafts: list[Draft], doc: Document) -> list[Draft]:
        """A hedged claim ("Telegram channels claimed the Ryazan power station was hit") that
        the report itself later denies ("The plant was not hit"; "the station was operating
        normally") is no event; an unhedged one stays, to be graded contested."""
        out = []
        for d in drafts:
            f = d.target.facility
            if f is not None and d.sentences[0].has("hedge") and any(
                    s.index > d.sentences[0].index and denies(s, f) for s in doc.sentences):
                continue
            out.append(d)
        return out

    def _strike_drafts(self, doc: Document, ctx: ReportContext, war: bool) -> list[Draft]:
        drafts: list[Draft] = []
        # an official cause other than an attack ("a contractor's welding", "не пов'язана з атакою")
        # makes damage without an attack word of its own an accident, whatever the report recalls
        accident = any(s.has("accident") for s in [*doc.sentences, *([doc.title_info] if doc.title_info else [])])
        economy = economy_report(doc)
        lead = lead_sentences(doc)
        attacked = attacked_regions(doc)
        for si in doc.sentences:
            targets = find_targets(self.svc, doc, si, ctx.region_hint, ctx.country_hint)
            if not targets:
                continue
            kinds = {t.type for t in targets if t.facility is None}
            if len(kinds) >= 3 and not si.places and not si.facility_names:
                continue  # a list of asset classes ("refineries, pipelines, power plants …"), not an event
            decision = event_decision(doc, si)
            follow_on = damage_next(doc, si) if decision is None and war else None
            if follow_on is not None:
                # "Near Andreapol lies the Andreapol pumping station … One of its tanks was on fire."
                decision = ("hit", "next-sentence-damage")
            if decision is None:
                continue
            if not war and not si.has("attack"):
                continue  # "storm damage to distribution networks"
            if accident and not si.has("attack", "debris", "interception") and not si.weapons:
                continue  # "a fire in a tank during repair works killed two"
            tally = stale(doc, si)
            if tally and not si.has("attack"):
                continue
            outcome, rule = decision
            neg_ctx = si.has("negotiation_context") and not si.has("accusation")
            for t in targets:
                if t.generic and neg_ctx and not si.has("damage", "fire", "destroyed", "debris"):
                    continue
                if si.summary and t.generic:
                    continue  # "Russia has repeatedly targeted energy facilities in Sumy Oblast"
                if rule == "attack+denial" and t.generic and not (si.has("interception") and si.regions()):
                    continue  # "no new damage to energy facilities from enemy attacks was recorded" (but
                    # "на Львівщині ППО збили дрони на підльоті до енергооб'єкта — пошкоджень немає" is an attempt)
                if outcome != "hit" and attack_aimed_elsewhere(si, t):
                    continue  # "plants cut output because of the attacks on the grid; none was hit"
                if si.has("accusation") and t.facility is None and not si.has(*HIT_CUES) and not told_then_labelled(si):
                    continue  # "accused Kyiv of attacks on energy in Bryansk and Kursk regions": an accusation
                if t.generic and si.has("negotiation_context") and t.region_code is None \
                        and not ("+national" in t.rule and si.has("accusation")):
                    continue  # but "broke the truce by striking Ukraine's energy system" is a strike
                if attacked_elsewhere_only(si, t):
                    continue  # "a drone fell on the depot in Voronezh region, while in Perm Krai tanks burned"
                t = ctx.place_target(t, si)
                if attacked and t.region_code and t.region_code not in attacked and not tells_attack(si) \
                        and not si.has("damage", "destroyed"):
                    continue  # "another fire broke out at a depot in Perm Krai": no attack there is told
                if t.generic and t.facility is None and t.region_code is None:
                    # a country-level event needs a day ("overnight", "on Wednesday"), a count of regions,
                    # or a national statement in the lead; "attacks have intensified since March",
                    # "grids damaged by shelling need repairs" and a trade story's background are none
                    national = "+national" in t.rule or si.has("national")
                    if economy or not (timed(si) or si.has("regions_count") or (national and si in lead)):
                        continue
                follow = [follow_on] if follow_on is not None else continuation(doc, si)
                if t.generic and t.region_code is None and not (
                        si.has(*HIT_CUES) or any(d.date for d in si.dates) or follow):
                    continue  # "attacks on energy" in general, not an event ("… Є пошкодження обладнання" is one)
                if t.facility is None and neg_ctx and not any(d.date for d in si.dates):
                    continue  # "Kyiv has struck Russian refineries" in a story about talks
                if t.facility is None and t.region_code is None and rule == "attack-cue" \
                        and not any(d.date for d in si.dates) and not follow:
                    continue  # "Kyiv has responded with drone strikes on Russian refineries": nothing placed, dated or hit
                date, basis = ctx.date_for(si, t.start) if not tally else (None, "unspecified")
                attacker, abasis = ctx.attacker_for(si, t)
                if t.country is None and abasis == "stated":
                    t = replace(t, country=other_party(attacker))
                if follow and outcome != "attempted":
                    outcome = "hit"
                drafts.append(Draft(
                    target=t, sentences=[si, *follow], salience="background" if si.background else "main",
                    date=date, date_basis=basis, outcome=outcome, attacker=attacker,
                    attacker_basis=abasis, acknowledged_by=ctx.acknowledged_for(si, attacker),
                    weapon=ctx.weapon_for(si), hedged=ctx.hedged(si), denies=False,
                    retracted=bool(si.cues.get("retraction")), rules=[f"{t.rule}/{rule}" + ("+tally" if tally else "")],
                    confidence=t.confidence, tally=tally))
        return drafts


def at_war(doc: Document) -> bool:
    """The report tells an attack somewhere (an attack or interception word, or a weapon) in a
    sentence that is not about a cause ruled out, a summary or the past: damage in a report
    without one is a storm's, a fault's or an accident's."""
    return any((s.has("attack", "interception") or s.weapons) and not s.has("unrelated", "past", "accident")
               and not s.summary for s in [*doc.sentences, *([doc.title_info] if doc.title_info else [])])


def _assemble(drafts: list[Draft], doc: Document, report_id: str, main: DateMention | None) -> list[Claim]:
    """Merge drafts about one target (and one salience/date) into claims."""
    groups: dict[tuple[Any, ...], list[Draft]] = {}
    drafts = _resolve_anaphora(drafts)
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
        groups.setdefault((d.target.key(), d.salience == "background", day), []).append(d)
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
    merged = _drop_subsumed(merged)
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
            evidence=tuple(Evidence(s.start, s.end, doc.text[s.start:s.end]) for s in d.sentences),
            confidence=round(max(0.05, min(0.99, conf)), 2), extractor=EXTRACTOR_ID,
            rule=";".join(d.rules), language=doc.lang))
    return claims


def _resolve_anaphora(drafts: list[Draft]) -> list[Draft]:
    """"the refinery", "the plant", "the station" after a named facility: an
    unplaced type term of the same family is the facility already named (the
    nearest before it). A generic term ("energy facility", "power plant") is
    the named facility only when it has no region of its own, shares the
    facility's region, or stands in apposition to the name ("Trypillia TPP,
    the largest power plant supplying Kyiv, Cherkasy and Zhytomyr oblasts")."""
    named = [d for d in drafts if d.target.facility is not None]
    if not named:
        return drafts
    out: list[Draft] = []
    for d in drafts:
        t = d.target
        # an undisclosed site ("two of its plants were damaged, without saying where") is not the one named
        # a town's outage is the town's, and "Ukraine's power plants" are the country's, not a plant's named nearby
        if t.facility is None and "type-term+place" not in t.rule and "+undisclosed" not in t.rule \
                and "+national" not in t.rule and not t.rule.startswith(("outage-told", "national")):
            host = _antecedent(d, named)
            if host is not None:
                d = replace(d, target=host.target, rules=[r + "+anaphora" for r in d.rules])
        out.append(d)
    return out


def _antecedent(d: Draft, named: list[Draft]) -> Draft | None:
    t = d.target
    bg = d.salience == "background"
    power = ("thermal", "hydro", "nuclear", "renewable")
    cands = []
    for n in named:
        f = n.target.facility
        if (n.salience == "background") != bg or f is None or _other_country(t, f):
            continue
        fam = type_family(f.type)
        if t.type == "other_energy":
            ok_type = True
        elif t.type == "power_plant":
            ok_type = fam in power
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
        if t.facility is None and (t.region_code, type_family(t.output_type), bg) in named_families:
            continue  # "two refineries in Samara region" when both are named
        if t.facility is None and t.region_code is None and t.generic and any(k[1] == bg for k in regional) \
                and not ("+national" in t.rule or t.rule.startswith("national") or any(s.has("national") for s in d.sentences)):
            continue  # "attacks on energy" beside the regions hit; but "Ukraine's energy system was hit" stays
        if t.facility is None and t.region_code is None and not t.generic and "+undisclosed" not in t.rule and (
                (type_family(t.output_type), bg) in {(type_family(x.target.output_type), x.salience == "background")
                                                     for x in drafts if x.target.region_code or x.target.facility}):
            continue  # a national "refineries were hit" when specific refineries are named
        out.append(d)
    return out


def _interceptions(doc: Document, ctx: ReportContext, report_id: str, start_index: int, had_strikes: bool) -> list[Claim]:
    """Interception-only reports ("air defence destroyed 47 drones over …"): one claim per region."""
    out: list[Claim] = []
    seen: set[str | None] = set()
    for si in doc.sentences:
        if si.background or not si.cues.get("interception") or si.has("fire", "debris") or si.type_terms or si.facility_names:
            continue
        if not si.weapons and not any(d for d in (ctx.lead or []) for _ in d.weapons):
            continue
        regs: list[Place | None] = [p.places[0] for p in si.places if p.is_region]
        date, basis = ctx.date_for(si)
        day = date.date if date is not None else (doc.pub.date if doc.pub.usable else None)
        for reg in regs or [None]:
            code = reg.region_code if reg is not None else None
            if code in seen:
                continue
            seen.add(code)
            out.append(Claim(
                report_id=report_id, index=start_index + len(out), kind="interception", date=to_iso(day),
                date_precision="day" if day else "unknown", date_basis=basis if date else "publication_date",
                country=reg.country if reg is not None else country_from(si) or ctx.country_hint,
                region_code=code, location_precision="region" if code else "country",
                weapon=ctx.weapon_for(si), outcome="attempted", salience="main" if not had_strikes else "secondary",
                evidence=(Evidence(si.start, si.end, doc.text[si.start:si.end]),), confidence=0.7,
                extractor=EXTRACTOR_ID, rule="interception-cue", language=doc.lang))
    return out


def on_original(c: Claim, view: TextView) -> Claim:
    """The claim with its evidence offsets and quotes on the text as given."""
    if view.text is view.original:
        return c
    ev = []
    for e in c.evidence:
        a, b = view.span(e.start, e.end)
        ev.append(Evidence(a, b, view.original[a:b]))
    return replace(c, evidence=tuple(ev))
