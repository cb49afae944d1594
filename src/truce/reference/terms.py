"""Agreement terms: YAML files checked against a published JSON Schema
(``data/schemas/agreement.schema.json``), loaded into :class:`Agreement`.

Reference data, like the registry and the gazetteer: the extractor reads
how reporters name each agreement, the evaluator reads its commitments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from truce import yamlio
from truce.errors import TermsError
from truce.records import FACILITY_TYPES, canonical_json

ASSET_TYPES = frozenset(FACILITY_TYPES)


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    data: dict[str, Any]
    path: str
    digest: str

    @property
    def parties(self) -> list[str]:
        return list(self.data["parties"])

    @property
    def commitments(self) -> list[dict[str, Any]]:
        return list(self.data["commitments"])

    @property
    def ambiguities(self) -> list[dict[str, Any]]:
        return list(self.data.get("ambiguities") or [])

    @property
    def mediators(self) -> list[str]:
        return list(self.data.get("mediators") or [])

    def names(self, lang: str) -> list[str]:
        """How reporters name the agreement in ``lang`` (the terms' ``names``)."""
        return list((self.data.get("names") or {}).get(lang) or [])

    def reporting_period(self) -> tuple[str, str] | None:
        """The days whose reports about unnamed talks or halts are read as about this agreement."""
        rp = self.data.get("reporting_period")
        if rp:
            return rp["start"], rp["end"]
        days = [s["date"] for s in self.statuses()]
        days += [d for c in self.commitments for d in (c["window"].get("start"), c["window"].get("end")) if d]
        if not days:
            return None
        start = dt.date.fromisoformat(min(days)) - dt.timedelta(days=30)
        end = dt.date.fromisoformat(max(days)) + dt.timedelta(days=60)
        return start.isoformat(), end.isoformat()

    def days_from_period(self, day: str) -> int | None:
        """0 when ``day`` falls in the reporting period, else how many days it lies outside."""
        period = self.reporting_period()
        if period is None:
            return None
        d = dt.date.fromisoformat(day[:10])
        start, end = (dt.date.fromisoformat(x) for x in period)
        return max((start - d).days, (d - end).days, 0)

    def statuses(self) -> list[dict[str, Any]]:
        return sorted(self.data.get("status_history") or [], key=lambda s: s["date"])

    def ever_in_force(self) -> bool:
        return any(s["status"] == "in_force" for s in self.statuses())

    def in_force_on(self, day: str) -> bool:
        """Whether the status history has the agreement in force on an ISO date (from an
        ``in_force`` entry until the next ``expired``, ``suspended`` or ``collapsed``)."""
        on = False
        for s in self.statuses():
            if str(s["date"]) > day:
                break
            if s["status"] == "in_force":
                on = True
            elif s["status"] in ("expired", "suspended", "collapsed"):
                on = False
        return on


# --- loading ------------------------------------------------------------------------------

def _schema() -> dict[str, Any]:
    with resources.files("truce").joinpath("data", "schemas", "agreement.schema.json").open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
        return schema


def _plain(v: Any) -> Any:
    """YAML dates → ISO strings, so the schema (and JSON) see one representation."""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()[:10]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


MAX_TERMS_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100


def _flow_depth(text: str) -> int:
    """The deepest nesting of flow collections (``[``, ``{``) outside quotes and comments."""
    depth = deepest = 0
    quote = ""
    comment = False
    prev = "\n"
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            comment = True
        prev = ch
    return deepest


def load_agreement(path: Path | str) -> Agreement:
    """Read and validate one terms file; errors name the file and the offending field path."""
    import jsonschema

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data_bytes = fh.read(MAX_TERMS_BYTES + 1)
        if len(data_bytes) > MAX_TERMS_BYTES:
            raise TermsError(f"terms file is larger than {MAX_TERMS_BYTES // 1048576} MiB", path=str(path))
        text = data_bytes.decode("utf-8")
    except OSError as e:
        raise TermsError(f"cannot read terms file: {e.strerror}", path=str(path)) from e
    except UnicodeDecodeError as e:
        raise TermsError(f"not UTF-8 text (byte {e.start + 1})", path=str(path),
                         line=data_bytes.count(b"\n", 0, e.start) + 1) from e
    if _flow_depth(text) > MAX_DEPTH:  # the parser would recurse thousands of levels first
        raise TermsError("invalid YAML: nested too deeply", path=str(path))
    try:
        raw = yamlio.load(text)
    except yaml.YAMLError as e:
        msg, line = yamlio.problem(e)
        raise TermsError(msg, path=str(path), line=line) from e
    except RecursionError as e:
        raise TermsError("invalid YAML: nested too deeply", path=str(path)) from e
    if not isinstance(raw, dict):
        raise TermsError("terms must be a YAML mapping", path=str(path))
    try:
        data = _plain(raw)
    except RecursionError as e:
        raise TermsError("invalid YAML: nested too deeply", path=str(path)) from e
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data),
                    key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    if errors:
        worst = max(errors, key=lambda e: len(list(e.absolute_path)))
        raise TermsError(f"{_path(worst.absolute_path)}: {worst.message}", path=str(path))
    for amb in data.get("ambiguities") or []:
        field_ = amb["field"]
        for alt in amb["alternatives"]:
            v = alt["value"]
            ok = {"window.start": isinstance(v, str), "window.end": isinstance(v, str),
                  "commitments.assets": isinstance(v, list) and all(x in ASSET_TYPES for x in v),
                  "commitments.regions": v is None or (isinstance(v, list) and all(x not in ASSET_TYPES for x in v))}
            if not ok[field_]:
                raise TermsError(f"ambiguities[{amb['id']}].alternatives[{alt['id']}].value: "
                                 f"wrong kind of value for {field_}", path=str(path))
    bad = _bad_date(data)
    if bad is not None:
        raise TermsError(f"{bad[0]}: impossible date {bad[1]!r}", path=str(path))
    try:
        digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()
    except UnicodeEncodeError as e:  # "\ud800" in a double-quoted YAML string
        raise TermsError("invalid YAML: a lone UTF-16 surrogate (\\ud800-\\udfff) in a string", path=str(path)) from e
    return Agreement(id=data["id"], title=data["title"], data=data, path=str(path), digest=digest)


def _bad_date(v: Any, where: tuple[Any, ...] = ()) -> tuple[str, str] | None:
    """The first string shaped like a date (the schema's pattern) that is no date: "2025-02-30"."""
    if isinstance(v, str) and len(v) == 10 and v[4:5] == "-" and v[7:8] == "-" and v[:4].isdigit():
        try:
            dt.date.fromisoformat(v)
        except ValueError:
            return _path(where), v
        return None
    if isinstance(v, dict):
        items: Iterable[tuple[Any, Any]] = v.items()
    elif isinstance(v, list):
        items = enumerate(v)
    else:
        return None
    for k, x in items:
        got = _bad_date(x, (*where, k))
        if got is not None:
            return got
    return None


def load_agreements(extra: Iterable[str | Path] = ()) -> list[Agreement]:
    base = Path(str(resources.files("truce").joinpath("data", "agreements")))
    files = sorted(base.glob("*.yaml"))
    for p in extra:
        p = Path(p)
        files += sorted(p.glob("*.y*ml")) if p.is_dir() else [p]
    out: dict[str, Agreement] = {}
    for f in files:
        a = load_agreement(f)
        out[a.id] = a  # a user file with the same id replaces the shipped terms
    return [out[k] for k in sorted(out)]
