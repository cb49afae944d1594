"""The context every stage receives: settings plus the reference data and
services loaded once per process (morphology, lexicons, registry,
gazetteer, sources, agreement terms) and the configured extractor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from truce.config import Settings
from truce.errors import PipelineError
from truce.extract import Extractor
from truce.extract.analysis import Services
from truce.language import LanguageDetector
from truce.records import Facility
from truce.reference.gazetteer import Gazetteer, cache_dir
from truce.reference.registry import Registry
from truce.reference.sources import SourceBook
from truce.reference.terms import Agreement

if TYPE_CHECKING:
    from truce.db import Database


@dataclass
class Context:
    """Reference data and services, loaded once and passed to every stage."""

    settings: Settings
    services: Services
    sources: SourceBook
    agreements: list[Agreement] = field(default_factory=list)
    _extractor: Extractor | None = None
    # facilities imported into the database that joined the registry (extraction workers
    # rebuild the same context from the settings and these)
    extra_facilities: tuple[Facility, ...] = ()

    @property
    def registry(self) -> Registry:
        return self.services.registry

    @property
    def gazetteer(self) -> Gazetteer:
        return self.services.gazetteer

    @property
    def detector(self) -> LanguageDetector:
        return self.services.detector

    @property
    def extractor(self) -> Extractor:
        if self._extractor is None:
            self._extractor = make_extractor(self)
        return self._extractor

    def agreement(self, agreement_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)


def make_extractor(ctx: Context) -> Extractor:
    name = ctx.settings.extractor
    if name == "rules":
        from truce.extract.rules import RuleExtractor

        return RuleExtractor(ctx.services)
    if name == "llm":
        from truce.extract.llm import LLMExtractor

        if not ctx.settings.llm_url:
            raise PipelineError("the llm extractor needs llm_url (TRUCE_LLM_URL or --llm-url)")
        return LLMExtractor(ctx.services, ctx.settings.llm_url, ctx.settings.llm_model,
                            timeout=ctx.settings.llm_timeout, api_key=os.environ.get("TRUCE_LLM_API_KEY"))
    raise PipelineError(f"unknown extractor {name!r} (use rules or llm)")


def load_context(settings: Settings | None = None, db: "Database | None" = None, *,
                 facilities: "list[Facility] | None" = None) -> Context:
    """Build the services: morphology, lexicons, registry, gazetteer, sources, agreements.

    With ``db``, facilities imported into that database (``truce facilities import``)
    join the registry; ``facilities`` gives those rows directly (a worker process that
    cannot open the database: :mod:`truce.backfill`, :mod:`truce.parallel`)."""
    from truce.extract.lexicon import load_lexicons
    from truce.reference.terms import load_agreements
    from truce.text import KeyMaker, Morphology, PhraseMatcher, keys_signature

    settings = settings or Settings.load()
    morph = Morphology()
    lemma_file = cache_dir() / f"lemmas-{keys_signature()}.json"
    morph.load(lemma_file)
    km = KeyMaker(morph)
    extra = list(facilities or ())
    if db is not None and facilities is None:
        from truce.ingest.facilities import stored_facilities

        extra += stored_facilities(db)
    registry = Registry.load(km, settings.registry, extra=extra)
    gazetteer = Gazetteer.load(km, list(registry), use_geonames=settings.use_geonames)
    agreements = load_agreements(settings.agreements)
    lexicons = load_lexicons(km, Path(settings.lexicon_dir) if settings.lexicon_dir else None, agreements)
    sources = SourceBook.load(settings.sources)
    operators = PhraseMatcher(km)
    for s in sources.sources.values():
        if s.kind == "operator":
            operators.add_many((s.name, *s.aliases), s)
    morph.save(lemma_file)  # the words start-up looked up, for the next process
    services = Services(km=km, lexicons=lexicons, gazetteer=gazetteer, registry=registry,
                        detector=LanguageDetector(), sources=sources, operators=operators, agreements=agreements)
    return Context(settings=settings, services=services, sources=sources, agreements=agreements,
                   extra_facilities=tuple(extra))
