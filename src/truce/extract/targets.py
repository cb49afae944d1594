"""What was hit: energy targets in a sentence, linked to the registry where possible.

A target is a named facility ("Бурштинська ТЕС", "KINEF"), or a type term
with a place ("Ryazan refinery", "НПЗ в Кстово", "нафтобаза у Проелтарську"),
or an unnamed asset in a region ("energy facilities in Lviv, Volyn and Rivne
regions" gives three). Linking uses the registry's aliases first, then its
host settlements, then proximity to a named place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from truce.extract.analysis import Document, SentenceInfo, Services, clause_bounds
from truce.reference.gazetteer import PlaceMention, haversine_km
from truce.records import Facility, Place
from truce.reference.registry import type_family

GENERIC = ("other_energy", "power_plant")
_POWER_FAMILIES = {"thermal", "hydro", "nuclear", "renewable"}
_CONJ = {"and", "та", "і", "й", "и", "or", "або", "или", ","}
_PREP_AFTER = {"in", "near", "at", "outside", "of", "у", "в", "біля", "поблизу", "під", "возле", "около", "под",
               "на", "вблизи", "неподалік", "неподалеку", "поруч", "рядом", "район", "районі", "районе"}
_NUM = re.compile(r"^\d{1,2}$")


@dataclass
class Target:
    sentence: SentenceInfo
    start: int
    end: int
    type: str
    facility: Facility | None = None
    place: Place | None = None
    region_code: str | None = None
    country: str | None = None
    rule: str = ""
    confidence: float = 0.6
    candidates: list[Facility] = field(default_factory=list)

    @property
    def generic(self) -> bool:
        return self.facility is None and self.type in GENERIC

    @property
    def output_type(self) -> str:
        if self.facility is not None:
            return self.facility.type
        return "thermal_plant" if self.type == "power_plant" else self.type

    def key(self) -> tuple[str, ...]:
        if self.facility is not None:
            return ("f", self.facility.id)
        fam = type_family(self.output_type) or "energy"
        if self.type in GENERIC:
            fam = "energy"
        return ("r", self.country or "", self.region_code or "", fam)


def _compatible(term_type: str, f: Facility) -> bool:
    if term_type == "other_energy":
        return True
    if term_type == "power_plant":
        return type_family(f.type) in _POWER_FAMILIES
    if term_type == f.type:
        return True
    fam_t, fam_f = type_family(term_type), type_family(f.type)
    if fam_t == fam_f:
        return True
    # reports call the same plant a TPP, a CHP or a GRES
    return {fam_t, fam_f} <= {"thermal"}


def _pick(facilities: Sequence[Facility], numbers: set[str], region_hint: set[str]) -> tuple[Facility | None, list[Facility]]:
    cands = list(dict.fromkeys(facilities))
    if numbers and len(cands) > 1:
        numbered = [f for f in cands if numbers & set(re.findall(r"\d+", " ".join(f.all_names())))]
        if numbered:
            cands = numbered
    if region_hint and len(cands) > 1:
        local = [f for f in cands if f.region_code in region_hint]
        if local:
            cands = local
    # a plant and its own units: the plant
    top = [f for f in cands if not f.parent or f.parent not in {c.id for c in cands}]
    cands = top or cands
    if len(cands) == 1:
        return cands[0], cands
    return None, cands


def _numbers_after(si: SentenceInfo, tok_end: int) -> set[str]:
    out = set()
    for t in si.tokens[tok_end: tok_end + 2]:
        if _NUM.match(t.text):
            out.add(t.text)
            break
    return out


def resolve_place(svc: Services, pm: PlaceMention, hint: set[str], country: str | None) -> Place | None:
    if len(pm.places) == 1:
        return pm.places[0]
    res = svc.gazetteer.rank(pm.text, pm.places, region_hint=next(iter(hint)) if len(hint) == 1 else None,
                             country_hint=country)
    if res.decided:
        return res.candidates[0].place
    # undecided: still usable for its region when all readings agree
    regions = {c.place.region_code for c in res.candidates}
    return res.candidates[0].place if len(regions) == 1 else None


def find_targets(svc: Services, doc: Document, si: SentenceInfo, region_hint: set[str],
                 country_hint: str | None) -> list[Target]:
    """Energy targets named in one sentence (not yet deciding whether they were hit)."""
    targets: list[Target] = []
    sentence_regions = {code for p in si.places if p.is_region and (code := p.places[0].region_code) is not None}
    hint = sentence_regions or region_hint
    used_places: set[int] = set()
    for fn in si.facility_names:
        f, named = _pick(fn.facilities, _numbers_after(si, fn.tok_end), hint)
        if f is None:
            f = named[0] if named else None
            conf = 0.55
        else:
            conf = 0.85
        if f is None:
            continue
        targets.append(Target(si, fn.start, fn.end, f.type, f, None, f.region_code, f.country,
                              rule="facility-alias", confidence=conf, candidates=named))
        targets += _coordinated_names(svc, si, fn, f)
    region_spans = [(p.tok_start, p.tok_end) for p in si.places if p.is_region]
    place_spans = [(p.tok_start, p.tok_end) for p in si.places if not p.is_region]
    # a host town counts only where it is a place mention the sentence kept
    # ("Moscow's war" is a government, not the Kapotnya refinery's host)
    # (looked up only where a type term may use it and a place was kept)
    hosted = [(a, b, fl) for a, b, fl in svc.registry.hosted_at(si.tokens)
              if not any(ra <= a and b <= rb for ra, rb in region_spans)
              and any(pa < b and a < pb for pa, pb in place_spans)] if si.type_terms and place_spans else []
    other_infra = bool(si.cues.get("non_energy_infra"))
    specific = any(not _vague(t) for t in si.type_terms) or bool(si.facility_names)
    local = [(m.start, m.end) for m in si.cues.get("local_asset", ())]
    for tt in si.type_terms:
        if other_infra and not specific and _vague(tt):
            continue  # "critical infrastructure in Kryvyi Rih: a railway depot was damaged"
        if _counted_aggregate(si, tt):
            continue
        quals = _qualifiers(si, tt.tok_start, tt.tok_end)
        numbers = _numbers_after(si, tt.tok_end)
        linked: Facility | None = None
        cands: list[Facility] = []
        rule = ""
        unlinkable = any(a <= tt.tok_start < b for a, b in local)  # a boiler house is not the town's CHP
        for a, b, fl in hosted if not unlinkable else ():
            if any(a < qe and qa < b for qa, qe in quals):
                cands += [f for f in fl if _compatible(tt.type, f)]
        if cands and tt.type == "other_energy":
            cands = []  # "критична інфраструктура в Харкові" is not the city's one CHP
        if cands:
            linked, cands = _pick(cands, numbers, hint)
            rule = "type+host-place"
            if linked is None and tt.type in GENERIC:
                cands = []
        qual_place: Place | None = None
        several_regions = tt.type in GENERIC and len({p.places[0].region_code for p in si.places if p.is_region}) > 1
        for i, pm in enumerate(si.places if not several_regions else ()):
            if any(pm.tok_start < qe and qa < pm.tok_end for qa, qe in quals):
                used_places.add(i)
                if qual_place is None:
                    qual_place = pm.places[0] if pm.is_region else resolve_place(svc, pm, hint, country_hint)
        if qual_place is not None and qual_place.kind != "region" and len(sentence_regions) == 1 \
                and qual_place.region_code not in sentence_regions:
            # "In the Rostov region … a substation in the Kamensky district": a namesake far away
            # (Kamensky, Saratov region) loses to the region the sentence names
            reg = svc.gazetteer.region(next(iter(sentence_regions)))
            if reg is not None and haversine_km(reg.lat, reg.lon, qual_place.lat, qual_place.lon) > 250:
                qual_place = reg
        if linked is None and not cands and qual_place is not None and qual_place.kind != "region" \
                and tt.type not in GENERIC and not unlinkable:
            near = [f for f in svc.registry if _compatible(tt.type, f) and not f.parent
                    and haversine_km(f.lat, f.lon, qual_place.lat, qual_place.lon) < 20]
            if near:
                linked, cands = _pick(near, numbers, hint)
                rule = "type+nearby-place"
        if linked is None and not cands and tt.type not in GENERIC and not unlinkable:
            # "В поселке Ильском … на территории НПЗ": a host village elsewhere in the sentence
            anywhere = list(dict.fromkeys(f for _, _, fl in hosted for f in fl if _compatible(tt.type, f) and not f.parent))
            if len(anywhere) == 1:
                linked, cands, rule = anywhere[0], anywhere, "type+sentence-host"
        if linked is None and not cands and numbers and tt.type not in GENERIC and len(hint) == 1 and not unlinkable:
            # "CHP-6 was also hit" in a Kyiv report: the numbered unit of that type in the report's region
            numbered = [f for f in svc.registry if _compatible(tt.type, f) and not f.parent and f.region_code in hint
                        and numbers & set(re.findall(r"\d+", " ".join(f.all_names())))]
            if len(numbered) == 1:
                linked, cands, rule = numbered[0], numbered, "type+number+region"
        if tt.type == "facility_ref":
            # "the facility", "об'єкт": a target only through what it refers back to (docs/annotation.md)
            targets.append(Target(si, tt.start, tt.end, tt.type, None, None, None, None, rule="facility-ref",
                                  confidence=0.5))
            continue
        if linked is not None:
            targets.append(Target(si, tt.start, tt.end, linked.type, linked, qual_place, linked.region_code,
                                  linked.country, rule=rule, confidence=0.8, candidates=cands))
            continue
        region = qual_place.region_code if qual_place is not None else None
        adjacent = _adjacent_country(svc, si, tt.tok_start, tt.tok_end) if qual_place is None else None
        country = qual_place.country if qual_place is not None else adjacent
        # "енергетичної інфраструктури України", "Ukraine's energy system": a statement about the country
        national = adjacent is not None and tt.type in GENERIC and _possessive_country(svc, si, tt.tok_start, tt.tok_end)
        t = Target(si, tt.start, tt.end, tt.type, None, qual_place if qual_place and qual_place.kind != "region" else None,
                   region, country, rule="type-term" + ("+place" if qual_place else "") + ("+national" if national else "")
                   + ("+counted" if _partitive(si, tt) else ""),
                   confidence=0.65 if qual_place else 0.55, candidates=cands)
        listed = _coordinated_after(si, t, si.places) if qual_place is not None and qual_place.kind == "region" else []
        if len(listed) > 1:
            # "gas production sites in Kharkiv and Poltava regions": one target per region
            for code in listed:
                reg = svc.gazetteer.region(code)
                targets.append(replace(t, region_code=code, country=reg.country if reg else country))
            used_places.update(i for i, pm in enumerate(si.places) if pm.is_region and pm.places[0].region_code in listed)
        else:
            targets.append(t)
    return _spread_regions(svc, si, _without_feeders(si, targets), used_places, hint, country_hint)


def _without_feeders(si: SentenceInfo, targets: list[Target]) -> list[Target]:
    """"the substation that powers the Unecha pumping station": the asset named as feeding another
    is part of the strike on the one it feeds (docs/annotation.md), not a target of its own."""
    feeds = [si.tokens[m.start].start for m in si.cues.get("feeds", ())]
    if not feeds or len(targets) < 2:
        return targets
    out = []
    for t in targets:
        fed = [o for o in targets if o is not t and any(t.end <= f < o.start and f - t.end < 40 for f in feeds)]
        if t.type in ("substation", "transmission_line", "distribution") and fed:
            continue
        out.append(t)
    return out


_INFRA_WORDS = ("infrastruct", "інфраструктур", "инфраструктур")
_ENERGY_WORDS = ("energ", "енерг", "энерг", "паливн", "топливн", "газ", "gas", "нафт", "нефт", "oil")


def _vague(t: Any) -> bool:
    """"critical infrastructure", "інфраструктурний об'єкт": infrastructure that names no energy."""
    p = t.phrase.lower()
    return t.type == "other_energy" and any(w in p for w in _INFRA_WORDS) and not any(w in p for w in _ENERGY_WORDS)


def _adjacent_country(svc: Services, si: SentenceInfo, ts: int, te: int) -> str | None:
    """"объекты энергетики Украины", "Ukraine's energy system", "російські НПЗ" — but not the
    attacker's adjective ("damage by Russian missile attacks", "російські окупанти атакували")."""
    lex = svc.lexicons[si_lang(si, svc)]
    lo = max(0, ts - 2)
    window = si.tokens[lo: te + 3]
    attackers = {pos for pos, _ in si.attackers}
    found = {m.payload for m in lex.countries.find(window) if si.tokens[lo + m.start].start not in attackers}
    return found.pop() if len(found) == 1 else None


