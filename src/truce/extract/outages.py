"""Strikes told through their outages (docs/annotation.md, "outages").

Reports often tell a strike only by what it cut: "after the night's shelling
40,000 homes in the district lost power", "через російську атаку стався
блекаут у двох областях", "после атаки ВСУ в Белгороде пропал свет". When
the text ties an outage in a place to an attack, that place has a strike on
energy infrastructure (type ``other_energy`` unless the text names the
asset; the regional claim yields to a named asset there). An outage with no
stated cause, a schedule of planned outages, or a forecast is not.

The tie is read in the outage's own sentence (an attack, impact or debris
word, a weapon, or damage to an energy asset), or in the sentence next to it
in the same paragraph, or in the report's lead when the outage sentence is
part of it.
"""

from __future__ import annotations

from dataclasses import replace

from truce.extract.analysis import Document, SentenceInfo, Services, clause_bounds
from truce.extract.context import Draft, ReportContext
from truce.extract.events import attack_positions, lead_sentences
from truce.extract.targets import Target, resolve_place
from truce.records import Place
from truce.reference.gazetteer import haversine_km

CAUSES = ("attack", "impact", "debris")


def _causes(si: SentenceInfo, alert: bool = False) -> bool:
    """The sentence tells an attack (not a halted one, not a threat): the cause an outage is tied to.
    With ``alert``, air defence at work ("air raid alert, air defence active") counts too."""
    if si.has("negotiation_context", "threat", "hypothetical") and not si.has("impact", "debris"):
        return False
    return si.has(*CAUSES) or (alert and si.has("interception", "alert")) or bool(
        si.weapons and si.has("damage", "fire", "destroyed")) or bool(
        si.has("damage", "destroyed") and (si.type_terms or si.facility_names))


def _neighbours(doc: Document, si: SentenceInfo) -> list[SentenceInfo]:
    out = []
    for k in (si.index - 1, si.index + 1):
        if 0 <= k < len(doc.sentences):
            s = doc.sentences[k]
            if s.sent.paragraph == si.sent.paragraph and not s.background:
                out.append(s)
    return out


def tied_to_attack(doc: Document, si: SentenceInfo, lead: list[SentenceInfo]) -> str | None:
    """How the outage is tied to an attack: "sentence" (in the outage's own clause), "neighbour",
    "lead", or None."""
    at = si.tokens[si.cues["outage"][0].start].start
    a, b = clause_bounds(si, at)
    if _causes(si):
        if (a, b) == (si.start, si.end) or any(a <= p < b for p in attack_positions(si)):
            return "sentence"
        return None  # "…eight drones hit a compressor station, and between 10 and 14 April lines were disconnected"
    if any(_causes(s, alert=True) for s in _neighbours(doc, si)):
        return "neighbour"
    if si in lead and any(_causes(s, alert=True) for s in lead if s is not si):
        return "lead"
    return None


def _regions(svc: Services, si: SentenceInfo, ctx: ReportContext) -> list[tuple[str, str | None, Place | None]]:
    """(region code, country, place or None) of every place the outage sentence names."""
    out: list[tuple[str, str | None, Place | None]] = []
    seen: set[str] = set()
    for pm in si.places:
        p = pm.places[0] if pm.is_region else resolve_place(svc, pm, ctx.region_hint, ctx.country_hint)
        if p is None or (not pm.is_region and far_namesake(svc, p, ctx.region_hint)):
            continue
        code, place = p.region_code, (None if pm.is_region else p)
        if code and code not in seen:
            seen.add(code)
            out.append((code, p.country, place))
    return out


def _country(si: SentenceInfo) -> str | None:
    found = {p.places[0].country for p in si.places}
    return found.pop() if len(found) == 1 else None


def far_namesake(svc: Services, p: Place, hint: set[str]) -> bool:
    """A village resolved outside the report's one region and far from it ("посёлок Дубовое" in a
    Belgorod governor's post is not Dubove in Zakarpattia): a namesake, not the place meant."""
    if len(hint) != 1 or p.region_code in hint or p.kind == "region" or p.population >= 50_000:
        return False
    reg = svc.gazetteer.region(next(iter(hint)))
    return reg is not None and haversine_km(reg.lat, reg.lon, p.lat, p.lon) > 250


