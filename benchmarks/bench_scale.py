"""Dedup and read commands at scale: synthetic real-length reports with syndicated copies.

The corpus recombines paragraphs of the bundled demo and gold reports (same
language per report, 4-12 paragraphs, about 1,600 characters, numbers, places
and dates varied, as ``bench_extract.py``); 15 % of the reports are
syndicated copies of an earlier one under another outlet (a byline added, a
sentence dropped at the end, a few words changed, whitespace and punctuation
changed), so dedup sees realistic near-duplicates.

Each measurement runs in a fresh process (``/usr/bin/time``-style figures from
``getrusage``: wall s, CPU s, peak RSS), the baseline's code (``--baseline
SRC``, a checkout of main's ``src``) side by side with this checkout's, on
copies of the same database:

- dedup: main's stage (``syndication_groups`` over every stored report, what
  ``truce run`` did on every run) vs this checkout's ``dedup.update`` from
  scratch (first run on a database), then again with 1 % new reports
  (incremental), then with nothing new; and whether the groups are the same;
- read commands (``--read``): ``truce incidents --format json``, ``truce
  export --format parquet``, ``truce report`` on the database after ``truce run``.

    python benchmarks/bench_scale.py --sizes 10000 30000 --baseline /tmp/main-src --read
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
a_work = "/tmp"  # where a child's stderr is kept (set from --work)
PLACES = {"en": ["Kyiv", "Kharkiv", "Odesa", "Dnipro", "Zaporizhzhia", "Lviv", "Sumy", "Poltava", "Belgorod",
                 "Kursk", "Bryansk", "Voronezh", "Rostov", "Krasnodar", "Tuapse", "Ryazan", "Saratov", "Volgograd"]}
BYLINES = ["(Reuters) - ", "KYIV (AP) — ", "LONDON, {d} (Reuters) - ", "Ukrinform: ", "[Updated] ", ""]
SOURCES = ["Reuters", "Associated Press", "Ukrinform", "TASS", "RIA Novosti", "Kyiv Independent", "Kyiv Post", "NV",
           "Interfax", "Meduza", "Suspilne", "RBC-Ukraine", "Al Jazeera", "BBC News", "Ukrenergo", "DTEK"]


def corpus(n: int, seed: int = 42, copies: float = 0.15) -> list[dict]:
    paras: dict[str, list[str]] = {"en": [], "uk": [], "ru": []}
    for line in (ROOT / "src/truce/data/demo/reports.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        paras[d["language"]] += [p for p in d["text"].split("\n\n") if p.strip()]
    for p in sorted((ROOT / "tests/gold").rglob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        paras[d["language"]] += [x for x in d["text"].split("\n\n") if x.strip()]
    place_re = re.compile(r"\b(" + "|".join(PLACES["en"]) + r")\b")
    rnd = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        if out and rnd.random() < copies:
            out.append(_copy(rnd.choice(out[-2000:]), i, rnd))
            continue
        lang = rnd.choice(["en", "en", "uk", "ru"])
        text = "\n\n".join(rnd.sample(paras[lang], rnd.randint(4, 12)))
        text = re.sub(r"\b\d{1,3}\b", lambda m: str(int(m.group()) + rnd.randint(0, 9)), text)
        if lang == "en":
            text = place_re.sub(lambda m: rnd.choice(PLACES["en"]), text)
        day = f"202{rnd.randint(4, 5)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        out.append({"id": f"s{i}", "text": text, "published": f"{day}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00+00:00",
                    "language": lang, "source": rnd.choice(SOURCES)})
    return out


def _copy(orig: dict, i: int, rnd: random.Random) -> dict:
    """A syndicated copy: another outlet, a byline, maybe the last paragraph dropped or a
    closing line added, a few words changed, whitespace changed."""
    paras = orig["text"].split("\n\n")
    u = rnd.random()
    if u < 0.3 and len(paras) > 4:
        paras = paras[:-1]
    elif u < 0.5:
        paras = paras + [rnd.choice(["Read more on our website.", "This story has been updated.",
                                     "Підписуйтесь на наш канал.", "Подписывайтесь на наш канал."])]
    text = rnd.choice(BYLINES).format(d=orig["published"][:10]) + "\n".join(paras)
    words = text.split(" ")
    for _ in range(rnd.randint(0, 4)):
        k = rnd.randrange(len(words))
        words[k] = words[k].upper() if rnd.random() < 0.5 else words[k] + ","
    return {"id": f"s{i}", "text": " ".join(words), "published": orig["published"][:11] + f"{rnd.randint(0, 23):02d}:00:00+00:00",
            "language": orig["language"], "source": rnd.choice([s for s in SOURCES if s != orig["source"]])}


# --- one measured step, in a fresh process --------------------------------------------------

def make(n: int, path: Path, skip: int = 0) -> None:
    """Write reports ``skip``..``n`` of the corpus as JSON Lines (in a child process: the parent
    stays small, so the peak RSS of the children it forks is theirs alone)."""
    if not path.exists():
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--step", "make", f"{n}:{skip}", str(path)], check=True)


def step(name: str, db: str, extra: str | None) -> dict:
    if name == "make":
        n, skip = (int(x) for x in db.split(":"))
        with open(str(extra), "w", encoding="utf-8") as fh:
            for r in corpus(n)[skip:]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        return {}
    from truce import dedup
    from truce.db import Database

    database = Database(db)
    t, c = time.perf_counter(), time.process_time()
    out: dict = {}
    if name == "dedup-full":  # main's dedup stage: every stored report, every run
        reports = database.reports()
        synd = dedup.syndication_groups(reports)
        out["groups"] = len(dedup.groups_of(synd))
        if extra:
            Path(extra).write_text(json.dumps(synd, sort_keys=True))
    elif name == "dedup-update":
        s = dedup.update(database)
        out.update(groups=s.groups, deduped=s.deduped, candidates=s.candidates, linked=s.linked)
        if extra:
            synd = database.syndication()
            Path(extra).write_text(json.dumps({r.id: synd.get(r.id, r.id) for r in database.reports(text=False)},
                                              sort_keys=True))
    elif name == "claims-write":  # the extract stage's storage: 200 reports per transaction
        from truce.records import Claim

        ids = [r.id for r in database.reports()]
        t, c = time.perf_counter(), time.process_time()  # (the reports' ids read before timing)
        for start in range(0, len(ids), 200):
            done = [(rid, [Claim(report_id=rid, index=k, kind="strike", date="2025-03-01", country="UA",
                                 region_code="UA-32", facility_type="substation") for k in range(3)], None)
                    for rid in ids[start:start + 200]]
            if hasattr(database, "replace_claims_many"):
                database.replace_claims_many(done, "bench")
            else:  # main: one call (three statements) per report
                with database.atomic():
                    for rid, claims, skipped in done:
                        database.replace_claims(rid, "bench", claims, skipped=skipped)
        out["claims"] = 3 * len(ids)
        out.update(wall=time.perf_counter() - t, cpu=time.process_time() - c,
                   rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return out
    else:
        raise SystemExit(f"unknown step {name}")
    out.update(wall=time.perf_counter() - t, cpu=time.process_time() - c,
               rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run(cmd: list[str], src: str | None, *, stdout: Path | None = None) -> dict:
    """Run ``cmd`` with ``src`` first on PYTHONPATH; wall s, CPU s and peak RSS of that child."""
    env = {**os.environ, "PYTHONPATH": src or str(ROOT / "src")}
    t = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out_fh, open(Path(a_work) / "stderr.txt", "wb") as err_fh:
        p = subprocess.Popen(cmd, env=env, stdout=out_fh if stdout else subprocess.PIPE, stderr=err_fh)
        text = p.stdout.read() if p.stdout else b""
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status}): {(Path(a_work) / 'stderr.txt').read_text()[-2000:]}")
    out = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024}
    if text.strip().startswith(b"{"):
        out["inner"] = json.loads(text.decode().strip().splitlines()[-1])
    return out


def fmt(r: dict) -> str:
    return f"{r['wall']:8.1f} s  {r['cpu']:8.1f} CPU-s  {r['rss_mb']:7.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    ap.add_argument("--baseline", help="src directory of the code to compare with (main)")
    ap.add_argument("--work", default="/tmp/truce-bench-scale")
    ap.add_argument("--read", action="store_true", help="also truce run, then time the read commands on the largest size")
    ap.add_argument("--no-main-dedup", action="store_true", help="skip main's dedup (reuse the groups of an earlier run)")
    ap.add_argument("--writes", action="store_true",
                    help="time `truce ingest` and the extract stage's claim writes, main vs this checkout, instead")
    ap.add_argument("--pg", help="with --writes: also on PostgreSQL, in fresh databases made on this server URL")
    ap.add_argument("--step", nargs=3, metavar=("NAME", "DB", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.step:
        print(json.dumps(step(a.step[0], a.step[1], a.step[2] if a.step[2] != "-" else None)))
        return
    global a_work
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    a_work = str(work)
    me = [sys.executable, str(Path(__file__).resolve())]
    truce = [sys.executable, "-m", "truce.cli"]
    print(f"load: {os.getloadavg()}")
    if a.writes:
        writes(a, work, me, truce)
        print(f"load: {os.getloadavg()}")
        return
    results: dict = {}
    for n in a.sizes:
        data = work / f"reports-{n}.jsonl"
        make(n, data)
        db = work / f"scale-{n}.db"
        if not db.exists():
            r = run(truce + ["ingest", "--db", str(db), str(data)], None)
            print(f"{n:>7} ingest (this checkout)          {fmt(r)}")
        row: dict = {}
        if a.baseline and not a.no_main_dedup:
            base_db = work / f"base-{n}.db"
            shutil.copy(db, base_db)
            row["main"] = run(me + ["--step", "dedup-full", str(base_db), str(work / f"groups-main-{n}.json")], a.baseline)
            print(f"{n:>7} dedup, main (full pass)          {fmt(row['main'])}  {row['main'].get('inner', {})}")
        new_db = work / f"new-{n}.db"
        for f in work.glob(f"new-{n}.db*"):
            f.unlink()
        shutil.copy(db, new_db)
        row["first"] = run(me + ["--step", "dedup-update", str(new_db), str(work / f"groups-new-{n}.json")], None)
        print(f"{n:>7} dedup, incremental: first run    {fmt(row['first'])}  {row['first'].get('inner', {})}")
        extra = work / f"more-{n}.jsonl"  # 1 % new reports (copies of recent ones among them)
        make(n + n // 100, extra, skip=n)
        run(truce + ["ingest", "--db", str(new_db), str(extra)], None)
        row["more"] = run(me + ["--step", "dedup-update", str(new_db), "-"], None)
        print(f"{n:>7} dedup, incremental: +1 % reports {fmt(row['more'])}  {row['more'].get('inner', {})}")
        row["nothing"] = run(me + ["--step", "dedup-update", str(new_db), "-"], None)
        print(f"{n:>7} dedup, incremental: nothing new  {fmt(row['nothing'])}")
        if a.baseline and (work / f"groups-main-{n}.json").exists():
            old = json.loads((work / f"groups-main-{n}.json").read_text())
            new = json.loads((work / f"groups-new-{n}.json").read_text())
            row["differ"] = _differ(old, new)
            print(f"{n:>7} reports grouped differently from main: {row['differ']}")
        results[n] = row
    if a.read:
        n = max(a.sizes)
        db = work / f"new-{n}.db"
        r = run(truce + ["run", "--db", str(db)], None)
        print(f"{n:>7} truce run (this checkout)        {fmt(r)}")
        for name, cmd in (("incidents --format json", ["incidents", "--format", "json"]),
                          ("export --format parquet", ["export", "--format", "parquet", "-o", str(work / "x.parquet")]),
                          ("report", ["report", "-o", str(work / "report.html")])):
            for who, src in (("main", a.baseline), ("this", None)):
                if who == "main" and not src:
                    continue
                r = run(truce + cmd[:1] + ["--db", str(db)] + cmd[1:], src, stdout=work / "out.txt")
                print(f"{n:>7} {name:<24} {who:<5} {fmt(r)}")
    print(f"load: {os.getloadavg()}")


def writes(a: argparse.Namespace, work: Path, me: list[str], truce: list[str]) -> None:
    """`truce ingest` of the corpus into a new database, then 3 claims per report written as the
    extract stage writes them, main's code and this checkout's side by side (SQLite, PostgreSQL)."""
    import sqlalchemy as sa

    for n in a.sizes:
        data = work / f"reports-{n}.jsonl"
        make(n, data)
        for who, src in (("main", a.baseline), ("this", None)):
            if who == "main" and not src:
                continue
            targets = [("sqlite", str(work / f"writes-{who}-{n}.db"))]
            if a.pg:
                name = f"bench_scale_{who}_{n}"
                eng = sa.create_engine(a.pg, isolation_level="AUTOCOMMIT")
                with eng.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
                    conn.execute(sa.text(f"CREATE DATABASE {name}"))
                eng.dispose()
                targets.append(("postgresql", a.pg.rsplit("/", 1)[0] + "/" + name))
            for backend, url in targets:
                if backend == "sqlite":
                    for f in Path(url).parent.glob(Path(url).name + "*"):
                        f.unlink()
                r = run(truce + ["ingest", "--db", url, str(data)], src)
                print(f"{n:>7} ingest         {backend:<10} {who:<5} {fmt(r)}")
                r = run(me + ["--step", "claims-write", url, "-"], src)
                inner = r.get("inner", {})
                print(f"{n:>7} claims write   {backend:<10} {who:<5} {fmt(r)}  (writes alone: {inner.get('wall', 0):.1f} s, "
                      f"{inner.get('cpu', 0):.1f} CPU-s, {inner.get('claims', 0)} claims)")
            if a.pg:
                eng = sa.create_engine(a.pg, isolation_level="AUTOCOMMIT")
                with eng.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS bench_scale_{who}_{n}"))
                eng.dispose()


def _differ(old: dict[str, str], new: dict[str, str]) -> int:
    """Reports whose group (the set of reports sharing its canonical) differs between two mappings."""
    def members(m: dict[str, str]) -> dict[str, frozenset[str]]:
        g: dict[str, set[str]] = {}
        for rid, canon in m.items():
            g.setdefault(canon, set()).add(rid)
        return {rid: frozenset(g[canon]) for rid, canon in m.items()}
    a, b = members(old), members(new)
    return sum(1 for rid in set(a) | set(b) if a.get(rid, frozenset([rid])) != b.get(rid, frozenset([rid])))


if __name__ == "__main__":
    main()