_OF = frozenset("of".split())


def _possessive_country(svc: Services, si: SentenceInfo, ts: int, te: int) -> bool:
    """The country is the term's possessor: right before it ("Ukraine's energy", "української
    енергетики") or right after it ("енергетики України", "energy infrastructure of Ukraine")."""
    lex = svc.lexicons[si_lang(si, svc)]
    toks = si.tokens
    attackers = {pos for pos, _ in si.attackers}
    spans = [(ts - 1, ts)] if ts > 0 else []
    if te < len(toks):
        k = te + 1 if toks[te].norm in _OF and te + 1 < len(toks) else te
        spans.append((k, k + 1))
    for a, b in spans:
        if any(toks[a + m.start].start not in attackers for m in lex.countries.find(toks[a:b + 1])
               if m.start == 0):
            return True
    return False


def si_lang(si: SentenceInfo, svc: Services) -> str:
    return getattr(si, "lang", None) or next(iter(svc.lexicons))


def _coordinated_names(svc: Services, si: SentenceInfo, fn: Any, f: Facility) -> list[Target]:
    """"Сызранского и Новокуйбышевского НПЗ", "Burshtyn and Ladyzhyn TPPs": the
    adjectives coordinated before a matched name share its type word."""
    out: list[Target] = []
    type_tok = si.tokens[fn.tok_end - 1]
    i = fn.tok_start - 1
    seen_conj = False
    while i >= 0:
        t = si.tokens[i]
        if t.norm in _CONJ:
            seen_conj = True
            i -= 1
            continue
        if not (seen_conj and t.capitalised):
            break
        for _, _, fl, _ in svc.registry.find_names([t, type_tok]):
            g = next((x for x in fl if x.id != f.id and not x.parent), None)
            if g is not None:
                out.append(Target(si, t.start, t.end, g.type, g, None, g.region_code, g.country,
                                  rule="facility-alias+coordinated", confidence=0.8, candidates=[g]))
                break
        seen_conj = False
        i -= 1
    return out


