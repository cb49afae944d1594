"""Fuzz targets and input strategies for every parser and stage entry point (issue #13).

Shared by tests/test_fuzz.py (a few dozen inputs each, in the suite) and
benchmarks/fuzz.py (>= 10,000 inputs each, figures in docs/hardening.md).
A target runs one input and returns normally when the code under test
behaved: it either read the input or refused it with the library's own
one-line error. Anything else (an uncaught exception, a stored record that
a backend would refuse, an evidence offset that does not match) raises.

Inputs are valid seed documents (the project's own data) mutated by byte
edits and hostile fragments, plus wholly random bytes and text.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

ROOT = Path(__file__).parents[1]
PKG = ROOT / "src" / "truce" / "data"
DATA = Path(__file__).parent / "data"

HOSTILE: list[bytes] = [
    b"\x00", b"\xff", b"\xfe\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\\ud800", b"\\udfff", b"\\u0000", b"[" * 3000,
    b"{" * 3000, b"9" * 5000, b"1e400", b"-0", b"NaN", b"true", b"null", b'"', b"'", b",", b";", b"\r", b"\n", b"\r\n",
    b"\t", b"\\", b"*a", b"&a ", b"!!python/object/apply:os.system ['id']", b"<<: *a", b"? ", b"- ", b": ",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"&e;", b"<![CDATA[", b"]]>", b"<script>", b"</",
    b"javascript:alert(1)", b"data:text/html,<b>x</b>", b"=cmd|' /C calc'!A0", b"@SUM(1+1)", b"/dev/zero", b"/etc/passwd",
    "не".encode() * 300, "Харкові ".encode() * 100, b"0000-00-00", b"2025-02-30", b"9999-12-31T23:59:59+14:00",
    b"99999999999999999999 days ago", b"overnight on 31 February", "в ночь на 31 февраля".encode(),
    "\u202e\u200b\ufeff".encode(), "😀".encode() * 20, b"A" * 70_000,
]
OPS = ("insert", "replace", "delete", "truncate", "duplicate")


def _seed(path: Path, limit: int = 20_000) -> bytes:
    return path.read_bytes()[:limit]


def _seeds() -> dict[str, list[bytes]]:
    demo = PKG / "demo"
    lines = (demo / "reports.jsonl").read_bytes().splitlines()
    gold = sorted((ROOT / "tests" / "gold" / "en").glob("*.json"))[:3] + sorted((ROOT / "tests" / "gold" / "uk").glob("*.json"))[:2]
    return {
        "jsonl": [b"\n".join(lines[i:i + 3]) for i in range(0, 30, 3)] + [_seed(DATA / "bad.jsonl")],
        "txt": [b"Title: Strike\nSource: Suspilne\nPublished: 2024-11-17\nURL: https://x.example/a\n\n"
                + json.loads(x)["text"].encode() for x in lines[:5]],
        "html": [_seed(demo / "kyiv-independent-2024-04-11.html")],
        "rss": [_seed(demo / "ukrinform-feed.xml"),
                b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>e1</id>'
                b'<title>t</title><link href="https://x.example/1"/><updated>2025-03-18T06:00:00Z</updated>'
                b'<summary>Drones hit a refinery in Ryazan.</summary></entry></feed>'],
        "acled": [_seed(DATA / "acled_sample.csv")],
        "registry": [b"\n".join((PKG / "registry" / "ua.csv").read_bytes().splitlines()[:6])],
        "facilities": [_seed(DATA / "import" / n) for n in ("gppd_sample.csv", "osm_sample.csv", "osm_sample.geojson")],
        "terms": [_seed(p) for p in sorted((PKG / "agreements").glob("*.yaml"))],
        "ledger": [],  # filled by a target from a real export
        "gold": [_seed(p) for p in gold],
    }


SEEDS = _seeds()


def _apply(seed: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    b = seed
    for op, pos, frag in edits:
        i = pos % (len(b) + 1)
        if op == "insert":
            b = b[:i] + frag + b[i:]
        elif op == "replace":
            b = b[:i] + frag + b[i + len(frag):]
        elif op == "delete":
            b = b[:i] + b[i + 1 + pos % 40:]
        elif op == "truncate":
            b = b[:i]
        else:
            b = b[:i] + b[i:i + 200] * (2 + pos % 5) + b[i:]
    return b


def fragments() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=24),
                     st.text(max_size=12).map(lambda s: s.encode("utf-8", "surrogatepass")))


def inputs(kind: str, seeds: list[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Mutated seeds (most inputs), random bytes and random text."""
    pool = seeds if seeds is not None else SEEDS[kind]
    mutated = st.builds(_apply, st.sampled_from(pool),
                        st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1 << 20), fragments()), max_size=6))
    return st.one_of(mutated, mutated, mutated, st.binary(max_size=3000),
                     st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")))


PUBLISHED = st.one_of(st.none(), st.sampled_from(["2025-03-18", "2025-03-18T06:00:00Z", "0001-01-01", "9999-12-31", "2025",
                                                   "2025-02", "garbage", "18 March 2025", "1e9", ""]),
                      st.text(max_size=30))


def texts() -> st.SearchStrategy[str]:
    """Arbitrary text, and sentences assembled from the extractor's own vocabulary."""
    demo = [json.loads(x)["text"] for x in (PKG / "demo" / "reports.jsonl").read_text(encoding="utf-8").splitlines()]
    words = sorted({w for t in demo for w in t.split()})
    extra = [h.decode("utf-8", "replace") for h in HOSTILE if len(h) < 2000]
    token = st.one_of(st.sampled_from(words), st.sampled_from(extra), st.text(max_size=8))
    assembled = st.lists(token, max_size=300).map(" ".join)
    repeated = st.tuples(st.sampled_from(words), st.sampled_from([", ", " ", " та ", " and "]),
                         st.integers(50, 1500)).map(lambda t: t[1].join([t[0]] * t[2]))
    return st.one_of(st.text(max_size=3000), assembled, assembled, st.sampled_from(demo), repeated)


# --- targets ----------------------------------------------------------------------------

class Workspace:
    """A temporary directory and the services the targets need (loaded once)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.dir = Path(tempfile.mkdtemp(prefix="truce-fuzz-"))
        self._ledger_seed: list[bytes] | None = None

    def file(self, name: str, data: bytes) -> Path:
        p = self.dir / name
        p.write_bytes(data)
        return p

    def ledger_seeds(self) -> list[bytes]:
        if self._ledger_seed is None:
            from truce import ledger
            from truce.db import Database

            db = Database(memory=True)
            ledger.append(db, [("finding", f"a/inc-{i}", {"verdict": "alleged", "n": i}) for i in range(4)], "fuzz")
            ledger.append(db, [("review", "a/inc-1", {"note": "ü"})], "fuzz")
            buf = io.StringIO()
            ledger.export(db, buf)
            db.close()
            self._ledger_seed = [buf.getvalue().encode("utf-8")]
        return self._ledger_seed


def _printable_line(msg: str) -> None:
    """One line that can be printed (a lone surrogate would make click.echo fail)."""
    assert "\n" not in msg, msg
    msg.encode("utf-8")


def _check_reports(reports: list[Any], errors: list[str]) -> None:
    from truce.schema import check_report

    for r in reports:
        check_report(r)  # what both backends accept
        assert r.text.strip()
    for e in errors:
        _printable_line(e)


def t_jsonl(ws: Workspace, data: bytes) -> int:
    from truce.ingest import read_reports_jsonl

    errors: list[str] = []
    reports = list(read_reports_jsonl(io.BytesIO(data), "fuzz.jsonl", ws.ctx.sources, errors))
    _check_reports(reports, errors)
    assert all(e.startswith("fuzz.jsonl:") for e in errors)
    return len(reports)


def _collect(ws: Workspace, name: str, data: bytes) -> int:
    from truce.ingest import collect

    reports, _, res = collect([ws.file(name, data)], ws.ctx.sources)
    _check_reports(reports, res.errors)
    return len(reports)


def t_txt(ws: Workspace, data: bytes) -> int:
    return _collect(ws, "r.txt", data)


def t_html(ws: Workspace, data: bytes) -> int:
    return _collect(ws, "r.html", data)


def t_rss(ws: Workspace, data: bytes) -> int:
    return _collect(ws, "r.rss", data)


def t_acled(ws: Workspace, data: bytes) -> int:
    return _collect(ws, "r.csv", data)


def t_registry(ws: Workspace, data: bytes) -> int:
    from truce.errors import RegistryError
    from truce.reference.registry import read_facilities

    try:
        return len(read_facilities(ws.file("reg.csv", data), origin="fuzz"))
    except RegistryError as e:
        _printable_line(str(e))
        return 0


def t_facilities(ws: Workspace, data: bytes) -> int:
    """Facility datasets for `truce facilities import`: GPPD CSV, OSM CSV and GeoJSON."""
    from truce.errors import RegistryError
    from truce.ingest.facilities import read_gppd, read_osm

    n = 0
    for name, reader in (("g.csv", read_gppd), ("o.csv", read_osm), ("o.geojson", read_osm)):
        try:
            n += sum(1 for _, f in reader(ws.file(name, data), ws.ctx.gazetteer.region_at) if f is not None)
        except RegistryError as e:
            _printable_line(str(e))
    return n


def t_terms(ws: Workspace, data: bytes) -> int:
    from truce.errors import TermsError
    from truce.reference.terms import load_agreement

    try:
        a = load_agreement(ws.file("t.yaml", data))
        a.reporting_period(), a.statuses(), a.in_force_on("2025-03-20"), a.ever_in_force()
        return 1
    except TermsError as e:
        _printable_line(str(e))
        return 0


def t_ledger(ws: Workspace, data: bytes) -> int:
    from truce.ledger import verify_export

    v = verify_export(io.BytesIO(data))
    _printable_line(v.reason)
    return int(v.ok)


def t_gold(ws: Workspace, data: bytes) -> int:
    from truce.errors import PipelineError
    from truce.scoring import read_gold_file, to_report

    try:
        g = read_gold_file(ws.file("g.json", data))
        to_report(g, ws.ctx.sources)
        return 1
    except PipelineError as e:
        _printable_line(str(e))
        return 0


def t_extract(ws: Workspace, text: str, published: Any, language: Any) -> int:
    """The extractor on arbitrary text: claims whose evidence matches the text, or none."""
    from truce.extract import finalize
    from truce.records import Report

    rep = Report(id="f" * 64, text=text, external_id="fuzz", published=published, language=language)
    claims = finalize(ws.ctx.extractor.extract(rep), rep, ws.ctx.services)
    for c in claims:
        for e in c.evidence:
            assert text[e.start:e.end] == e.text
    return len(claims)


BYTE_TARGETS: dict[str, Callable[[Workspace, bytes], int]] = {
    "jsonl": t_jsonl, "txt": t_txt, "html": t_html, "rss": t_rss, "acled": t_acled, "registry": t_registry,
    "facilities": t_facilities, "terms": t_terms, "ledger": t_ledger, "gold": t_gold,
}
