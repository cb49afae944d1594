"""Negotiation claims: talks about halting strikes on energy, their parties,
mediator, status (proposed … expired), topic and stated conditions ("no
talks while Kursk is occupied"), linked to an agreement by the names its
terms declare and the report's date. Accusations are in
:mod:`truce.extract.accusations`.
"""

from __future__ import annotations

from typing import Any

from truce.extract.analysis import Document, SentenceInfo, Services
from truce.extract.context import ReportContext
from truce.extract.dates import to_iso
from truce.extract.events import lead_sentences
from truce.records import Claim, Evidence

STATUS_PRIORITY = ("collapsed", "expired", "suspended", "violated_alleged", "in_force", "agreed",
                   "proposed", "under_negotiation")
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
            if m.payload in ("suspended", "expired") and _halts_strikes(s, m):
                continue  # "asked him to suspend strikes on cities": what the halt is, not talks suspended
            if _cited(s, m):
                continue  # "under the agreements, the truce was to last a week": the terms, not a new status
            if m.payload == "agreed" and any(v.payload == "violated_alleged" and v.end <= m.start <= v.end + 1
                                             for v in s.neg.get("status", ())):
                continue  # "began violating the agreements": what is violated, not a deal concluded
            if not offer_only or m.payload == "proposed":
                statuses.append((STATUS_PRIORITY.index(m.payload), m.payload, s))
    # statuses said of the energy halt itself outrank those of a deal discussed alongside it
    # ("the Black Sea arrangements take effect only after sanctions are lifted")
    on_topic = [x for x in statuses if x[2].neg.get("topic") or x[2].neg.get("agreements") or not x[2].has("other_subject")]
    # a deal concluded alongside on another subject ("the delegations also agreed on safe
    # navigation in the Black Sea") is a negotiation claim of its own, under no agreement id
    topical = any(x.neg.get("topic") or x.neg.get("agreements") for x in sents)
    side = next((x for x in statuses if topical and not (x[2].neg.get("topic") or x[2].neg.get("agreements"))
                 and x[1] == "agreed" and not x[2].recap and not x[2].has("threat", "negation")
                 and x[2].has("other_subject") and (x[2].neg.get("parties") or x[2].neg.get("mediators"))), None)
    statuses = on_topic or statuses
    # a status sentence counts as current unless a recap cue introduces it (a date such as
    # "the pause announced on 9 June" does not make the statement itself old)
    current = [x for x in statuses if not x[2].recap and not _long_ago(doc, x[2])] or statuses
    title_status = sorted((STATUS_PRIORITY.index(m.payload), m.payload) for m in doc.title_info.neg.get("status", ())) \
        if title_neg and doc.title_info is not None and not doc.title_info.has("hypothetical", "retraction") else []
    if current:
        current.sort(key=lambda x: (x[0], x[2].index))
        # a charge of violation is the report's status only when it tells no other state of the agreement
        _, status, where = next((x for x in current if x[1] != "violated_alleged"), current[0])
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
    # the report's main status first, then every other status it asserts, once each, in the order
    # told ("agreed on 9 June … in force since … Kyiv says Moscow violated it"); history told in
    # passing is background
    used: list[tuple[str, SentenceInfo]] = [(status, where)]
    if title_status and title_status[0][1] != status and title_status[0][1] != "violated_alleged":
        st = title_status[0][1]
        used.append((st, next((x[2] for x in current if x[1] == st), sents[0])))
    for _, st, s in sorted(statuses, key=lambda x: (x[2].index, x[0])):
        if st in {u for u, _ in used} or (side is not None and s is side[2]):
            continue
        if st == "violated_alleged":
            continue  # a charge of violation is an accusation claim; as a status only when nothing else is told
        same = {m.payload for m in s.neg.get("status", ())} - {"violated_alleged"}
        if st in ("proposed", "under_negotiation") and len(same) > 1 \
                and STATUS_PRIORITY.index(st) > min(STATUS_PRIORITY.index(x) for x in same):
            continue  # "agreed to the proposal", "the talks produced an agreement": the outcome is the status
        if st == "under_negotiation" and not s.neg.get("topic"):
            continue  # "to create conditions for negotiations": the peace talks, not talks on the energy halt
        if st == "proposed" and s.has("negation", "retraction"):
            continue
        used.append((st, s))
    if side is not None:
        used.append(("agreed", side[2]))
    for k, (st, s) in enumerate(used):
        own = side is not None and s is side[2] and k == len(used) - 1
        # a deal or an offer is between those it names; a state (in force, expired, violated) is the agreement's
        claim_parties, claim_mediator = _parties_of(s, st, tuple(parties), mediator)
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
            salience="background" if s.recap or (k > 0 and _long_ago(doc, s)) else ("main" if k == 0 else "secondary"),
            parties=claim_parties, mediator=claim_mediator, status=st,
            topic=topic, conditions=() if own else conditions, agreement_id=None if own else agreement,
            evidence=tuple(Evidence(x.start, x.end, doc.text[x.start:x.end]) for x in evid),
            confidence=0.7 if agreement and not own else 0.5, extractor=ctx.extractor,
            rule=f"negotiation/{st}" + ("/other-subject" if own else ""), language=doc.lang))
    return out


