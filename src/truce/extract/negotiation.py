"""Negotiation and accusation claims.

A negotiation claim records talks about halting strikes on energy, their
parties, mediator, status (proposed … expired), topic and stated conditions
("no talks while Kursk is occupied"). An accusation claim records who
accused whom of a violation and, where the report names it, the strike it
means — linked to the strike claim from the same report.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from truce.extract.analysis import Document, SentenceInfo, Services
from truce.extract.context import ReportContext
from truce.extract.dates import to_iso
from truce.extract.events import lead_sentences
from truce.extract.targets import find_targets
from truce.records import Claim, Evidence, other_party

STATUS_PRIORITY = ("collapsed", "expired", "suspended", "violated_alleged", "in_force", "agreed",
                   "proposed", "under_negotiation")
_ACCUSE_STEMS = ("accus", "blam", "обвин", "звинуват")
_CONDITION_WORDS = ("until", "unless", "as long as", "while", "only if", "provided", "condition",
                    "поки", "доки", "доти", "за умови", "лише якщо", "тільки якщо", "пока", "до тех пор",
                    "при условии", "только если", "лишь если", "не може бути", "не может быть", "no talks", "не буде", "не будет")


# a party's own offer ("ready to extend the halt", "готова продовжити") rather than a proposal discussed
_OFFER_WORDS = ("ready to", "willing to", "prepared to", "offered to", "готов")


def _is_negotiation(si: SentenceInfo, doc_topic: bool) -> bool:
    talks = si.neg.get("talks")
    if not talks:
        return False
    if si.neg.get("topic") or si.neg.get("agreements"):
        return True
    return doc_topic and bool(si.neg.get("status") or si.neg.get("mediators"))


def _agreement_for(svc: Services, doc: Document, sents: list[SentenceInfo]) -> str | None:
    """The agreement the report's talks are about, from the loaded terms: the agreements it
    names (a phrase several share counts for each in part), the one current on the report's
    date first, then the most named, then the nearest in time; with none named, the one whose
    reporting period holds the report's date."""
    votes: dict[str, float] = {}
    for s in sents:
        by_span: dict[tuple[int, int], list[str]] = {}
        for m in s.neg.get("agreements", ()):
            by_span.setdefault((m.start, m.end), []).append(m.payload)
        for ids in by_span.values():
            for aid in ids:
                votes[aid] = votes.get(aid, 0.0) + 1.0 / len(ids)
    day = doc.pub.date.isoformat() if doc.pub.date is not None else None
    known = {a.id: a for a in svc.agreements}

    def distance(aid: str) -> int:
        a = known.get(aid)
        d = a.days_from_period(day) if a is not None and day is not None else None
        return d if d is not None else 10**6

    if votes:
        return min(sorted(votes), key=lambda k: (distance(k) != 0, -votes[k], distance(k)))
    current = [a.id for a in svc.agreements if day is not None and a.days_from_period(day) == 0]
    if not current:
        return None
    return max(current, key=lambda k: ((known[k].reporting_period() or ("", ""))[0], k))


