"""Per-sentence analysis shared by the claim builders: which cues, places,
facility names, type terms, parties, weapons and dates each sentence holds.

Nothing here decides what a claim is; :mod:`truce.extract.rules` and
:mod:`truce.extract.negotiation` read these features and do.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from truce.extract.dates import DateFinder, DateMention, PubDate, parse_published
from truce.language import LanguageDetector
from truce.extract.lexicon import CUE_LISTS, Lexicon
from truce.reference.gazetteer import Gazetteer, PlaceMention
from truce.records import Facility
from truce.reference.terms import Agreement
from truce.reference.registry import Registry
from truce.text import KeyMaker, Match, Sentence, Token, split_sentences


@dataclass
class Services:
    """Everything the extractor reads; built once per process (see :func:`truce.config.load_context`)."""

    km: KeyMaker
    lexicons: dict[str, Lexicon]
    gazetteer: Gazetteer
    registry: Registry
    detector: LanguageDetector
    date_finders: dict[str, DateFinder] = field(default_factory=dict)
    sources: Any = None  # truce.reference.sources.SourceBook, for the regions regional authorities speak for
    operators: Any = None  # PhraseMatcher: operator names → their Source ("DTEK": UA; "Naftogaz": gas production)
    agreements: Sequence[Agreement] = ()  # terms: how each agreement is named, its status on a report's date

    def dates(self, lang: str) -> DateFinder:
        f = self.date_finders.get(lang)
        if f is None:
            f = self.date_finders[lang] = DateFinder(lang, self.lexicons[lang].dates)
        return f


@dataclass
class FacilityName:
    tok_start: int
    tok_end: int
    start: int
    end: int
    facilities: list[Facility]
    alias: str


@dataclass
class TypeTerm:
    tok_start: int
    tok_end: int
    start: int
    end: int
    type: str
    phrase: str


@dataclass(eq=False)
class SentenceInfo:
    index: int
    sent: Sentence
    tokens: list[Token]
    cues: dict[str, list[Match]]
    places: list[PlaceMention]
    facility_names: list[FacilityName]
    type_terms: list[TypeTerm]
    attackers: list[tuple[int, str]]  # (char offset, party)
    acknowledgers: list[tuple[int, str]]
    weapons: list[str]
    countries: list[str]
    dates: list[DateMention]
    background: bool = False  # an earlier event (recap cue, or dated well before the report's event)
    recap: bool = False  # introduced by a recap cue ("Нагадаємо", "As reported earlier")
    summary: bool = False  # sums up many strikes ("stepped up its strikes this month"): background, undated
    neg: dict[str, list[Match]] = field(default_factory=dict)
    lang: str = "en"
    weapon_at: list[int] = field(default_factory=list)  # character offsets of the weapon words
    country_at: list[int] = field(default_factory=list)  # character offsets of the country words

    def target_countries(self) -> list[str]:
        """Countries the sentence names, less those naming the attacker ("Russian invaders")."""
        attackers = {pos for pos, _ in self.attackers}
        return [c for c, pos in zip(self.countries, self.country_at) if pos not in attackers]

    def has(self, *names: str) -> bool:
        cues = self.cues
        for n in names:  # a plain loop: this is called about fifteen times per sentence
            if n in cues and cues[n]:
                return True
        return False

    def country_located(self) -> bool:
        """A country named as where something happens ("In Ukraine, …", "по всій Україні"), not as a party."""
        starts = {t.start: i for i, t in enumerate(self.tokens)}
        for pos in self.country_at:
            i = starts.get(pos)
            if i is None:
                continue
            before = [t.norm for t in self.tokens[max(0, i - 2):i]]
            if before and (before[-1] in _LOCATIVE or (len(before) == 2 and before[0] in _LOCATIVE
                                                       and before[1] in _WHOLE)):
                return True
        return False

    @property
    def start(self) -> int:
        return self.sent.start

    @property
    def end(self) -> int:
        return self.sent.end

    def regions(self) -> list[PlaceMention]:
        return [p for p in self.places if p.is_region]


@dataclass
class Document:
    report_id: str
    text: str
    title: str
    lang: str
    pub: PubDate
    sentences: list[SentenceInfo]
    title_info: SentenceInfo | None
    dates: list[DateMention]
    patterns: dict = field(default_factory=dict)


def analyse(services: Services, report_id: str, text: str, *, title: str | None = None,
            published: object = None, language: str | None = None, house_assets: str | None = None) -> Document:
    """``house_assets``: the asset type of the operator that published the report, for "our facilities"."""
    lang = language if language in services.lexicons else services.detector.detect(
        ((title or "") + "\n" + text) if text.strip() else (title or ""))
    lex = services.lexicons[lang]
    pub = parse_published(published)
    sents = split_sentences(text)
    tokens = services.km.tokenize(text, lang)
    starts = [t.start for t in tokens]
    dates = services.dates(lang).find(text, pub)
    date_starts = [d.start for d in dates]
    dateline = _dateline(text)
    infos: list[SentenceInfo] = []
    for i, s in enumerate(sents):
        a = bisect.bisect_left(starts, s.start)
        b = bisect.bisect_left(starts, s.end)
        toks = tokens[a:b]
        da = bisect.bisect_left(date_starts, s.start)
        db = bisect.bisect_left(date_starts, s.end)
        info = _sentence(services, lex, i, s, toks, text, dates[da:db])
        if dateline and s.start < dateline:
            info.places = [p for p in info.places if p.start >= dateline]
        if any(m.start == 0 for m in info.cues.get("boilerplate", ())):
            continue  # "Read also: …", "Читайте також: …" headlines of other stories, captions
        info.index = len(infos)
        infos.append(info)
    _type_operator_assets(services, infos, house_assets)
    title_info = None
    if title:
        tt = services.km.tokenize(title, lang)
        title_info = _sentence(services, lex, -1, Sentence(0, len(title), -1, title), tt, title,
                               services.dates(lang).find(title, pub))
    return Document(report_id, text, title or "", lang, pub, infos, title_info, dates, lex.patterns)


def _type_operator_assets(services: Services, infos: list[SentenceInfo], house: str | None) -> None:
    """"Naftogaz said its production facilities were hit … the company said drones struck
    several sites", "our facilities in Kharkiv and Poltava regions" in Naftogaz's own
    statement: the operator named in the paragraph, or the report's own operator for
    "our" and "the company", gives the asset type."""
    if services.operators is None or not any(si.cues.get("operator_assets") for si in infos):
        return
    para_type: str | None = None
    last = house
    prev_para = None
    for si in infos:
        if si.sent.paragraph != prev_para:
            para_type, prev_para = None, si.sent.paragraph
        own = {m.payload.assets for m in services.operators.find(si.tokens) if m.payload.assets}
        if len(own) == 1:
            para_type = last = next(iter(own))
        elif own:
            para_type = None
        company = any(t.norm.startswith(("company", "компан")) for t in si.tokens)
        taken = [(t.tok_start, t.tok_end) for t in si.type_terms]
        for m in si.cues.get("operator_assets", ()):
            first_person = si.tokens[m.start].norm in _FIRST_PERSON
            kind = para_type or (last if first_person or company else None)
            if kind is not None and not any(a < m.end and m.start < b for a, b in taken):
                si.type_terms.append(TypeTerm(m.start, m.end, si.tokens[m.start].start, si.tokens[m.end - 1].end,
                                              kind, m.phrase))


_FIRST_PERSON = frozenset("our наші наших нашу наше наш наши нашей".split())


_DATELINE = re.compile(
    r"^\s*[A-ZА-ЯЁІЇЄҐ][A-ZА-ЯЁІЇЄҐ'’\-]+(?:[ /][A-ZА-ЯЁІЇЄҐ][\w'’\-]+)*"      # KYIV, LONDON/KYIV, МОСКВА
    r"(?:,\s*[^—–\n]{0,30}?)?\s*(?:\([^)\n]{1,40}\)|\.?\s*/[^/\n]{2,20}/)?\.?\s*[—–-]+\s")


def _dateline(text: str) -> int:
    """End offset of a wire dateline ("KYIV, Ukraine (AP) —", "МОСКВА, 21 мар — РИА Новости"),
    whose place is where the story was filed, not where anything happened; 0 if none."""
    m = _DATELINE.match(text)
    if not m:
        return 0
    head = m.group(0)
    first = head.strip().split(",")[0].split(" ")[0]
    return m.end() if first.isupper() or "(" in head or "/" in head else 0


# Capitals stand for governments ("Moscow accused Kyiv"): a place only after a
# locative preposition or right before an asset ("Kyiv CHP-5", "Kyiv's grid").
_CAPITALS = {"UA-30", "RU-MOW"}
_LOCATIVE = frozenset("in near over outside around across at into у в во над під біля поблизу на под около возле "
                      "неподалік неподалеку по до".split())
_WHOLE = frozenset("all whole entire всій всієї усій всей всея".split())
_TIME_WORDS = frozenset("time часом час времени время".split())
_LIST_CONJ = frozenset("and or і й та або и или".split())


def _not_a_location(pm: PlaceMention, toks: Sequence[Token], terms: list["TypeTerm"],
                    others: Sequence[PlaceMention] = ()) -> bool:
    if not any((p.region_code in _CAPITALS and (p.kind == "region" or p.population > 1_000_000)) for p in pm.places):
        return False
    nxt = toks[pm.tok_end].norm if pm.tok_end < len(toks) else ""
    if nxt in _TIME_WORDS:
        return True
    if any(0 <= t.tok_start - pm.tok_end <= 2 for t in terms):
        return False
    # "Киев и Львов, Ровно, Черкассы": a capital in a list of towns is a place, not a government
    def listed(o: PlaceMention) -> bool:
        gap = list(range(pm.tok_end, o.tok_start)) if o.tok_start >= pm.tok_end else list(range(o.tok_end, pm.tok_start))
        return len(gap) <= 1 and all(toks[k].norm in _LIST_CONJ for k in gap)

    if any(o is not pm and listed(o) and not any(p.region_code in _CAPITALS for p in o.places) for o in others):
        return False
    prev = toks[pm.tok_start - 1].norm if pm.tok_start > 0 else ""
    return prev not in _LOCATIVE


def _pattern_matches(patterns: Sequence[re.Pattern[str]], s: Sentence, toks: Sequence[Token], payload: str) -> list[Match]:
    """Regular-expression hits in a sentence as token matches (for phrases with gaps)."""
    out = []
    starts: list[int] = []
    for pat in patterns:
        for m in pat.finditer(s.text):
            starts = starts or [t.start for t in toks]  # built on the first hit: most sentences have none
            a, b = s.start + m.start(), s.start + m.end()
            i, j = bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)
            if i < j:
                out.append(Match(i, j, payload, m.group(0)))
    return out


class Cues(dict[str, list[Match]]):
    """Cue list → matches in a sentence; a list with no match reads as empty (most are, so
    they are not stored)."""

    def __missing__(self, key: str) -> list[Match]:
        return _NO_MATCHES


_NO_MATCHES: list[Match] = []  # shared and never appended to: cues are replaced, not extended
_CUE_KEYS = tuple((c, f"cue:{c}") for c in CUE_LISTS)
_GAPPED = ("negation", "summary", "regions_count")
_OPENERS = {"", ".", ":", "«", '"', "“", "„", "—", "–", "-", "(", "!", "?", "…", "'"}
_NEG_KEYS = tuple((k, f"neg:{k}") for k in ("topic", "talks", "status", "mediators", "parties", "agreements"))
_EVENT_WORDS = ("attack", "impact", "damage", "destroyed", "fire", "debris")


def _landmark_span(text: str, toks: Sequence[Token], m: Match, sent_end: int) -> tuple[int, int]:
    """From a landmark cue ("opposite", "навпроти") to the next comma or the sentence end."""
    a = toks[m.end - 1].end
    stop = min([i for i in (text.find(c, a, sent_end) for c in ",;:") if i >= 0] or [sent_end])
    return a, stop


def _owned_by_building(term: Match, found: dict[str, list[Match]]) -> bool:
    """"the building's internal wiring", "внутрішньої електромережі будівлі лікарні":
    an asset word that names a building's own installation, not the energy system."""
    return any(term.start - 2 <= m.end <= term.start for m in found.get("cue:non_asset", ())) or any(
        m.start == term.end for m in found.get("cue:non_asset_of", ()))


