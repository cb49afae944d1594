"""`truce backfill` on a LocalCluster of two worker processes: the same reports, claims,
incidents and findings as `truce ingest` + `truce run` on the same archives (JSONL, WARC,
ACLED CSV), a rerun that stores nothing twice, bad lines named and skipped, a failed
partition reported; and the planning of partitions at record boundaries."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_URL
from truce.backfill import BackfillSummary, Partition, backfill, plan, run_partitions
from truce.db import Database
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline

DEMO = Path(__file__).parents[1] / "src/truce/data/demo/reports.jsonl"
DATA = Path(__file__).parent / "data"


# --- a LocalCluster shared by the module (two worker processes) ------------------------------

@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(params=["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else []))
def store_url(request, tmp_path):
    """A factory of empty databases on one backend, by URL (workers open PostgreSQL by URL:
    the schema travels in the URL's options)."""
    made: list[tuple[Database, str | None]] = []

    def make() -> str:
        if request.param == "sqlite":
            return str(tmp_path / f"{uuid.uuid4().hex[:8]}.db")
        import sqlalchemy as sa

        from truce.config import database_url

        schema = "t_" + uuid.uuid4().hex[:12]
        base = sa.create_engine(database_url(PG_URL))
        with base.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        base.dispose()
        made.append((None, schema))  # type: ignore[arg-type]
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    yield make
    if made:
        import sqlalchemy as sa

        from truce.config import database_url

        base = sa.create_engine(database_url(PG_URL))
        with base.begin() as conn:
            for _, schema in made:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()


def snapshot(db: Database) -> dict:
    """What a run leaves, in a form two databases can be compared by."""
    return {
        "reports": sorted((r.id, r.external_id, r.language, r.published, r.source) for r in db.reports()),
        "claims": sorted(json.dumps(c.to_dict(), sort_keys=True, default=str) for c in db.claims()),
        "incidents": sorted(json.dumps(dataclasses.asdict(i), sort_keys=True, default=str) for i in db.incidents()),
        "findings": sorted((f.incident_id, f.agreement_id, f.verdict, f.digest()) for f, _stamp in db.findings()),
        "ledger": db.ledger_count(),
    }


def reference(url: str, paths: list[Path], ctx) -> dict:
    """`truce ingest` + `truce run` on the same files."""
    with Database(url) as db:
        res = ingest_paths(db, paths, ctx)
        run_pipeline(db, ctx)
        return {"snapshot": snapshot(db), "errors": res.errors}


def run_backfill(url: str, paths: list[Path], ctx, client, **kw) -> tuple[BackfillSummary, dict]:
    with Database(url) as db:
        s = backfill(db, ctx, paths, client=client, **kw)
        return s, snapshot(db)


# --- archives ----------------------------------------------------------------------------

def generated_jsonl(path: Path, n: int = 60, seed: int = 3) -> Path:
    """``n`` reports from the demo's, with their numbers and dates varied (and a few repeated
    word for word under another id: one report, two inputs)."""
    rows = [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines()]
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = dict(rows[i % len(rows)])
        if i >= len(rows):
            r["text"] = r["text"].replace("0", str(rnd.randint(1, 9)), 1)
        r["id"] = f"gen-{i}"
        out.append(r)
    out.append(dict(out[5], id="gen-copy-of-5"))
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    return path


def make_warc(path: Path, n: int = 12) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rows = [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines()][:n]
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for i, r in enumerate(rows):
            url = f"https://news.example.org/{r['id']}"
            req = w.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                       http_headers=StatusAndHeaders("GET / HTTP/1.1", [], is_http_request=True))
            w.write_record(req)
            body = "".join(f"<p>{p}</p>" for p in r["text"].split("\n\n"))
            html = (f"<html><head><title>{r.get('title') or r['id']}</title>"
                    f"<meta property='article:published_time' content='{r['published']}'></head>"
                    f"<body><nav>Home | World</nav><article><h1>{r.get('title') or ''}</h1>{body}</article>"
                    f"<footer>© news</footer></body></html>").encode("utf-8")
            hh = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=hh))
            if i == 3:  # an image: passed over
                img = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(url + ".png", "response", payload=io.BytesIO(b"\x89PNG"),
                                                    http_headers=img))
            if i == 7:  # a page with no article text: one error naming the record
                empty = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(url + "/empty", "response",
                                                    payload=io.BytesIO(b"<html><body></body></html>"), http_headers=empty))
    return path