def negotiation_claims(svc: Services, doc: Document, report_id: str, start_index: int,
                       ctx: ReportContext) -> list[Claim]:
    lead = ([doc.title_info] if doc.title_info else []) + lead_sentences(doc)
    doc_topic = any(s.neg.get("topic") or s.neg.get("agreements") for s in lead)
    sents = [s for s in doc.sentences if _is_negotiation(s, doc_topic)]
    title_neg = doc.title_info is not None and _is_negotiation(doc.title_info, True)
    if not sents:
        return []
    if not title_neg and len(sents) == 1 and not (sents[0].neg.get("agreements") or sents[0].neg.get("mediators")):
        return []  # one "talk" in a strike report ("not authorised to talk to the media") is no negotiation
    agreement = _agreement_for(svc, doc, sents + ([doc.title_info] if title_neg and doc.title_info else []))
    statuses: list[tuple[int, str, SentenceInfo]] = []
    for s in sents:
        offer_only = s.has("hypothetical")
        if offer_only and not any(m.payload == "proposed" for m in s.neg.get("status", ())):
            continue  # "if the Russians violate it …" asserts no status; "ready to extend it if …" is an offer
        for m in s.neg.get("status", ()):
            if not offer_only or m.payload == "proposed":
                statuses.append((STATUS_PRIORITY.index(m.payload), m.payload, s))
    # statuses said of the energy halt itself outrank those of a deal discussed alongside it
    # ("the Black Sea arrangements take effect only after sanctions are lifted")
    on_topic = [x for x in statuses if x[2].neg.get("topic") or x[2].neg.get("agreements")]
    # a deal concluded alongside on another subject ("the delegations also agreed on safe
    # navigation in the Black Sea") is a negotiation claim of its own, under no agreement id
    topical = any(x.neg.get("topic") or x.neg.get("agreements") for x in sents)
    side = next((x for x in statuses if topical and not (x[2].neg.get("topic") or x[2].neg.get("agreements"))
                 and x[1] == "agreed" and not x[2].recap and not x[2].has("threat", "negation")
                 and (x[2].neg.get("parties") or x[2].neg.get("mediators"))), None)
    statuses = on_topic or statuses
    # a status sentence counts as current unless a recap cue introduces it (a date such as
    # "the moratorium announced on 18 March" does not make the statement itself old)
    current = [x for x in statuses if not x[2].recap and not _long_ago(doc, x[2])] or statuses
    title_status = sorted((STATUS_PRIORITY.index(m.payload), m.payload) for m in doc.title_info.neg.get("status", ())) \
        if title_neg and doc.title_info is not None and not doc.title_info.has("hypothetical", "retraction") else []
    if current:
        current.sort(key=lambda x: (x[0], x[2].index))
        _, status, where = current[0]
    else:
        # no status word: the status the agreement's terms record on the report's date
        status, where = _status_on(svc, agreement, doc.pub.date) or "under_negotiation", sents[0]
    parties = sorted({m.payload for s in sents for m in s.neg.get("parties", ())})
    if agreement is not None or len(parties) < 2:
        parties = sorted(set(parties) | {"UA", "RU"}) if agreement else parties
    mediators = [m.payload for s in sents for m in s.neg.get("mediators", ())]
    terms = next((a for a in svc.agreements if a.id == agreement), None)
    principal = terms.mediators[0] if terms is not None and terms.mediators else None
    mediator = mediators[0] if mediators else principal
    if principal in mediators:
        mediator = principal
    conditions = tuple(dict.fromkeys(
        s.sent.text[:240] for s in sents
        if any(w in s.sent.text.lower() for w in _CONDITION_WORDS) and s.neg.get("status")))
    out = []
    # one status per report: "entered into force on 18 March" in a report of its expiry is history
    used: list[tuple[str, SentenceInfo]] = [(status, where)]
    # the headline's own status, when another one ranks first ("U.S. and Russia hold talks in
    # Riyadh" while a sentence alleges a violation): what the report is about
    if title_status and title_status[0][1] != status:
        st = title_status[0][1]
        used.append((st, next((x[2] for x in current if x[1] == st), sents[0])))
    # a new offer in a report about another status ("the moratorium has expired … Kyiv is
    # ready to extend it if Russia does the same") is a negotiation event of its own
    if status != "proposed":
        offer = next((x for x in current if x[1] == "proposed" and x[2] is not where and any(
            m.phrase.lower().startswith(_OFFER_WORDS) for m in x[2].neg.get("status", ()))), None)
        if offer is not None:
            used.append(("proposed", offer[2]))
    # an allegation that the agreement is being violated is a status claim of its own
    if all(u != "violated_alleged" for u, _ in used):
        viol = next((x for x in current if x[1] == "violated_alleged"), None)
        if viol is not None:
            used.append(("violated_alleged", viol[2]))
    if side is not None:
        used.append(("agreed", side[2]))
    for k, (st, s) in enumerate(used):
        own = side is not None and s is side[2] and k == len(used) - 1
        dm = next((d for d in s.dates if d.date is not None), None)
        date = dm.date if dm else (doc.pub.date if doc.pub.usable else None)
        evid = [s] + ([x for x in sents if x is not s][:2] if not own else [])
        evid.sort(key=lambda x: x.start)
        topic_s = s if s.neg.get("topic") else next((x for x in sents if x.neg.get("topic")), None)
        topic = _span_text(doc, topic_s, topic_s.neg["topic"][0]) if topic_s else "strikes on energy infrastructure"
        if own:
            topic = _after_status(doc, s)
        out.append(Claim(
            report_id=report_id, index=start_index + k, kind="negotiation", date=to_iso(date),
            date_precision=dm.precision if dm else ("day" if date else "unknown"),
            date_basis=dm.basis if dm else ("publication_date" if date else "unspecified"),
            salience="background" if s.recap else ("main" if k == 0 else "secondary"),
            parties=tuple(parties), mediator=mediator, status=st,
            topic=topic, conditions=() if own else conditions, agreement_id=None if own else agreement,
            evidence=tuple(Evidence(x.start, x.end, doc.text[x.start:x.end]) for x in evid),
            confidence=0.7 if agreement and not own else 0.5, extractor=ctx.extractor,
            rule=f"negotiation/{st}" + ("/other-subject" if own else ""), language=doc.lang))
    return out