def outage_drafts(svc: Services, doc: Document, ctx: ReportContext, war: bool) -> list[Draft]:
    """Drafts for the places whose outages the report ties to an attack."""
    if not war:
        return []
    lead = ([doc.title_info] if doc.title_info else []) + lead_sentences(doc)
    drafts: list[Draft] = []
    for si in doc.sentences:
        if not si.has("outage") or si.background or si.summary:
            continue
        if si.has("threat", "hypothetical", "negation", "repair") and not si.has(*CAUSES):
            continue  # "may be left without power", "no outages", "power restored after …"
        if si.has("schedule") and not si.has(*CAUSES):
            continue  # outage schedules are not strikes
        tie = tied_to_attack(doc, si, lead)
        if tie is None:
            continue
        cue = si.cues["outage"][0]
        a, b = cue.span(si.tokens)
        # "без світла через удар по енергооб'єкту в сусідній області": the strike was elsewhere
        places: list[tuple[str, str | None, Place | None]] = (
            _regions(svc, si, ctx) if not si.has("elsewhere") else [("", ctx.country_hint or _country(si), None)])
        national = ""
        if not places:
            t = Target(si, a, b, "other_energy", rule="outage-told")
            # "In Ukraine, … emergency outages are introduced": the country's, not the lead's region
            t = replace(t, country=si.countries[0]) if si.country_located() else ctx.place_target(t, si)
            if t.region_code is None and not (si.has("national") or si.country_located()):
                continue  # an outage with no place: part of the national picture at most
            country = t.country or (si.countries[0] if len(set(si.countries)) == 1 else None)
            places = [(t.region_code, t.country, t.place)] if t.region_code else [("", country, None)]
            national = "" if t.region_code else "+national"  # "In Ukraine, … emergency outages": the country's
        # "power outages at a substation": the asset the sentence names, else unnamed energy infrastructure
        kinds = {tt.type for tt in si.type_terms if tt.type != "power_plant"}
        kind = kinds.pop() if len(kinds) == 1 else "other_energy"
        for code, country, place in places:
            rule = "outage-told" + national + ("" if tie == "sentence" else f"+{tie}")
            t = Target(si, a, b, kind, None, place, code or None, country, rule=rule,
                       confidence=0.6 if tie == "sentence" else 0.5)
            date, basis = ctx.date_for(si, a)
            attacker, abasis = ctx.attacker_for(si, t)
            drafts.append(Draft(
                target=t, sentences=[si], salience="main", date=date, date_basis=basis, outcome="hit",
                attacker=attacker, attacker_basis=abasis, acknowledged_by=ctx.acknowledged_for(si, attacker),
                weapon=ctx.weapon_for(si), hedged=ctx.hedged(si), denies=False, retracted=False,
                rules=[t.rule], confidence=t.confidence))
    return drafts


def national_drafts(svc: Services, doc: Document, ctx: ReportContext, war: bool, existing: list[Draft]) -> list[Draft]:
    """A country-level statement with no asset named in it ("strikes hit eight oblasts", "удари по
    всій Україні") in a report about strikes on energy: one country-level event on unnamed
    energy infrastructure (docs/annotation.md, mass strikes)."""
    if not war or not any(d.salience == "main" for d in existing) and not any(s.type_terms for s in doc.sentences):
        return []
    out: list[Draft] = []
    for si in doc.sentences:
        if si.background or si.summary or si.type_terms or si.facility_names or si.places:
            continue
        if not (si.has("regions_count") and si.has(*CAUSES)):
            continue
        if si.has("threat", "hypothetical", "negation", "negotiation_context"):
            continue
        m = si.cues["regions_count"][0]
        a, b = m.span(si.tokens)
        country = ctx.country_hint or (si.countries[0] if len(set(si.countries)) == 1 else None)
        if country is None:
            country = next((d.target.country for d in existing if d.target.country), None)
        t = Target(si, a, b, "other_energy", None, None, None, country, rule="national-count", confidence=0.5)
        date, basis = ctx.date_for(si, a)
        attacker, abasis = ctx.attacker_for(si, t)
        out.append(Draft(target=t, sentences=[si], salience="main", date=date, date_basis=basis, outcome="hit",
                         attacker=attacker, attacker_basis=abasis, acknowledged_by=ctx.acknowledged_for(si, attacker),
                         weapon=ctx.weapon_for(si), hedged=ctx.hedged(si), denies=False, retracted=False,
                         rules=[t.rule], confidence=0.5))
    return out
