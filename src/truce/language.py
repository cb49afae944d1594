"""Language identification limited to Ukrainian, Russian and English.

lingua restricted to the three languages is accurate on short headlines;
letters unique to one language (і ї є ґ for Ukrainian, ы э ъ ё for Russian)
break ties and catch the mixed cases lingua gets wrong.
"""

from __future__ import annotations

from typing import Any

import re
from functools import cached_property

_UK = re.compile(r"[іїєґІЇЄҐ]")
_RU = re.compile(r"[ыэъёЫЭЪЁ]")
_CYR = re.compile(r"[а-яА-Я]")
_LAT = re.compile(r"[a-zA-Z]")


class LanguageDetector:
    """``detect(text) -> 'en' | 'uk' | 'ru'``."""

    @cached_property
    def _lingua(self) -> Any:
        from lingua import Language, LanguageDetectorBuilder

        self._map = {Language.ENGLISH: "en", Language.UKRAINIAN: "uk", Language.RUSSIAN: "ru"}
        return LanguageDetectorBuilder.from_languages(*self._map).build()

    def detect(self, text: str) -> str:
        sample = text[:2000]
        cyr = len(_CYR.findall(sample))
        lat = len(_LAT.findall(sample))
        if cyr == 0:
            return "en"
        if lat > 3 * cyr:
            return "en"
        uk = len(_UK.findall(sample))
        ru = len(_RU.findall(sample))
        if uk and not ru:
            return "uk"
        if ru and not uk:
            return "ru"
        lang = self._lingua.detect_language_of(sample)
        if lang is None:
            return "uk" if uk >= ru else "ru"
        return self._map[lang]
