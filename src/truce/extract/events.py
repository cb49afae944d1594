"""Which sentences report an event, and when.

The decisions the rule extractor takes per sentence before it builds any claim:
does the sentence tell an attack or damage (or only a threat, a denial, a
repair, a summary)? Is it about an earlier event (recaps, retrospectives)? What
day is the report mainly about? Each answer rests on the cue lists of the
language's lexicon, so a rule that fired can be named on the claim.
"""

from __future__ import annotations

from typing import Any

from truce.extract.analysis import Document, SentenceInfo, clause_bounds
from truce.extract.dates import DateMention
from truce.extract.targets import GENERIC, Target
from truce.reference.registry import type_family

EVENT_CUES = ("attack", "damage", "fire", "debris", "destroyed", "impact")
HIT_CUES = ("damage", "fire", "debris", "destroyed", "impact")


def event_decision(doc: Document, si: SentenceInfo) -> tuple[str, str] | None:
    """(outcome, rule) when the sentence reports an event on its targets, else None."""
    hit = si.has(*HIT_CUES)
    attack = si.has("attack")
    if attack and si.has("distant"):
        far = [(m.start, m.end) for m in si.cues["distant"]]
        # "explosions were heard several kilometres away": no attack on what the sentence names
        attack = any(not any(a <= m.start and m.end <= b for a, b in far) for m in si.cues["attack"])
    # "air defence shot down the drones approaching an energy facility": an attack on it
    attack = attack or si.has("interception")
    if not hit and not attack:
        prev = prev_in_paragraph(doc, si)
        # "Russia launched 90 missiles overnight. Among the targets: the Burshtyn TPP …"
        if prev is not None and prev.has(*EVENT_CUES) and not prev.has("threat", "negation") and si.has("target_list") \
                and not si.has("negotiation_context") and not prev.has("negotiation_context"):
            return ("unknown", "context-attack")
        return None
    if si.has("threat") and not hit:
        first = min(m.start for m in si.cues["attack"]) if si.cues.get("attack") else 0
        # "Russia could strike …" – but not "drones attacked a power line …, which Moscow would report"
        if any(m.start <= first + 3 for m in si.cues["threat"]):
            return None
    if si.has("unrelated"):
        return None  # "a technical fault on the grid, not related to the attacks"
    if si.has("hypothetical") and not any(d.date for d in si.dates):
        return None  # "if the grid is hit again …"
    if si.has("retraction"):
        return None  # "Energoatom denied reports that the plant was damaged, calling them fake"
    if any(w in m.phrase.lower() for m in si.cues.get("negation", ()) for w in HIT_DENIAL):
        return None  # "the Ryazan power station was not hit": no strike on it at all
    if si.has("negation") and not si.has("destroyed", "fire", "debris", "impact"):
        # "drones attacked the refinery; no damage" – an attempt, not a hit
        return ("attempted", "attack+denial") if attack else None
    if si.has("interception") and not hit:
        return ("attempted", "attack+interception")
    if hit:
        return ("hit", "damage-cue")
    return ("unknown", "attack-cue")


def denies(s: SentenceInfo, f: Any) -> bool:
    """The sentence denies a hit or damage at facility ``f``: named, or as "the plant"."""
    if not (s.has("negation", "retraction")) or s.has("attack", *HIT_CUES):
        return False
    if s.facility_names:
        return any(f in fn.facilities for fn in s.facility_names)
    # "The plant was not hit", "the station was operating normally": no other asset named
    return not s.type_terms or any(type_family(t.type) == type_family(f.type) or t.type in GENERIC for t in s.type_terms)


HIT_DENIAL = ("hit", "struck", "влуч", "попад", "уражен", "поражен")
OBJECT_PREPS = frozenset("on against at по на".split())


def attack_aimed_elsewhere(si: SentenceInfo, t: Target) -> bool:
    """Every attack word of the sentence names its own object ("attacks on the grid")
    and none of them is this target."""
    toks = si.tokens
    aimed = []
    for m in si.cues.get("attack", ()):
        if m.end >= len(toks) - 1 or toks[m.end].norm not in OBJECT_PREPS:
            return False  # "drones attacked the refinery", "the plant was attacked"
        window = (toks[m.end + 1].start, toks[min(m.end + 4, len(toks) - 1)].end)
        aimed.append(window[0] <= t.start < window[1])
    return bool(aimed) and not any(aimed)


