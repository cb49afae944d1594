"""The report-level context a sentence falls back on when it does not say
itself: the lead's region and country, the attacker named in the paragraph
or the lead, the weapon, the date. Shared by the strike, negotiation and
accusation claim builders."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from truce.extract.analysis import Document, SentenceInfo, Services
from truce.extract.dates import DateMention
from truce.extract.events import lead_sentences
from truce.extract.targets import Target
from truce.records import other_party


@dataclass
class Draft:
    """A strike claim in the making: one target told in one or more sentences."""

    target: Target
    sentences: list[SentenceInfo]
    salience: str
    date: DateMention | None
    date_basis: str
    outcome: str
    attacker: str | None
    attacker_basis: str | None
    acknowledged_by: str | None
    weapon: str | None
    hedged: bool
    denies: bool
    retracted: bool
    rules: list[str] = field(default_factory=list)
    confidence: float = 0.6
    tally: bool = False  # "since then, at least 20 strikes on energy in …": a count, not an event
    denied: str | None = None  # with ``denies``: what the report's voice denies (strike, damage, attribution)


class ReportContext:
    """Report-level context a sentence falls back on: region, country, attacker, weapon, date."""

    def __init__(self, doc: Document, svc: Services, main: DateMention | None, affiliation: str | None,
                 source_region: str | None = None, extractor: str = ""):
        self.doc = doc
        self.extractor = extractor  # the id recorded on every claim built with this context
        self.svc = svc
        self.main = main
        self.affiliation = affiliation
        lead = ([doc.title_info] if doc.title_info else []) + lead_sentences(doc)
        self.lead = lead
        regions: dict[str, int] = {}
        for s in lead:
            for p in s.places:
                code = p.places[0].region_code if len({x.region_code for x in p.places}) == 1 or p.is_region else None
                if code:
                    regions[code] = regions.get(code, 0) + (2 if p.is_region else 1)
            for fn in s.facility_names:  # "the Kyiv CHP-5 was hit": the report is about Kyiv
                codes = {f.region_code for f in fn.facilities}
                if len(codes) == 1:
                    code = codes.pop()
                    regions[code] = regions.get(code, 0) + 1
        ranked = sorted(regions.items(), key=lambda kv: -kv[1])
        # only a clear winner: a lead that lists four oblasts has no single region
        self.region_hint = {ranked[0][0]} if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else set()
        if not ranked and source_region:
            self.region_hint = {source_region}  # a governor's post speaks of the governor's region
        countries: dict[str, int] = {}
        for s in lead:
            for c in s.target_countries():
                countries[c] = countries.get(c, 0) + 1
        self.country_hint = max(countries, key=lambda k: countries[k]) if countries else None
        self.report_weapons = {w for s in [*lead, *doc.sentences] for w in s.weapons}
        # regions and towns (not villages: a stray village match is the commonest gazetteer error)
        every = {p.places[0].region_code for s in [*lead, *doc.sentences] for p in s.places
                 if p.is_region or (len({x.region_code for x in p.places}) == 1 and p.places[0].population >= 10_000)}
        # a report about one region: its unplaced "energy facility" is in that region
        self.single_region = len(every) == 1 and every == self.region_hint
        if len(countries) > 1:
            self.country_hint = None  # "Russia attacked Ukraine's energy": no single country to fall back on

    # ---

    def place_target(self, t: Target, si: SentenceInfo) -> Target:
        if t.region_code is not None or t.facility is not None or "+elsewhere" in t.rule:
            return t
        nxt = self.doc.sentences[si.index + 1] if si.index + 1 < len(self.doc.sentences) else None
        if si.has("undisclosed") or (nxt is not None and nxt.sent.paragraph == si.sent.paragraph
                                     and nxt.has("undisclosed") and not nxt.facility_names):
            # "one of DTEK's plants … It did not name the plant or the region": none to borrow
            # (but "… reported a fire at the Burshtyn TPP, though the company did not name it" does)
            return replace(t, country=t.country or self._operator_country(si) or country_from(si) or self.country_hint,
                           rule=t.rule + "+undisclosed")
        # fall back on the paragraph, then the lead (never across a recap boundary)
        for s in reversed(self.doc.sentences[: si.index]):
            if s.sent.paragraph != si.sent.paragraph or s.background != si.background:
                break
            regs = [p for p in s.places if p.is_region]
            if len(regs) == 1:
                p = regs[0].places[0]
                return replace(t, region_code=p.region_code, country=p.country, rule=t.rule + "+paragraph-region")
        if not si.background and len(self.region_hint) == 1 and (not t.generic or self.single_region):
            code = next(iter(self.region_hint))
            reg = self.svc.gazetteer.region(code)
            return replace(t, region_code=code, country=reg.country if reg else None, rule=t.rule + "+lead-region",
                           confidence=t.confidence - 0.05)
        country = t.country or self._operator_country(si) or country_from(si) or self.country_hint
        return replace(t, country=country)

    def _operator_country(self, si: SentenceInfo) -> str | None:
        """"DTEK said two of its thermal power plants were damaged": the operator's country."""
        if self.svc.operators is None:
            return None
        found = {m.payload.affiliation for m in self.svc.operators.find(si.tokens)} & {"UA", "RU"}
        return found.pop() if len(found) == 1 else None

    def date_for(self, si: SentenceInfo, at: int | None = None) -> tuple[DateMention | None, str]:
        if si.has("same_day"):
            # "Утром того же дня в Рыльском районе …": the day of the sentence before
            for s in reversed(self.doc.sentences[: si.index]):
                ds = [d for d in s.dates if d.date is not None and d.precision == "day"]
                if ds:
                    return ds[-1], "inferred_context"
        own = [d for d in si.dates if d.date is not None]
        if own:
            night = [d for d in own if d.night]
            days = [d for d in own if d.precision == "day"]
            if night or not days or at is None:
                return (night or own)[0], own[0].basis
            # "In January …, including on Jan. 15, when missiles targeted storage sites", "24 января
            # пожар на Рязанском НПЗ, а 29 января …": the last day before the target, not the month
            # that opens the sentence nor the day of the next clause
            before = [d for d in days if d.end <= at]
            best = before[-1] if before else days[0]
            return best, best.basis
        if si.summary:
            return None, "unspecified"
        if si.background:
            for s in reversed(self.doc.sentences[: si.index]):
                if not s.background or s.sent.paragraph != si.sent.paragraph:
                    break
                ds = [d for d in s.dates if d.date is not None]
                if ds:
                    return ds[0], "inferred_context"
            return None, "unspecified"
        for s in reversed(self.doc.sentences[: si.index]):
            if s.sent.paragraph != si.sent.paragraph or s.background:
                break
            ds = [d for d in s.dates if d.date is not None]
            if ds:
                return ds[0], "inferred_context"
        if self.main is not None:
            return self.main, "inferred_context"
        if self.doc.pub.usable:
            return None, "publication_date"
        return None, "unspecified"

    def attacker_for(self, si: SentenceInfo, t: Target) -> tuple[str | None, str | None]:
        target_country = t.country
        # a side does not strike its own energy (bar occupied territory): "Russian
        # forces repelled the attack on the Russian refinery" names no attacker
        own = target_country if target_country and not self.occupied(t) and not si.has("own_air_defence") else None
        stated = party_of(si.attackers, exclude=own)
        if stated is None:
            for s in reversed(self.doc.sentences[: si.index]):
                if s.sent.paragraph != si.sent.paragraph:
                    break
                stated = party_of(s.attackers, exclude=own)
                if stated:
                    break
        if stated is None and not si.background:
            for s in self.lead:
                stated = party_of(s.attackers, exclude=own)
                if stated:
                    break
        if stated is not None:
            return stated, "stated"
        if target_country == "RU":
            return "UA", "inferred"
        if target_country == "UA":
            if self.occupied(t):
                return "UA", "inferred"
            if t.region_code in self.svc.gazetteer.partly_occupied_regions and t.facility is None:
                return (other_party(self.affiliation), "inferred") if self.affiliation in ("UA", "RU") else (None, None)
            return "RU", "inferred"
        return None, None

    def acknowledged_for(self, si: SentenceInfo, attacker: str | None) -> str | None:
        scope = [si] + [s for s in self.doc.sentences if s.sent.paragraph == si.sent.paragraph and s is not si]
        if not si.background:
            scope += self.lead
        for s in scope:
            for _, party in s.acknowledgers:
                if attacker is None or party == attacker:
                    return party
        return None

    def weapon_for(self, si: SentenceInfo) -> str | None:
        ws = set(si.weapons)
        if not ws:
            for s in reversed(self.doc.sentences[: si.index]):
                if s.sent.paragraph != si.sent.paragraph:
                    break
                ws |= set(s.weapons)
        if not ws and not si.background:
            ws = {w for s in self.lead for w in s.weapons} or (self.report_weapons if len(self.report_weapons) == 1 else set())
        if not ws:
            return None
        if len(ws) == 1:
            return next(iter(ws))
        return "mixed"

    def hedged(self, si: SentenceInfo) -> bool:
        return si.has("hedge") or any(s.has("hedge") for s in self.lead[:2])

    def occupied(self, t: Target) -> bool:
        if t.facility is not None and t.facility.status == "occupied":
            return True
        return t.region_code in self.svc.gazetteer.occupied_regions


def party_of(matches: list[tuple[int, str]], exclude: str | None = None) -> str | None:
    """The attacking party a sentence names; with both parties named, the first
    named one ("Ukrainian forces struck … supplying the Russian army")."""
    ms = sorted((pos, p) for pos, p in matches if p != exclude)
    return ms[0][1] if ms else None


def country_from(si: SentenceInfo) -> str | None:
    """The one country the sentence names, unless it names it as the attacker ("a Russian missile attack")."""
    cs = set(si.countries) - {p for _, p in si.attackers}
    return cs.pop() if len(cs) == 1 else None
