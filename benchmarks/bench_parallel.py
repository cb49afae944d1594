"""Parallel extraction: `truce extract --workers N` on real-length reports.

The corpus is bench_extract.py's (4-12 paragraphs of the bundled demo and gold
reports recombined, numbers and dates varied, ~1,600 characters). Each run is one
`truce extract` process, start-up included; its whole process tree (the forkserver
and the workers too) is sampled every 0.1 s for CPU seconds and resident memory:
``peak RSS (tree)`` is the largest sum of the tree's RSS seen at one moment, ``sum of
peaks`` adds every process's own peak (VmHWM), an upper bound. The load average is
printed before each run. ``--baseline SRC`` times another checkout's `truce extract`
(no --workers) on the same file; outputs are compared byte for byte.

    python benchmarks/bench_parallel.py --n 20000 --workers 1 2 --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import corpus  # noqa: E402

ROOT = Path(__file__).parents[1]


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd``; wall, CPU seconds and memory of its whole process tree."""
    load = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    cpu: dict[int, float] = {}
    hwm: dict[int, int] = {}
    peak_tree = 0
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        total = 0
        for p in procs:
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    cpu[p.pid] = ct.user + ct.system
                    total += p.memory_info().rss
                hwm[p.pid] = max(hwm.get(p.pid, 0), _hwm_kb(p.pid))
            except psutil.NoSuchProcess:
                continue
        peak_tree = max(peak_tree, total)
        time.sleep(0.1)
    err = proc.stderr.read().decode() if proc.stderr else ""
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return {"wall": wall, "cpu": sum(cpu.values()), "peak_tree_mb": peak_tree / 2**20,
            "sum_peaks_mb": sum(hwm.values()) / 1024, "processes": len(cpu), "load": load,
            "stderr": err.strip().splitlines()[-1] if err.strip() else ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--baseline", help="the src/ directory of another checkout (its `truce extract`, one process)")
    args = ap.parse_args()
    rows = corpus(args.n)
    print(f"reports: {len(rows)}, mean length {sum(len(r['text']) for r in rows) / len(rows):.0f} characters")
    runs: list[tuple[str, str | None, list[str]]] = []
    if args.baseline:
        runs.append(("baseline (main)", args.baseline, []))
    runs += [(f"--workers {w}", str(ROOT / "src"), ["--workers", str(w)]) for w in args.workers]
    results: dict[str, list[dict]] = {}
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "in.jsonl"
        data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
        for i in range(args.repeat):
            for name, src, extra in (runs if i % 2 == 0 else runs[::-1]):
                out = Path(d) / "out.jsonl"
                env = {**os.environ, "PYTHONPATH": src or ""}
                r = measure([sys.executable, "-c", "from truce.cli import main; main()", "extract", str(data),
                             "-o", str(out)] + extra, env)
                digests[name] = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
                results.setdefault(name, []).append(r)
                print(f"  {name:16s} wall {r['wall']:7.1f} s  cpu {r['cpu']:7.1f} s  {len(rows) / r['wall']:5.0f} reports/s  "
                      f"peak RSS tree {r['peak_tree_mb']:5.0f} MB (sum of peaks {r['sum_peaks_mb']:5.0f} MB, "
                      f"{r['processes']} processes)  load {r['load'][0]:.2f}  output {digests[name]}  | {r['stderr']}")
    print()
    best = {name: min(rs, key=lambda r: r["wall"]) for name, rs in results.items()}
    one = best.get("--workers 1")
    for name, r in best.items():
        ratio = f"{one['wall'] / r['wall']:.2f}x" if one else ""
        print(f"{name:16s} {len(rows) / r['wall']:6.0f} reports/s  wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  "
              f"peak RSS tree {r['peak_tree_mb']:5.0f} MB  speed-up vs --workers 1: {ratio}")
    print("outputs identical:", len(set(digests.values())) == 1)


if __name__ == "__main__":
    main()