def _long_ago(doc: Document, s: SentenceInfo) -> bool:
    """A status sentence whose days all lie months before the report is history ("the
    moratorium that Putin and Trump agreed on March 18" in an October analysis); weeks are
    not ("another violation of the moratorium announced on 18 March")."""
    days = [d.date for d in s.dates if d.date is not None and d.precision == "day"]
    return bool(days) and doc.pub.date is not None and all((doc.pub.date - d).days > 60 for d in days)


def _status_on(svc: Services, agreement: str | None, day: Any) -> str | None:
    terms = next((a for a in svc.agreements if a.id == agreement), None)
    if terms is None or day is None:
        return None
    past = [s for s in terms.statuses() if s["date"] <= day.isoformat()]
    return past[-1]["status"] if past else None


def _paragraph_before(doc: Document, si: SentenceInfo) -> list[SentenceInfo]:
    out = [s for s in doc.sentences[: si.index] if s.sent.paragraph == si.sent.paragraph]
    return list(reversed(out)) + ([doc.title_info] if doc.title_info is not None else [])


def _after_status(doc: Document, si: SentenceInfo) -> str:
    """What a deal on another subject is about: the sentence from its status word on
    ("agreed to ensure safe navigation in the Black Sea")."""
    m = next((m for m in si.neg.get("status", ()) if m.payload == "agreed"), None)
    a = m.span(si.tokens)[0] if m is not None else si.start
    return doc.text[a:si.end].strip().rstrip(".")[:160]


def _span_text(doc: Document, si: SentenceInfo, m: Any) -> str:
    a, b = m.span(si.tokens)
    return doc.text[a:b]


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
    starts = {t.tok_start for t in si.type_terms}
    found = [(si.tokens[m.start].start, m.payload) for m in si.neg.get("parties", ())
             if not any(m.end <= st <= m.end + 1 for st in starts)]
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
        cue_pos = si.tokens[(accuse or cues)[0].start].start
        parties = _parties_in(si)
        before = [p for pos, p in parties if pos < cue_pos]
        after = [p for pos, p in parties if pos > cue_pos]
        if accuse_type:
            accuser = before[-1] if before else None
            accused = next((p for p in after if p != accuser), None)
            if accused is None and not by_sentence.get(si.index):
                continue  # "accused Western countries of provocations": not an accusation between the parties
        else:
            complying = _complying(si)
            accused = before[-1] if before else (after[0] if after else None)
            if accused is not None and accused in complying:
                # "the Russian side observes the moratorium, and lists of violations go to Washington"
                accuser, accused = accused, other_party(accused)
            else:
                accuser = next((p for p in before[:-1] + after if p != accused), None)
        prev = doc.sentences[si.index - 1] if si.index > 0 else None
        # "… drones attacked the pumping station. This attack, carried out in violation …"
        in_prev = by_sentence.get(si.index - 1) if prev is not None and prev.sent.paragraph == si.sent.paragraph else None
        linked = by_sentence.get(si.index) or by_sentence.get(si.index + 1) or in_prev or []
        stated = {claims[i].attacker for i in linked if claims[i].attacker_basis == "stated" and claims[i].attacker}
        if accused is None and len(stated) == 1:
            accused = next(iter(stated))
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
            key = (accuser, accused, target.facility_id if target else None, target.region_code if target else None)
            if key in seen:
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
                language=doc.lang))
    out += _implicit_accusations(svc, doc, report_id, claims, out, ctx, tallies)
    return out


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
        if c.kind != "strike" or c.attacker_basis != "stated" or not c.attacker or c.salience == "background":
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