def _qualifiers(si: SentenceInfo, ts: int, te: int) -> list[tuple[int, int]]:
    """Token ranges that may name the place of a type term: the words just before it
    (and coordinated ones: "Бурштинська та Ладижинська ТЕС") and a place after a
    preposition ("refinery in Kstovo", "НПЗ в Рязани")."""
    toks = si.tokens
    out: list[tuple[int, int]] = []
    i = ts - 1
    steps = 0
    while i >= 0 and steps < 6:
        t = toks[i]
        if t.norm in _CONJ:
            i -= 1
            steps += 1
            continue
        if t.capitalised or t.text.isupper():
            out.append((i, i + 1))
            i -= 1
            steps += 1
            continue
        break
    j = te
    while j < len(toks) and _NUM.match(toks[j].text):
        j += 1
    clause_end = clause_bounds(si, toks[ts].start)[1] if ts < len(toks) else si.end
    if j < len(toks) and toks[j].norm in _PREP_AFTER and toks[j].start < clause_end:
        k = j + 1
        while k < len(toks) and k < j + 4 and not toks[k].capitalised:
            k += 1
        if k < len(toks) and toks[k].capitalised and toks[k].start < clause_end:
            out.append((k, min(k + 3, len(toks))))
    # operator or brand in quotes right after: «Лукойл», "Slavyansk Eco"
    if te < len(toks) and toks[te].capitalised:
        out.append((te, min(te + 2, len(toks))))
    return out


