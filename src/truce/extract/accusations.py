"""Accusation claims: who accused whom of violating a halt to strikes on energy
and, where the report names it, the strike meant, linked to the strike claim
from the same report. "The sides accused each other" is two accusations; a
strike one side attributes to the other while a halt is in force is an
allegation of violation of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from truce.extract.analysis import Document, SentenceInfo, Services
from truce.extract.context import ReportContext
from truce.extract.dates import to_iso
from truce.extract.targets import find_targets
from truce.records import Claim, Evidence, other_party

_ACCUSE_STEMS = ("accus", "blam", "обвин", "звинуват")


def _paragraph_before(doc: Document, si: SentenceInfo) -> list[SentenceInfo]:
    out = [s for s in doc.sentences[: si.index] if s.sent.paragraph == si.sent.paragraph]
    return list(reversed(out)) + ([doc.title_info] if doc.title_info is not None else [])


def _complying(si: SentenceInfo) -> set[str]:
    """Parties the sentence says comply ("российская сторона соблюдает мораторий")."""
    verbs = [m.start for m in si.cues.get("compliance", ())]
    out = set()
    for m in si.neg.get("parties", ()):
        if any(m.end <= v <= m.end + 2 for v in verbs):
            out.add(m.payload)
    return out


def _parties_in(si: SentenceInfo) -> list[tuple[int, str]]:
    """Parties named as actors; "Russian" in "Russian energy infrastructure" names a target's country."""
    # a type term starting right after the party, or one token on: "Russian energy infrastructure"
    near = {k for t in si.type_terms for k in (t.tok_start, t.tok_start - 1)}
    found = [(si.tokens[m.start].start, m.payload) for m in si.neg.get("parties", ()) if m.end not in near]
    found += si.attackers
    return sorted(set(found))


