"""Per-language lexicons (``data/lexicons/<lang>.yaml``) compiled into matchers.

A lexicon is data an analyst can extend: phrase lists per cue (attack,
damage, recap, …), facility-type terms, attacker and acknowledgement
phrases per party, weapon terms, negotiation vocabulary, date words and
regular expressions for counts. Users add phrases with a file of the same
shape in ``TRUCE_LEXICON_DIR``; its lists are appended to the shipped ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import yaml

from truce import yamlio
from truce.errors import ExtractionError
from truce.reference.terms import Agreement
from truce.text import KeyMaker, Match, MultiMatcher, PhraseMatcher, Token

LANGUAGES = ("en", "uk", "ru")
CUE_LISTS = ("attack", "damage", "destroyed", "fire", "debris", "interception", "negation", "threat", "target_list",
             "impact", "hypothetical", "outage", "own_air_defence", "boilerplate",
             "recap", "hedge", "retraction", "accusation", "negotiation_context", "past", "repair", "unrelated",
             "non_asset", "non_asset_of", "undisclosed", "distant", "landmark", "non_energy_infra", "local_asset",
             "operator_assets", "summary", "speaker_at", "anaphor", "same_day", "compliance",
             "schedule", "national", "halt", "accident", "explosion", "elsewhere", "economy", "restoring",
             "regions_count", "other_subject", "mutual", "speech", "third_party", "feeds", "alert", "denial",
             "sum_up", "another")
_REQUIRED = (*CUE_LISTS, "facility_types", "attacker", "acknowledge", "weapons", "countries",
             "negotiation", "patterns", "dates")


GROUPS = (*(f"cue:{c}" for c in CUE_LISTS), "facility_types", "attacker", "acknowledge", "weapons", "countries",
          "neg:topic", "neg:talks", "neg:status", "neg:mediators", "neg:parties", "neg:agreements")


@dataclass
class Lexicon:
    """Compiled phrase lists for one language, scanned in one pass per sentence."""

    language: str
    multi: MultiMatcher
    countries: PhraseMatcher
    patterns: dict[str, list[re.Pattern[str]]]
    dates: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    _any: dict[tuple[str, ...], re.Pattern[str] | None] = field(repr=False, default_factory=dict)

    def scan(self, tokens: Sequence[Token]) -> dict[str, list[Match]]:
        """Group name (``cue:attack``, ``facility_types``, ``neg:status``…) → matches."""
        return self.multi.scan(tokens)

    def any_pattern(self, names: Sequence[str]) -> re.Pattern[str] | None:
        """One expression that finds something wherever any pattern of ``names`` would (an
        alternation matches at a place when any of its alternatives does): most sentences match
        none, and one search costs less than one per pattern. None when the patterns cannot be
        joined (different flags, a group name used twice, a back-reference)."""
        key = tuple(names)
        if key not in self._any:
            pats = [p for n in names for p in self.patterns.get(n, ())]
            joined: re.Pattern[str] | None = None
            if pats and len({p.flags for p in pats}) == 1 and not any(re.search(r"\\\d|\(\?P=", p.pattern) for p in pats):
                try:
                    joined = re.compile("|".join(f"(?:{p.pattern})" for p in pats), pats[0].flags)
                except re.error:
                    joined = None
            self._any[key] = joined
        return self._any[key]


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yamlio.load(fh)
    except OSError as e:
        raise ExtractionError(f"cannot read lexicon: {e.strerror}", path=str(path)) from e
    except yaml.YAMLError as e:
        msg, line = yamlio.problem(e)
        raise ExtractionError(msg, path=str(path), line=line) from e
    if not isinstance(data, dict):
        raise ExtractionError("a lexicon must be a mapping", path=str(path))
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = out[k] + [x for x in v if x not in out[k]]
        else:
            out[k] = v
    return out


def _check(data: dict[str, Any], path: Path) -> None:
    for key in _REQUIRED:
        if key not in data:
            raise ExtractionError(f"lexicon is missing the key {key!r}", path=str(path))
    for key in CUE_LISTS:
        if not isinstance(data[key], list) or not all(isinstance(x, str) for x in data[key]):
            raise ExtractionError(f"{key}: expected a list of phrases", path=str(path))
    for key in ("patterns",):
        for name, pats in data[key].items():
            for i, p in enumerate(pats):
                try:
                    re.compile(p)
                except re.error as e:
                    raise ExtractionError(f"patterns.{name}[{i}]: invalid regular expression: {e}", path=str(path)) from e


def _matcher(km: KeyMaker, lang: str, groups: dict[str, list[str]] | list[str], payload: str | None = None) -> PhraseMatcher:
    m = PhraseMatcher(km, lang=lang)
    if isinstance(groups, list):
        m.add_many(groups, payload)
    else:
        for key, phrases in groups.items():
            m.add_many(phrases or [], str(key))
    return m


def load_lexicon(lang: str, km: KeyMaker, extra_dir: Path | None = None,
                 agreement_names: dict[str, list[str]] | None = None) -> Lexicon:
    """``agreement_names``: agreement id → how reporters name it in ``lang`` (from the
    agreement terms, not the lexicon: a new agreement needs no lexicon change)."""
    path = Path(str(resources.files("truce").joinpath("data", "lexicons", f"{lang}.yaml")))
    data = _load_yaml(path)
    _check(data, path)
    if extra_dir is not None and (extra_dir / f"{lang}.yaml").exists():
        extra_path = extra_dir / f"{lang}.yaml"
        data = _merge(data, _load_yaml(extra_path))
        _check(data, extra_path)
    neg = data["negotiation"]
    multi = MultiMatcher(km, lang)

    def add(group: str, lists: dict[str, list[str]] | list[str], value: str | None = None) -> None:
        if isinstance(lists, list):
            for p in lists:
                multi.add(group, p, value)
        else:
            for key, phrases in lists.items():
                for p in phrases or []:
                    multi.add(group, p, str(key))

    for c in CUE_LISTS:
        add(f"cue:{c}", data[c], c)
    for g in ("facility_types", "attacker", "acknowledge", "weapons", "countries"):
        add(g, data[g])
    add("neg:topic", neg["topic"], "topic")
    add("neg:talks", neg["talks"], "talks")
    for g in ("status", "mediators", "parties"):
        add(f"neg:{g}", neg[g])
    add("neg:agreements", agreement_names or {})
    return Lexicon(
        language=lang, multi=multi, countries=_matcher(km, lang, data["countries"]),
        patterns={k: [re.compile(p, re.IGNORECASE) for p in v] for k, v in data["patterns"].items()},
        dates=data["dates"], raw=data,
    )


def load_lexicons(km: KeyMaker, extra_dir: Path | None = None,
                  agreements: Sequence[Agreement] = ()) -> dict[str, Lexicon]:
    return {lang: load_lexicon(lang, km, extra_dir, {a.id: a.names(lang) for a in agreements}) for lang in LANGUAGES}