def _coordinated_after(si: SentenceInfo, t: Target, mentions: list[PlaceMention]) -> list[str]:
    """Region codes of a list of region mentions right after a term
    ("газовидобувні об'єкти на Полтавщині та Харківщині")."""
    after = sorted((m for m in mentions if m.is_region and m.start > t.start), key=lambda m: m.start)
    if not after:
        return []
    out = [after[0].places[0].region_code or ""]
    for prev, cur in zip(after, after[1:]):
        between = [tok for tok in si.tokens if prev.end <= tok.start < cur.start]
        if cur.start >= prev.end and (between or si.sent.text[prev.end - si.start:cur.start - si.start].strip() == ",") \
                and all(tok.norm in _CONJ for tok in between):
            out.append(cur.places[0].region_code or "")
        else:
            break
    return out if after[0].start - t.end < 40 else []


_COUNT_WORDS = frozenset("two three four five both два дві двох три трьох чотири чотирьох обидва обидві обох "
                         "две двух трех трёх четыре четырех оба обе обеих".split())


_PARTITIVE = frozenset("of з із зі из своих своїх своих".split())
_ONE = frozenset("one одна один одну одне одно".split())


def _partitive(si: SentenceInfo, tt: Any) -> bool:
    """"three of its plants", "дві з її ТЕС", "одна из ТЭС компании": some of many, not one named before."""
    prev = [tok.norm for tok in si.tokens[max(0, tt.tok_start - 4): tt.tok_start]]
    return any(w in _COUNT_WORDS or w in _ONE or w.isdigit() for w in prev) and any(w in _PARTITIVE for w in prev)


