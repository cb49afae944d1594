"""Scoring extraction (and fusion) against gold annotations (EVAL-FORMAT.md section 3).

A predicted strike matches a gold strike when the country agrees and either
the facility matches (the same registry facility, or a fuzzy name match) or
the region and the facility type agree (or the gold ``alt_facility_type``).
Matching is one-to-one, greedy by best match. Headline figures use
``main`` + ``secondary`` events; ``background`` events are scored apart.
Fusion is scored as pairwise precision/recall over report pairs: two reports
are "together" in gold when they share an ``event_key``, and in the output
when some incident rests on both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Sequence

from truce.context import Context
from truce.dedup import syndication_groups
from truce.errors import PipelineError
from truce.extract import finalize
from truce.extract.analysis import Services
from truce.fuse import fuse
from truce.grade import ReportMeta
from truce.ingest import make_report
from truce.records import Claim, Report
from truce.reference.sources import SourceBook

HEADLINE = ("main", "secondary")


@dataclass
class GoldReport:
    id: str
    language: str
    text: str
    published: str | None
    title: str | None
    source: str | None
    negative: bool
    gold: list[dict[str, Any]]
    path: str


def load_gold(root: Path | str) -> list[GoldReport]:
    root = Path(root)
    files = sorted(root.rglob("*.json")) if root.is_dir() else [root]
    if not files:
        raise PipelineError("no gold files (*.json) found", path=str(root))
    out = []
    for p in files:
        out.append(read_gold_file(p))
    return out


def read_gold_file(p: Path) -> GoldReport:
    """One gold file, checked: every problem is a one-line error naming the file."""
    try:
        raw = p.read_bytes()
        d = json.loads(raw.decode("utf-8"))
    except OSError as e:
        raise PipelineError(f"cannot read gold file: {e.strerror}", path=str(p)) from e
    except UnicodeDecodeError as e:
        raise PipelineError(f"not UTF-8 text (byte {e.start + 1})", path=str(p)) from e
    except json.JSONDecodeError as e:
        raise PipelineError(f"invalid JSON: {e.msg}", path=str(p), line=e.lineno) from e
    except (ValueError, RecursionError) as e:
        raise PipelineError(f"invalid JSON: {type(e).__name__}", path=str(p)) from e
    if not isinstance(d, dict) or "text" not in d or "id" not in d:
        raise PipelineError("a gold file needs 'id' and 'text'", path=str(p))
    if not isinstance(d["text"], str) or not d["text"].strip() or not isinstance(d["id"], (str, int)):
        raise PipelineError("'text' must be a non-empty string and 'id' a string", path=str(p))
    for k in ("language", "published", "title", "source"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise PipelineError(f"{k!r} must be a string", path=str(p))
    gold = d.get("gold") or []
    if not isinstance(gold, list) or not all(isinstance(g, dict) for g in gold):
        raise PipelineError("'gold' must be a list of objects", path=str(p))
    return GoldReport(id=str(d["id"]), language=d.get("language") or "?", text=d["text"],
                      published=d.get("published"), title=d.get("title"), source=d.get("source"),
                      negative=bool(d.get("negative")), gold=list(gold), path=str(p))


def corpus_digest(reports: Sequence[GoldReport]) -> str:
    h = hashlib.sha256()
    for r in sorted(reports, key=lambda r: r.id):
        h.update(json.dumps([r.id, r.text, r.gold], sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


# --- matching ---------------------------------------------------------------------------

@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 3),
                "recall": round(self.recall, 3), "f1": round(self.f1, 3)}


@dataclass
class Accuracy:
    right: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.total += 1
        self.right += int(ok)

    @property
    def value(self) -> float | None:
        return self.right / self.total if self.total else None


class Scorer:
    """Match predictions to gold with the registry and gazetteer at hand."""

    def __init__(self, services: Services):
        self.svc = services
        self._fac_cache: dict[str, set[str]] = {}

    def gold_region(self, g: dict[str, Any]) -> str | None:
        return self.svc.gazetteer.region_code_for_name(g.get("region"))

    def gold_facilities(self, name: str | None) -> set[str]:
        if not name:
            return set()
        if name not in self._fac_cache:
            toks = self.svc.km.tokenize(name)
            self._fac_cache[name] = {f.id for _, _, fl, _ in self.svc.registry.find_names(toks) for f in fl}
        return self._fac_cache[name]

    def facility_match(self, g: dict[str, Any], p: Claim) -> bool:
        if not g.get("facility_name") or not (p.facility_id or p.facility_name):
            return False
        ids = self.gold_facilities(g["facility_name"])
        if p.facility_id and p.facility_id in ids:
            return True
        if ids and p.facility_id:
            return False
        from rapidfuzz import fuzz

        names = [p.facility_name or ""]
        f = self.svc.registry.get(p.facility_id)
        if f is not None:
            names += list(f.all_names())
        return max(fuzz.token_set_ratio(g["facility_name"].lower(), n.lower()) for n in names if n) >= 85

    def type_ok(self, g: dict[str, Any], p: Claim) -> bool:
        return p.facility_type in {g.get("facility_type"), g.get("alt_facility_type")} - {None}

    def score(self, g: dict[str, Any], p: Claim) -> float:
        if (g.get("country") or None) != (p.country or None):
            return 0.0
        s = 0.0
        if self.facility_match(g, p):
            s = 3.0
        elif self.gold_region(g) == p.region_code and self.type_ok(g, p):
            s = 2.0
        else:
            return 0.0
        if date_ok(g.get("date"), p.date):
            s += 0.5
        return s


def date_ok(gold: str | None, pred: str | None) -> bool:
    if not gold:
        return True
    if not pred:
        return False
    try:
        return abs((dt.date.fromisoformat(gold[:10]) - dt.date.fromisoformat(pred[:10])).days) <= 1
    except ValueError:
        return False


def greedy(golds: Sequence[dict[str, Any]], preds: Sequence[Claim], scorer: Scorer) -> list[tuple[int, int]]:
    pairs = []
    for i, g in enumerate(golds):
        for j, p in enumerate(preds):
            s = scorer.score(g, p)
            if s > 0:
                pairs.append((s, i, j))
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    used_g: set[int] = set()
    used_p: set[int] = set()
    out = []
    for _, i, j in pairs:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            out.append((i, j))
    return out


# --- evaluation ---------------------------------------------------------------------------

@dataclass
class Result:
    n_reports: int = 0
    digest: str = ""
    strike: dict[str, Counts] = field(default_factory=dict)  # per language and "all"
    background: Counts = field(default_factory=Counts)
    fields: dict[str, Accuracy] = field(default_factory=dict)
    fields_by_lang: dict[str, dict[str, Accuracy]] = field(default_factory=dict)
    negatives: int = 0
    negatives_with_claims: int = 0
    negative_claims: list[str] = field(default_factory=list)
    negotiation: Counts = field(default_factory=Counts)
    negotiation_lenient: Counts = field(default_factory=Counts)
    accusation: Counts = field(default_factory=Counts)
    offset_errors: int = 0
    fusion: Counts | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.n_reports, "corpus": self.digest,
            "strike": {k: v.as_dict() for k, v in sorted(self.strike.items())},
            "background": self.background.as_dict(),
            "fields": {k: _acc(v) for k, v in sorted(self.fields.items())},
            "fields_by_language": {lang: {k: _acc(v) for k, v in sorted(fs.items())} for lang, fs in sorted(self.fields_by_lang.items())},
            "negatives": {"reports": self.negatives, "with_energy_claims": self.negatives_with_claims,
                          "claims": self.negative_claims},
            "negotiation": self.negotiation.as_dict(), "negotiation_lenient": self.negotiation_lenient.as_dict(),
            "accusation": self.accusation.as_dict(), "offset_errors": self.offset_errors,
            "fusion": self.fusion.as_dict() if self.fusion else None,
        }


def _acc(a: Accuracy) -> dict[str, Any]:
    return {"right": a.right, "total": a.total, "accuracy": round(a.value, 3) if a.value is not None else None}


def to_report(g: GoldReport, sources: SourceBook) -> Report:
    return make_report(text=g.text, external_id=g.id, sources=sources, source=g.source, title=g.title,
                       published=g.published, language=g.language if g.language in ("en", "uk", "ru") else None)


def score(gold: Sequence[GoldReport], ctx: Context, *, fusion: bool = True,
             predictions: dict[str, list[Claim]] | None = None) -> Result:
    """Run the configured extractor over the gold texts and score it."""
    import time

    t0 = time.perf_counter()
    scorer = Scorer(ctx.services)
    res = Result(n_reports=len(gold), digest=corpus_digest(gold))
    res.strike["all"] = Counts()
    reports: dict[str, Report] = {}
    preds_all: dict[str, list[Claim]] = {}
    for g in gold:
        rep = to_report(g, ctx.sources)
        reports[g.id] = rep
        if predictions is not None:
            claims = predictions.get(g.id, [])
        else:
            claims = finalize(ctx.extractor.extract(rep), rep, ctx.services)
        preds_all[g.id] = claims
        for c in claims:
            for e in c.evidence:
                if rep.text[e.start:e.end] != e.text:
                    res.offset_errors += 1
        _score_report(g, claims, scorer, res)
    if fusion:
        res.fusion = _fusion(gold, reports, preds_all, ctx)
    res.seconds = time.perf_counter() - t0
    return res


def _score_report(g: GoldReport, claims: list[Claim], scorer: Scorer, res: Result) -> None:
    lang = g.language
    # a counter-claim (a report denying a strike) asserts no event: gold annotates what reports assert
    strikes = [c for c in claims if c.kind == "strike" and c.stance != "denies"]
    if g.negative:
        res.negatives += 1
        energy = [c for c in claims if c.kind in ("strike", "accusation") and c.stance != "denies"]
        if energy:
            res.negatives_with_claims += 1
            res.negative_claims += [f"{g.id}: {c.kind} {c.facility_type} {c.region_code} ({c.rule})" for c in energy]
    for bucket, sal in (("headline", HEADLINE), ("background", ("background",))):
        gs = [x for x in g.gold if x.get("kind") == "strike" and (x.get("salience") or "main") in sal]
        # a prediction matches a gold event whatever salience it was given; the
        # salience split only decides which bucket an unmatched one counts against
        ps = [c for c in strikes if c.salience in sal]
        others = [c for c in strikes if c.salience not in sal]
        pairs = greedy(gs, ps, scorer)
        matched_g = {i for i, _ in pairs}
        # unmatched gold may still be found under the other salience: recall, not precision, suffers least
        extra = greedy([gs[i] for i in range(len(gs)) if i not in matched_g], others, scorer)
        c = Counts(tp=len(pairs) + len(extra), fp=len(ps) - len(pairs), fn=len(gs) - len(pairs) - len(extra))
        tag = ""
        if bucket == "background":
            res.background.add(c)
            tag = " background"
        else:
            res.strike.setdefault(lang, Counts()).add(c)
            res.strike["all"].add(c)
            for i, j in pairs:
                _fields(gs[i], ps[j], scorer, res, lang)
        found_elsewhere = {matched for matched, _ in extra}
        missed = [i for i in range(len(gs)) if i not in matched_g]
        for k, i in enumerate(missed):
            if k not in found_elsewhere:
                res.errors.append({"report": g.id, "error": "missed" + tag, "gold": _brief(gs[i])})
        for j in sorted(set(range(len(ps))) - {j for _, j in pairs}):
            res.errors.append({"report": g.id, "error": "spurious" + tag, "pred": _brief_claim(ps[j])})
    _score_kind(g, claims, res, "negotiation",
                lambda gx, p: set(gx.get("parties") or []) == set(p.parties) and gx.get("status") == p.status,
                lambda gx, p: gx.get("status") == p.status or (gx.get("agreement") and gx.get("agreement") == p.agreement_id))
    _score_kind(g, claims, res, "accusation", lambda gx, p: gx.get("accuser") == p.accuser and gx.get("accused") == p.accused, None)


def _score_kind(g: GoldReport, claims: list[Claim], res: Result, kind: str, strict: Any, lenient: Any) -> None:
    gs = [x for x in g.gold if x.get("kind") == kind]
    ps = [c for c in claims if c.kind == kind]
    for fn, counts in ((strict, getattr(res, kind)), (lenient, getattr(res, f"{kind}_lenient", None))):
        if fn is None or counts is None:
            continue
        used: set[int] = set()
        tp = 0
        for gx in gs:
            j = next((j for j, p in enumerate(ps) if j not in used and fn(gx, p)), None)
            if j is not None:
                used.add(j)
                tp += 1
        counts.add(Counts(tp=tp, fp=len(ps) - tp, fn=len(gs) - tp))


def _fields(g: dict[str, Any], p: Claim, scorer: Scorer, res: Result, lang: str) -> None:
    checks = {
        "facility_type": scorer.type_ok(g, p),
        "region": scorer.gold_region(g) == p.region_code if g.get("region") else p.region_code is None,
        "date": date_ok(g.get("date"), p.date),
        "attacker_strict": (p.attacker if p.attacker_basis == "stated" else None) == g.get("attacker"),
        "attacker_lenient": g.get("attacker") is None or p.attacker == g.get("attacker"),
    }
    if g.get("weapon"):
        checks["weapon"] = p.weapon == g.get("weapon") or (g.get("weapon") == "mixed" and p.weapon in ("missile", "drone", "mixed"))
    for k, ok in checks.items():
        res.fields.setdefault(k, Accuracy()).add(ok)
        res.fields_by_lang.setdefault(lang, {}).setdefault(k, Accuracy()).add(ok)


def _brief(g: dict[str, Any]) -> str:
    return f"{g.get('date')} {g.get('country')} {g.get('region')} {g.get('facility_name') or ''} {g.get('facility_type')}".strip()


def _brief_claim(c: Claim) -> str:
    return f"{c.date} {c.country} {c.region_code} {c.facility_id or c.facility_name or ''} {c.facility_type} [{c.rule}]"


def _fusion(gold: Sequence[GoldReport], reports: dict[str, Report], preds: dict[str, list[Claim]], ctx: Context) -> Counts:
    keys: dict[str, set[str]] = {g.id: {x["event_key"] for x in g.gold if x.get("event_key") and x.get("kind") in ("strike", "accusation")}
                                 for g in gold}
    synd = syndication_groups(list(reports.values()))
    meta = {r.id: ReportMeta(r.id, r.external_id, r.source, r.source_kind, r.affiliation, r.url, r.published,
                             synd.get(r.id, r.id)) for r in reports.values()}
    claims = [c for cs in preds.values() for c in cs]
    incidents = fuse(claims, meta, ctx.registry)
    together: set[tuple[str, str]] = set()
    for inc in incidents:
        for a, b in combinations(sorted(set(inc.report_ids)), 2):
            together.add((a, b))
    ids = sorted(g.id for g in gold if keys[g.id])
    c = Counts()
    for a, b in combinations(ids, 2):
        gold_same = bool(keys[a] & keys[b])
        pred_same = (a, b) in together
        c.tp += gold_same and pred_same
        c.fp += pred_same and not gold_same
        c.fn += gold_same and not pred_same
    return c


# --- printing -----------------------------------------------------------------------------

def format_result(r: Result) -> str:
    lines = [f"{r.n_reports} gold reports (corpus {r.digest}), scored in {r.seconds:.1f} s", "",
             "strike detection (main + secondary)    P      R      F1     tp  fp  fn"]
    for lang in ["all", *sorted(k for k in r.strike if k != "all")]:
        c = r.strike[lang]
        lines.append(f"  {lang:36} {c.precision:5.3f}  {c.recall:5.3f}  {c.f1:5.3f}  {c.tp:3} {c.fp:3} {c.fn:3}")
    b = r.background
    lines.append(f"  {'background (recaps)':36} {b.precision:5.3f}  {b.recall:5.3f}  {b.f1:5.3f}  {b.tp:3} {b.fp:3} {b.fn:3}")
    lines += ["", "fields on matched strikes               all    " + "  ".join(f"{lang:5}" for lang in sorted(r.fields_by_lang))]
    for k in ("facility_type", "region", "date", "attacker_strict", "attacker_lenient", "weapon"):
        a = r.fields.get(k)
        if a is None:
            continue
        per = "  ".join(_fmt(r.fields_by_lang.get(lang, {}).get(k)) for lang in sorted(r.fields_by_lang))
        lines.append(f"  {k:36} {_fmt(a)}  {per}   (n={a.total})")
    lines += ["", f"negative reports with an energy claim   {r.negatives_with_claims} of {r.negatives}"]
    for k, c in (("negotiation (parties + status)", r.negotiation), ("negotiation (status or agreement)", r.negotiation_lenient),
                 ("accusation (accuser + accused)", r.accusation)):
        lines.append(f"{k:40} P {c.precision:5.3f}  R {c.recall:5.3f}  F1 {c.f1:5.3f}  ({c.tp}/{c.fp}/{c.fn})")
    if r.fusion is not None:
        c = r.fusion
        lines.append(f"{'fusion, pairwise over report pairs':40} P {c.precision:5.3f}  R {c.recall:5.3f}  "
                     f"F1 {c.f1:5.3f}  ({c.tp}/{c.fp}/{c.fn})")
    lines.append(f"{'evidence offsets not matching the text':40} {r.offset_errors}")
    return "\n".join(lines)


def _fmt(a: Accuracy | None) -> str:
    return f"{a.value:5.3f}" if a is not None and a.value is not None else "  -  "


def iter_errors(r: Result) -> Iterable[str]:
    for e in r.errors:
        yield f"{e['report']}: {e['error']}: {e.get('gold') or e.get('pred')}"
