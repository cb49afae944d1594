"""Text primitives shared by every stage: normalisation, tokens with offsets,
inflection-tolerant keys, sentence splitting and a multi-word phrase matcher.

Ukrainian and Russian inflect names ("Бурштинській ТЕС", "Рязанского НПЗ",
"у Києві"), so phrases are matched on *keys*, not surface forms: a token's
keys are a suffix-stripped stem of the token plus stems of every lemma
pymorphy3 offers (all parses, because for Ukrainian the first is often
wrong). A phrase matches where every token shares a key with its
counterpart in the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from truce.safeio import read_cache, write_cache

_APOSTROPHES = dict.fromkeys(map(ord, "'’ʼ`´‘ʹ′"), None)
_LATIN_TO_CYR = str.maketrans("aceiopxyABCEHIKMOPTXY", "асеіорхуАВСЕНІКМОРТХУ")
_TOKEN_RE = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*", re.UNICODE)
_CYR_RE = re.compile(r"[а-яёіїєґ]", re.IGNORECASE)
_LAT_RE = re.compile(r"[a-z]", re.IGNORECASE)

# Longest first. Adjective, noun and verb endings of Ukrainian and Russian;
# stripping one of them leaves a stem shared by the inflected forms.
_CYR_ENDINGS = sorted(set("""
ьского ьскому ьским ьской ьская ьское ьские ьских ьскую ьский
ского скому ским ской ская ское ские ских скую ский скими
ськими ського ському ськім ській ська ське ські ських ським ську ський ською ської
ого ому ими ыми ого его ему ему ими ыми ами ями ому ими ої ою ою ій ий ый ой ая яя ое ее ие ые ых их ім ом ем ам ям ах ях ів ів ей ой ью ію ія ії ія ью
ться тися лися лась лось лись ились илась ится ется ются ются ють ять ить ать ати ити ути ила ило или ала али ено ена ени ені
а я о е і и ы у ю ь й ї є
""".split()), key=lambda e: (-len(e), e))
_MIN_STEM = 3


def keys_signature() -> str:
    """Changes whenever key-making changes, so cached phrase indexes are rebuilt."""
    import hashlib

    return hashlib.sha256(repr((_CYR_ENDINGS, _TRANSLIT, _MIN_STEM, "keys-6")).encode()).hexdigest()[:12]


def normalise(s: str) -> str:
    """Casefold, unify apostrophes and ё, strip accents; mixed-script tokens go Cyrillic."""
    s = unicodedata.normalize("NFC", s).replace("\u0301", "").translate(_APOSTROPHES)
    s = s.casefold().replace("ё", "е")
    if _CYR_RE.search(s) and _LAT_RE.search(s):
        s = s.translate(_LATIN_TO_CYR)
    return s


def normalise_text(text: str) -> str:
    """Normalise a whole document for hashing: NFC, unified newlines, trimmed lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_SPACES = {"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\t": " ", "\u2009": " ", "\u200a": " ", "\u3000": " ",
           "\u2028": "\n", "\u2029": "\n", "\x0b": " ", "\x0c": " "}
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")  # soft hyphen, zero-width characters, BOM
_VIEW_PLAIN = re.compile("[\r\u00a0\u2007\u202f\t\u2009\u200a\u3000\u2028\u2029\x0b\x0c\u00ad\u200b\u200c\u200d\u2060\ufeff]")


@dataclass(frozen=True)
class TextView:
    """A copy of a text the analysis can read (NFC, one newline character, no-break and other
    spaces as plain spaces, soft hyphens and zero-width characters removed) that maps every
    span back to the text as given, so that evidence offsets index the original exactly."""

    text: str
    original: str
    _starts: tuple[int, ...] | None = None  # original start of each view character (None: identical)
    _ends: tuple[int, ...] | None = None

    @classmethod
    def of(cls, original: str) -> "TextView":
        if not _VIEW_PLAIN.search(original) and unicodedata.is_normalized("NFC", original):
            return cls(original, original)
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        i, n = 0, len(original)
        while i < n:
            c = original[i]
            j = i + 1
            if c == "\r":
                if j < n and original[j] == "\n":
                    j += 1
                piece = "\n"
            elif c in _INVISIBLE:
                i = j
                continue
            else:
                while j < n and unicodedata.combining(original[j]):
                    j += 1
                piece = _SPACES.get(c) or unicodedata.normalize("NFC", original[i:j])
            for ch in piece:
                out.append(ch)
                starts.append(i)
                ends.append(j)
            i = j
        return cls("".join(out), original, tuple(starts), tuple(ends))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the view's ``[start:end]``."""
        if self._starts is None or self._ends is None:
            return start, end
        if end <= start:
            a = self._starts[start] if start < len(self._starts) else len(self.original)
            return a, a
        return self._starts[start], self._ends[end - 1]