def make_acled(path: Path, copies: int = 4) -> Path:
    """The sample export's rows several times under new event ids, one note with a quoted
    newline and a quote inside (a record over two lines), and one bad row."""
    with open(DATA / "acled_sample.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if r]
    notes = header.index("notes")
    eid = header.index("event_id_cnty")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for k in range(copies):
            for j, r in enumerate(rows):
                r = list(r)
                r[eid] = f"{r[eid]}{k}"
                if k == 1 and j == 0:
                    r[notes] = r[notes] + '\nA "second" line of the note.'
                w.writerow(r)
            if k == 2:
                fh.write("UKR-broken,2024-03-01,short row\n")
    return path


# --- the same results as ingest + run ---------------------------------------------------------

def test_jsonl_backfill_matches_ingest_and_run(tmp_path, ctx, dask_client, store_url):
    archive = generated_jsonl(tmp_path / "archive.jsonl")
    ref = reference(store_url(), [archive], ctx)
    url = store_url()
    s, got = run_backfill(url, [archive], ctx, dask_client, partition_size=7)
    assert s.write == ("workers" if url.startswith("postgres") else "client")
    assert s.partitions == 9 and s.workers == 2
    assert not s.errors and not s.failed
    # the copy of gen-5 sits in another partition: read there again (unless, with workers writing,
    # the first was stored by then), stored once
    assert s.reports == 61 and s.new == 60 and s.seen == 1 and s.extracted + s.already == 61
    assert s.run is not None and s.run.extracted == 0  # nothing left for the run to extract
    assert got == ref["snapshot"]
    assert got["incidents"] and got["findings"]


def test_warc_and_acled_match_ingest_and_run(tmp_path, ctx, dask_client, store_url):
    files = [make_warc(tmp_path / "crawl.warc.gz"), make_acled(tmp_path / "acled.csv")]
    ref = reference(store_url(), files, ctx)
    s, got = run_backfill(store_url(), files, ctx, dask_client, partition_size=3)
    assert got == ref["snapshot"]
    assert sorted(s.errors) == sorted(ref["errors"])  # the same one-line errors as `truce ingest`
    assert any("crawl.warc.gz: record" in e and "/empty" in e and "no article text" in e for e in s.errors)
    assert any(re.search(r"acled.csv:\d+: row has 3 fields; the header has \d+$", e) for e in s.errors), s.errors
    assert s.reports == 12 + 12  # ACLED: the sample's fifth row has no coordinates
    kinds = {json.loads(c)["report_id"] for c in got["claims"]}
    assert len(kinds) > 10
    assert any(r[1].startswith("https://news.example.org/") for r in got["reports"])
    assert any(r[1].startswith("acled:") for r in got["reports"])


def test_rerun_duplicates_nothing(tmp_path, ctx, dask_client, store_url):
    archive = generated_jsonl(tmp_path / "archive.jsonl", n=30)
    url = store_url()
    first, snap1 = run_backfill(url, [archive], ctx, dask_client, partition_size=8)
    again, snap2 = run_backfill(url, [archive], ctx, dask_client, partition_size=5)  # other partitions too
    assert snap2 == snap1
    assert first.new == 30 and again.new == 0 and again.seen == 31
    assert again.extracted == 0 and again.already == 31  # not redone (the copy counts in its own partition)
    assert again.run is not None and again.run.ledger_appended == 0


def test_bad_lines_named_and_skipped(tmp_path, ctx, dask_client):
    lines = generated_jsonl(tmp_path / "g.jsonl", n=12).read_text(encoding="utf-8").splitlines()
    lines[8] = '{"id": "broken", "text": '  # line 9, in the second partition
    lines[10] = '{"id": "no-text"}'
    archive = tmp_path / "bad.jsonl"
    archive.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s, got = run_backfill(str(tmp_path / "b.db"), [archive], ctx, dask_client, partition_size=5)
    with Database(str(tmp_path / "i.db")) as db:
        ref = ingest_paths(db, [archive], ctx)
    assert s.errors == ref.errors
    assert s.errors[0].startswith(f"{archive.resolve()}:9: malformed JSON")
    assert s.errors[1] == f"{archive.resolve()}:11: missing or empty required field 'text'"
    assert len(got["reports"]) == 11 - 1  # 13 lines, two bad, one copy of another report


def test_failed_partition_is_reported(tmp_path, ctx, dask_client):
    archive = generated_jsonl(tmp_path / "ok.jsonl", n=6)
    parts, _ = plan([archive], 10)
    gone = Partition(1, str(tmp_path / "vanished.jsonl"), "jsonl", 0, 100, 1, 3)
    s = BackfillSummary()
    with Database(str(tmp_path / "f.db")) as db:
        run_partitions(db, ctx, parts + [gone], s, client=dask_client, retries=1)
        assert db.report_count() == 6
    assert s.failed == [f"{tmp_path / 'vanished.jsonl'} (lines 1-3, bytes 0-100): failed after 1 retry: "
                        f"IngestError: {tmp_path / 'vanished.jsonl'}: cannot read file: No such file or directory"]


# --- planning ------------------------------------------------------------------------------

@pytest.mark.parametrize("trailing", [True, False])
def test_line_partitions_cover_the_file(tmp_path, trailing):
    text = "".join(f'{{"id": "{i}", "text": "x{"y" * i}"}}\n' for i in range(23))
    if not trailing:
        text = text.rstrip("\n")
    p = tmp_path / "a.jsonl"
    p.write_bytes(text.encode())
    parts, others = plan([p], 5)
    assert not others and [q.count for q in parts] == [5, 5, 5, 5, 3]
    assert [q.first for q in parts] == [1, 6, 11, 16, 21]
    data = p.read_bytes()
    assert b"".join(data[q.start:q.end] for q in parts) == data
    assert all(data[q.start:q.end].count(b"\n") in (q.count, q.count - 1) for q in parts)


def test_csv_partitions_keep_quoted_newlines(tmp_path):
    p = make_acled(tmp_path / "a.csv")
    parts, _ = plan([p], 3)
    data = p.read_bytes()
    assert b"".join(data[q.start:q.end] for q in parts) == data[data.index(b"\n") + 1:]
    for q in parts:
        rows = list(csv.reader(io.StringIO(data[q.start:q.end].decode(), newline="")))
        assert len(rows) == q.count  # never a record cut in two
    assert sum(q.count for q in parts) == 17


def test_warc_partitions_at_record_boundaries(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    p = make_warc(tmp_path / "c.warc.gz", n=10)
    parts, _ = plan([p], 4)
    data = p.read_bytes()
    assert [q.count for q in parts] == [4, 4, 3]  # HTML pages (10 and the empty one)
    for q in parts:
        recs = [r.rec_type for r in ArchiveIterator(io.BytesIO(data[q.start:q.end]))]
        assert recs and recs[-1] == "response"
    assert parts[-1].end == len(data)


def test_other_files_and_missing_paths(tmp_path):
    html = tmp_path / "page.html"
    html.write_text("<html><body><p>text</p></body></html>")
    errors: list[str] = []
    parts, others = plan([html, tmp_path / "nope.jsonl", "-"], 10, errors)
    assert parts == [] and others == [html]
    assert errors[0] == f"{tmp_path / 'nope.jsonl'}: no such file"
    assert errors[1].startswith("-: backfill reads archives from files")


# --- the command ---------------------------------------------------------------------------

def test_cli_on_a_running_scheduler(tmp_path, ctx, dask_client):
    from click.testing import CliRunner

    from truce import cli as cli_module

    archive = generated_jsonl(tmp_path / "a.jsonl", n=20)
    lines = archive.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "not json")
    archive.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "cli.db"
    args = ["backfill", str(archive), "--scheduler", dask_client.scheduler.address, "--partition-size", "6", "--db", str(db)]
    r = CliRunner().invoke(cli_module.cli, args)
    assert r.exit_code == 1, r.output  # the bad line
    assert f"error: {archive.resolve()}:4: malformed JSON" in r.output
    assert "backfill:  21 report(s) read from 1 file(s) in 4 partition(s) on 2 Dask worker(s) at tcp://" in r.output
    assert "20 new, 1 already stored" in r.output and "written by the client" in r.output
    assert "incidents: " in r.output and "ledger: " in r.output
    with Database(str(db)) as d:
        assert d.report_count() == 20 and d.reports_to_extract(ctx.extractor.id) == []
        ledger = d.ledger_count()
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"id": "late", "text": json.loads(lines[0])["text"] + " Later update."}) + "\n")
    r = CliRunner().invoke(cli_module.cli, ["backfill", str(archive), str(extra), "--scheduler", dask_client.scheduler.address,
                                            "--db", str(db), "--no-stages"])
    assert "1 new, 21 already stored; 1 extracted" in r.output and "incidents:" not in r.output
    with Database(str(db)) as d:  # stored and extracted; the stages wait for `truce run`
        assert d.report_count() == 21 and d.reports_to_extract(ctx.extractor.id) == [] and d.ledger_count() == ledger
    r = CliRunner().invoke(cli_module.cli, args[:-4] + ["--workers", "2", "--scheduler", "tcp://x:1", "--db", str(db)])
    assert r.exit_code == 2 and "--workers sizes a LocalCluster" in r.output


def test_a_partition_stored_twice_stores_nothing_twice(tmp_path, ctx, db):
    """What a retried task does (its first attempt stored, then the worker was lost): the
    same partition extracted and stored again leaves the same rows."""
    from truce import backfill as bf

    bf._CONTEXTS[bf._context_key(ctx.settings, [])] = ctx  # this process's context, as a worker's
    archive = generated_jsonl(tmp_path / "r.jsonl", n=12)
    parts, _ = plan([archive], 100)
    first = bf.process_partition(parts[0], ctx.settings, None)
    again = bf.process_partition(parts[0], ctx.settings, None)
    bf.store(db, ctx.extractor.id, first)
    before = (db.report_count(), sorted(c.id for c in db.claims()), db.extracted_ids(ctx.extractor.id))
    bf.store(db, ctx.extractor.id, again)
    assert (db.report_count(), sorted(c.id for c in db.claims()), db.extracted_ids(ctx.extractor.id)) == before
    assert first.new == 12 and again.new == 0 and again.seen == 13 and before[0] == 12 and before[1]
