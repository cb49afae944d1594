"""Settings and the services context every stage receives.

Precedence, lowest to highest: package defaults, a TOML config file
(``--config`` or ``TRUCE_CONFIG``), ``TRUCE_*`` environment variables, CLI
flags. Secrets (the ledger signing key, a model API key) come only from the
environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from truce.errors import PipelineError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "sqlite:///truce.db", "database URL or SQLite path (TRUCE_DB)"),
    Setting("sources", (), "extra sources YAML files, merged over the shipped list (TRUCE_SOURCES, ':'-separated)"),
    Setting("registry", (), "extra facility registry CSV files (TRUCE_REGISTRY, ':'-separated)"),
    Setting("agreements", (), "extra agreement YAML files or directories (TRUCE_AGREEMENTS, ':'-separated)"),
    Setting("lexicon_dir", None, "directory with en/uk/ru.yaml lexicon additions (TRUCE_LEXICON_DIR)"),
    Setting("extractor", "rules", "extractor backend: rules or llm (TRUCE_EXTRACTOR)"),
    Setting("llm_url", None, "OpenAI-compatible base URL for the llm extractor, e.g. http://127.0.0.1:8080/v1 (TRUCE_LLM_URL)"),
    Setting("llm_model", "local", "model name sent to the llm endpoint (TRUCE_LLM_MODEL)"),
    Setting("llm_timeout", 60.0, "seconds to wait for the llm endpoint (TRUCE_LLM_TIMEOUT)"),
    Setting("author", None, "who signs reviews and ledger entries (TRUCE_AUTHOR; default: the OS user)"),
    Setting("use_geonames", True, "include GeoNames settlements in the gazetteer (TRUCE_USE_GEONAMES)"),
)
_LISTS = {"sources", "registry", "agreements"}


@dataclass(frozen=True)
class Settings:
    db: str = "sqlite:///truce.db"
    sources: tuple[str, ...] = ()
    registry: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    lexicon_dir: str | None = None
    extractor: str = "rules"
    llm_url: str | None = None
    llm_model: str = "local"
    llm_timeout: float = 60.0
    author: str | None = None
    use_geonames: bool = True

    @classmethod
    def load(cls, config_file: str | None = None, **overrides: Any) -> "Settings":
        values: dict[str, Any] = {}
        path = config_file or os.environ.get("TRUCE_CONFIG")
        if path:
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except OSError as e:
                raise PipelineError(f"cannot read config file: {e.strerror}", path=path) from e
            except tomllib.TOMLDecodeError as e:
                raise PipelineError(f"invalid TOML: {e}", path=path) from e
            known = {f.name for f in fields(cls)}
            for k, v in (data.get("truce", data)).items():
                if k not in known:
                    raise PipelineError(f"unknown setting {k!r}", path=path)
                values[k] = tuple(v) if k in _LISTS else v
        for f in fields(cls):
            env = os.environ.get(f"TRUCE_{f.name.upper()}")
            if env is None:
                continue
            if f.name in _LISTS:
                values[f.name] = tuple(p for p in env.split(os.pathsep) if p)
            elif f.name == "use_geonames":
                values[f.name] = env.strip().lower() not in ("0", "false", "no")
            elif f.name == "llm_timeout":
                values[f.name] = float(env)
            else:
                values[f.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    @property
    def db_url(self) -> str:
        return database_url(self.db)

    @property
    def who(self) -> str:
        if self.author:
            return self.author
        try:
            import getpass

            return getpass.getuser()
        except Exception:  # noqa: BLE001 - no user database in some containers
            return "unknown"


def database_url(db: str) -> str:
    """A path or URL → SQLAlchemy URL (``truce.db`` → ``sqlite:///truce.db``)."""
    if "://" in db:
        if db.startswith("postgresql://"):
            return "postgresql+psycopg://" + db[len("postgresql://"):]
        if db.startswith("postgres://"):
            return "postgresql+psycopg://" + db[len("postgres://"):]
        return db
    return f"sqlite:///{db}"


@dataclass
class Context:
    """Reference data and services, loaded once and passed to every stage."""

    settings: Settings
    services: Any  # truce.extract.analysis.Services
    sources: Any  # truce.sources.SourceBook
    agreements: list[Any] = field(default_factory=list)  # truce.agreements.Agreement
    _extractor: Any = None

    @property
    def registry(self) -> Any:
        return self.services.registry

    @property
    def gazetteer(self) -> Any:
        return self.services.gazetteer

    @property
    def extractor(self) -> Any:
        if self._extractor is None:
            self._extractor = make_extractor(self)
        return self._extractor


def make_extractor(ctx: Context) -> Any:
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


def load_context(settings: Settings | None = None, db: Any = None) -> Context:
    """Build the services: morphology, lexicons, registry, gazetteer, sources, agreements.

    With ``db``, facilities imported into that database (``truce facilities import``)
    join the registry."""
    from truce.agreements import load_agreements
    from truce.extract.analysis import Services
    from truce.extract.language import LanguageDetector
    from truce.extract.lexicon import load_lexicons
    from truce.gazetteer import Gazetteer
    from truce.registry import Registry
    from truce.sources import SourceBook
    from truce.text import KeyMaker, Morphology, PhraseMatcher

    settings = settings or Settings.load()
    km = KeyMaker(Morphology())
    extra = []
    if db is not None:
        from truce.registry_import import stored_facilities

        extra = stored_facilities(db)
    registry = Registry.load(km, settings.registry, extra=extra)
    gazetteer = Gazetteer.load(km, list(registry), use_geonames=settings.use_geonames)
    lexicons = load_lexicons(km, Path(settings.lexicon_dir) if settings.lexicon_dir else None)
    sources = SourceBook.load(settings.sources)
    operators = PhraseMatcher(km)
    for s in sources.sources.values():
        if s.kind == "operator":
            operators.add_many((s.name, *s.aliases), s)
    services = Services(km=km, lexicons=lexicons, gazetteer=gazetteer, registry=registry,
                        detector=LanguageDetector(), sources=sources, operators=operators)
    agreements = load_agreements(settings.agreements)
    services.agreements = agreements
    return Context(settings=settings, services=services, sources=sources, agreements=agreements)
