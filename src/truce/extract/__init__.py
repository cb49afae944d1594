"""Extraction: Report → list[Claim] (EVAL-FORMAT.md section 2).

Extractors implement :class:`Extractor`. The rule extractor
(:class:`truce.extract.rules.RuleExtractor`) is the default and needs
nothing; :mod:`truce.extract.llm` adds an optional backend that calls an
OpenAI-compatible endpoint. Every claim leaves here checked: evidence
offsets match the text, the region carries its English name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from truce.errors import ExtractionError
from truce.extract.analysis import Services
from truce.records import Claim, Report


class Extractor(Protocol):
    """A stage: one report in, its claims out. No I/O besides its configured backend."""

    name: str

    @property
    def id(self) -> str: ...

    def extract(self, report: Report) -> list[Claim]: ...


def finalize(claims: list[Claim], report: Report, services: Services) -> list[Claim]:
    """Fill region names, renumber, and enforce the evidence contract."""
    out = []
    for i, c in enumerate(claims):
        region = services.gazetteer.region_name(c.region_code) if c.region_code else None
        if c.linked_claim is not None and c.linked_claim >= len(claims):
            c = replace(c, linked_claim=None)
        c = replace(c, index=i, region=region)
        for e in c.evidence:
            if report.text[e.start:e.end] != e.text:
                raise ExtractionError(
                    f"claim {i}: evidence [{e.start}:{e.end}] does not match the report text",
                    path=report.external_id)
        out.append(c)
    return out


def run_extractor(extractor: Extractor, report: Report, services: Services) -> list[Claim]:
    return finalize(extractor.extract(report), report, services)
