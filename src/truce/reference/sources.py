"""Sources and their affiliations (``data/sources.yaml`` plus user files).

A report's ``source`` field is free text; :meth:`SourceBook.match` maps it
(or the report URL's domain) to a known source, so that corroboration can
tell sides and independence apart.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import yaml

from truce import yamlio
from truce.errors import IngestError
from truce.records import AFFILIATIONS, FACILITY_TYPES, SOURCE_KINDS, Source
from truce.text import normalise


def _read(path: Path) -> list[Source]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yamlio.load(fh) or {}
    except OSError as e:
        raise IngestError(f"cannot read sources file: {e.strerror}", path=str(path)) from e
    except yaml.YAMLError as e:
        msg, line = yamlio.problem(e)
        raise IngestError(msg, path=str(path), line=line) from e
    items = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise IngestError("expected a top-level 'sources:' list", path=str(path))
    out = []
    for i, item in enumerate(items):
        where = f"sources[{i}]"
        if not isinstance(item, dict) or not item.get("name"):
            raise IngestError(f"{where}: each source needs a name", path=str(path))
        kind = item.get("kind", "unknown")
        aff = item.get("affiliation")
        if kind not in SOURCE_KINDS:
            raise IngestError(f"{where}.kind: {kind!r} is not one of {', '.join(SOURCE_KINDS)}", path=str(path))
        if aff is not None and aff not in AFFILIATIONS:
            raise IngestError(f"{where}.affiliation: {aff!r} is not one of {', '.join(AFFILIATIONS)}", path=str(path))
        assets = item.get("assets")
        if assets is not None and assets not in FACILITY_TYPES:
            raise IngestError(f"{where}.assets: {assets!r} is not a facility type", path=str(path))
        out.append(Source(name=str(item["name"]), kind=kind, affiliation=aff,
                          domains=tuple(str(d).lower() for d in item.get("domains") or ()),
                          aliases=tuple(str(a) for a in item.get("aliases") or ()),
                          region=item.get("region"), assets=assets))
    return out


class SourceBook:
    """Known sources, matched by name, alias or URL domain."""

    def __init__(self, sources: Iterable[Source]):
        self.sources: dict[str, Source] = {}
        for s in sources:
            self.sources[s.name] = s  # later files replace earlier entries of the same name
        self._by_key: dict[str, Source] = {}
        self._by_domain: dict[str, Source] = {}
        for s in self.sources.values():
            for n in (s.name, *s.aliases):
                self._by_key.setdefault(normalise(n), s)
            for d in s.domains:
                self._by_domain[d] = s

    @classmethod
    def load(cls, extra: Iterable[Path | str] = ()) -> "SourceBook":
        base = Path(str(resources.files("truce").joinpath("data", "sources.yaml")))
        sources = _read(base)
        for p in extra:
            sources += _read(Path(p))
        return cls(sources)

    def match(self, name: str | None, url: str | None = None) -> Source | None:
        if name:
            s = self._by_key.get(normalise(name.strip()))
            if s is not None:
                return s
        if url:
            try:
                host = (urlparse(url).hostname or "").lower()
            except ValueError:  # "https://[bad/": not a URL, no outlet from it
                host = ""
            parts = host.split(".")
            for i in range(len(parts) - 1):
                s = self._by_domain.get(".".join(parts[i:]))
                if s is not None:
                    return s
        return None

    def describe(self, name: str | None, url: str | None = None) -> dict[str, Any]:
        s = self.match(name, url)
        if s is None:
            return {"source": name, "source_kind": "unknown", "affiliation": None}
        return {"source": s.name, "source_kind": s.kind, "affiliation": s.affiliation}
