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

from dataclasses import replace

from truce.extract.analysis import Document, SentenceInfo, Services, analyse
from truce.extract.context import Draft, ReportContext, country_from
from truce.extract.dates import to_iso
from truce.extract.accusations import accusation_claims
from truce.extract.assemble import assemble
from truce.extract.negotiation import negotiation_claims
from truce.extract.outages import national_drafts, outage_drafts
from truce.extract.events import (HIT_CUES, attack_aimed_elsewhere, attacked_elsewhere_only, continuation, damage_next,
                                  attacked_regions, denial_of, denies, economy_report, tells_attack, timed,
                                  event_decision, lead_sentences, main_date, mark_background, stale, told_then_labelled)
from truce.extract.targets import Target, find_targets
from truce.records import Claim, Evidence, Place, Report, other_party
from truce.text import TextView

RULES_VERSION = "0.2.0"  # 0.2: real-reporting conventions (issue #10)
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
        claims = assemble(events, doc, report_id, main, EXTRACTOR_ID, self._headline(doc, context))
        # tallies are no strike claims of their own, but in a report about the
        # talks they carry an allegation ("since then, 20 strikes on energy in …")
        tallies = assemble([d for d in drafts if d.tally], doc, report_id, main, EXTRACTOR_ID)
        claims += _interceptions(doc, context, report_id, len(claims), bool(events))
        claims += negotiation_claims(self.svc, doc, report_id, len(claims), context)
        claims += accusation_claims(self.svc, doc, report_id, claims, context, tallies)
        return claims

    # --- strikes -------------------------------------------------------------------

    def _denials(self, doc: Document, ctx: ReportContext, si: SentenceInfo, targets: list[Target],
                 denied: str) -> list[Draft]:
        """Counter-claims: the targets a denying sentence names ("rejects the claims that Ukrainian forces
        attacked energy facilities in Bryansk region") with what is denied. They join the strike they
        deny in fusion and never stand as an event of their own."""
        out = []
        for t in targets:
            if t.type == "facility_ref" or (t.generic and t.region_code is None and t.facility is None):
                continue  # "Moscow denies targeting civilians": nothing placed to deny
            t = ctx.place_target(t, si)
            date, basis = ctx.date_for(si, t.start)
            attacker, abasis = ctx.attacker_for(si, t)
            out.append(Draft(target=t, sentences=[si], salience="background" if si.background else "main", date=date,
                             date_basis=basis, outcome="unknown", attacker=attacker, attacker_basis=abasis,
                             acknowledged_by=None, weapon=ctx.weapon_for(si), hedged=ctx.hedged(si), denies=True,
                             retracted=False, rules=[f"{t.rule}/denial-of-{denied}"], confidence=0.5, denied=denied))
        return out

    def _headline(self, doc: Document, ctx: ReportContext) -> list[Draft]:
        """Facilities the headline names: antecedents for "the plant" in a text that names none."""
        if doc.title_info is None or not doc.title_info.facility_names:
            return []
        out = []
        for t in find_targets(self.svc, doc, doc.title_info, ctx.region_hint, ctx.country_hint):
            if t.facility is not None:
                out.append(Draft(target=t, sentences=[doc.title_info], salience="main", date=None, date_basis="unspecified",
                                 outcome="unknown", attacker=None, attacker_basis=None, acknowledged_by=None, weapon=None,
                                 hedged=False, denies=False, retracted=False))
        return out

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
            denied = denial_of(doc, si)
            if denied is not None:
                drafts += self._denials(doc, ctx, si, targets, denied)
                continue
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
                if t.generic and t.facility is None and t.region_code is None and "+counted" not in t.rule:
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
    return any((s.has("attack", "interception", "alert") or s.weapons) and not s.has("unrelated", "past", "accident")
               and not s.summary for s in [*doc.sentences, *([doc.title_info] if doc.title_info else [])])


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