def stale(doc: Document, si: SentenceInfo) -> bool:
    """Damage told as a state rather than an event: from long before ("since the
    spring, when attacks knocked out …", "last year's damage") or under repair,
    with no day of its own; a damage-only sentence after such a one shares it."""
    dated = any(d.date is not None and d.precision == "day" for d in si.dates)
    if si.has("past") and not (dated and si.has("attack")):
        return True  # "citing war-related damage to its plants, the company said on Thursday"
    if dated:
        return False
    if si.has("repair") and not si.has("attack"):
        return True
    prev = prev_in_paragraph(doc, si)
    # "Restoration works continue at Zmiiv … Work at Trypillia is slower because of the damage"
    return prev is not None and not si.has("attack") and not si.dates and stale(doc, prev)


def damage_next(doc: Document, si: SentenceInfo) -> SentenceInfo | None:
    """The next sentence of the paragraph reports damage to the asset this one names
    without an event of its own: it speaks of it ("its tanks", "there") and names no other."""
    if si.has("negation", "threat", "hypothetical", "retraction") or not (si.facility_names or si.type_terms):
        return None
    nxt = doc.sentences[si.index + 1] if si.index + 1 < len(doc.sentences) else None
    if nxt is None or nxt.sent.paragraph != si.sent.paragraph or nxt.background != si.background:
        return None
    if nxt.has("anaphor") and nxt.has(*HIT_CUES) and not nxt.has("negation", "threat", "hypothetical", "retraction") \
            and not nxt.facility_names and not nxt.regions():
        return nxt
    return None


def continuation(doc: Document, si: SentenceInfo) -> list[SentenceInfo]:
    """Following sentences of the paragraph that report damage without naming a
    target of their own ("Станцію повністю знищено, виникла пожежа") describe
    the target just named."""
    out = []
    for s in doc.sentences[si.index + 1: si.index + 3]:
        if s.sent.paragraph != si.sent.paragraph or s.background != si.background:
            break
        if s.facility_names or s.type_terms or s.regions():
            break
        if s.has(*HIT_CUES) and not s.has("negation", "threat"):
            out.append(s)
        else:
            break
    return out


def prev_in_paragraph(doc: Document, si: SentenceInfo) -> SentenceInfo | None:
    if si.index <= 0:
        return None
    prev = doc.sentences[si.index - 1]
    return prev if prev.sent.paragraph == si.sent.paragraph else None


def main_date(doc: Document) -> DateMention | None:
    """The date of what the report is mainly about: the lead's first date in a sentence
    reporting an event (not "said on Thursday"), else the lead's first date, else the title's."""
    lead = lead_sentences(doc)
    for s in lead:
        if s.has(*EVENT_CUES):
            night = [d for d in s.dates if d.date is not None and d.precision == "day" and d.night]
            if night:
                return night[0]
    # "Energy situation as of 16 January. Yesterday, 15 January, Russia carried out an attack"
    for s in lead:
        if s.has(*EVENT_CUES) and not s.has("negotiation_context"):
            day = [d for d in s.dates if d.date is not None and d.precision == "day"]
            if day:
                return day[0]
    for s in lead:
        for d in s.dates:
            if d.date is not None and d.precision == "day":
                return d
        if s.has(*EVENT_CUES):
            break  # a day named after the lead's event ("Two days ago the council met") dates something else
    if doc.title_info is not None:
        for d in doc.title_info.dates:
            if d.date is not None and d.precision == "day":
                return d
    return None


RETRO_DAYS = 14


def mark_background(doc: Document, main: DateMention | None) -> None:
    ref = main.date if main is not None else doc.pub.date
    pub = doc.pub.date
    if main is not None and main.date is not None and pub is not None and (pub - main.date).days > RETRO_DAYS:
        # a retrospective ("One year ago, on 9 June, missiles hit …"): its lead
        # is history too; only what it dates near publication is news
        for si in doc.sentences:
            si.background = not any(d.date is not None and abs((pub - d.date).days) <= RETRO_DAYS for d in si.dates)
        return
    in_recap_para: int | None = None
    for si in doc.sentences:
        first = si.tokens[:4]
        recap_start = any(m.start < 3 for m in si.cues.get("recap", ())) and bool(first)
        same_night = ref is not None and si.has(*EVENT_CUES) and not si.has("negotiation_context") and any(
            d.date is not None and d.precision == "day" and abs((ref - d.date).days) <= 1 for d in si.dates)
        if recap_start and not same_night:  # "As Ukrinform reported, on the night of 22 March …" is the same event
            in_recap_para = si.sent.paragraph
            si.background = si.recap = True
            continue
        if in_recap_para is not None and si.sent.paragraph == in_recap_para and si.index > 0:
            si.background = si.recap = True
            continue
        in_recap_para = None
        if si.index > 0 and si.has("summary") and not any(d.date is not None and d.precision == "day" for d in si.dates):
            si.background = si.summary = True
            continue
        if ref is not None and si.dates and si.index > 0:
            # an event the sentence dates two or more days before the report's own
            # event is an earlier one ("follow strikes on NORSI on March 12 …")
            ds = [(d.date_end or d.date, d.precision) for d in si.dates if d.date is not None
                  and d.precision in ("day", "month", "week")]
            if ds and all((ref - d).days >= (2 if p == "day" else 7) for d, p in ds):
                si.background = True