def accusation_claims(svc: Services, doc: Document, report_id: str, claims: list[Claim],
                      ctx: ReportContext, tallies: Sequence[Claim] = ()) -> list[Claim]:
    """Accusations, linked to the report's strike claims; updates linked strikes'
    attacker to "stated" (the accusation states it) in place of an inference."""
    out: list[Claim] = []
    seen: set[tuple[Any, ...]] = set()
    by_sentence: dict[int, list[int]] = {}
    for i, c in enumerate(claims):
        if c.kind == "strike":
            for e in c.evidence:
                for s in doc.sentences:
                    if s.start <= e.start < s.end:
                        by_sentence.setdefault(s.index, []).append(i)
    halt = halt_in_view(svc, doc)
    for si in doc.sentences:
        cues = si.cues.get("accusation") or []
        if not cues:
            continue
        accuse = [m for m in cues if si.tokens[m.start].norm.startswith(_ACCUSE_STEMS)]
        accuse_type = bool(accuse)
        if not accuse_type and not (si.has("negotiation_context") or si.neg.get("talks")):
            continue  # "нарушена работа" is a disruption, not an accusation
        if not accuse_type and si.has("hypothetical"):
            continue  # "Kyiv would regard any movement of warships as a violation": a red line, not a charge
        if accuse_type and not (halt or si.has("negotiation_context") or si.neg.get("agreements")):
            continue  # "accused Russia of attacks on cities": a charge of war, not of breaking a halt
        cue_pos = si.tokens[(accuse or cues)[0].start].start
        parties = _parties_in(si)
        before = [p for pos, p in parties if pos < cue_pos]
        after = [p for pos, p in parties if pos > cue_pos]
        if si.has("mutual") and len({p for _, p in parties}) == 2:
            # "Ukraine and Russia accused one another of flouting the truce": two charges
            for side in sorted({p for _, p in parties}):
                _add_generic(out, seen, si, doc, report_id, claims, ctx, side, other_party(side) or "")
            continue
        speech = [si.tokens[m.start].start for m in si.cues.get("speech", ()) if si.tokens[m.start].start < cue_pos]
        accuser: str | None
        accused: str | None
        if accuse_type:
            accuser = before[-1] if before else None
            accused = next((p for p in after if p != accuser), None)
            if accused is None and not by_sentence.get(si.index):
                continue  # "accused Western countries of provocations": not an accusation between the parties
            if accuser is None and si.has("third_party"):
                continue  # "Hungary's foreign minister accused Ukraine": not a charge between the parties
        elif speech and any(pos < speech[-1] for pos, _ in parties):
            # "Moscow again highlights Kiev's violation", "российская сторона расценила это как нарушение":
            # the one who speaks accuses; a party named after the verb of saying is the accused
            accuser = next(p for pos, p in reversed(parties) if pos < speech[-1])
            accused = next((p for pos, p in parties if speech[-1] < pos < cue_pos and p != accuser), None) \
                or other_party(accuser)
        else:
            complying = _complying(si)
            accused = before[-1] if before else (after[0] if after else None)
            if accused is not None and accused in complying:
                # "our side observes the pause, and lists of violations go to the mediator"
                accuser, accused = accused, other_party(accused)
            else:
                accuser = next((p for p in before[:-1] + after if p != accused), None)
        prev = doc.sentences[si.index - 1] if si.index > 0 else None
        # "… drones attacked the pumping station. This attack, carried out in violation …"
        in_prev = by_sentence.get(si.index - 1) if prev is not None and prev.sent.paragraph == si.sent.paragraph else None
        linked = by_sentence.get(si.index) or by_sentence.get(si.index + 1) or in_prev or []
        if si.has("sum_up"):
            # "three such violations: … in Mykolaiv region …, near Kherson …, in Poltava region. All this
            # is a violation": every current strike of the paragraph is charged
            linked = list(dict.fromkeys(i for k, ids in sorted(by_sentence.items())
                                        if doc.sentences[k].sent.paragraph == si.sent.paragraph
                                        for i in ids if claims[i].salience != "background")) or linked
        stated = {claims[i].attacker for i in linked if claims[i].attacker_basis == "stated" and claims[i].attacker}
        if accused is None and len(stated) == 1:
            accused = next(iter(stated))
        if accuser is None and accused is None and out:
            # "All this is considered a violation": the charge the report has been making
            accuser, accused = out[-1].accuser, out[-1].accused
        if accuser is None and accused is None:
            # "…an outright violation of the moratorium," the ministry said: the
            # speaker is the report's side, the accused its adversary
            ctx_parties = [p for s in _paragraph_before(doc, si) for _, p in _parties_in(s)]
            speaker = ctx.affiliation if ctx.affiliation in ("UA", "RU") else (ctx_parties[0] if ctx_parties else None)
            accuser, accused = speaker, other_party(speaker)
        if accused is None and accuser is not None:
            accused = other_party(accuser)
        if accuser is None and accused is not None:
            accuser = other_party(accused)
        if accuser is None or accused is None or accuser == accused:
            continue
        targets: list[Claim] = []
        for i in linked:
            t = claims[i]
            if t.attacker_basis != "stated":
                claims[i] = t = replace(t, attacker=accused, attacker_basis="stated",
                                        rule=t.rule + ";attacker-from-accusation")
            if t.attacker == accused:
                targets.append(t)
        if not linked and not (si.has("threat", "hypothetical") and not si.has("damage", "destroyed", "fire", "impact")):
            ts = [t for t in find_targets(svc, doc, si, ctx.region_hint, ctx.country_hint) if t.region_code or t.facility]
            for found in ts[:3]:
                tg = ctx.place_target(found, si)
                targets.append(Claim(report_id=report_id, index=-1, kind="strike", country=tg.country,
                                     region_code=tg.region_code, facility_id=tg.facility.id if tg.facility else None,
                                     facility_name=tg.facility.name if tg.facility else doc.text[tg.start:tg.end],
                                     facility_type=tg.output_type))
        dm = next((d for d in si.dates if d.date is not None), None)
        options: list[Claim | None] = list(targets) or [None]
        for target in options:
            # a charge with no target counts once per day it names ("began violating it on Friday night …
            # and broke it for good tonight" are two)
            day = (to_iso(dm.date) if dm and dm.date else None) if target is None else None
            key = (accuser, accused, target.facility_id if target else None, target.region_code if target else None, day)
            if key in seen or (target is None and (accuser, accused, None, None, None) in seen and day is None):
                continue
            seen.add(key)
            date = (target.date if target is not None and target.date else None) or (to_iso(dm.date) if dm else None) \
                or (to_iso(doc.pub.date) if doc.pub.usable else None)
            out.append(Claim(
                report_id=report_id, index=len(claims) + len(out), kind="accusation", date=date,
                date_precision="day" if date else "unknown",
                date_basis=(target.date_basis if target is not None and target.date else ("explicit" if dm else "publication_date")),
                country=target.country if target else None, region_code=target.region_code if target else None,
                facility_id=target.facility_id if target else None,
                facility_name=target.facility_name if target else None,
                facility_type=target.facility_type if target else None,
                accuser=accuser, accused=accused,
                linked_claim=target.index if target is not None and target.index >= 0 else None,
                salience="background" if si.background else ("main" if si.index <= 1 else "secondary"),
                evidence=(Evidence(si.start, si.end, doc.text[si.start:si.end]),),
                confidence=0.7 if target else 0.55, extractor=ctx.extractor, rule="accusation",
                language=doc.lang,
                # "Ukraine rejects Moscow's claims that it attacked …": the charge the report denies
                stance="denies" if si.has("denial") else "asserts", denied="strike" if si.has("denial") else None))
    out += _implicit_accusations(svc, doc, report_id, claims, out, ctx, tallies)
    return out


