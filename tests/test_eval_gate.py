"""Quality gate: extraction and fusion figures on the gold set may not fall below
the floors pinned in tests/eval_baseline.json, whose corpus digest pins the gold set.

Raise floors after an improvement:  TRUCE_UPDATE_BASELINE=1 python -m pytest tests/test_eval_gate.py
Lowering a floor needs, in addition, TRUCE_ALLOW_LOWER=1 and a reason in the commit.
"""

import json
import math
import os
from pathlib import Path

import pytest

from truce.scoring import load_gold, score

ROOT = Path(__file__).parent
BASELINE = ROOT / "eval_baseline.json"


CORPORA = ("gold", "gold_holdout", "gold_blind", "gold_negatives", "gold_third", "gold_fourth")


pytestmark = pytest.mark.slow  # every gold set through the extractor


@pytest.fixture(scope="module", params=CORPORA)
def corpus(request, ctx):
    return request.param, score(load_gold(ROOT / request.param), ctx)


def figures(r) -> dict[str, float]:
    f = {
        "strike_f1": r.strike["all"].f1, "strike_precision": r.strike["all"].precision,
        "strike_recall": r.strike["all"].recall,
        **{f"strike_f1_{lang}": c.f1 for lang, c in r.strike.items() if lang != "all"},
        "background_f1": r.background.f1,
        "negotiation_f1": r.negotiation.f1, "accusation_f1": r.accusation.f1,
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
    assert result.digest == base["corpus"], (
        f"the {name} set changed: re-run with TRUCE_UPDATE_BASELINE=1 to pin floors on the new corpus")
    below = {k: (round(got.get(k, 0.0), 3), floor) for k, floor in base["floors"].items() if got.get(k, 0.0) + 1e-9 < floor}
    assert not below, f"{name}: quality regressed below the pinned floors (got, floor): {below}"


def test_no_evidence_offset_errors(corpus):
    assert corpus[1].offset_errors == 0
