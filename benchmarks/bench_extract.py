"""Extraction speed: reports per second with the rule extractor on one core.

Builds N reports of realistic length by recombining paragraphs of the bundled
demo and gold reports (same language per report, 4-12 paragraphs, about 1,600 characters, numbers and
dates varied), then times the extractor in-process (load excluded) and the
`truce extract` command end to end (load included).

    python benchmarks/bench_extract.py --n 3000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def corpus(n: int, seed: int = 42) -> list[dict]:
    paras: dict[str, list[str]] = {"en": [], "uk": [], "ru": []}
    for line in (ROOT / "src/truce/data/demo/reports.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        paras[d["language"]] += [p for p in d["text"].split("\n\n") if p.strip()]
    for p in (ROOT / "tests/gold").rglob("*.json"):
        d = json.loads(p.read_text(encoding="utf-8"))
        paras[d["language"]] += [x for x in d["text"].split("\n\n") if x.strip()]
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        lang = rnd.choice(["en", "en", "uk", "ru"])
        text = "\n\n".join(rnd.sample(paras[lang], rnd.randint(4, 12)))
        text = re.sub(r"\b\d{2,3}\b", lambda m: str(int(m.group()) + rnd.randint(0, 9)), text)
        day = f"202{rnd.randint(4, 5)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        out.append({"id": f"b{i}", "text": text, "published": day, "language": lang})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args()
    rows = corpus(args.n)
    chars = sum(len(r["text"]) for r in rows)
    from truce.context import load_context
    from truce.extract import finalize
    from truce.ingest import make_report

    t = time.perf_counter()
    ctx = load_context()
    load = time.perf_counter() - t
    reports = [make_report(text=r["text"], external_id=r["id"], sources=ctx.sources, published=r["published"],
                           language=r["language"]) for r in rows]
    t = time.perf_counter()
    n_claims = 0
    for rep in reports:
        n_claims += len(finalize(ctx.extractor.extract(rep), rep, ctx.services))
    secs = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.jsonl"
        src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "truce.cli", "extract", str(src), "-o", str(Path(d) / "out.jsonl")],
                       check=True, capture_output=True, env={**os.environ})
        cli = time.perf_counter() - t
    print(f"reports: {len(rows)}, mean length {chars / len(rows):.0f} characters, claims {n_claims}")
    print(f"load (registry, gazetteer, lexicons, morphology): {load:.2f} s")
    print(f"in-process extraction: {secs:.2f} s = {len(rows) / secs:.0f} reports/s on one core")
    print(f"`truce extract` end to end: {cli:.2f} s = {len(rows) / cli:.0f} reports/s including start-up")


if __name__ == "__main__":
    main()
