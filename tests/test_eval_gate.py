"""Quality gate: extraction and fusion figures on the gold set may not fall below
the floors pinned in tests/eval_baseline.json, whose corpus digest pins the gold set.

Raise floors after an improvement:  TRUCE_UPDATE_BASELINE=1 python -m pytest tests/test_eval_gate.py
Lowering a floor needs, in addition, TRUCE_ALLOW_LOWER=1 and a reason in the commit.

The real development set (`../shared/real-dev`, or the directory in TRUCE_REAL_DEV) is gated
the same way when it is present; it is third-party text kept outside the repository, so the
test skips when it is absent or when its digest differs from the one the floors were pinned on.
"""

import json
import math
import os
from pathlib import Path

import pytest

from truce.scoring import load_gold, score

ROOT = Path(__file__).parent
BASELINE = ROOT / "eval_baseline.json"


CORPORA = ("gold", "gold_holdout", "gold_blind", "gold_negatives", "gold_third", "gold_fourth", "real-dev")


def corpus_path(name: str) -> Path:
    if name != "real-dev":
        return ROOT / name
    return Path(os.environ.get("TRUCE_REAL_DEV") or ROOT.parent.parent / "shared" / "real-dev")


pytestmark = pytest.mark.slow  # every gold set through the extractor


@pytest.fixture(scope="module", params=CORPORA)
def corpus(request, ctx):
    path = corpus_path(request.param)
    if not path.is_dir():
        pytest.skip(f"{path} is absent (real articles are not part of the repository)")
    return request.param, score(load_gold(path), ctx)


def figures(r) -> dict[str, float]:
    f = {
        "strike_f1": r.strike["all"].f1, "strike_precision": r.strike["all"].precision,
        "strike_recall": r.strike["all"].recall,
        **{f"strike_f1_{lang}": c.f1 for lang, c in r.strike.items() if lang != "all"},
        "background_f1": r.background.f1,
        "negotiation_f1": r.negotiation.f1, "negotiation_lenient_f1": r.negotiation_lenient.f1,
        "accusation_f1": r.accusation.f1,
        "fusion_pairwise_f1": r.fusion.f1 if r.fusion else 0.0,
        "negative_reports_clean": 1 - r.negatives_with_claims / max(r.negatives, 1),
    }
    for k in ("facility_type", "region", "date", "attacker_strict", "weapon"):
        f[f"field_{k}"] = r.fields[k].value or 0.0
    return f


def test_quality_floors(corpus):
    name, result = corpus
    all_base = json.loads(BASELINE.read_text(encoding="utf-8"))
    base = all_base.get(name, {"corpus": "", "floors": {}})
    got = figures(result)
    if os.environ.get("TRUCE_UPDATE_BASELINE"):
        allow_lower = bool(os.environ.get("TRUCE_ALLOW_LOWER")) or base["corpus"] != result.digest
        floors = {}
        for k, v in got.items():
            new = math.floor(v * 100) / 100
            old = base["floors"].get(k)
            floors[k] = new if (old is None or allow_lower) else max(old, new)
        all_base[name] = base = {"corpus": result.digest, "reports": result.n_reports, "floors": floors}
        BASELINE.write_text(json.dumps(all_base, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if name == "real-dev" and result.digest != base["corpus"]:
        pytest.skip(f"{corpus_path(name)} is not the version the floors were pinned on ({base['corpus'] or 'none'})")
    assert result.digest == base["corpus"], (
        f"the {name} set changed: re-run with TRUCE_UPDATE_BASELINE=1 to pin floors on the new corpus")
    below = {k: (round(got.get(k, 0.0), 3), floor) for k, floor in base["floors"].items() if got.get(k, 0.0) + 1e-9 < floor}
    assert not below, f"{name}: quality regressed below the pinned floors (got, floor): {below}"


def test_no_evidence_offset_errors(corpus):
    assert corpus[1].offset_errors == 0