def halt_in_view(svc: Services, doc: Document) -> bool:
    """The report is about a halt to strikes: it speaks of talks or a truce, names an agreement,
    or was published while one was in force. Only then is a charge a charge of violating one."""
    heads = [*([doc.title_info] if doc.title_info else []), *doc.sentences]
    if any(s.has("negotiation_context") or s.neg.get("agreements") for s in heads):
        return True
    day = doc.pub.date.isoformat() if doc.pub.date is not None else None
    return day is not None and any(a.in_force_on(day) for a in svc.agreements)


def _add_generic(out: list[Claim], seen: set[tuple[Any, ...]], si: SentenceInfo, doc: Document, report_id: str,
                 claims: list[Claim], ctx: ReportContext, accuser: str, accused: str) -> None:
    """A charge that names no strike."""
    key = (accuser, accused, None, None, None)
    if not accused or key in seen:
        return
    seen.add(key)
    dm = next((d for d in si.dates if d.date is not None), None)
    date = to_iso(dm.date) if dm and dm.date else (to_iso(doc.pub.date) if doc.pub.usable else None)
    out.append(Claim(
        report_id=report_id, index=len(claims) + len(out), kind="accusation", date=date,
        date_precision="day" if date else "unknown", date_basis="explicit" if dm else "publication_date",
        accuser=accuser, accused=accused, salience="background" if si.background else ("main" if si.index <= 1 else "secondary"),
        evidence=(Evidence(si.start, si.end, doc.text[si.start:si.end]),), confidence=0.55, extractor=ctx.extractor,
        rule="accusation/mutual", language=doc.lang))


def _implicit_accusations(svc: Services, doc: Document, report_id: str, claims: list[Claim], found: list[Claim],
                          ctx: ReportContext, tallies: Sequence[Claim] = ()) -> list[Claim]:
    """In a report about the talks or the moratorium, a strike one side attributes to the
    other is an allegation of violation ("despite the announced pause, Russian drones hit
    energy in Donetsk region"; "Russia's MoD said Ukrainian drones attacked an oil depot"),
    unless the report is the attacker's own account of its strike."""
    talks = any(s.has("negotiation_context") or s.neg.get("agreements") for s in doc.sentences) or (
        doc.title_info is not None and (doc.title_info.has("negotiation_context") or bool(doc.title_info.neg.get("agreements"))))
    if not talks:
        return []
    have = {(c.accuser, c.accused, c.facility_id, c.region_code) for c in found}
    have_generic = {(c.accuser, c.accused) for c in found if c.region_code is None and c.facility_id is None}
    out: list[Claim] = []
    pub = doc.pub.date.isoformat() if doc.pub.date else None
    for c, tally in [*((c, False) for c in claims), *((c, True) for c in tallies)]:
        if c.kind != "strike" or c.attacker_basis != "stated" or not c.attacker or c.salience == "background" \
                or c.stance == "denies":
            continue
        day = c.date or pub
        if day is None or not any(a.in_force_on(day) for a in svc.agreements):
            continue  # no halt was in force that day: a strike, not a charge of violating one
        if c.acknowledged_by == c.attacker or ctx.affiliation == c.attacker:
            continue  # the attacker's own account is an acknowledgement, not an accusation
        accuser, accused = other_party(c.attacker), c.attacker
        key = (accuser, accused, c.facility_id, c.region_code)
        if key in have:
            continue
        have.add(key)
        generic = (accuser, accused) in have_generic
        out.append(Claim(
            report_id=report_id, index=len(claims) + len(found) + len(out), kind="accusation", date=c.date,
            date_precision=c.date_precision, date_basis=c.date_basis, country=c.country, region_code=c.region_code,
            facility_id=c.facility_id, facility_name=c.facility_name, facility_type=c.facility_type,
            accuser=accuser, accused=accused, linked_claim=None if tally else c.index,
            salience="secondary" if tally else c.salience, evidence=c.evidence[:1],
            confidence=0.5 if generic or tally else 0.6, extractor=ctx.extractor,
            rule="accusation/attributed-" + ("tally" if tally else "strike") + "-in-talks-context",
            language=doc.lang))
    return out