def _party_before_attack(toks: Sequence[Token], found: dict[str, list[Match]],
                         terms: Sequence[Any]) -> list[tuple[int, str]]:
    """"Russia's massive missile and drone attack", "російська артилерія обстрілювала",
    "украинские беспилотники атаковали": a country word shortly before an attack or
    weapon word, with no asset word between, names the attacker."""
    acts = sorted({m.start for k in ("cue:attack", "cue:impact", "weapons") for m in found.get(k, ())})
    term_starts = {t.tok_start for t in terms}
    out = []
    for m in found.get("countries", []):
        nxt = next((a for a in acts if a >= m.end), None)
        if nxt is None or nxt - m.end > 5 or any(m.end <= t < nxt for t in term_starts):
            continue
        out.append((toks[m.start].start, m.payload))
    return out


def _sentence(services: Services, lex: Lexicon, i: int, s: Sentence, toks: Sequence[Token], text: str,
              dates: list[DateMention]) -> SentenceInfo:
    found = lex.scan(toks)
    cues = Cues((c, found[key]) for c, key in _CUE_KEYS if key in found)
    # a capitalised word inside a sentence is a name: "В'ячеслава Негоди" is Governor Nehoda, not bad weather
    for c, ms in cues.items():
        if ms:
            cues[c] = [m for m in ms if not (m.end - m.start == 1 and m.start > 0 and toks[m.start].text[:1].isupper()
                                             and not toks[m.start].text.isupper()
                                             and text[toks[m.start].start - 2:toks[m.start].start].strip() not in _OPENERS)]
    gapped = lex.any_pattern(_GAPPED)
    for name in _GAPPED if gapped is None or gapped.search(s.text) else ():
        # phrases with gaps ("none of … had been hit", "a wave of … strikes")
        if name in lex.patterns:
            extra = _pattern_matches(lex.patterns[name], s, toks, name)
            if extra:
                cues[name] = [*cues[name], *extra]
    negs = [(m.start, m.end) for m in cues["negation"]]
    if negs:  # "none of the plants had been hit": the hit word belongs to its denial
        for c in _EVENT_WORDS:
            cues[c] = [m for m in cues[c] if not any(a <= m.start and m.end <= b for a, b in negs)]
    if cues["halt"]:  # "halt strikes on energy", "припинення ударів": what a truce contains, not an attack
        ends = [m.end for m in cues["halt"]]
        cues["attack"] = [m for m in cues["attack"] if not any(0 <= m.start - e <= 2 for e in ends)]
    # "Nikopol, across the reservoir from the Zaporizhzhia NPP": what follows locates, it is no target
    marks = [_landmark_span(text, toks, m, s.end) for m in found.get("cue:landmark", ())]

    def located(start: int) -> bool:
        return any(a <= start < b for a, b in marks)

    fac = [FacilityName(a, b, toks[a].start, toks[b - 1].end, fl, alias)
           for a, b, fl, alias in services.registry.find_names(toks) if not located(toks[a].start)]
    restoring = [m.end for m in cues["restoring"]]
    terms = [TypeTerm(m.start, m.end, toks[m.start].start, toks[m.end - 1].end, m.payload, m.phrase)
             for m in found.get("facility_types", []) if not _owned_by_building(m, found)
             and not located(toks[m.start].start)
             # "crews are working to restore the networks": what is repaired is no target named here
             and not any(0 <= m.start - e <= 1 for e in restoring)]
    # "a source in Kyiv said", "told reporters in Moscow": a capital there is where sources sit
    speakers = [m.end for m in found.get("cue:speaker_at", ())]
    places = [p for p in services.gazetteer.find(toks, text) if not located(p.start)
              and not (any(e <= p.tok_start <= e + 1 for e in speakers)
                       and any(x.region_code in _CAPITALS for x in p.places))]
    # A facility's own name ("Рязанский НПЗ") is not also a place mention of
    # the town inside it; keep the facility reading.
    fac_spans = [(f.tok_start, f.tok_end) for f in fac]
    places = [p for p in places if not any(a <= p.tok_start and p.tok_end <= b for a, b in fac_spans)]
    places = [p for p in places if not _not_a_location(p, toks, terms, places)]
    # "<first name> <surname>" of a named party's leader: a town name right before the surname is a first name
    surnames = {m.start for m in found.get("neg:parties", ()) if m.end - m.start == 1 and toks[m.start].capitalised
                and not any(pl.tok_start == m.start for pl in places)}
    places = [p for p in places if not (p.tok_end - p.tok_start == 1 and p.tok_end in surnames)]
    # "Зеленський" is the president, not the village Zelena: a party's name read as a small place
    named = {m.start for m in found.get("neg:parties", ()) if m.end - m.start == 1}
    places = [p for p in places if not (p.tok_end - p.tok_start == 1 and p.tok_start in named
                                        and all(x.kind != "region" and x.population < 50_000 for x in p.places))]
    attackers = [(toks[m.start].start, m.payload) for m in found.get("attacker", [])]
    attackers += _party_before_attack(toks, found, terms)
    return SentenceInfo(
        index=i, sent=s, tokens=list(toks), cues=cues, places=places, facility_names=fac,
        type_terms=[t for t in terms if not any(a <= t.tok_start < b for a, b in fac_spans)],
        attackers=sorted(set(attackers)),
        acknowledgers=[(toks[m.start].start, m.payload) for m in found.get("acknowledge", [])],
        weapons=[m.payload for m in found.get("weapons", [])],
        weapon_at=[toks[m.start].start for m in found.get("weapons", [])],
        countries=[m.payload for m in found.get("countries", [])],
        country_at=[toks[m.start].start for m in found.get("countries", [])],
        dates=dates,
        neg={k: found.get(key, []) for k, key in _NEG_KEYS},
        lang=lex.language,
    )


# contrasting clauses, and a clause opening on a time of its own ("…, and between April 10 and 14 lines …")
_CLAUSE_BREAK = re.compile(r";|,\s+(?:а|але|проте|однак|но|однако|тогда как|тоді як|while|whereas|but)\s"
                           r"|,\s+(?:and|і|та|и)\s+(?=(?:on|between|from|later|then|потім|згодом|затем|позже)\b)")


def clause_bounds(si: SentenceInfo, pos: int) -> tuple[int, int]:
    """Character bounds of the clause of ``si`` holding ``pos``: contrasting clauses ("… a drone
    fell on the depot in Voronezh region, while in Perm Krai fuel tanks burned") tell apart."""
    a, b = si.start, si.end
    for m in _CLAUSE_BREAK.finditer(si.sent.text):
        cut = si.start + m.start()
        if cut <= pos:
            a = si.start + m.end()
        elif cut < b:
            b = cut
            break
    return a, b
