"""The web app under load: 100,000 incidents, 50 concurrent clients, 60 seconds.

Builds a database of N synthetic incidents (bulk-stored through ``Database``, not the
extractor): each with one or two reports and their claims (quoted evidence), three findings
(one per agreement, with a short trace), over the registry's facilities and every region,
730 days. Then starts ``truce serve`` (uvicorn, ``--workers``) on loopback and drives it
with C concurrent clients (asyncio, a minimal keep-alive HTTP/1.1 client) for D seconds; each client cycles through the
overview (``/``), an incident page (``/incidents/ID``, random incident) and a filtered API
list (``/api/v1/incidents`` with a random country, grade or type and a date range, 50 per
page). Prints p50/p95/p99 per kind, errors, requests per second, and the server's CPU
seconds (all its processes) and peak RSS (VmHWM, largest process).

    python benchmarks/bench_web.py --n 100000 --backend sqlite
    python benchmarks/bench_web.py --n 100000 --backend postgresql --pg postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "src"))

from truce.db import Database  # noqa: E402
from truce.records import (GRADES, VERDICTS, Claim, ClaimLink, Effects, Evidence, Finding, FindingEvidence,  # noqa: E402
                           Incident, Report, TraceStep)

AGREEMENTS = ("moratorium-2025-03", "qatar-2024", "energy-pause-2026-01")
SOURCES = (("Reuters", "neutral", "wire"), ("Ukrinform", "UA", "news_outlet"), ("TASS", "RU", "wire"),
           ("Ukrenergo", "UA", "operator"), ("Russian Ministry of Defence", "RU", "party_official"),
           ("Associated Press", "neutral", "wire"))


def build(db: Database, n: int, seed: int = 7) -> None:
    """N incidents with reports, claims and findings; stored in a few large transactions."""
    from truce.reference.gazetteer import read_regions
    from truce.reference.registry import Registry
    from truce.text import KeyMaker

    rnd = random.Random(seed)
    facilities = [f for f in Registry.load(KeyMaker(None)) if not f.parent]
    regions = read_regions()
    start = dt.date(2024, 3, 1)
    reports: list[Report] = []
    claims: dict[str, list[Claim]] = {}
    incidents: list[Incident] = []
    findings: list[tuple[Finding, str]] = []
    for k in range(n):
        day = (start + dt.timedelta(days=rnd.randrange(730))).isoformat()
        if rnd.random() < 0.6:
            f = rnd.choice(facilities)
            where = dict(country=f.country, region_code=f.region_code, facility_id=f.id, facility_name=f.name,
                         facility_type=f.type, lat=f.lat, lon=f.lon, location_precision="facility")
        else:
            r = rnd.choice(regions)
            where = dict(country=r["country"], region_code=r["code"], facility_id=None, facility_name=None,
                         facility_type=rnd.choice(("substation", "refinery", "oil_depot", "thermal_plant")),
                         lat=float(r["lat"]), lon=float(r["lon"]), location_precision="region")
        attacker = "UA" if where["country"] == "RU" else "RU"
        links = []
        for j in range(1 + (k % 5 == 0)):
            src, aff, kind = rnd.choice(SOURCES)
            text = (f"{day}: {src} reported a drone strike on {where['facility_name'] or 'energy infrastructure'} "
                    f"in {where['region_code']}; a fire broke out and was put out by morning. Report {k}-{j}.")
            rid = f"{k:08x}{j:02x}".ljust(64, "0")
            ext = f"bench-{k}-{j}"
            reports.append(Report(id=rid, text=text, external_id=ext, source=src, source_kind=kind, affiliation=aff,
                                  url=f"https://example.org/{ext}", title=f"Strike report {k}", published=day + "T08:00:00+00:00",
                                  language="en"))
            end = text.index(";")
            claims[rid] = [Claim(report_id=rid, index=0, kind="strike", date=day, date_precision="day",
                                 country=where["country"], region_code=where["region_code"],
                                 facility_id=where["facility_id"], facility_type=where["facility_type"],
                                 attacker=attacker, attacker_basis="stated", outcome="hit",
                                 evidence=(Evidence(0, end, text[:end]),), extractor="bench")]
            links.append(ClaimLink(claim_id=f"{rid}:0", report_id=ext, joined_because="same facility, same day",
                                   role="claim" if j == 0 else "corroboration", source=src))
        iid = f"inc-{k:016x}"
        grade = rnd.choice(GRADES)
        incidents.append(Incident(id=iid, kind="strike", date=day, date_precision="day", region=None, attacker=attacker,
                                  attacker_basis="stated", weapon="drone", outcome="hit", grade=grade,
                                  grade_reasons=(f"{len(links)} source(s)",), claims=tuple(links),
                                  report_ids=tuple(x.report_id for x in links), first_reported=day + "T08:00:00+00:00",
                                  effects=Effects(fire=True), **where))
        for aid in AGREEMENTS:
            verdict = rnd.choices(VERDICTS, weights=(80, 4, 4, 2, 10))[0]
            f = Finding(incident_id=iid, agreement_id=aid, verdict=verdict,
                        trace=(TraceStep(f"{aid}/no-strikes", "incident date inside the window", day, "pass"),),
                        evidence=tuple(FindingEvidence(x.report_id, x.claim_id, x.joined_because, x.role) for x in links),
                        engine="bench")
            findings.append((f, f.digest()))
    t = time.perf_counter()
    db.add_reports(reports)
    with db.atomic():
        for rid, cs in claims.items():
            db.replace_claims(rid, "bench", cs)
    db.replace_incidents(incidents)
    db.replace_findings(findings)
    print(f"built {n} incidents, {len(reports)} reports, {len(findings)} findings in {time.perf_counter() - t:.0f} s",
          flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def family(pid: int) -> list[int]:
    """The process and its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def usage(pids: list[int]) -> tuple[float, int]:
    """(CPU seconds, largest peak RSS in KiB) of the processes."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    for p in pids:
        try:
            f = (Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(f[11]) + int(f[12])) / tick
            for line in (Path("/proc") / str(p) / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return cpu, peak


async def _fetch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One GET over a kept-alive HTTP/1.1 connection; returns the status (the body is read and dropped).
    A minimal client, so that the load generator spends little of the machine's two cores."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def drive(base: str, ids: list[str], clients: int, seconds: float, seed: int = 11) -> dict[str, list[float]]:
    rnd = random.Random(seed)
    lat: dict[str, list[float]] = {"overview": [], "incident": [], "api_list": []}
    errors: dict[str, int] = {k: 0 for k in lat}
    stop = time.perf_counter() + seconds
    host, port = base.rsplit("/", 1)[1].split(":")

    def api_url() -> str:
        d0 = dt.date(2024, 3, 1) + dt.timedelta(days=rnd.randrange(600))
        q = rnd.choice([f"country={rnd.choice(['UA', 'RU'])}", f"grade={rnd.choice(GRADES)}",
                        f"type={rnd.choice(['refinery', 'substation', 'oil_depot', 'thermal_plant'])}",
                        f"verdict={rnd.choice(VERDICTS)}&agreement={rnd.choice(AGREEMENTS)}"])
        return f"/api/v1/incidents?{q}&from={d0}&to={d0 + dt.timedelta(days=120)}&limit=50"

    async def client(n: int) -> None:
        kinds = ["overview", "incident", "api_list"]
        i = n
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < stop:
            kind = kinds[i % 3]
            i += 1
            url = "/" if kind == "overview" else f"/incidents/{rnd.choice(ids)}" if kind == "incident" else api_url()
            t = time.perf_counter()
            try:
                ok = await asyncio.wait_for(_fetch(reader, writer, url), timeout=30) == 200
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
                ok = False
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
            if ok:
                lat[kind].append(time.perf_counter() - t)
            else:
                errors[kind] += 1
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    lat["_errors"] = [float(sum(errors.values()))]
    return lat


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg", default=os.environ.get("TRUCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--db", default=None, help="Use (or build) this database instead of a fresh one.")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--build-only", action="store_true", help="Build the database and stop.")
    a = ap.parse_args()

    url = a.db or (f"sqlite:////tmp/truce-bench-web-{a.n}.db" if a.backend == "sqlite" else a.pg)
    db = Database(url)
    if db.incident_count() != a.n:
        db.reset()
        build(db, a.n)
    ids = [d["id"] for d in db.incident_page_data({}, limit=a.n)]
    db.close()
    if a.build_only:
        return
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen([sys.executable, "-m", "truce.cli", "serve", "--db", url, "--open", "--port", str(port),
                               "--workers", str(a.workers)], env=env, stdout=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(base + "/api/v1/ledger/head", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        for path in ("/", f"/incidents/{ids[0]}", "/api/v1/incidents?country=RU&limit=50"):  # warm each worker
            for _ in range(4):
                httpx.get(base + path, timeout=60)
        cpu0, _ = usage(family(server.pid))
        t = time.perf_counter()
        lat = asyncio.run(drive(base, ids, a.clients, a.seconds))
        wall = time.perf_counter() - t
        cpu1, peak = usage(family(server.pid))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    errors = int(lat.pop("_errors")[0])
    total = sum(len(v) for v in lat.values())
    print(f"\n{a.backend}, {a.n:,} incidents, {a.clients} clients, {wall:.0f} s, {a.workers} server workers "
          f"(load generator on the same 2 cores)")
    print(f"{'request':10} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for k, xs in lat.items():
        print(f"{k:10} {len(xs):7d} {pct(xs, 50):8.1f} {pct(xs, 95):8.1f} {pct(xs, 99):8.1f} "
              f"{(statistics.mean(xs) * 1000 if xs else float('nan')):8.1f}")
    print(f"requests {total} ({total / wall:.0f}/s), errors {errors}; server CPU {cpu1 - cpu0:.1f} s "
          f"({(cpu1 - cpu0) / wall:.2f} cores), peak RSS {peak / 1024:.0f} MiB (largest process)")


if __name__ == "__main__":
    main()
