"""Extraction speed: reports per second with the rule extractor on one core.

Builds N reports of realistic length by recombining paragraphs of the bundled
demo and gold reports (same language per report, 4-12 paragraphs, about 1,600
characters, numbers and dates varied), then times the extractor in a fresh
process per run (load excluded from the rate), with CPU seconds and peak RSS
beside the wall time, and the `truce extract` command end to end.

The machine is shared and noisy, so a run is compared with a baseline run side
by side: ``--baseline /path/to/other/checkout/src`` times that code on the same
corpus, alternating baseline and current runs.

    python benchmarks/bench_extract.py --n 3000 --repeat 3 --baseline /tmp/wt-main/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
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


def worker(path: Path) -> None:
    """One timed run in this process: the figures as one JSON line on stdout."""
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    try:
        from truce.context import load_context
    except ImportError:  # a baseline checkout from before the reference/context split
        from truce.config import load_context  # type: ignore[attr-defined,no-redef]
    from truce.extract import finalize
    from truce.ingest import make_report

    t = time.perf_counter()
    ctx = load_context()
    _ = ctx.services.gazetteer.matcher  # a phrase index read on first use is read before the clock starts
    load = time.perf_counter() - t
    reports = [make_report(text=r["text"], external_id=r["id"], sources=ctx.sources, published=r["published"],
                           language=r["language"]) for r in rows]
    n_claims = 0
    t, c = time.perf_counter(), time.process_time()
    for rep in reports:
        n_claims += len(finalize(ctx.extractor.extract(rep), rep, ctx.services))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"load": load, "wall": wall, "cpu": cpu, "rss_mb": rss, "claims": n_claims,
                      "reports": len(rows)}))


def run_worker(src: str | None, data: Path) -> dict:
    env = {**os.environ}
    if src:
        env["PYTHONPATH"] = src
    done = subprocess.run([sys.executable, __file__, "--worker", str(data)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"benchmark worker for {src or 'current'} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(data: Path) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as d:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from truce.cli import main; main()", "extract", str(data), "-o",
                        str(Path(d) / "out.jsonl")], check=True, capture_output=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each code version")
    ap.add_argument("--baseline", help="the src/ directory of another checkout, timed side by side")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(Path(args.worker))
        return
    rows = corpus(args.n)
    chars = sum(len(r["text"]) for r in rows)
    print(f"reports: {len(rows)}, mean length {chars / len(rows):.0f} characters")
    versions = [("current", str(ROOT / "src"))] + ([("baseline", args.baseline)] if args.baseline else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in versions}
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "in.jsonl"
        data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
        for i in range(args.repeat):
            for name, src in (versions if i % 2 == 0 else versions[::-1]):  # alternate: drift hits both alike
                r = run_worker(src, data)
                results[name].append(r)
                print(f"  run {i + 1} {name:8s} wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
                      f"{r['reports'] / r['wall']:4.0f} reports/s  peak RSS {r['rss_mb']:4.0f} MB  claims {r['claims']}")
        cli_wall, cli_cpu, cli_rss = run_cli(data)
    print()
    print(f"{'':10s} {'load s':>7s} {'wall s (median)':>16s} {'cpu s':>7s} {'reports/s (wall)':>17s} "
          f"{'reports/s (cpu)':>16s} {'peak RSS MB':>12s} {'claims':>7s}")
    for name, rs in results.items():
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        print(f"{name:10s} {statistics.median(r['load'] for r in rs):7.2f} {wall:16.2f} {cpu:7.2f} "
              f"{len(rows) / wall:17.0f} {len(rows) / cpu:16.0f} {max(r['rss_mb'] for r in rs):12.0f} "
              f"{rs[0]['claims']:7d}")
    print(f"`truce extract` end to end (current, start-up included): wall {cli_wall:.2f} s, cpu {cli_cpu:.2f} s, "
          f"{len(rows) / cli_wall:.0f} reports/s, peak RSS {cli_rss:.0f} MB")


if __name__ == "__main__":
    main()