def is_cyrillic(s: str) -> bool:
    return bool(_CYR_RE.search(s))


def stem(word: str) -> str:
    """A light stem: one inflectional ending stripped (never below three letters)."""
    if len(word) <= _MIN_STEM:
        return word
    if _CYR_RE.search(word):
        for end in _CYR_ENDINGS:
            if word.endswith(end) and len(word) - len(end) >= _MIN_STEM:
                return word[: -len(end)]
        return word
    return _en_stem(word)


def _en_stem(w: str) -> str:
    if w.endswith("'s") or w.endswith("s'"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
        if len(w) > 3 and w[-1] == w[-2]:
            w = w[:-1]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
        if len(w) > 3 and w[-1] == w[-2]:
            w = w[:-1]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


_TRANSLIT = (("kh", "h"), ("zh", "z"), ("ts", "c"), ("ya", "ia"), ("yu", "iu"), ("ye", "e"), ("ie", "e"),
             ("yi", "i"), ("iy", "i"), ("yy", "i"), ("y", "i"), ("j", "i"), ("'", ""), ("ii", "i"), ("sch", "sh"))


def translit_key(w: str) -> str:
    """A spelling-insensitive key for romanised names: Zaporizhzhya/Zaporizhzhia,
    Kharkiv/Harkiv, Dniprovska/Dnipr'ovs'ka, Novokuibyshevsk/Novokuybyshevsk."""
    k = w
    for a, b in _TRANSLIT:
        k = k.replace(a, b)
    return "~" + re.sub(r"(.)\1+", r"\1", k)


class Morphology:
    """Lemma lookup with pymorphy3 for Ukrainian and Russian (all parses), cached."""

    def __init__(self) -> None:
        import pymorphy3  # heavy: loaded once per process

        self._an = {"uk": pymorphy3.MorphAnalyzer(lang="uk"), "ru": pymorphy3.MorphAnalyzer(lang="ru")}
        self.lemmas = lru_cache(maxsize=400_000)(self._lemmas)
        self._stored: dict[str, list[str]] = {}  # "lang word" → lemmas, read from a file of earlier runs
        self._made: dict[str, list[str]] | None = {}  # made in this process until save() (what it writes)

    def _lemmas(self, word: str, lang: str) -> frozenset[str]:
        key = f"{lang} {word}"
        got = self._stored.get(key)
        if got is not None:
            return frozenset(got)
        langs = ("uk", "ru") if lang not in ("uk", "ru") else (lang,)
        out: set[str] = set()
        for lg in langs:
            for p in _parse(self._an[lg], word):
                out.add(p.normal_form.replace("ё", "е"))
        if self._made is not None and len(self._made) < _LEMMA_FILE_MAX:
            self._made[key] = sorted(out)
        return frozenset(out)

    @staticmethod
    def signature() -> str:
        """The dictionaries' versions: lemmas stored under another signature are not read."""
        from importlib.metadata import version

        return "-".join(version(d) for d in ("pymorphy3", "pymorphy3-dicts-uk", "pymorphy3-dicts-ru"))

    def load(self, path: Path) -> None:
        """Read lemmas stored by :meth:`save` (a missing, unreadable or foreign file is ignored:
        the lemmas are made again)."""
        data = read_cache(path)
        try:
            if data.get("format") == "truce-lemmas/1" and data.get("signature") == self.signature():
                self._stored = {str(k): [str(x) for x in v] for k, v in data["lemmas"].items()}
        except (AttributeError, TypeError, KeyError):
            self._stored = {}

    def save(self, path: Path) -> None:
        """Store the lemmas read and made so far, when any were made (start-up looks up a few
        thousand words: making them costs a second and a half, reading them a few ms). Later
        lemmas (a report's words) are not recorded: the file holds what start-up needs."""
        made, self._made = self._made, None
        if not made:
            return
        lemmas = dict(islice({**self._stored, **made}.items(), _LEMMA_FILE_MAX))
        if write_cache(path, {"format": "truce-lemmas/1", "signature": self.signature(), "lemmas": lemmas}):
            self._stored = lemmas

    _FUNCTION_POS = frozenset({"PREP", "CONJ", "PRCL", "ADVB", "NPRO", "PRED", "INTJ", "COMP", "NUMR",
                               "INFN", "VERB", "GRND", "PRTS", "PRTF"})

    def is_common_word(self, word: str) -> bool:
        """True when a dictionary knows the word as a function word, verb or adverb
        ("Кроме", "Поки", "Тоже"): such a capitalised word is not a place name."""
        return self._common(word.casefold())

    @lru_cache(maxsize=100_000)  # noqa: B019 - one Morphology per process
    def _common(self, word: str) -> bool:
        for an in self._an.values():
            for p in _parse(an, word)[:3]:
                if p.tag.POS in self._FUNCTION_POS and p.score >= 0.2 and an.word_is_known(word):
                    return True
        return False

    def is_common_noun(self, word: str) -> bool:
        """True when the likeliest reading of a word is a common noun ("Пожар", "Панами"),
        not a geographical or personal name."""
        return self._noun(word.casefold())

    @lru_cache(maxsize=100_000)  # noqa: B019 - one Morphology per process
    def _noun(self, word: str) -> bool:
        return any(pos == "NOUN" and not tags & {"Geox", "Name", "Surn", "Patr", "Orgn", "Trad", "Abbr"}
                   for pos, tags in self._top_parses(word))

    def _top_parses(self, word: str) -> list[tuple[str | None, set[str]]]:
        """(part of speech, grammemes) of the likeliest parse in each dictionary that knows the word."""
        out = []
        for an in self._an.values():
            parses = _parse(an, word)
            if parses and an.word_is_known(word):
                top = max(parses, key=lambda p: p.score)
                out.append((top.tag.POS, set(str(top.tag).replace(" ", ",").split(","))))
        return out

    def is_person_name(self, word: str) -> bool:
        """True when the likeliest reading of a capitalised word is a first name,
        surname or patronymic ("Олександр", "Коваль", "Гладков"), not a place."""
        return self._person(word.casefold())

    @lru_cache(maxsize=100_000)  # noqa: B019 - one Morphology per process
    def _person(self, word: str) -> bool:
        return any({"Name", "Surn", "Patr"} & tags and "Geox" not in tags for _, tags in self._top_parses(word))



_LEMMA_FILE_MAX = 50_000  # words a lemma file holds at most (start-up needs about 6,000)

_MAX_WORD = 40  # longer than any word in the dictionaries: "не"*500 sent pymorphy3 into deep recursion


def _parse(analyzer: Any, word: str) -> list[Any]:
    """pymorphy3's parses of a word; none for a word longer than any real one (its prefix
    splitting recurses once per letter) or one it cannot parse."""
    if len(word) > _MAX_WORD:
        return []
    try:
        return list(analyzer.parse(word))
    except (RecursionError, ValueError, IndexError):
        return []


class Token(NamedTuple):
    """A word with its character offsets, normal form and match keys. A named tuple, not a
    frozen dataclass: a report makes hundreds, and a frozen dataclass sets each field through
    ``object.__setattr__`` (a twentieth of extraction went on making tokens)."""

    text: str
    start: int
    end: int
    norm: str
    keys: frozenset[str]

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()

    @property
    def is_number(self) -> bool:
        return self.text.isdigit()


class KeyMaker:
    """Turns words into match keys; one per process, shared by all matchers."""

    def __init__(self, morphology: Morphology | None):
        self.morph = morphology
        self._cache: dict[tuple[str, str], frozenset[str]] = {}
        self._tok_cache: dict[str, dict[str, tuple[str, frozenset[str]]]] = {}  # per language: word → (norm, keys)

    def keys(self, norm: str, lang: str = "any", raw: str | None = None) -> frozenset[str]:
        """Match keys of a word. An all-capitals word (an acronym: ТЕС, НПЗ, CHP)
        also gets an exact key ``=word`` so that acronyms in a phrase list match
        only acronyms in text, never a lemma that happens to coincide."""
        if raw is not None and len(raw) >= 2 and raw.isupper():
            return frozenset({"=" + norm, stem(norm), norm})
        if raw is not None and len(raw) >= 4 and raw[-2:] in ("'s", "’s") and raw[:-2].isupper():
            base = normalise(raw[:-2])  # "DTEK's", "NPP's": the acronym's possessive
            return frozenset({"=" + base, stem(base), base})
        ck = (norm, lang)
        got = self._cache.get(ck)
        if got is not None:
            return got
        keys = {stem(norm)}
        if not _CYR_RE.search(norm):
            keys.add(translit_key(norm))
        if self.morph is not None and len(norm) > 2 and _CYR_RE.search(norm) and not norm.isupper():
            for lemma in self.morph.lemmas(norm, lang):
                keys.add(stem(lemma))
        out = frozenset(keys)
        if len(self._cache) < 1_000_000:
            self._cache[ck] = out
        return out

    def tokenize(self, text: str, lang: str = "any", offset: int = 0) -> list[Token]:
        toks: list[Token] = []
        append = toks.append
        cache = self._tok_cache.get(lang)
        if cache is None:
            cache = self._tok_cache[lang] = {}
        for m in _TOKEN_RE.finditer(text):
            raw = m.group()
            got = cache.get(raw)
            if got is None:
                norm = normalise(raw)
                got = (norm, self.keys(norm, lang, raw))
                if len(cache) < 500_000:  # per language: the four (en, uk, ru, any) as many as one cache before
                    cache[raw] = got
            a, b = m.span()
            # tuple.__new__ straight: a Token(...) call adds a Python frame per word
            append(_new_tuple(Token, (raw, a + offset, b + offset, got[0], got[1])))
        return toks


_new_tuple = tuple.__new__


# --- sentences ---------------------------------------------------------------

_SENT_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+(?=[\"«“(]?[A-ZА-ЯЁІЇЄҐ0-9])|\n+")
_ABBREV = re.compile(r"(?:\b(?:ул|м|обл|р|г|с|смт|вул|им|ім|тыс|тис|млн|млрд|км|пп|т\.е|т\.д|Mr|Mrs|Dr|St|No|Gen|Lt|Col|Jan|Feb|Mar|Apr|Aug|Sept|Sep|Oct|Nov|Dec|U\.S|U\.N|e\.g|i\.e|ст|див|см|напр)\.)$", re.IGNORECASE)
_ABBREV_WIDTH = 5  # its longest match ("Sept.", "напр."): only a sentence's tail need be searched


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    paragraph: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences with offsets; paragraphs are separated by blank lines or single newlines."""
    out: list[Sentence] = []
    para = 0
    pos = 0
    pieces: list[tuple[int, int, bool]] = []
    for m in _SENT_END.finditer(text):
        pieces.append((pos, m.start(), "\n" in m.group(0)))
        pos = m.end()
    pieces.append((pos, len(text), False))
    carry_start: int | None = None
    for start, end, newline in pieces:
        s0 = carry_start if carry_start is not None else start
        chunk = text[s0:end]
        tail = chunk.rstrip()
        if not newline and _ABBREV.search(tail, max(0, len(tail) - _ABBREV_WIDTH)) and end < len(text):
            carry_start = s0
            continue
        carry_start = None
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            a = s0 + lead
            if len(stripped) <= MAX_SENTENCE:
                out.append(Sentence(a, a + len(stripped), para, stripped))
            else:
                out += _chop(text, a, a + len(stripped), para)
        if newline:
            para += 1
    return out


# Longer than any sentence of the gold sets (493) twice over. Per-sentence analysis
# compares the terms and places of a sentence with one another; a run-on "sentence" of
# thousands of names is read in pieces of at most this length, so time stays linear.
MAX_SENTENCE = 1000
_BREAKS = ("; ", ", ", " – ", " — ", " - ", " ")


def _chop(text: str, a: int, b: int, para: int) -> list[Sentence]:
    out = []
    while a < b:
        end = b
        if b - a > MAX_SENTENCE:
            window = text[a:a + MAX_SENTENCE]
            cut = max((window.rfind(br) + len(br.rstrip()) for br in _BREAKS), default=-1)
            end = a + (cut if cut > MAX_SENTENCE // 2 else MAX_SENTENCE)
        piece = text[a:end]
        stripped = piece.strip()
        if stripped:
            s = a + len(piece) - len(piece.lstrip())
            out.append(Sentence(s, s + len(stripped), para, stripped))
        a = end
    return out


# --- phrase matching -------------------------------------------------------------

class Match(NamedTuple):
    """A phrase found in a token list (a named tuple, like :class:`Token`: made by the thousand)."""

    start: int  # first token index
    end: int  # one past the last token index
    payload: Any
    phrase: str

    def span(self, tokens: Sequence[Token]) -> tuple[int, int]:
        return tokens[self.start].start, tokens[self.end - 1].end


_FUNCTION_WORDS = frozenset(
    "the a an of in on at to by for with from and or its is was were has have had be been not no this that "
    "в у на з із до по від не і й та що як це за під над про при "
    "с из от и как это о об над при".split())


# an indexed phrase: (keys per token, payload, phrase, needs a capital, index of the anchor token)
_Entry = tuple[tuple[frozenset[str], ...], Any, str, bool, int]
_NO_ENTRIES: list[_Entry] = []  # shared, never filled
# what one token's keys may match: its one-word phrases (order, payload, phrase, needs a capital)
# and, per offset of the word beside the anchor, its longer phrases filed by that word's keys
_Plan = tuple[list[tuple[int, Any, str, bool]], tuple[tuple[int, dict[str, list[tuple]]], ...]]
_NO_PLAN: _Plan = ([], ())  # shared, never filled


class PhraseMatcher:
    """Multi-token phrases matched on inflection-tolerant keys.

    ``add(phrase, payload)``; ``find(tokens)`` returns the longest
    non-overlapping matches left to right. With ``capitalised=True`` a match
    must start on a capitalised token (place names), and single-token
    phrases always need a capital if the phrase itself is capitalised.
    """

    def __init__(self, keymaker: KeyMaker, *, capitalised: bool = False, lang: str = "any"):
        self.km = keymaker
        self.capitalised = capitalised
        self.lang = lang
        self._index: dict[str, list[_Entry]] = {}
        self._merged: dict[frozenset[str], _Plan] = {}  # a plan per token's keys, filled lazily
        self._seen: dict[tuple[tuple[frozenset[str], ...], Any], _Entry] = {}
        self.size = 0

    def add(self, phrase: str, payload: Any) -> None:
        toks = self.km.tokenize(phrase, self.lang)
        if not toks:
            return
        # acronyms in a phrase match acronyms only (see KeyMaker.keys)
        seq = tuple(frozenset({"=" + t.norm}) if len(t.text) >= 2 and t.text.isupper() else t.keys for t in toks)
        sig = (seq, payload)
        needs_cap = self.capitalised or (len(toks) == 1 and toks[0].capitalised and not toks[0].text.isupper())
        old = self._seen.get(sig)
        if old is not None:
            if old[3] and not needs_cap:
                # "Украина" and "украинский" share keys: the lower-case form lifts the capital requirement
                new = (seq, payload, old[2], False, old[4])
                for k in seq[old[4]]:
                    lst = self._index[k]
                    lst[lst.index(old)] = new
                self._seen[sig] = new
                self._merged.clear()
            return
        # index on the first word that is not a function word: "the pause", "на території
        # станції" would otherwise be tried at every "the" and "на" of every sentence
        anchor = next((i for i, t in enumerate(toks) if t.norm not in _FUNCTION_WORDS), 0)
        entry = (seq, payload, phrase, needs_cap, anchor)
        self._merged.clear()
        self._seen[sig] = entry
        for k in seq[anchor]:
            self._index.setdefault(k, []).append(entry)
        self.size += 1

    def add_many(self, phrases: Iterable[str], payload: Any) -> None:
        for p in phrases:
            self.add(p, payload)

    def find_all(self, tokens: Sequence[Token]) -> list[Match]:
        """Every match (overlapping allowed), in token order and, at one token, in the order
        the phrases were added."""
        out: list[Match] = []
        n = len(tokens)
        merged = self._merged
        # candidates per token in one C-level pass (most tokens have none), then the tokens that do
        found = list(map(merged.get, [t.keys for t in tokens]))
        if None in found:
            for i, got in enumerate(found):
                if got is None:
                    keys = tokens[i].keys
                    got = self._plan(keys)
                    if len(merged) < 200_000:
                        merged[keys] = got
                    found[i] = got
        capitalised = self.capitalised
        for i, plan in enumerate(found):
            if plan is None or plan is _NO_PLAN:  # (None only to the type checker: every token has a plan now)
                continue
            singles, by_offset = plan
            tok = tokens[i]
            hits: list[tuple[int, Match]] = []
            for order, payload, phrase, needs_cap in singles:
                # a short acronym in text ("ЗМІ", "ППО") is no capitalised name ("Зміїв")
                if not needs_cap or (tok.text[:1].isupper() and not (
                        capitalised and 2 <= len(tok.text) <= 4 and tok.text.isupper() and not phrase.isupper())):
                    if by_offset:
                        hits.append((order, Match(i, i + 1, payload, phrase)))
                    else:
                        out.append(Match(i, i + 1, payload, phrase))
            if by_offset:
                # a phrase of several words is tried only where the word beside its anchor fits
                cands: dict[int, tuple] = {}
                for d, index in by_offset:
                    j = i + d
                    if 0 <= j < n:
                        for k in tokens[j].keys:
                            for c in index.get(k, ()):
                                cands[c[0]] = c
                multi = []
                for order, s, L, needs_cap, payload, phrase, rest in cands.values():
                    s += i
                    if s < 0 or s + L > n or (needs_cap and not tokens[s].text[:1].isupper()):
                        continue
                    for off, want in rest:
                        if want.isdisjoint(tokens[i + off].keys):
                            break
                    else:
                        multi.append((order, Match(s, s + L, payload, phrase)))
                if multi:
                    hits = sorted([*hits, *multi]) if hits or len(multi) > 1 else multi
                out += [m for _, m in hits]
        return out

    def _entries(self, keys: frozenset[str]) -> list[_Entry]:
        """The phrases a token with these keys may anchor, in the order they were added per key."""
        if len(keys) == 1:
            (k,) = keys
            return self._index.get(k, _NO_ENTRIES)
        return list({id(e): e for k in keys for e in self._index.get(k, ())}.values())

    def _plan(self, keys: frozenset[str]) -> _Plan:
        """What a token with these keys may start or anchor: its one-word phrases, and its longer
        phrases filed by the keys the word beside the anchor must have."""
        entries = self._entries(keys)
        if not entries:
            return _NO_PLAN
        singles = []
        by_offset: dict[int, dict[str, list[tuple]]] = {}
        for order, (seq, payload, phrase, needs_cap, anchor) in enumerate(entries):
            L = len(seq)
            if L == 1:
                singles.append((order, payload, phrase, needs_cap))
                continue
            d = 1 if anchor + 1 < L else -1
            rest = tuple((j - anchor, seq[j]) for j in range(L) if j != anchor and j != anchor + d)
            compiled = (order, -anchor, L, needs_cap, payload, phrase, rest)
            index = by_offset.setdefault(d, {})
            for k in seq[anchor + d]:
                index.setdefault(k, []).append(compiled)
        return singles, tuple(by_offset.items())

    def find(self, tokens: Sequence[Token]) -> list[Match]:
        """Longest non-overlapping matches; every payload of the winning span is kept."""
        return _longest(self.find_all(tokens))


class MultiMatcher:
    """Many phrase lists in one pass: ``add(group, phrase, value)``; ``scan(tokens)``
    returns, per group, the longest non-overlapping matches (payload = value).
    One index walk per sentence instead of one per list."""

    def __init__(self, keymaker: KeyMaker, lang: str = "any"):
        self._m = PhraseMatcher(keymaker, lang=lang)

    def add(self, group: str, phrase: str, value: Any) -> None:
        self._m.add(phrase, (group, value))

    def scan(self, tokens: Sequence[Token]) -> dict[str, list[Match]]:
        by: dict[str, list[Match]] = {}
        for m in self._m.find_all(tokens):
            g, v = m.payload
            by.setdefault(g, []).append(_new_tuple(Match, (m[0], m[1], v, m[3])))
        return {g: _longest(ms) for g, ms in by.items()}


def _longest(allm: list[Match]) -> list[Match]:
    if len(allm) < 2:
        return allm  # most lists a sentence finds hold one match (the caller's own, fresh list)
    allm.sort(key=lambda m: (m.start, -(m.end - m.start)))
    out: list[Match] = []
    taken_until = -1
    best_span: tuple[int, int] | None = None
    for m in allm:
        if best_span is not None and (m.start, m.end) == best_span:
            out.append(m)
            continue
        if m.start < taken_until:
            continue
        out.append(m)
        best_span = (m.start, m.end)
        taken_until = m.end
    return out


