"""Settings: each declared once (name, default, help).

Precedence, lowest to highest: package defaults, a TOML config file
(``--config`` or ``TRUCE_CONFIG``), ``TRUCE_*`` environment variables, CLI
flags. Secrets (the ledger signing key, a model API key) come only from the
environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
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
    Setting("firms_matching", None, "YAML overriding the satellite fire matching parameters (TRUCE_FIRMS_MATCHING)"),
    Setting("outlook", None, "YAML overriding the grid outlook's assumptions (TRUCE_OUTLOOK)"),
    Setting("max_report_chars", 500_000, "longest report text accepted, in characters (TRUCE_MAX_REPORT_CHARS)"),
    Setting("max_file_mb", 256, "largest input file read whole (HTML, feed, CSV, text), in MiB (TRUCE_MAX_FILE_MB)"),
    Setting("extract_budget", 10.0, "seconds the extractor may spend on one report before it is skipped (TRUCE_EXTRACT_BUDGET)"),
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
    firms_matching: str | None = None
    outlook: str | None = None
    max_report_chars: int = 500_000
    max_file_mb: int = 256
    extract_budget: float = 10.0

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
            elif f.name in ("llm_timeout", "extract_budget"):
                values[f.name] = _number(f.name, env, float)
            elif f.name in ("max_report_chars", "max_file_mb"):
                values[f.name] = _number(f.name, env, int)
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


def _number(name: str, value: str, kind: type) -> Any:
    try:
        n = kind(value)
    except ValueError:
        raise PipelineError(f"TRUCE_{name.upper()}={value!r} is not a number") from None
    if not n > 0:
        raise PipelineError(f"TRUCE_{name.upper()} must be positive")
    return n


def database_url(db: str) -> str:
    """A path or URL → SQLAlchemy URL (``truce.db`` → ``sqlite:///truce.db``)."""
    if "://" in db:
        if db.startswith("postgresql://"):
            return "postgresql+psycopg://" + db[len("postgresql://"):]
        if db.startswith("postgres://"):
            return "postgresql+psycopg://" + db[len("postgres://"):]
        return db
    return f"sqlite:///{db}"
