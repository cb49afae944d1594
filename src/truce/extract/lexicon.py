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

from truce.errors import ExtractionError
from truce.text import KeyMaker, Match, PhraseMatcher, Token

LANGUAGES = ("en", "uk", "ru")
CUE_LISTS = ("attack", "damage", "destroyed", "fire", "debris", "interception", "negation", "threat", "target_list", "impact", "hypothetical",
             "recap", "hedge", "retraction", "accusation", "negotiation_context")
_REQUIRED = (*CUE_LISTS, "facility_types", "attacker", "acknowledge", "weapons", "countries",
             "negotiation", "patterns", "dates")


@dataclass
class Lexicon:
    """Compiled matchers for one language."""

    language: str
    cues: dict[str, PhraseMatcher]
    facility_types: PhraseMatcher
    attacker: PhraseMatcher
    acknowledge: PhraseMatcher
    weapons: PhraseMatcher
    countries: PhraseMatcher
    neg_topic: PhraseMatcher
    neg_talks: PhraseMatcher
    neg_status: PhraseMatcher
    neg_mediators: PhraseMatcher
    neg_parties: PhraseMatcher
    neg_agreements: PhraseMatcher
    patterns: dict[str, list[re.Pattern[str]]]
    dates: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def cue(self, name: str, tokens: Sequence[Token]) -> list[Match]:
        return self.cues[name].find(tokens)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as e:
        raise ExtractionError(f"cannot read lexicon: {e.strerror}", path=str(path)) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ExtractionError(f"invalid YAML: {getattr(e, 'problem', e)}", path=str(path),
                              line=(mark.line + 1) if mark else None) from e
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


def load_lexicon(lang: str, km: KeyMaker, extra_dir: Path | None = None) -> Lexicon:
    path = Path(str(resources.files("truce").joinpath("data", "lexicons", f"{lang}.yaml")))
    data = _load_yaml(path)
    _check(data, path)
    if extra_dir is not None and (extra_dir / f"{lang}.yaml").exists():
        extra_path = extra_dir / f"{lang}.yaml"
        data = _merge(data, _load_yaml(extra_path))
        _check(data, extra_path)
    ft = dict(data["facility_types"])
    neg = data["negotiation"]
    return Lexicon(
        language=lang,
        cues={c: _matcher(km, lang, data[c], c) for c in CUE_LISTS},
        facility_types=_matcher(km, lang, ft),
        attacker=_matcher(km, lang, data["attacker"]),
        acknowledge=_matcher(km, lang, data["acknowledge"]),
        weapons=_matcher(km, lang, data["weapons"]),
        countries=_matcher(km, lang, data["countries"]),
        neg_topic=_matcher(km, lang, neg["topic"], "topic"),
        neg_talks=_matcher(km, lang, neg["talks"], "talks"),
        neg_status=_matcher(km, lang, neg["status"]),
        neg_mediators=_matcher(km, lang, neg["mediators"]),
        neg_parties=_matcher(km, lang, neg["parties"]),
        neg_agreements=_matcher(km, lang, neg["agreements"]),
        patterns={k: [re.compile(p, re.IGNORECASE) for p in v] for k, v in data["patterns"].items()},
        dates=data["dates"],
        raw=data,
    )


def load_lexicons(km: KeyMaker, extra_dir: Path | None = None) -> dict[str, Lexicon]:
    return {lang: load_lexicon(lang, km, extra_dir) for lang in LANGUAGES}