_STRIKE_STEMS = ("strike", "attack", "shelling", "bombard", "удар", "атак", "обстр", "бомб")
_TARGETING = (*_STRIKE_STEMS, "target", "hit", "бить", "бити", "бив", "бій")
_BROKER_STEMS = ("mediat", "broker", "посередн", "посредн", "guarant", "гарант")
_PER = frozenset("according under pursuant згідно відповідно за согласно по".split())


def _parties_of(s: SentenceInfo, status: str, parties: tuple[str, ...],
                mediator: str | None) -> tuple[tuple[str, ...], str | None]:
    """Who the statement is between: "Ukraine and Russia agreed" are the two sides (the mediator
    stays the mediator), but "the mediator's president asked the other leader not to strike the capital, and he agreed" is a deal
    between the mediator and one side, which then are its parties. A side named as the target
    ("strikes on Ukraine's energy", "не обстреливать Киев") is no party to it."""
    if status not in ("agreed", "proposed"):
        return parties, mediator
    at = [m.start for m in s.neg.get("status", ()) if m.payload == status]

    def near(m: Any) -> bool:  # "<mediator> agreed with <leader>", not "agreed …, Russia struck …, shared with the US"
        return any(abs(m.start - a) <= 6 for a in at)

    named = {m.payload for m in s.neg.get("parties", ()) if not _as_target(s, m.start)}
    sides = {m.payload for m in s.neg.get("parties", ()) if near(m) and not _as_target(s, m.start)} & {"UA", "RU"}
    brokers = {m.payload for m in s.neg.get("mediators", ()) if near(m) and not _brokering(s, m.start)}
    if len(sides) == 1 and len(brokers) == 1 and not (named & {"UA", "RU"}) - sides:
        return tuple(sorted(sides | brokers)), None
    return parties, mediator


def _brokering(s: SentenceInfo, at: int) -> bool:
    """"за посередництва <країни>", "<country>-brokered", "mediated by <capital>": named as the mediator."""
    window = [tok.norm for tok in s.tokens[max(0, at - 3):at + 2]]
    return any(w.startswith(_BROKER_STEMS) for w in window)


def _as_target(s: SentenceInfo, at: int) -> bool:
    """The party word at token ``at`` follows an attack or halt word within three tokens."""
    return any(tok.norm.startswith(_TARGETING) for tok in s.tokens[max(0, at - 3):at])


def _cited(si: SentenceInfo, m: Any) -> bool:
    """The status word is cited as the terms' source ("згідно з домовленостями", "under the agreement")."""
    prev = [tok.norm for tok in si.tokens[max(0, m.start - 2): m.start]]
    return bool(prev) and prev[0] in _PER


def _halts_strikes(si: SentenceInfo, m: Any) -> bool:
    """The status word governs strikes ("suspend strikes", "приостановить удары по городам")."""
    return any(tok.norm.startswith(_STRIKE_STEMS) for tok in si.tokens[m.end: m.end + 3])


def _long_ago(doc: Document, s: SentenceInfo) -> bool:
    """A status sentence whose days all lie months before the report is history ("the
    pause that the two leaders agreed on June 9" in an October analysis); weeks are
    not ("another violation of the pause announced on 9 June")."""
    days = [d.date for d in s.dates if d.date is not None and d.precision == "day"]
    return bool(days) and doc.pub.date is not None and all((doc.pub.date - d).days > 60 for d in days)


def _status_on(svc: Services, agreement: str | None, day: Any) -> str | None:
    terms = next((a for a in svc.agreements if a.id == agreement), None)
    if terms is None or day is None:
        return None
    past = [s for s in terms.statuses() if s["date"] <= day.isoformat()]
    return past[-1]["status"] if past else None


def _after_status(doc: Document, si: SentenceInfo) -> str:
    """What a deal on another subject is about: the sentence from its status word on
    ("agreed to ensure safe navigation in the Black Sea")."""
    m = next((m for m in si.neg.get("status", ()) if m.payload == "agreed"), None)
    a = m.span(si.tokens)[0] if m is not None else si.start
    return doc.text[a:si.end].strip().rstrip(".")[:160]


def _span_text(doc: Document, si: SentenceInfo, m: Any) -> str:
    a, b = m.span(si.tokens)
    return doc.text[a:b]