def lead_sentences(doc: Document) -> list[SentenceInfo]:
    """The first two substantive sentences (a dateline "Москва. 7 марта." is not one)."""
    out = []
    for s in doc.sentences:
        if len(s.tokens) >= 6:
            out.append(s)
        if len(out) == 2:
            break
    return out


def told_then_labelled(si: SentenceInfo) -> bool:
    """"drones attacked a power line in Bryansk region on Sunday … and called it a violation":
    a dated event told first and labelled a violation after, not "accused Kyiv of attacks …"."""
    attacks = [m.start for m in si.cues.get("attack", ())]
    charges = [m.start for m in si.cues.get("accusation", ())]
    return bool(attacks and charges) and min(attacks) < min(charges) and any(
        d.date is not None and d.precision == "day" for d in si.dates)


def timed(si: SentenceInfo) -> bool:
    """The sentence dates what it tells to a day ("overnight", "on 11 April", "вчора")."""
    return any(d.date is not None and d.precision in ("day", "interval") for d in si.dates) or si.has("same_day")


def economy_report(doc: Document) -> bool:
    """The report is about money or trade (imports, tariffs, results): the damage it cites is
    the background of its subject, not an event it reports."""
    heads = ([doc.title_info] if doc.title_info else []) + lead_sentences(doc)[:1]
    return any(s.has("economy") for s in heads)


def attacked_elsewhere_only(si: SentenceInfo, t: Target) -> bool:
    """The sentence's attack (an attack, impact or debris word, a weapon) lies in another clause
    than the target's, whose own clause tells at most a fire or damage: that target's damage is
    not said to come from the attack."""
    a, b = clause_bounds(si, t.start)
    if (a, b) == (si.start, si.end):
        return False
    toks = si.tokens

    def where(m: Any) -> int:
        return int(toks[m.start].start)

    attack = [where(m) for k in ("attack", "impact", "debris", "interception") for m in si.cues.get(k, ())]
    attack += si.weapon_at
    return bool(attack) and not any(a <= p < b for p in attack)


def tells_attack(si: SentenceInfo) -> bool:
    """An attack, impact, debris or interception word, or a weapon, anywhere in the sentence."""
    return bool(attack_positions(si))


def attack_positions(si: SentenceInfo) -> list[int]:
    """Where the sentence tells an attack: attack, impact, debris, interception words and weapons."""
    toks = si.tokens
    out = [int(toks[m.start].start) for k in ("attack", "impact", "debris", "interception") for m in si.cues.get(k, ())]
    return out + si.weapon_at


def attacked_regions(doc: Document) -> set[str] | None:
    """Regions the report places an attack in: those named in a clause with an attack, impact,
    debris or interception word or a weapon (facilities there count by their region). None
    when an attack is told of a whole country ("Russia attacked Ukraine's energy overnight"):
    then any region may be one of its targets."""
    out: set[str] = set()
    for si in [*([doc.title_info] if doc.title_info else []), *doc.sentences]:
        if si.background:
            continue
        at = attack_positions(si)
        if not at:
            continue
        if si.countries and not si.places and not si.facility_names:
            return None
        clauses = {clause_bounds(si, p) for p in at}

        def inside(pos: int) -> bool:
            return any(a <= pos < b for a, b in clauses)
        for pm in si.places:
            codes = {p.region_code for p in pm.places}
            if len(codes) == 1 and inside(pm.start):
                out |= {c for c in codes if c}
        for fn in si.facility_names:
            if inside(fn.start):
                out |= {f.region_code for f in fn.facilities}
    return out


def denial_of(doc: Document, si: SentenceInfo) -> str | None:
    """What the sentence's voice denies ("Ukraine categorically rejects the claims that its forces
    attacked …": the strike; "Contrary to the Russian statement, there was no damage to the
    substation": the damage; "Energoatom denied reports that the plant was hit": the strike), or None.
    A denial is a counter-claim: it contests a strike, it never reports one."""
    told = si.has("attack", "impact", "damage", "destroyed", "fire", "debris") or bool(si.weapons)
    if si.has("denial", "retraction"):
        if not told:
            return None  # "the minister denied any chance of an uncontrolled restart": no strike denied
        return "damage" if si.has("negation") and not si.has("attack", "impact") else "strike"
    prev = prev_in_paragraph(doc, si) or (doc.sentences[si.index - 1] if si.index > 0 else None)
    if si.has("negation") and prev is not None and prev.has("denial") and not si.has("attack", "impact"):
        return "damage"
    return None