def _counted_aggregate(si: SentenceInfo, tt: Any) -> bool:
    """"пожежі на двох нафтобазах – у Воронезькій області … а в Пермському краї …": a counted
    plural the sentence then names one by one is their sum, not another target."""
    prev = si.tokens[tt.tok_start - 1] if tt.tok_start > 0 else None
    if prev is None or not (prev.norm in _COUNT_WORDS or prev.text.isdigit()):
        return False
    fam = type_family(tt.type)
    return any(o is not tt and o.tok_start > tt.tok_start and type_family(o.type) == fam for o in si.type_terms)


def _spread_regions(svc: Services, si: SentenceInfo, targets: list[Target], used: set[int],
                    hint: set[str], country_hint: str | None) -> list[Target]:
    """Give unplaced targets the sentence's places; a generic target with several
    regions ("in Lviv, Volyn and Rivne regions") becomes one target per region."""
    free_all = [pm for i, pm in enumerate(si.places) if i not in used]
    out: list[Target] = []
    for t in targets:
        if t.region_code is not None or t.facility is not None:
            out.append(t)
            continue
        if si.has("elsewhere"):
            # "без світла на Сумщині через удар по енергооб'єкту в сусідній області": the target is not where
            # the sentence's places are
            countries = {p.country for pm in si.places for p in pm.places}
            out.append(replace(t, country=t.country or (countries.pop() if len(countries) == 1 else None),
                               rule=t.rule + "+elsewhere"))
            continue
        if "+national" in t.rule and any(x.facility is not None for x in targets):
            # "Russia pounded Ukraine's energy infrastructure, hitting DniproHES in Zaporizhzhia": the
            # country's, beside the plant; the plant's city is not the national term's place
            out.append(t)
            continue
        # "Russian refineries … Kyiv said": a place of the other country is not the target's
        free = [pm for pm in free_all if t.country is None or any(p.country == t.country for p in pm.places)]
        if not free:
            out.append(t)
            continue
        regions: list[tuple[str, Place | None, str]] = []
        for pm in free:
            if pm.is_region:
                for p in pm.places:
                    regions.append((p.region_code or p.id, None, p.country))
            else:
                res = resolve_place(svc, pm, hint, country_hint)
                if res is not None and res.region_code:
                    regions.append((res.region_code, res, res.country))
        seen: set[str] = set()
        regions = [r for r in regions if not (r[0] in seen or seen.add(r[0]))]  # type: ignore[func-returns-value]
        if not regions:
            out.append(t)
            continue
        listed = _coordinated_after(si, t, free)
        if t.generic or len(regions) == 1 or len(listed) > 1:
            chosen = regions if t.generic or len(listed) < 2 else [r for r in regions if r[0] in listed]
            for code, place, country in (chosen if (t.generic or len(listed) > 1) else regions[:1]):
                out.append(Target(si, t.start, t.end, t.type, None, place, code, country,
                                  rule=t.rule + "+sentence-region", confidence=t.confidence, candidates=[]))
        else:
            clause = clause_bounds(si, t.start)
            nearest = min(free, key=lambda pm: (not clause[0] <= pm.start < clause[1], abs(pm.start - t.start)))
            where = nearest.places[0] if nearest.is_region else resolve_place(svc, nearest, hint, country_hint)
            if where is None:
                out.append(t)
                continue
            out.append(Target(si, t.start, t.end, t.type, None, None if where.kind == "region" else where,
                              where.region_code, where.country, rule=t.rule + "+nearest-place",
                              confidence=t.confidence, candidates=[]))
    return out
